// heroshhi — error codes of the storage ports. Every store reports faults with these.
#pragma once

#include <system_error>

namespace heroshhi::storage {

/// Category name: "heroshhi.storage".
enum class StorageErrc {
    unavailable = 1,   ///< the store cannot be reached or used now (I/O error, locked, closed)
    not_a_database,    ///< the file is not a heroshhi database (or not a database at all)
    newer_schema,      ///< the database was written by a newer heroshhi; it is left untouched
    corrupt,           ///< the database is damaged
    read_only,         ///< a write was refused because the database is read-only
    full,              ///< the disk or the database is full
    invalid_argument,  ///< the caller passed a record that cannot be stored (empty id, bad value)
    not_found,         ///< the record the operation needs does not exist
    conflict,          ///< the record exists with different content
    key_unavailable,   ///< the data is encrypted and the keys to read it were not given (no key ring,
                       ///< a ring without the key a value was encrypted with, another blind-index key)
    not_encrypted,     ///< the database was written without encryption and was opened with keys
};

const std::error_category& storage_category() noexcept;
inline std::error_code make_error_code(StorageErrc e) noexcept { return {static_cast<int>(e), storage_category()}; }

}  // namespace heroshhi::storage

template <> struct std::is_error_code_enum<heroshhi::storage::StorageErrc> : std::true_type {};
