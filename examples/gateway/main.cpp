// heroshhi — the operator's command-line program.
//
//   heroshhi serve [--config FILE] [--demo]    the gateway: REST API + WhatsApp webhooks
//   heroshhi create-tenant --id ID [--name N] [--phone-number-id ID]
//   heroshhi create-key --tenant ID --user ID --role ROLE [--team T]   prints the key once
//   heroshhi create-integration --tenant ID --source TAG               a signed form webhook
//   heroshhi sweep [--dry-run]                 the retention sweep over every tenant
//   heroshhi export --tenant ID --out FILE     the tenant's leads as CSV
//   heroshhi audit-verify --tenant ID          recomputes the tenant's audit chain
//   heroshhi classify [--tenant-config FILE]   inbound messages on stdin -> kind, keyword, language
//   heroshhi normalize-phone [--region XX]     phone numbers on stdin -> E.164 or an error
//
// The operator subcommands take --config FILE like serve (and the HEROSHHI_* environment) to find
// the database.
//
// Each subcommand is one Options struct, one add_<name>() that declares it on the CLI11 app, and one
// run_<name>() that does the work on the given streams and returns the exit code. A new subcommand
// (serve, ...) adds the same three pieces and one line in main().
//
// Exit codes: 0 success; 2 bad configuration (unreadable or invalid file, unknown region);
// CLI11's own codes for command-line usage errors.
#include <fcntl.h>
#include <unistd.h>

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
#include <heroshhi/audit/log.hpp>
#include <heroshhi/crypto/tls_context.hpp>
#include <heroshhi/engine.hpp>
#include <heroshhi/http/server.hpp>
#include <heroshhi/optout/keyword_classifier.hpp>
#include <heroshhi/rbac/role.hpp>

#include "app.hpp"
#include "config.hpp"
#include "demo.hpp"

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

// --- configuration shared by serve and the operator subcommands -------------------------------------

heroshhi::Result<heroshhi::gateway::Config> load_config(const std::string& path) {
    using heroshhi::gateway::Config;
    Config config;
    if (!path.empty()) {
        std::string why;
        auto text = read_file(path, why);
        if (!text) return heroshhi::Error(heroshhi::ConfigErrc::missing, "cannot read '" + path + "': " + why);
        auto parsed = Config::from_json(*text);
        if (!parsed) return parsed.error();
        config = std::move(*parsed);
    }
    auto env = [](const char* name) -> std::optional<std::string> {
        const char* v = std::getenv(name);
        return v ? std::optional<std::string>(v) : std::nullopt;
    };
    if (auto r = config.apply_environment(env); !r) return r.error();
    return config;
}

// Opens the app for an operator command: the webhook settings are not needed to manage records.
heroshhi::Result<std::unique_ptr<heroshhi::gateway::App>> open_for_operator(const std::string& config_path) {
    auto config = load_config(config_path);
    if (!config) return config.error();
    if (config->app_secret.empty()) config->app_secret = "unused-by-operator-commands";
    if (config->verify_token.empty()) config->verify_token = "unused-by-operator-commands";
    heroshhi::gateway::AppOptions options;
    options.config = std::move(*config);
    return heroshhi::gateway::App::open(std::move(options));
}

// --- serve -------------------------------------------------------------------------------------------

struct ServeOptions {
    std::string config;
    bool demo = false;
    bool no_walkthrough = false;
    bool exit_after_walkthrough = false;
    std::uint16_t port = 8080;
    std::string demo_db = "heroshhi-demo.db";
};

int run_serve(const ServeOptions& options, std::ostream& out, std::ostream& err) {
    namespace gw = heroshhi::gateway;
    if (options.demo) {
        gw::DemoOptions demo;
        demo.port = options.port;
        demo.sqlite = options.demo_db;
        demo.walkthrough = !options.no_walkthrough;
        demo.keep_serving = !options.exit_after_walkthrough;
        return gw::run_demo(demo, out, err);
    }
    auto config = load_config(options.config);
    if (!config) {
        err << "heroshhi serve: " << config.error().message() << '\n';
        return exit_bad_config;
    }
    std::unique_ptr<heroshhi::crypto::TlsContext> tls;
    if (!config->tls_cert.empty()) {
        auto made = heroshhi::crypto::make_tls_server_context({config->tls_cert, config->tls_key});
        if (!made) {
            err << "heroshhi serve: TLS: " << made.error().message() << '\n';
            return exit_bad_config;
        }
        tls = std::make_unique<heroshhi::crypto::TlsContext>(std::move(*made));
    }
    gw::AppOptions app_options;
    app_options.config = *config;
    app_options.access_log = &err;
    auto app = gw::App::open(std::move(app_options));
    if (!app) {
        err << "heroshhi serve: " << app.error().message() << '\n';
        return exit_bad_config;
    }
    gw::block_stop_signals();
    heroshhi::http::ServerOptions server_options;
    server_options.address = config->bind;
    server_options.port = config->port;
    server_options.threads = config->threads;
    server_options.io_threads = config->io_threads;
    server_options.tls = tls.get();
    gw::App* handler = app->get();
    auto server = heroshhi::http::Server::start(
        server_options, [handler](heroshhi::http::Request r, heroshhi::http::Responder out) {
            handler->handle_async(std::move(r), std::move(out));
        });
    if (!server) {
        err << "heroshhi serve: " << server.error().message() << '\n';
        return 1;
    }
    out << "heroshhi gateway listening on " << (tls ? "https://" : "http://") << config->bind << ':'
        << (*server)->port() << std::endl;
    gw::wait_for_stop_signal();
    out << "stopping: finishing requests in flight" << std::endl;
    (*server)->stop();
    return exit_ok;
}

