// heroshhi — the operator's command-line program.
//
//   heroshhi classify [--tenant-config FILE]   inbound messages on stdin -> kind, keyword, language
//   heroshhi normalize-phone [--region XX]     phone numbers on stdin -> E.164 or an error
//
// Each subcommand is one Options struct, one add_<name>() that declares it on the CLI11 app, and one
// run_<name>() that does the work on the given streams and returns the exit code. A new subcommand
// (serve, ...) adds the same three pieces and one line in main().
//
// Exit codes: 0 success; 2 bad configuration (unreadable or invalid file, unknown region);
// CLI11's own codes for command-line usage errors.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include <heroshhi/core/errors.hpp>
#include <heroshhi/core/phone_number.hpp>
#include <heroshhi/core/result.hpp>
#include <heroshhi/optout/keyword_classifier.hpp>

namespace {

constexpr int exit_ok = 0;
constexpr int exit_bad_config = 2;

// The runner of the subcommand chosen on the command line.
using Runner = std::function<int()>;

// Reads a whole file; nullopt with the reason in `why` when it cannot be read.
std::optional<std::string> read_file(const std::string& path, std::string& why) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        why = std::strerror(errno);
        return std::nullopt;
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        why = "read error";
        return std::nullopt;
    }
    return std::move(text).str();
}

// One message per input line; the two characters "\n" stand for a newline inside the message.
std::string unescape_newlines(std::string_view line) {
    std::string out;
    out.reserve(line.size());
    for (std::size_t i = 0; i < line.size(); ++i) {
        if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == 'n') {
            out += '\n';
            ++i;
        } else {
            out += line[i];
        }
    }
    return out;
}

// --- classify ------------------------------------------------------------------------------------

struct ClassifyOptions {
    std::string tenant_config;  // path to a KeywordConfig JSON file; empty: the defaults
};

heroshhi::Result<heroshhi::optout::KeywordClassifier> load_classifier(const std::string& path) {
    using heroshhi::optout::KeywordClassifier;
    using heroshhi::optout::KeywordConfig;
    if (path.empty()) return KeywordClassifier::defaults();
    std::string why;
    auto text = read_file(path, why);
    if (!text) return heroshhi::Error(heroshhi::ConfigErrc::missing, "cannot read '" + path + "': " + why);
    auto config = KeywordConfig::from_json(*text);
    if (!config) return config.error();
    return KeywordClassifier::create(*config);
}

// Prints "kind<TAB>keyword<TAB>language" per input line; "none<TAB><TAB>" when nothing matched.
int run_classify(const ClassifyOptions& options, std::istream& in, std::ostream& out, std::ostream& err) {
    auto classifier = load_classifier(options.tenant_config);
    if (!classifier) {
        err << "heroshhi classify: bad tenant config '" << options.tenant_config << "': "
            << classifier.error().message() << '\n';
        return exit_bad_config;
    }
    std::string line;
    while (std::getline(in, line)) {
        auto c = classifier->classify(unescape_newlines(line));
        out << heroshhi::optout::to_string(c.intent) << '\t' << c.keyword << '\t' << c.language << '\n';
    }
    out.flush();
    return exit_ok;
}

void add_classify(CLI::App& app, Runner& runner) {
    auto options = std::make_shared<ClassifyOptions>();
    CLI::App* cmd = app.add_subcommand(
        "classify",
        "Classify inbound messages read from stdin, one per line (\\n inside a line is a newline). "
        "Prints kind (opt-out, opt-in, help, none), keyword and language, separated by tabs.");
    cmd->add_option("--tenant-config", options->tenant_config,
                    "JSON keyword configuration of a tenant (add, remove, languages, request_phrases)");
    cmd->callback([options, &runner] {
        runner = [options] { return run_classify(*options, std::cin, std::cout, std::cerr); };
    });
}

// --- normalize-phone -------------------------------------------------------------------------------

struct NormalizePhoneOptions {
    std::string region;  // ISO 3166 alpha-2 for national-format numbers; empty: international only
};

// Prints the E.164 form per input line, or "error<TAB>reason". A region libphonenumber does not
// know is a configuration error (exit 2), reported once rather than on every line.
int run_normalize_phone(const NormalizePhoneOptions& options, std::istream& in, std::ostream& out,
                        std::ostream& err) {
    if (!options.region.empty()) {
        auto probe = heroshhi::PhoneNumber::parse("+14155550123", options.region);
        if (!probe && probe.error() == heroshhi::PhoneErrc::unknown_region) {
            err << "heroshhi normalize-phone: bad --region: " << probe.error().message() << '\n';
            return exit_bad_config;
        }
    }
    std::string line;
    while (std::getline(in, line)) {
        auto phone = heroshhi::PhoneNumber::parse(line, options.region);
        if (phone) out << phone->e164() << '\n';
        else out << "error\t" << phone.error().message() << '\n';
    }
    out.flush();
    return exit_ok;
}

void add_normalize_phone(CLI::App& app, Runner& runner) {
    auto options = std::make_shared<NormalizePhoneOptions>();
    CLI::App* cmd = app.add_subcommand(
        "normalize-phone", "Normalise phone numbers read from stdin, one per line, to E.164.");
    cmd->add_option("--region", options->region,
                    "Default region (ISO 3166 alpha-2, e.g. US) for numbers written in national format");
    cmd->callback([options, &runner] {
        runner = [options] { return run_normalize_phone(*options, std::cin, std::cout, std::cerr); };
    });
}

}  // namespace

int main(int argc, char** argv) {
    std::ios::sync_with_stdio(false);
    CLI::App app{"heroshhi — compliance tools for WhatsApp CRM backends"};
    app.require_subcommand(1);

    Runner runner;
    add_classify(app, runner);
    add_normalize_phone(app, runner);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    return runner ? runner() : exit_ok;
}
