// heroshhi gateway — internal: where the Directory keeps its rows (SQLite or PostgreSQL). The
// Directory validates, hashes and caches; a backend only stores and reads, with bound parameters.
// Each backend is used under the Directory's mutex: it need not be thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/result.hpp>
#include <heroshhi/rbac/principal.hpp>

#include "directory.hpp"

namespace heroshhi::gateway::detail {

/// A key's stored row: its holder and the SHA-256 of its secret.
struct KeyRow {
    rbac::Principal principal;
    std::string secret_sha256;
};

class DirectoryBackend {
public:
    virtual ~DirectoryBackend() = default;
    /// Inserts or updates; false when the phone number id belongs to another tenant.
    virtual Result<bool> put_tenant(const Tenant& tenant, std::int64_t now_ms) = 0;
    virtual Result<std::optional<Tenant>> tenant(std::string_view id) = 0;
    virtual Result<std::optional<std::string>> tenant_for_number(std::string_view phone_number_id) = 0;
    virtual Result<void> insert_key(std::string_view key_id, const rbac::Principal& principal,
                                    std::string_view secret_sha256, std::int64_t now_ms) = 0;
    virtual Result<bool> revoke_key(std::string_view key_id, std::int64_t now_ms) = 0;
    /// A key that is not revoked; nullopt for an unknown or revoked one, or a row with an unknown role.
    virtual Result<std::optional<KeyRow>> key(std::string_view key_id) = 0;
    virtual Result<void> insert_integration(const Integration& integration, std::int64_t now_ms) = 0;
    virtual Result<std::optional<Integration>> integration(std::string_view id) = 0;
    /// The secret called `name`, stored as `candidate` if there was none (the first writer wins,
    /// also between instances sharing the database).
    virtual Result<std::string> secret(std::string_view name, std::string_view candidate) = 0;
};

/// The PostgreSQL twin (directory_postgres.cpp): tables gateway_* in the schema `heroshhi`
/// (which PostgresStore created), created if absent.
Result<std::unique_ptr<DirectoryBackend>> open_postgres_backend(const std::string& conninfo);

}  // namespace heroshhi::gateway::detail