void add_serve(CLI::App& app, Runner& runner) {
    auto options = std::make_shared<ServeOptions>();
    CLI::App* cmd = app.add_subcommand("serve", "Run the gateway: REST API and WhatsApp webhooks.");
    cmd->add_option("--config", options->config, "JSON configuration file (HEROSHHI_* variables override it)");
    cmd->add_flag("--demo", options->demo,
                  "Demo mode: loopback, a SQLite file, a demo tenant and key, a fake Graph API, and a walkthrough");
    cmd->add_option("--port", options->port, "Demo mode: the port (default 8080; 0 for any free port)");
    cmd->add_option("--demo-db", options->demo_db, "Demo mode: the SQLite file");
    cmd->add_flag("--no-walkthrough", options->no_walkthrough, "Demo mode: only print the curl lines");
    cmd->add_flag("--exit-after-walkthrough", options->exit_after_walkthrough,
                  "Demo mode: stop after the walkthrough instead of serving until Ctrl-C");
    cmd->callback([options, &runner] { runner = [options] { return run_serve(*options, std::cout, std::cerr); }; });
}

// --- operator subcommands ----------------------------------------------------------------------------

struct OperatorOptions {
    std::string config;
    std::string id, name, phone_number_id;        // create-tenant
    std::string tenant, user, role, team, source;  // create-key, create-integration, audit-verify
    bool dry_run = false;                          // sweep
    std::string out;                               // export
};

int report_failure(const char* command, const heroshhi::Error& error, std::ostream& err) {
    err << "heroshhi " << command << ": " << error.message() << '\n';
    return exit_bad_config;
}

