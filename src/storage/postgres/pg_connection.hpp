// heroshhi — internal: the PostgreSQL layer under PostgresStore (and its retention ports and the
// multi-instance listener): a small connection pool, parameterized statements, transactions and
// the mapping of PostgreSQL's errors to StorageErrc.
//
// Rules every user of this header keeps:
// - SQL texts are constants; values only ever travel as statement parameters ($1, $2, ...);
// - a write of more than one row runs inside transaction();
// - a connection that failed is never handed out again: the next acquire() opens a new one.
//
// This API is shared with other parts of the library: add to it, do not rename.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <heroshhi/core/result.hpp>
#include <heroshhi/storage/errors.hpp>

// libpq's handles, without its header.
struct pg_conn;
struct pg_result;

namespace heroshhi::storage::pg {

struct PoolOptions {
    /// A libpq connection string or URI ("postgresql://user@host:5432/db", "host=... dbname=...").
    std::string conninfo;
    /// Connections kept open at most; callers beyond that wait for one to be returned.
    std::size_t size = 4;
    /// How long opening a connection may take (libpq's connect_timeout, whole seconds, at least 1).
    std::chrono::milliseconds connect_timeout{5000};
    /// Every statement of the pool's connections is cancelled after this long (0 = no limit).
    std::chrono::milliseconds statement_timeout{30000};
    /// How long acquire() waits for a free connection when all `size` are in use.
    std::chrono::milliseconds acquire_timeout{30000};
    /// Shown in pg_stat_activity.
    std::string application_name = "heroshhi";
};

/// The parameters of one statement, in order ($1, $2, ...). text() and bytes() are sent in binary
/// format, as their bytes (the parameter must be of type text / bytea: a NUL byte or invalid UTF-8
/// in a text is refused by the server with invalid_argument, never cut short); integer(),
/// boolean() and literal() in text format, parsed by the server into the parameter's type.
class Params {
public:
    Params& text(std::string_view v);
    Params& literal(std::string_view v);
    Params& integer(std::int64_t v);
    Params& boolean(bool v);
    Params& bytes(std::span<const std::uint8_t> v);
    Params& null();
    Params& optional_text(const std::optional<std::string_view>& v) { return v ? text(*v) : null(); }
    Params& optional_integer(const std::optional<std::int64_t>& v) { return v ? integer(*v) : null(); }

    int size() const noexcept { return static_cast<int>(values_.size()); }

private:
    friend class Lease;
    std::vector<std::string> values_;
    std::vector<char> null_;
    std::vector<int> formats_;
};

/// The rows (or the row count) a statement returned. Owns the libpq result; views stay valid as
/// long as the Rows, whether or not its connection was returned to the pool.
class Rows {
public:
    Rows() noexcept = default;
    explicit Rows(pg_result* result) noexcept : result_(result) {}
    Rows(Rows&& other) noexcept : result_(std::exchange(other.result_, nullptr)) {}
    Rows& operator=(Rows&& other) noexcept;
    Rows(const Rows&) = delete;
    Rows& operator=(const Rows&) = delete;
    ~Rows();

    int size() const noexcept;
    bool empty() const noexcept { return size() == 0; }
    /// Rows changed by an INSERT / UPDATE / DELETE (without RETURNING rows too).
    std::int64_t affected() const noexcept;

    bool is_null(int row, int column) const noexcept;
    /// The value in text format; "" for NULL.
    std::string_view text(int row, int column) const noexcept;
    /// A bigint / integer column; nullopt for NULL or anything that is not a number.
    std::optional<std::int64_t> integer(int row, int column) const noexcept;
    /// A boolean column ('t'); false for NULL.
    bool boolean(int row, int column) const noexcept;
    /// A bytea column decoded from its hex text form; nullopt for NULL or a malformed value.
    std::optional<std::vector<std::uint8_t>> bytes(int row, int column) const;

private:
    pg_result* result_ = nullptr;
};

class Pool;
struct Connection;

/// One connection taken from the pool; returns it on destruction (or drops it if it broke, or
/// was left inside a transaction that could not be rolled back).
class Lease {
public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

    /// Runs a constant statement with parameters (prepared on this connection on first use, then
    /// executed by name). `action` names what was being done, for the error message.
    Result<Rows> exec(const char* sql, const Params& params, std::string_view action);
    Result<Rows> exec(const char* sql, std::string_view action) { return exec(sql, Params{}, action); }
    /// Runs a constant script without parameters (transaction control, DDL; may hold several
    /// statements).
    Result<void> run(const char* script, std::string_view action);

    /// The SQLSTATE of the last failed statement ("23505"), or "" (connection trouble, success).
    const std::string& last_sqlstate() const noexcept;
    /// Whether the connection failed and will not go back to the pool.
    bool broken() const noexcept;
    /// Whether a transaction is open on the connection.
    bool in_transaction() const noexcept;
    /// The libpq handle, for what this API does not cover (LISTEN, notifications). Do not close it.
    pg_conn* native() const noexcept;
    /// "postgresql://host:port/db" (never the password), for messages.
    const std::string& target() const noexcept;

private:
    friend class Pool;
    Lease(Pool* pool, std::unique_ptr<Connection> connection) noexcept;
    Pool* pool_;
    std::unique_ptr<Connection> connection_;
};

/// At most `size` connections to one database. Thread-safe. Connections are opened lazily; one
/// found closed by the server (restart, pg_terminate_backend) when it is taken is replaced.
class Pool {
public:
    static Result<std::unique_ptr<Pool>> create(PoolOptions options);
    ~Pool();
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    /// A connection: an idle one, else a new one if fewer than `size` are open, else the next one
    /// returned (waiting at most acquire_timeout). Fails with `unavailable` when no connection can
    /// be opened.
    Result<Lease> acquire();
    /// A connection of its own, outside the pool and its size (a LISTEN connection). Same settings.
    Result<Lease> dedicated();

    /// "postgresql://host:port/db" (never the password), for messages.
    const std::string& target() const noexcept { return target_; }
    const PoolOptions& options() const noexcept { return options_; }

private:
    friend class Lease;
    explicit Pool(PoolOptions options, std::string target);
    Result<std::unique_ptr<Connection>> connect() const;
    void give_back(std::unique_ptr<Connection> connection) noexcept;

    PoolOptions options_;
    std::string target_;
    std::mutex mutex_;
    std::condition_variable returned_;
    std::vector<std::unique_ptr<Connection>> idle_;
    std::size_t open_ = 0;  ///< connections in use or idle (counted in the pool's size)
};

/// Runs `body()` (which uses `lease`) between BEGIN and COMMIT; any failure (of the body, of the
/// commit, an exception) rolls back, so nothing of it is stored. The body returns Result<T>.
template <class T, class Body>
Result<T> transaction(Lease& lease, std::string_view action, Body&& body) {
    if (auto ok = lease.run("BEGIN", action); !ok) return ok.error();
    struct Rollback {
        Lease& lease;
        bool armed = true;
        ~Rollback() {
            if (armed && lease.in_transaction()) (void)lease.run("ROLLBACK", "rolling back");
        }
    } rollback{lease};
    Result<T> result = body();
    if (!result) return result;
    if (auto ok = lease.run("COMMIT", action); !ok) return ok.error();
    rollback.armed = false;
    return result;
}

/// A storage error for SQLSTATE `state` (connection trouble → unavailable, unique violation →
/// conflict, ...).
StorageErrc errc_of_sqlstate(std::string_view state) noexcept;

/// Bytes for a bytea parameter.
inline std::span<const std::uint8_t> as_bytes(std::string_view s) noexcept {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace heroshhi::storage::pg
