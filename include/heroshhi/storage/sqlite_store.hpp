// heroshhi — SqliteStore: every storage port over one SQLite file, the embedded default.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <heroshhi/core/result.hpp>
#include <heroshhi/retention/stores.hpp>
#include <heroshhi/storage/store_set.hpp>

namespace heroshhi::storage {

struct SqliteOptions {
    /// How long a write waits for another connection's lock before failing with `unavailable`.
    std::chrono::milliseconds busy_timeout{5000};
    /// Open read-only: every write fails with `read_only`.
    bool read_only = false;
};

/// One SQLite file in WAL mode with foreign keys on. Statements are prepared once and bound
/// (no SQL is ever assembled from values); multi-row writes run in one transaction. The schema is
/// versioned (PRAGMA user_version) and migrated forward at open.
///
/// Thread-safe: one connection behind a mutex. Every method blocks on disk I/O.
class SqliteStore final : public StoreSet {
public:
    /// The newest schema version this build writes and reads.
    static constexpr int schema_version = 4;

    /// Opens (creating if absent) the database at `path` and migrates it to `schema_version`
    /// (version 2 added the audit trail, version 4 retention: accounts, analytics aggregates and
    /// the sweep journal; an older file gains the new tables and keeps every row).
    /// A file that is not a database, belongs to another application, or was written by a newer
    /// heroshhi fails with not_a_database / newer_schema and is not modified.
    static Result<std::unique_ptr<SqliteStore>> open(const std::string& path, SqliteOptions options = {});

    ~SqliteStore() override;
    SqliteStore(const SqliteStore&) = delete;
    SqliteStore& operator=(const SqliteStore&) = delete;

    ContactStore& contacts() override;
    MessageStore& messages() override;
    OptOutStore& optouts() override;
    ConsentStore& consents() override;
    ActivityStore& activity() override;
    DedupStore& dedup() override;
    AuditStore& audit() override;

    /// The retention ports over the same file and connection: accounts, sweep journal, analytics
    /// aggregates and the targets over contacts, messages, consent records, inbound activity and
    /// webhook keys.
    retention::RetentionStores& retention() noexcept;

    class Impl;

private:
    explicit SqliteStore(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
    std::unique_ptr<retention::RetentionStores> retention_;  // uses impl_'s connection: declared after it
};

}  // namespace heroshhi::storage
