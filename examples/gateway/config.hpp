// heroshhi gateway — Config: what `heroshhi serve` needs, from a JSON file and the environment.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <heroshhi/core/result.hpp>

namespace heroshhi::gateway {

/// Every setting, with the demo-friendly default. Secrets (graph_token, app_secret, verify_token)
/// are best given through the environment so they stay out of files and process listings.
struct Config {
    std::string bind = "127.0.0.1";   ///< HEROSHHI_BIND; anything but loopback requires TLS
    std::uint16_t port = 8080;        ///< HEROSHHI_PORT (0: any free port)
    std::string tls_cert;             ///< HEROSHHI_TLS_CERT: PEM chain
    std::string tls_key;              ///< HEROSHHI_TLS_KEY: PEM private key
    std::string sqlite = "heroshhi.db";  ///< HEROSHHI_SQLITE: the store's file (when `database` is empty)
    /// HEROSHHI_DATABASE: a PostgreSQL connection string ("postgresql://user@host:5432/db" or
    /// libpq's "host=... dbname=..."), in place of `sqlite`: the store several gateway instances
    /// share. Each instance then listens for the others' opt-outs (LISTEN heroshhi_optout) and
    /// refuses sends (503 suppression_not_current) while it cannot confirm it has them all.
    std::string database;
    /// HEROSHHI_RECHECK_MS: with `database`, how often each instance re-reads every loaded tenant's
    /// opt-out log anyway (the safety net behind LISTEN/NOTIFY).
    std::uint32_t recheck_ms = 5000;
    /// HEROSHHI_FACTS_RELOAD_MS: with `database`, how often each instance reloads every loaded
    /// tenant whole, for the facts the opt-out log does not carry (consent records,
    /// restrictions): they arrive at once (NOTIFY heroshhi_facts) and this is the safety net. A
    /// reload refuses the tenant's sends while it reads, hence a slower pace than `recheck_ms`.
    /// Reloads happen on the recheck's ticks: the period is rounded up to a multiple of
    /// `recheck_ms` (a value at or below it reloads at every tick).
    std::uint32_t facts_reload_ms = 60'000;
    std::string graph_base_url = "https://graph.facebook.com";  ///< HEROSHHI_GRAPH_URL
    std::string graph_api_version = "v25.0";                    ///< HEROSHHI_GRAPH_VERSION
    std::string graph_token;          ///< HEROSHHI_GRAPH_TOKEN: the Cloud API access token
    std::string app_secret;           ///< HEROSHHI_APP_SECRET: keys X-Hub-Signature-256
    std::string verify_token;         ///< HEROSHHI_VERIFY_TOKEN: the webhook handshake token
    std::string key_file;             ///< HEROSHHI_KEY_FILE: data keys (crypto::FileKeyProvider format); empty: no encryption
    std::string index_key_file;       ///< HEROSHHI_INDEX_KEY_FILE: the blind-index key (same format, one key); with key_file
    /// HEROSHHI_THREADS: requests handled at once. Handlers wait for the disk (a webhook is
    /// answered once its commit is synced) and deliveries that wait together share one commit, so
    /// this is well above the number of cores; the network I/O keeps one thread a core.
    std::size_t threads = 32;
    /// HEROSHHI_IO_THREADS: the threads that do the network I/O (http::ServerOptions::io_threads);
    /// 0, the default, is one a core.
    std::size_t io_threads = 0;
    std::uint32_t auth_per_minute = 20;      ///< failed authentications per client address
    std::uint32_t api_per_minute = 600;      ///< API requests per key
    std::uint32_t webhook_per_minute = 60'000;  ///< webhook deliveries per client address

    /// Reads a JSON object with the keys above (snake_case, as written here); an unknown key, a
    /// wrong type or an out-of-range number is an error naming the key.
    static Result<Config> from_json(std::string_view text);
    /// Overrides settings with the HEROSHHI_* variables `getenv` returns (for testing, pass a
    /// lookup of your own). A bad number is an error naming the variable.
    Result<void> apply_environment(const std::function<std::optional<std::string>(const char*)>& getenv);
    /// Checks the whole: TLS files both or neither, TLS required off loopback, tokens present.
    Result<void> validate() const;
};

/// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback(std::string_view address);

}  // namespace heroshhi::gateway
