// heroshhi — internal: the PostgreSQL store's schema and its forward migrations.
#pragma once

#include <span>

#include <heroshhi/core/result.hpp>

#include "pg_connection.hpp"

namespace heroshhi::storage::pg {

/// One forward step of the schema: constant DDL run inside the migration's transaction, with the
/// connection's search_path set to the schema `heroshhi` (so names are unqualified).
struct Migration {
    int version;
    const char* script;
};

/// Every step, in order; the last one's version is PostgresStore::schema_version.
std::span<const Migration> migrations() noexcept;

/// The advisory lock key the migration holds (transaction-scoped): "HROS".
constexpr std::int64_t migration_lock_key = 0x48524F53;

/// The channel every opt-out append notifies in its transaction; the payload is the tenant id.
constexpr const char* optout_channel = "heroshhi_optout";

/// Inside an open transaction on `lease`: takes the migration lock, checks that the schema
/// `heroshhi` is ours and not newer than this build, and runs every step it lacks. Returns the
/// version found before migrating (0 for a new database). Fails with newer_schema or
/// not_a_database without changing anything (the caller rolls back).
Result<int> migrate(Lease& lease);

}  // namespace heroshhi::storage::pg
