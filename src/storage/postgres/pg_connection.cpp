// heroshhi — internal: PostgreSQL connection pool, statements and errors (see pg_connection.hpp).
#include "pg_connection.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace heroshhi::storage::pg {

struct Connection {
    PGconn* conn = nullptr;
    std::string target;
    std::unordered_map<std::string, std::string> prepared;  ///< SQL text → statement name
    std::string last_sqlstate;
    bool broken = false;

    ~Connection() {
        if (conn != nullptr) PQfinish(conn);
    }
    /// Whether the server has closed the connection (or it failed), without blocking: reads what
    /// is waiting on the socket, so a termination notice or EOF is seen before the next use.
    /// (libpq's sockets are non-blocking underneath: reading never waits.) A terminated backend
    /// sends a FATAL notice, which the notice receiver turns into `broken`, then closes the
    /// socket, which the second read sees.
    bool alive() {
        if (broken || PQstatus(conn) != CONNECTION_OK) return false;
        for (int i = 0; i < 2 && !broken; ++i)
            if (PQconsumeInput(conn) == 0) return false;
        while (PGnotify* n = PQnotifies(conn)) PQfreemem(n);  // nobody listens on a pooled connection
        return !broken && PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE;
    }
};

namespace {

/// "postgresql://host:port/db", never the user's password; "PostgreSQL" if the string is unreadable.
std::string describe(const std::string& conninfo) {
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
    if (error != nullptr) PQfreemem(error);
    if (options == nullptr) return "PostgreSQL";
    std::string host, port, dbname, user;
    for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
        if (o->val == nullptr) continue;
        const std::string_view key = o->keyword;
        if (key == "host" || (key == "hostaddr" && host.empty())) host = o->val;
        else if (key == "port") port = o->val;
        else if (key == "dbname") dbname = o->val;
        else if (key == "user") user = o->val;
    }
    PQconninfoFree(options);
    std::string out = "postgresql://";
    if (!user.empty()) out += user + "@";
    out += host.empty() ? "localhost" : host;
    if (!port.empty()) out += ":" + port;
    out += "/" + (dbname.empty() ? user : dbname);
    return out;
}

std::string trimmed(const char* message) {
    std::string out = message != nullptr ? message : "";
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out.empty() ? std::string("no message") : out;
}

/// The error of a failed statement: connection trouble is always `unavailable`, and marks the
/// connection broken so that it is dropped.
Error statement_error(Connection& c, const PGresult* result, std::string_view action) {
    const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
    c.last_sqlstate = state != nullptr ? state : "";
    const bool lost = PQstatus(c.conn) != CONNECTION_OK || c.last_sqlstate.empty() ||
                      errc_of_sqlstate(c.last_sqlstate) == StorageErrc::unavailable;
    if (PQstatus(c.conn) != CONNECTION_OK) c.broken = true;
    std::string detail(action);
    if (PQstatus(c.conn) != CONNECTION_OK) {
        detail.append(" failed: the connection to ").append(c.target).append(" was lost (");
        detail.append(trimmed(PQerrorMessage(c.conn))).append("); the next call reconnects");
        return Error(StorageErrc::unavailable, std::move(detail));
    }
    const char* message = result != nullptr ? PQresultErrorMessage(result) : PQerrorMessage(c.conn);
    detail.append(" on ").append(c.target).append(" failed: ").append(trimmed(message));
    if (!c.last_sqlstate.empty()) detail.append(" (SQLSTATE ").append(c.last_sqlstate).append(")");
    return Error(lost ? StorageErrc::unavailable : errc_of_sqlstate(c.last_sqlstate), std::move(detail));
}

