// Fuzz target: the gateway's configuration (examples/gateway/config.cpp): Config::from_json on any
// text, then Config::apply_environment with variables taken from the input, then validate().
// Input: the config file text, optionally followed by a NUL and lines "NAME=value" (environment).
// Properties: a refusal names the setting ("config '<key>': ..." or "config: ..."); an accepted
// file reads back the same when its settings are written out again; numbers stay in their ranges
// after the file and after the environment; validate() accepts only what its rules allow (TLS files
// both or neither, plain HTTP only on loopback, secrets and the database present).
#include "config.hpp"

#include "fuzz_check.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace {

using heroshhi::gateway::Config;

nlohmann::json to_json(const Config& c) {
    return {{"bind", c.bind}, {"port", c.port}, {"tls_cert", c.tls_cert}, {"tls_key", c.tls_key}, {"sqlite", c.sqlite},
            {"graph_base_url", c.graph_base_url}, {"graph_api_version", c.graph_api_version},
            {"graph_token", c.graph_token}, {"app_secret", c.app_secret}, {"verify_token", c.verify_token},
            {"key_file", c.key_file}, {"index_key_file", c.index_key_file}, {"threads", c.threads}, {"io_threads", c.io_threads},
            {"auth_per_minute", c.auth_per_minute}, {"api_per_minute", c.api_per_minute},
            {"webhook_per_minute", c.webhook_per_minute}};
}

void check_ranges(const Config& c) {
    FUZZ_CHECK(c.threads >= 1 && c.threads <= 256);
    FUZZ_CHECK(c.io_threads <= 256);
    for (std::uint32_t rate : {c.auth_per_minute, c.api_per_minute, c.webhook_per_minute})
        FUZZ_CHECK(rate >= 1 && rate <= 10'000'000);
}

void check_validate(const Config& c) {
    const bool ok = c.validate().has_value();
    const bool rules = c.tls_cert.empty() == c.tls_key.empty() && (!c.tls_cert.empty() || heroshhi::gateway::is_loopback(c.bind)) &&
                       !c.sqlite.empty() && c.key_file.empty() == c.index_key_file.empty() && !c.app_secret.empty() &&
                       !c.verify_token.empty();
    FUZZ_CHECK(ok == rules);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::size_t nul = input.find('\0');
    const std::string_view file = input.substr(0, nul);
    auto parsed = Config::from_json(file);
    if (!parsed) {
        FUZZ_CHECK(parsed.error().message().find("config") != std::string::npos);
        return 0;
    }
    Config config = std::move(*parsed);
    check_ranges(config);
    auto again = Config::from_json(to_json(config).dump());
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(to_json(*again) == to_json(config));
    check_validate(config);

    if (nul == std::string_view::npos) return 0;
    std::map<std::string, std::string, std::less<>> env;
    std::string_view rest = input.substr(nul + 1);
    while (!rest.empty()) {
        const std::size_t end = rest.find('\n');
        const std::string_view line = rest.substr(0, end);
        const std::size_t eq = line.find('=');
        if (eq != std::string_view::npos) env[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
        if (end == std::string_view::npos) break;
        rest.remove_prefix(end + 1);
    }
    auto applied = config.apply_environment([&](const char* name) -> std::optional<std::string> {
        auto it = env.find(std::string_view(name));
        return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
    });
    if (!applied) {
        FUZZ_CHECK(applied.error().message().find("config 'HEROSHHI_") != std::string::npos);
        return 0;
    }
    check_ranges(config);
    for (const auto& [name, value] : env)
        if (name == "HEROSHHI_BIND") FUZZ_CHECK(config.bind == value);
    check_validate(config);
    return 0;
}
