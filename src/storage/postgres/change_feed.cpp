#include <heroshhi/storage/postgres_change_feed.hpp>

#include <heroshhi/engine.hpp>
#include <heroshhi/storage/errors.hpp>

#include <libpq-fe.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace heroshhi::storage {

namespace {

constexpr const char* channel_listen = "LISTEN heroshhi_optout; LISTEN heroshhi_facts";
constexpr const char* facts_channel = "heroshhi_facts";

struct ConnDeleter {
    void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
using Conn = std::unique_ptr<PGconn, ConnDeleter>;

/// Runs one constant command; true if the server answered it.
bool command(PGconn* c, const char* sql) {
    PGresult* r = PQexec(c, sql);
    const auto status = PQresultStatus(r);
    PQclear(r);
    return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}

}  // namespace

class PostgresChangeFeed::Impl {
public:
    Impl(Engine& engine, std::string conninfo, PostgresChangeFeedOptions options)
        : engine_(engine), conninfo_(std::move(conninfo)), options_(options) {}

    ~Impl() { stop(); }

    Result<void> start() {
        if (::pipe(wake_) != 0) return Error(StorageErrc::unavailable, "the change feed could not create its wake-up pipe");
        thread_ = std::thread([this] { run(); });
        return {};
    }

    void stop() {
        if (!thread_.joinable()) return;
        stopping_.store(true);
        const char byte = 1;
        (void)!::write(wake_[1], &byte, 1);
        thread_.join();
        ::close(wake_[0]);
        ::close(wake_[1]);
    }

    std::atomic<bool> connected{false};
    std::atomic<std::uint64_t> connections{0};
    std::atomic<std::uint64_t> notifications{0};

private:
    void run() {
        auto delay = options_.reconnect_delay;
        while (!stopping_.load()) {
            Conn conn = connect();
            if (conn && command(conn.get(), channel_listen)) {
                delay = options_.reconnect_delay;
                // Listening from here on: every later append will be announced, so a catch-up that
                // starts now may make the tenants current.
                engine_.set_change_feed_connected(true);
                connected.store(true);
                connections.fetch_add(1);
                // A reload, not a catch-up: consent records and restrictions written while the feed
                // was not listening are not in the opt-out log. A failure leaves its tenant not
                // loaded (refused); its next use or the recheck retries.
                (void)engine_.reload_all();
                listen(conn.get());
                connected.store(false);
                engine_.set_change_feed_connected(false);
            }
            conn.reset();
            if (stopping_.load() || !sleep(delay)) break;
            delay = std::min(delay * 2, options_.max_reconnect_delay);
        }
        connected.store(false);
        engine_.set_change_feed_connected(false);
    }

    Conn connect() const {
        const auto seconds = std::max<long long>(1, (options_.connect_timeout.count() + 999) / 1000);
        const std::string timeout = std::to_string(seconds);
        // dbname first: the caller's conninfo is expanded there, and the settings after it win.
        const char* keywords[] = {"dbname", "connect_timeout", "application_name", "keepalives",
                                  "keepalives_idle", "keepalives_interval", "keepalives_count", nullptr};
        const char* values[] = {conninfo_.c_str(), timeout.c_str(), "heroshhi-change-feed", "1", "5", "2", "3", nullptr};
        Conn c(PQconnectdbParams(keywords, values, 1));
        if (!c || PQstatus(c.get()) != CONNECTION_OK) return nullptr;
        // The server's notices (and its farewell when it drops us) are not for the host's stderr.
        PQsetNoticeProcessor(c.get(), [](void*, const char*) {}, nullptr);
        return c;
    }

    // Waits for notifications until the connection fails or the feed stops.
    void listen(PGconn* c) {
        const int socket = PQsocket(c);
        if (socket < 0) return;
        while (!stopping_.load()) {
            pollfd fds[2] = {{socket, POLLIN, 0}, {wake_[0], POLLIN, 0}};
            const int timeout = static_cast<int>(std::max<long long>(1, options_.ping_interval.count()));
            const int ready = ::poll(fds, 2, timeout);
            if (ready < 0 && errno != EINTR) return;
            if (fds[1].revents != 0) return;  // stopping
            if (ready == 0) {
                // Quiet for a while: make sure the server is still there (notifications that
                // arrive meanwhile are kept by libpq and read below).
                if (!command(c, "SELECT 1")) return;
            } else if (PQconsumeInput(c) == 0) {
                return;  // the connection is gone
            }
            if (!drain(c)) return;
        }
    }

    // Catches up every tenant named by the notifications libpq has read. False if the connection
    // failed meanwhile.
    bool drain(PGconn* c) {
        std::set<std::string> tenants, reloads;
        while (PGnotify* n = PQnotifies(c)) {
            if (n->extra != nullptr && n->extra[0] != '\0') {
                const bool facts = n->relname != nullptr && std::string_view(n->relname) == facts_channel;
                (facts ? reloads : tenants).insert(n->extra);
            }
            PQfreemem(n);
            notifications.fetch_add(1);
        }
        // A consent record or a restriction is not in the opt-out log: reload the tenant whole
        // (which reads the log too). A failure leaves it not loaded, so its sends are refused.
        for (const std::string& t : reloads) (void)engine_.reload(TenantId{t});
        for (const std::string& t : tenants)
            if (!reloads.contains(t)) (void)engine_.catch_up(TenantId{t});  // a failure marks it not current
        return PQstatus(c) == CONNECTION_OK;
    }

    // Sleeps, waking early when the feed stops. False if it stops.
    bool sleep(std::chrono::milliseconds d) {
        pollfd fd{wake_[0], POLLIN, 0};
        return ::poll(&fd, 1, static_cast<int>(d.count())) == 0 && !stopping_.load();
    }

    Engine& engine_;
    const std::string conninfo_;
    const PostgresChangeFeedOptions options_;
    std::atomic<bool> stopping_{false};
    int wake_[2] = {-1, -1};
    std::thread thread_;
};

Result<std::unique_ptr<PostgresChangeFeed>> PostgresChangeFeed::start(Engine& engine, const std::string& conninfo,
                                                                      PostgresChangeFeedOptions options) {
    if (conninfo.find('\0') != std::string::npos)
        return Error(StorageErrc::invalid_argument, "the change feed's connection string holds a NUL byte");
    char* error = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &error);
    if (parsed == nullptr) {
        std::string message = error != nullptr ? error : "unreadable";
        PQfreemem(error);
        return Error(StorageErrc::invalid_argument, "the change feed's connection string: " + message);
    }
    PQconninfoFree(parsed);
    auto impl = std::make_unique<Impl>(engine, conninfo, options);
    if (auto r = impl->start(); !r) return r.error();
    return std::unique_ptr<PostgresChangeFeed>(new PostgresChangeFeed(std::move(impl)));
}

PostgresChangeFeed::PostgresChangeFeed(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PostgresChangeFeed::~PostgresChangeFeed() = default;

bool PostgresChangeFeed::connected() const noexcept { return impl_->connected.load(); }
std::uint64_t PostgresChangeFeed::connections() const noexcept { return impl_->connections.load(); }
std::uint64_t PostgresChangeFeed::notifications() const noexcept { return impl_->notifications.load(); }

}  // namespace heroshhi::storage
