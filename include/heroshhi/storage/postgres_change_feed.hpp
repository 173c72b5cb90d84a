// heroshhi — PostgresChangeFeed: tells an Engine of the opt-outs, consent records and restrictions
// other instances record in a shared PostgreSQL database (LISTEN heroshhi_optout, heroshhi_facts),
// and when it may not trust its index.
// (Built when HEROSHHI_WITH_POSTGRES is ON; needs libpq.)
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <heroshhi/core/result.hpp>

namespace heroshhi {
class Engine;
}  // namespace heroshhi

namespace heroshhi::storage {

struct PostgresChangeFeedOptions {
    /// The first wait before reconnecting after a loss or a failed connection; doubles up to
    /// max_reconnect_delay.
    std::chrono::milliseconds reconnect_delay{100};
    std::chrono::milliseconds max_reconnect_delay{5000};
    /// How long opening the connection may take (rounded up to whole seconds).
    std::chrono::milliseconds connect_timeout{5000};
    /// With no notification for this long, the feed sends a query to the server: a connection
    /// that died silently is noticed within about this time (plus TCP keepalive).
    std::chrono::milliseconds ping_interval{2000};
};

/// One dedicated libpq connection that LISTENs on channels `heroshhi_optout` and `heroshhi_facts`
/// (below); on `heroshhi_optout`
/// storage::PostgresStore notifies the tenant id of every opt-out append, in the append's
/// transaction. Drives an Engine built with EngineOptions::shared.enabled and
/// shared.change_feed:
///   - connected (LISTEN in force): Engine::set_change_feed_connected(true), then reload_all
///     (what was missed meanwhile may include consent records and restrictions, which a catch-up
///     does not read), which makes the loaded tenants current;
///   - a notification: Engine::catch_up for its tenant (several notifications read together
///     cost one catch-up per tenant);
///   - on channel `heroshhi_facts`, which the store notifies in the transaction of every consent
///     record and of every contact write that changes whether a number is restricted:
///     Engine::reload for its tenant (consent and restrictions are not in the opt-out log; the
///     tenant's sends are refused while it reloads);
///   - the connection lost (a failed read or ping): set_change_feed_connected(false) at once, so
///     every send is refused, then reconnect with backoff, LISTEN again and catch up again.
/// Destroying the feed disconnects it the same way (the engine then refuses sends until another
/// feed connects), so destroy it before the engine.
///
/// Runs on a thread of its own; the engine must outlive the feed.
class PostgresChangeFeed {
public:
    /// Checks `conninfo` (a libpq URI or key=value string; invalid_argument if libpq cannot read
    /// it) and starts the feed's thread, which connects in the background: this does not wait
    /// for the server, and an unreachable one is retried until it answers.
    static Result<std::unique_ptr<PostgresChangeFeed>> start(Engine& engine, const std::string& conninfo,
                                                             PostgresChangeFeedOptions options = {});

    ~PostgresChangeFeed();
    PostgresChangeFeed(const PostgresChangeFeed&) = delete;
    PostgresChangeFeed& operator=(const PostgresChangeFeed&) = delete;

    /// Whether the feed is listening now. Lock-free.
    bool connected() const noexcept;
    /// How many times the feed has connected and listened (1 after the first connection).
    std::uint64_t connections() const noexcept;
    /// Notifications received so far.
    std::uint64_t notifications() const noexcept;

    class Impl;

private:
    explicit PostgresChangeFeed(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace heroshhi::storage
