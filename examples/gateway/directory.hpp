// heroshhi gateway — Directory: the gateway's own records (tenants, API keys, form integrations),
// kept in the same database as the library's store (the SQLite file, or the PostgreSQL database
// several instances share), in tables of their own.
//
// API keys are shown once, at creation, as "hsk_<key id>_<secret>"; only the SHA-256 of the secret
// is stored. The secret has 256 bits of entropy, so a plain hash (no password stretching) is
// enough: nobody can guess it, and a stolen table gives nothing to try offline.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/result.hpp>
#include <heroshhi/rbac/principal.hpp>

namespace heroshhi::gateway {

struct Tenant {
    std::string id;
    std::string name;
    std::string phone_number_id;  ///< the WhatsApp business number's id (webhook metadata)
};

/// A key as created: `token` is shown to the operator once and never stored.
struct IssuedKey {
    std::string key_id;
    std::string token;
};

/// Who a valid key speaks for.
struct KeyHolder {
    std::string key_id;
    rbac::Principal principal;
};

/// A signed form webhook (lead intake): its secret keys the HMAC, `source` tags the leads.
struct Integration {
    std::string id;
    std::string tenant;
    std::string secret;
    std::string source;
};

/// Thread-safe: one connection behind a mutex; verified keys and the tenants of business numbers
/// are cached for `key_cache_ttl`, so a revocation or a number moved by another process takes
/// effect within that time (at once when made through this object).
class Directory {
public:
    static constexpr std::chrono::seconds key_cache_ttl{30};

    /// Opens `path` (which SqliteStore has already created and migrated) and creates the gateway
    /// tables if absent.
    static Result<std::unique_ptr<Directory>> open(const std::string& path, const Clock& clock);
    /// The same over PostgreSQL (`conninfo`: a libpq URI or key=value string, the database that
    /// storage::PostgresStore has already created and migrated): tables gateway_* in its schema
    /// `heroshhi`, created if absent. One connection, re-opened after a failure; several gateway
    /// instances share the tables (a secret is made once, by whichever instance asks first).
    static Result<std::unique_ptr<Directory>> open_postgres(const std::string& conninfo, const Clock& clock);
    ~Directory();

    /// Fails with ConfigErrc::invalid_value for an empty/oversized id or a phone number id that
    /// another tenant already has; an existing tenant with the same id is updated.
    Result<void> put_tenant(const Tenant& tenant);
    Result<std::optional<Tenant>> tenant(std::string_view id) const;
    /// The tenant a business number belongs to (the webhook's metadata.phone_number_id). Answers
    /// are cached for key_cache_ttl (unknown numbers too); put_tenant clears the cache.
    Result<std::optional<std::string>> tenant_for_number(std::string_view phone_number_id) const;
    /// The same answer if the cache has it, without reading the database and without waiting
    /// for a thread that is reading it; nullopt when only a read would tell (not cached, or
    /// stale). For the webhook's I/O-thread path, which hands such deliveries to a thread that
    /// may wait.
    std::optional<std::optional<std::string>> cached_tenant_for_number(std::string_view phone_number_id) const;

    /// Creates a key for `principal` (whose tenant must exist).
    Result<IssuedKey> create_key(const rbac::Principal& principal);
    Result<bool> revoke_key(std::string_view key_id);
    /// The holder of a presented token; nullopt for a malformed, unknown, revoked or wrong key (the
    /// comparison is constant-time); an error only when the database cannot be read.
    Result<std::optional<KeyHolder>> authenticate(std::string_view token) const;

    /// Creates a form integration with a fresh secret.
    Result<Integration> create_integration(std::string_view tenant, std::string_view source);
    Result<std::optional<Integration>> integration(std::string_view id) const;

    /// A named secret of this installation (e.g. the audit pseudonym key): 32 random bytes in hex,
    /// made on first use and kept.
    Result<std::string> secret(std::string_view name);

    struct Impl;

private:
    explicit Directory(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

/// A fresh random id of `bytes` random bytes in lowercase hex (OpenSSL's CSPRNG).
std::string random_hex(std::size_t bytes);

}  // namespace heroshhi::gateway
