// heroshhi — internal: the SQLite store's retention ports (src/storage/sqlite_retention.cpp) run on
// the store's one connection, under its mutex.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include <heroshhi/retention/stores.hpp>

struct sqlite3;

namespace heroshhi::storage {
class StoreSet;
}

namespace heroshhi::storage::detail {

/// The store's connection, borrowed: valid while the SqliteStore lives.
struct SqliteHandle {
    sqlite3* db;
    std::mutex& mutex;
    const std::string& path;
    bool read_only;
};

/// `owner` is the SqliteStore itself (RetentionStores::store_set).
std::unique_ptr<retention::RetentionStores> make_sqlite_retention(SqliteHandle handle, StoreSet& owner);

}  // namespace heroshhi::storage::detail
