// heroshhi — internal: the PostgreSQL store's retention ports (src/storage/postgres/pg_retention.cpp)
// run on the store's connection pool.
#pragma once

#include <memory>

#include <heroshhi/retention/stores.hpp>

#include "pg_connection.hpp"

namespace heroshhi::storage {
class StoreSet;
}

namespace heroshhi::storage::detail {

/// The store's pool, borrowed: valid while the PostgresStore lives.
struct PgHandle {
    pg::Pool& pool;
    bool encrypted;  ///< phone_key holds blind-index tags (else the number's 8-byte big-endian key)
};

/// `owner` is the PostgresStore itself (RetentionStores::store_set).
std::unique_ptr<retention::RetentionStores> make_pg_retention(PgHandle handle, StoreSet& owner);

}  // namespace heroshhi::storage::detail