struct ResultDeleter {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using OwnedResult = std::unique_ptr<PGresult, ResultDeleter>;

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

StorageErrc errc_of_sqlstate(std::string_view state) noexcept {
    if (state.size() != 5) return StorageErrc::unavailable;
    const std::string_view cls = state.substr(0, 2);
    if (state == "23502") return StorageErrc::invalid_argument;  // not_null_violation
    if (cls == "23") return StorageErrc::conflict;                // unique, foreign key, check
    if (cls == "22") return StorageErrc::invalid_argument;        // data exception (bad encoding, range)
    if (state == "25006") return StorageErrc::read_only;          // read_only_sql_transaction
    if (state == "53100") return StorageErrc::full;               // disk_full
    if (cls == "XX") return StorageErrc::corrupt;                 // internal error, data corrupted
    // 08 connection, 57 operator intervention (shutdown, cancel, timeout), 53 resources,
    // 40 serialization/deadlock, 3D no such database, 28 authentication, 42 schema mismatch, ...
    return StorageErrc::unavailable;
}

// ---- Params

// Text goes in binary format, i.e. as its bytes with their length: a NUL byte or invalid UTF-8 is
// refused by the server (invalid_argument) instead of cutting the value short, as the text format
// (a C string) would.
Params& Params::text(std::string_view v) {
    values_.emplace_back(v);
    null_.push_back(0);
    formats_.push_back(1);
    return *this;
}
Params& Params::literal(std::string_view v) {
    values_.emplace_back(v);
    null_.push_back(0);
    formats_.push_back(0);
    return *this;
}
Params& Params::integer(std::int64_t v) { return literal(std::to_string(v)); }
Params& Params::boolean(bool v) { return literal(v ? "true" : "false"); }
Params& Params::bytes(std::span<const std::uint8_t> v) {
    values_.emplace_back(reinterpret_cast<const char*>(v.data()), v.size());
    null_.push_back(0);
    formats_.push_back(1);
    return *this;
}
Params& Params::null() {
    values_.emplace_back();
    null_.push_back(1);
    formats_.push_back(0);
    return *this;
}

// ---- Rows

Rows& Rows::operator=(Rows&& other) noexcept {
    if (this != &other) {
        if (result_ != nullptr) PQclear(result_);
        result_ = std::exchange(other.result_, nullptr);
    }
    return *this;
}
Rows::~Rows() {
    if (result_ != nullptr) PQclear(result_);
}
int Rows::size() const noexcept { return result_ != nullptr ? PQntuples(result_) : 0; }
std::int64_t Rows::affected() const noexcept {
    if (result_ == nullptr) return 0;
    const char* n = PQcmdTuples(result_);
    std::int64_t value = 0;
    if (n == nullptr || *n == '\0') return 0;
    std::from_chars(n, n + std::strlen(n), value);
    return value;
}
bool Rows::is_null(int row, int column) const noexcept { return PQgetisnull(result_, row, column) != 0; }
std::string_view Rows::text(int row, int column) const noexcept {
    if (is_null(row, column)) return {};
    return {PQgetvalue(result_, row, column), static_cast<std::size_t>(PQgetlength(result_, row, column))};
}
std::optional<std::int64_t> Rows::integer(int row, int column) const noexcept {
    if (is_null(row, column)) return std::nullopt;
    const std::string_view t = text(row, column);
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
    if (ec != std::errc() || end != t.data() + t.size()) return std::nullopt;
    return value;
}
bool Rows::boolean(int row, int column) const noexcept { return text(row, column) == "t"; }
std::optional<std::vector<std::uint8_t>> Rows::bytes(int row, int column) const {
    if (is_null(row, column)) return std::nullopt;
    const std::string_view t = text(row, column);
    // bytea_output = hex (the default since 9.0; set on every connection): "\x" then two digits a byte.
    if (t.size() < 2 || t[0] != '\\' || t[1] != 'x' || t.size() % 2 != 0) return std::nullopt;
    std::vector<std::uint8_t> out;
    out.reserve((t.size() - 2) / 2);
    for (std::size_t i = 2; i < t.size(); i += 2) {
        const int hi = hex_value(t[i]);
        const int lo = hex_value(t[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
    }
    return out;
}

// ---- Lease

Lease::Lease(Pool* pool, std::unique_ptr<Connection> connection) noexcept
    : pool_(pool), connection_(std::move(connection)) {}
Lease::Lease(Lease&& other) noexcept : pool_(other.pool_), connection_(std::move(other.connection_)) {}

Lease::~Lease() {
    if (!connection_) return;
    if (!connection_->broken && PQtransactionStatus(connection_->conn) != PQTRANS_IDLE) {
        // Left inside a transaction (an exception between BEGIN and COMMIT): roll back, or drop.
        PGresult* r = PQexec(connection_->conn, "ROLLBACK");
        if (PQresultStatus(r) != PGRES_COMMAND_OK) connection_->broken = true;
        PQclear(r);
    }
    if (pool_ != nullptr) pool_->give_back(std::move(connection_));
}

const std::string& Lease::last_sqlstate() const noexcept { return connection_->last_sqlstate; }
bool Lease::broken() const noexcept { return connection_->broken || PQstatus(connection_->conn) != CONNECTION_OK; }
bool Lease::in_transaction() const noexcept {
    const auto status = PQtransactionStatus(connection_->conn);
    return status == PQTRANS_INTRANS || status == PQTRANS_INERROR;
}
pg_conn* Lease::native() const noexcept { return connection_->conn; }
const std::string& Lease::target() const noexcept { return connection_->target; }

Result<Rows> Lease::exec(const char* sql, const Params& params, std::string_view action) {
    Connection& c = *connection_;
    if (c.broken) return Error(StorageErrc::unavailable, std::string(action) + " failed: the connection to " + c.target + " was lost");
    auto it = c.prepared.find(sql);
    if (it == c.prepared.end()) {
        std::string name = "heroshhi_" + std::to_string(c.prepared.size() + 1);
        OwnedResult prepared(PQprepare(c.conn, name.c_str(), sql, 0, nullptr));
        if (PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) return statement_error(c, prepared.get(), action);
        it = c.prepared.emplace(sql, std::move(name)).first;
    }
    const int n = params.size();
    std::vector<const char*> values(static_cast<std::size_t>(n));
    std::vector<int> lengths(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        const auto k = static_cast<std::size_t>(i);
        values[k] = params.null_[k] != 0 ? nullptr : params.values_[k].data();
        lengths[k] = static_cast<int>(params.values_[k].size());
    }
    PGresult* raw = PQexecPrepared(c.conn, it->second.c_str(), n, values.data(), lengths.data(),
                                   params.formats_.data(), 0);
    const auto status = PQresultStatus(raw);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        OwnedResult failed(raw);
        return statement_error(c, raw, action);
    }
    c.last_sqlstate.clear();
    return Rows(raw);
}

Result<void> Lease::run(const char* script, std::string_view action) {
    Connection& c = *connection_;
    if (c.broken) return Error(StorageErrc::unavailable, std::string(action) + " failed: the connection to " + c.target + " was lost");
    OwnedResult r(PQexec(c.conn, script));
    const auto status = PQresultStatus(r.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return statement_error(c, r.get(), action);
    c.last_sqlstate.clear();
    return {};
}

// ---- Pool

Pool::Pool(PoolOptions options, std::string target) : options_(std::move(options)), target_(std::move(target)) {}
Pool::~Pool() = default;

Result<std::unique_ptr<Pool>> Pool::create(PoolOptions options) {
    if (options.conninfo.find('\0') != std::string::npos)
        return Error(StorageErrc::invalid_argument, "the PostgreSQL connection string contains a NUL byte");
    if (options.size == 0) return Error(StorageErrc::invalid_argument, "a PostgreSQL pool needs at least one connection");
    if (options.connect_timeout.count() < 0 || options.statement_timeout.count() < 0 || options.acquire_timeout.count() < 0)
        return Error(StorageErrc::invalid_argument, "a PostgreSQL timeout is negative");
    char* error = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(options.conninfo.c_str(), &error);
    if (parsed == nullptr) {
        std::string detail = "the PostgreSQL connection string cannot be read";
        if (error != nullptr) {
            detail += ": " + trimmed(error);
            PQfreemem(error);
        }
        return Error(StorageErrc::invalid_argument, std::move(detail));
    }
    PQconninfoFree(parsed);
    std::string target = describe(options.conninfo);
    return std::unique_ptr<Pool>(new Pool(std::move(options), std::move(target)));
}

Result<std::unique_ptr<Connection>> Pool::connect() const {
    const auto seconds = std::max<std::int64_t>(1, (options_.connect_timeout.count() + 999) / 1000);
    const std::string timeout = std::to_string(seconds);
    // Ours first, then the caller's string (expanded from dbname), which may override them; the
    // encoding after it, since every text we exchange is UTF-8.
    const char* keywords[] = {"connect_timeout", "application_name", "dbname", "client_encoding", nullptr};
    const char* values[] = {timeout.c_str(), options_.application_name.c_str(), options_.conninfo.c_str(), "UTF8",
                            nullptr};
    auto c = std::make_unique<Connection>();
    c->target = target_;
    c->conn = PQconnectdbParams(keywords, values, 1);
    if (c->conn == nullptr) return Error(StorageErrc::unavailable, "connecting to " + target_ + " failed: out of memory");
    if (PQstatus(c->conn) != CONNECTION_OK)
        return Error(StorageErrc::unavailable, "connecting to " + target_ + " failed: " + trimmed(PQerrorMessage(c->conn)));
    // A library does not write to stderr: the server's notices ("schema exists, skipping") are
    // dropped, except that a FATAL one (the backend is going away: terminated, server shutting
    // down) marks the connection broken.
    PQsetNoticeReceiver(
        c->conn,
        [](void* arg, const PGresult* notice) {
            const char* severity = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
            if (severity != nullptr && (std::strcmp(severity, "FATAL") == 0 || std::strcmp(severity, "PANIC") == 0))
                static_cast<Connection*>(arg)->broken = true;
        },
        c.get());
    // Session settings, as parameters: the statement timeout, hex bytea, and our own schema only
    // (so a host's tables of the same names in the same database are never touched).
    const std::string statement_timeout = std::to_string(options_.statement_timeout.count());
    const char* setting = statement_timeout.c_str();
    OwnedResult r(PQexecParams(c->conn,
                               "SELECT set_config('statement_timeout', $1, false), set_config('bytea_output', 'hex', false),"
                               " set_config('search_path', 'heroshhi', false)",
                               1, nullptr, &setting, nullptr, nullptr, 0));
    if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) return statement_error(*c, r.get(), "configuring a connection");
    return c;
}

Result<Lease> Pool::acquire() {
    std::unique_lock lock(mutex_);
    for (;;) {
        while (!idle_.empty()) {
            std::unique_ptr<Connection> c = std::move(idle_.back());
            idle_.pop_back();
            if (c->alive()) return Lease(this, std::move(c));
            --open_;  // closed by the server while idle: drop it (outside the lock) and look again
            lock.unlock();
            c.reset();
            lock.lock();
        }
        if (open_ < options_.size) break;
        if (!returned_.wait_for(lock, options_.acquire_timeout, [&] { return !idle_.empty() || open_ < options_.size; }))
            return Error(StorageErrc::unavailable, "every connection to " + target_ + " stayed in use for " +
                                                       std::to_string(options_.acquire_timeout.count()) + " ms");
    }
    ++open_;
    lock.unlock();
    auto c = connect();
    if (!c) {
        lock.lock();
        --open_;
        returned_.notify_one();
        return c.error();
    }
    return Lease(this, std::move(c).value());
}

Result<Lease> Pool::dedicated() {
    auto c = connect();
    if (!c) return c.error();
    return Lease(nullptr, std::move(c).value());
}

void Pool::give_back(std::unique_ptr<Connection> connection) noexcept {
    const bool keep = !connection->broken && PQstatus(connection->conn) == CONNECTION_OK &&
                      PQtransactionStatus(connection->conn) == PQTRANS_IDLE;
    if (!keep) connection.reset();  // closed outside the lock
    std::lock_guard lock(mutex_);
    if (keep) {
        try {
            idle_.push_back(std::move(connection));
        } catch (...) {
            --open_;
        }
    } else {
        --open_;
    }
    returned_.notify_one();
}

}  // namespace heroshhi::storage::pg
