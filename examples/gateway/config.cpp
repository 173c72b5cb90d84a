// heroshhi gateway — reading and checking Config.
#include "config.hpp"

#include <charconv>
#include <limits>

#include <nlohmann/json.hpp>

#include <heroshhi/core/errors.hpp>

namespace heroshhi::gateway {
namespace {

Error bad(std::string_view key, std::string_view why) {
    return Error(ConfigErrc::invalid_value, "config '" + std::string(key) + "': " + std::string(why));
}

template <class N>
Result<N> number_in_range(std::string_view key, std::int64_t value, std::int64_t min, std::int64_t max) {
    if (value < min || value > max)
        return bad(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return static_cast<N>(value);
}

template <class N>
Result<N> parse_number(std::string_view key, std::string_view text, std::int64_t min, std::int64_t max) {
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) return bad(key, "not a whole number");
    return number_in_range<N>(key, value, min, max);
}

struct Field {
    const char* key;
    const char* env;
    std::string Config::*text = nullptr;
    std::uint16_t Config::*port = nullptr;
    std::size_t Config::*size = nullptr;
    std::uint32_t Config::*rate = nullptr;
    bool zero_allowed = false;  // a size field for which 0 means "automatic"
};

const Field fields[] = {
    {"bind", "HEROSHHI_BIND", &Config::bind},
    {"port", "HEROSHHI_PORT", nullptr, &Config::port},
    {"tls_cert", "HEROSHHI_TLS_CERT", &Config::tls_cert},
    {"tls_key", "HEROSHHI_TLS_KEY", &Config::tls_key},
    {"sqlite", "HEROSHHI_SQLITE", &Config::sqlite},
    {"database", "HEROSHHI_DATABASE", &Config::database},
    {"recheck_ms", "HEROSHHI_RECHECK_MS", nullptr, nullptr, nullptr, &Config::recheck_ms},
    {"facts_reload_ms", "HEROSHHI_FACTS_RELOAD_MS", nullptr, nullptr, nullptr, &Config::facts_reload_ms},
    {"graph_base_url", "HEROSHHI_GRAPH_URL", &Config::graph_base_url},
    {"graph_api_version", "HEROSHHI_GRAPH_VERSION", &Config::graph_api_version},
    {"graph_token", "HEROSHHI_GRAPH_TOKEN", &Config::graph_token},
    {"app_secret", "HEROSHHI_APP_SECRET", &Config::app_secret},
    {"verify_token", "HEROSHHI_VERIFY_TOKEN", &Config::verify_token},
    {"key_file", "HEROSHHI_KEY_FILE", &Config::key_file},
    {"index_key_file", "HEROSHHI_INDEX_KEY_FILE", &Config::index_key_file},
    {"threads", "HEROSHHI_THREADS", nullptr, nullptr, &Config::threads},
    {"io_threads", "HEROSHHI_IO_THREADS", nullptr, nullptr, &Config::io_threads, nullptr, true},
    {"auth_per_minute", "HEROSHHI_AUTH_PER_MINUTE", nullptr, nullptr, nullptr, &Config::auth_per_minute},
    {"api_per_minute", "HEROSHHI_API_PER_MINUTE", nullptr, nullptr, nullptr, &Config::api_per_minute},
    {"webhook_per_minute", "HEROSHHI_WEBHOOK_PER_MINUTE", nullptr, nullptr, nullptr, &Config::webhook_per_minute},
};

constexpr std::int64_t max_threads = 256;
constexpr std::int64_t max_rate = 10'000'000;

// Sets one field from a number (JSON number or environment text already parsed).
Result<void> set_number(Config& config, const Field& f, std::string_view key, std::int64_t value) {
    if (f.port) {
        auto v = number_in_range<std::uint16_t>(key, value, 0, 65535);
        if (!v) return v.error();
        config.*f.port = *v;
    } else if (f.size) {
        auto v = number_in_range<std::size_t>(key, value, f.zero_allowed ? 0 : 1, max_threads);
        if (!v) return v.error();
        config.*f.size = *v;
    } else {
        auto v = number_in_range<std::uint32_t>(key, value, 1, max_rate);
        if (!v) return v.error();
        config.*f.rate = *v;
    }
    return {};
}

}  // namespace

bool is_loopback(std::string_view address) {
    return address == "::1" || address == "localhost" || address.starts_with("127.");
}

Result<Config> Config::from_json(std::string_view text) {
    const auto doc = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
    if (doc.is_discarded()) return Error(ConfigErrc::invalid_value, "config: not valid JSON");
    if (!doc.is_object()) return Error(ConfigErrc::invalid_value, "config: the top level must be an object");
    Config config;
    for (const auto& [key, value] : doc.items()) {
        const Field* field = nullptr;
        for (const Field& f : fields)
            if (key == f.key) field = &f;
        if (!field) return bad(key, "unknown setting");
        if (field->text) {
            if (!value.is_string()) return bad(key, "must be a string");
            config.*field->text = value.get<std::string>();
        } else {
            if (!value.is_number_integer()) return bad(key, "must be a whole number");
            if (auto r = set_number(config, *field, key, value.get<std::int64_t>()); !r) return r.error();
        }
    }
    return config;
}

Result<void> Config::apply_environment(const std::function<std::optional<std::string>(const char*)>& getenv) {
    for (const Field& f : fields) {
        auto value = getenv(f.env);
        if (!value) continue;
        if (f.text) {
            this->*f.text = *value;
            continue;
        }
        auto n = parse_number<std::int64_t>(f.env, *value, std::numeric_limits<std::int64_t>::min(),
                                            std::numeric_limits<std::int64_t>::max());
        if (!n) return n.error();
        if (auto r = set_number(*this, f, f.env, *n); !r) return r.error();
    }
    return {};
}

Result<void> Config::validate() const {
    if (tls_cert.empty() != tls_key.empty()) return bad("tls_cert", "tls_cert and tls_key go together");
    if (tls_cert.empty() && !is_loopback(bind))
        return bad("bind", "plain HTTP is only served on loopback; give tls_cert and tls_key to bind " + bind);
    if (database.empty() && sqlite.empty()) return bad("sqlite", "must name the database file");
    if (!database.empty() && !database.starts_with("postgresql://") && !database.starts_with("postgres://") &&
        database.find('=') == std::string::npos)
        return bad("database", "must be a PostgreSQL connection string (postgresql://user@host:port/db or key=value)");
    if (key_file.empty() != index_key_file.empty())
        return bad("key_file", "key_file and index_key_file go together (field encryption needs both)");
    if (app_secret.empty()) return bad("app_secret", "required (HEROSHHI_APP_SECRET): webhook signatures are checked with it");
    if (verify_token.empty()) return bad("verify_token", "required (HEROSHHI_VERIFY_TOKEN) for Meta's handshake");
    return {};
}

}  // namespace heroshhi::gateway