void add_operator_commands(CLI::App& app, Runner& runner) {
    namespace gw = heroshhi::gateway;
    auto options = std::make_shared<OperatorOptions>();

    CLI::App* tenant = app.add_subcommand("create-tenant", "Create (or update) a tenant and its WhatsApp number.");
    tenant->add_option("--config", options->config, "JSON configuration file");
    tenant->add_option("--id", options->id, "Tenant id")->required();
    tenant->add_option("--name", options->name, "Display name");
    tenant->add_option("--phone-number-id", options->phone_number_id, "The WhatsApp business number's id");
    tenant->callback([options, &runner] {
        runner = [options] {
            auto app = open_for_operator(options->config);
            if (!app) return report_failure("create-tenant", app.error(), std::cerr);
            auto r = (*app)->register_tenant({options->id, options->name, options->phone_number_id});
            if (!r) return report_failure("create-tenant", r.error(), std::cerr);
            std::cout << "tenant " << options->id << " saved\n";
            return exit_ok;
        };
    });

    CLI::App* key = app.add_subcommand("create-key", "Create an API key for a user of a tenant; printed once.");
    key->add_option("--config", options->config, "JSON configuration file");
    key->add_option("--tenant", options->tenant, "Tenant id")->required();
    key->add_option("--user", options->user, "User id the key acts as")->required();
    key->add_option("--role", options->role, "owner, admin, manager or sales")->required();
    key->add_option("--team", options->team, "The user's team (managers, sales)");
    key->callback([options, &runner] {
        runner = [options] {
            const auto role = heroshhi::rbac::role_from_string(options->role);
            if (!role) {
                std::cerr << "heroshhi create-key: --role must be owner, admin, manager or sales\n";
                return exit_bad_config;
            }
            auto app = open_for_operator(options->config);
            if (!app) return report_failure("create-key", app.error(), std::cerr);
            auto issued = (*app)->directory().create_key(heroshhi::rbac::Principal(
                heroshhi::UserId(options->user), heroshhi::TenantId(options->tenant), *role, options->team));
            if (!issued) return report_failure("create-key", issued.error(), std::cerr);
            std::cout << issued->token << '\n';
            return exit_ok;
        };
    });

    CLI::App* integration = app.add_subcommand("create-integration", "Create a signed form webhook for lead intake.");
    integration->add_option("--config", options->config, "JSON configuration file");
    integration->add_option("--tenant", options->tenant, "Tenant id")->required();
    integration->add_option("--source", options->source, "Source tag of its leads")->default_val("integration");
    integration->callback([options, &runner] {
        runner = [options] {
            auto app = open_for_operator(options->config);
            if (!app) return report_failure("create-integration", app.error(), std::cerr);
            auto made = (*app)->directory().create_integration(options->tenant, options->source);
            if (!made) return report_failure("create-integration", made.error(), std::cerr);
            std::cout << "POST /webhooks/forms/" << made->id << "\nsecret " << made->secret << '\n';
            return exit_ok;
        };
    });

    CLI::App* sweep = app.add_subcommand("sweep", "Run the retention sweep over every tenant (schedule it daily).");
    sweep->add_option("--config", options->config, "JSON configuration file");
    sweep->add_flag("--dry-run", options->dry_run, "Report what a sweep would delete, deleting nothing");
    sweep->callback([options, &runner] {
        runner = [options] {
            auto app = open_for_operator(options->config);
            if (!app) return report_failure("sweep", app.error(), std::cerr);
            auto report = (*app)->sweep(options->dry_run);
            if (!report) return report_failure("sweep", report.error(), std::cerr);
            std::cout << (report->dry_run ? "dry run (nothing deleted)" : "sweep")
                      << (report->complete ? "" : ", stopped early: run again to continue") << '\n';
            for (const auto& t : report->tenants)
                std::cout << "  " << t.to_audit_text(report->as_of) << " tenant=" << t.tenant.value() << '\n';
            return exit_ok;
        };
    });

    CLI::App* exporter = app.add_subcommand("export", "Write a tenant's leads as CSV (audited as the operator).");
    exporter->add_option("--config", options->config, "JSON configuration file");
    exporter->add_option("--tenant", options->tenant, "Tenant id")->required();
    exporter->add_option("--out", options->out, "Output file (created with mode 0600); '-' for stdout")->required();
    exporter->callback([options, &runner] {
        runner = [options] {
            auto app = open_for_operator(options->config);
            if (!app) return report_failure("export", app.error(), std::cerr);
            std::ofstream file;
            std::ostream* out = &std::cout;
            if (options->out != "-") {
                // The file holds personal data: readable by its owner only, and never over another file.
                const int fd = ::open(options->out.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
                if (fd < 0) {
                    std::cerr << "heroshhi export: cannot create '" << options->out << "': " << std::strerror(errno) << '\n';
                    return exit_bad_config;
                }
                ::close(fd);
                file.open(options->out, std::ios::binary | std::ios::trunc);
                out = &file;
            }
            const heroshhi::rbac::Principal operator_(heroshhi::UserId("operator"), heroshhi::TenantId(options->tenant),
                                                      heroshhi::rbac::Role::owner);
            auto done = (*app)->export_leads(operator_, *out);
            if (!done) return report_failure("export", done.error(), std::cerr);
            out->flush();
            std::cerr << "exported " << *done << " leads\n";
            return exit_ok;
        };
    });

    CLI::App* verify = app.add_subcommand("audit-verify", "Recompute a tenant's audit chain; exit 1 if broken.");
    verify->add_option("--config", options->config, "JSON configuration file");
    verify->add_option("--tenant", options->tenant, "Tenant id")->required();
    verify->callback([options, &runner] {
        runner = [options] {
            auto app = open_for_operator(options->config);
            if (!app) return report_failure("audit-verify", app.error(), std::cerr);
            auto v = (*app)->engine().audit().verify(heroshhi::TenantId(options->tenant));
            if (!v) return report_failure("audit-verify", v.error(), std::cerr);
            std::cout << (v->intact() ? "intact" : "BROKEN") << ": " << v->checked << " entries checked";
            if (!v->intact()) std::cout << "; " << v->detail;
            std::cout << '\n';
            return v->intact() ? exit_ok : 1;
        };
    });
}

}  // namespace

int main(int argc, char** argv) {
    std::ios::sync_with_stdio(false);
    CLI::App app{"heroshhi — compliance tools for WhatsApp CRM backends"};
    app.require_subcommand(1);

    Runner runner;
    add_serve(app, runner);
    add_operator_commands(app, runner);
    app.add_subcommand("routes", "List the API's routes (method and path pattern), one per line.")
        ->callback([&runner] {
            runner = [] {
                for (const auto& [method, pattern] : heroshhi::gateway::App::routes())
                    std::cout << method << ' ' << pattern << '\n';
                return exit_ok;
            };
        });
    add_classify(app, runner);
    add_normalize_phone(app, runner);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    return runner ? runner() : exit_ok;
}
