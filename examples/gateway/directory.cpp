// heroshhi gateway — Directory: validation, key hashing and caches over a backend (SQLite here;
// PostgreSQL in directory_postgres.cpp).
#include "directory.hpp"
#include "directory_backend.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <stdexcept>
#include <mutex>
#include <unordered_map>
#include <utility>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sqlite3.h>

#include <heroshhi/core/errors.hpp>
#include <heroshhi/storage/errors.hpp>

namespace heroshhi::gateway {
namespace {

constexpr std::string_view key_prefix = "hsk_";
constexpr std::size_t key_id_bytes = 8;
constexpr std::size_t key_secret_bytes = 32;
constexpr std::size_t max_id_length = 128;

constexpr const char* schema = R"sql(
CREATE TABLE IF NOT EXISTS gateway_tenants (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    phone_number_id TEXT UNIQUE,
    created_at_ms   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS gateway_api_keys (
    key_id          TEXT PRIMARY KEY,
    tenant          TEXT NOT NULL REFERENCES gateway_tenants (id),
    user_id         TEXT NOT NULL,
    role            TEXT NOT NULL,
    team            TEXT NOT NULL,
    secret_sha256   BLOB NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    revoked_at_ms   INTEGER
);
CREATE TABLE IF NOT EXISTS gateway_integrations (
    id              TEXT PRIMARY KEY,
    tenant          TEXT NOT NULL REFERENCES gateway_tenants (id),
    secret          TEXT NOT NULL,
    source          TEXT NOT NULL,
    created_at_ms   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS gateway_secrets (
    name            TEXT PRIMARY KEY,
    value           TEXT NOT NULL
);
)sql";

using Digest = std::array<unsigned char, SHA256_DIGEST_LENGTH>;

Digest sha256(std::string_view data) {
    Digest d{};
    SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d.data());
    return d;
}

// Names the file and keeps the faults an operator fixes differently apart (a read-only database,
// a full disk) from the rest.
Error db_error(sqlite3* db, std::string_view what) {
    const int rc = sqlite3_errcode(db) & 0xff;
    const auto code = rc == SQLITE_READONLY ? storage::StorageErrc::read_only
                      : rc == SQLITE_FULL   ? storage::StorageErrc::full
                                            : storage::StorageErrc::unavailable;
    const char* file = sqlite3_db_filename(db, "main");
    return Error(code, std::string(what) + " in '" + (file != nullptr ? file : "") + "': " + sqlite3_errmsg(db));
}

// A prepared statement that finalizes itself; values are always bound, never spliced in.
class Statement {
public:
    Statement(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
    ~Statement() { sqlite3_finalize(stmt_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    bool ok() const { return stmt_ != nullptr; }
    Statement& text(int i, std::string_view v) {
        sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    Statement& blob(int i, const void* p, std::size_t n) {
        sqlite3_bind_blob(stmt_, i, p, static_cast<int>(n), SQLITE_TRANSIENT);
        return *this;
    }
    Statement& integer(int i, std::int64_t v) {
        sqlite3_bind_int64(stmt_, i, v);
        return *this;
    }
    int step() { return sqlite3_step(stmt_); }
    std::string column_text(int i) const {
        const auto* p = sqlite3_column_text(stmt_, i);
        return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i)))
                 : std::string();
    }
    std::string_view column_blob(int i) const {
        const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, i));
        return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i))) : std::string_view();
    }
    bool column_null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }

private:
    sqlite3_stmt* stmt_ = nullptr;
};

bool valid_id(std::string_view id) {
    if (id.empty() || id.size() > max_id_length) return false;
    for (char c : id)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
    return true;
}

std::int64_t millis(Timestamp t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

std::string random_hex(std::size_t bytes) {
    std::string raw(bytes, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1)
        throw std::runtime_error("the system's random generator failed");
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(bytes * 2);
    for (unsigned char c : raw) {
        hex += digits[c >> 4];
        hex += digits[c & 15];
    }
    return hex;
}


namespace {

class SqliteBackend final : public detail::DirectoryBackend {
public:
    explicit SqliteBackend(sqlite3* db) : db_(db) {}
    ~SqliteBackend() override { sqlite3_close_v2(db_); }

    Result<void> exec(const char* sql) {
        char* message = nullptr;
        if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
            std::string why = message ? message : "unknown error";
            sqlite3_free(message);
            return Error(storage::StorageErrc::unavailable, "gateway tables: " + why);
        }
        return {};
    }

    Result<bool> put_tenant(const Tenant& tenant, std::int64_t now_ms) override {
        Statement st(db_,
                     "INSERT INTO gateway_tenants (id, name, phone_number_id, created_at_ms) VALUES (?1, ?2, ?3, ?4) "
                     "ON CONFLICT (id) DO UPDATE SET name = excluded.name, phone_number_id = excluded.phone_number_id");
        if (!st.ok()) return db_error(db_, "preparing tenant insert");
        st.text(1, tenant.id).text(2, tenant.name).integer(4, now_ms);
        if (!tenant.phone_number_id.empty()) st.text(3, tenant.phone_number_id);
        const int rc = st.step();
        if (rc == SQLITE_CONSTRAINT) return false;
        if (rc != SQLITE_DONE) return db_error(db_, "storing tenant " + tenant.id);
        return true;
    }

    Result<std::optional<Tenant>> tenant(std::string_view id) override {
        Statement st(db_, "SELECT id, name, phone_number_id FROM gateway_tenants WHERE id = ?1");
        if (!st.ok()) return db_error(db_, "preparing tenant lookup");
        st.text(1, id);
        const int rc = st.step();
        if (rc == SQLITE_DONE) return std::optional<Tenant>();
        if (rc != SQLITE_ROW) return db_error(db_, "reading tenant");
        return std::optional<Tenant>(Tenant{st.column_text(0), st.column_text(1), st.column_text(2)});
    }

    Result<std::optional<std::string>> tenant_for_number(std::string_view phone_number_id) override {
        Statement st(db_, "SELECT id FROM gateway_tenants WHERE phone_number_id = ?1");
        if (!st.ok()) return db_error(db_, "preparing number lookup");
        st.text(1, phone_number_id);
        const int rc = st.step();
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) return db_error(db_, "reading tenant of a number");
        std::optional<std::string> tenant;
        if (rc == SQLITE_ROW) tenant = st.column_text(0);
        return tenant;
    }

    Result<void> insert_key(std::string_view key_id, const rbac::Principal& principal, std::string_view hash,
                            std::int64_t now_ms) override {
        Statement st(db_,
                     "INSERT INTO gateway_api_keys (key_id, tenant, user_id, role, team, secret_sha256, created_at_ms) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
        if (!st.ok()) return db_error(db_, "preparing key insert");
        st.text(1, key_id).text(2, principal.tenant.value()).text(3, principal.user.value())
            .text(4, rbac::to_string(principal.role)).text(5, principal.team).blob(6, hash.data(), hash.size())
            .integer(7, now_ms);
        if (st.step() != SQLITE_DONE) return db_error(db_, "storing key");
        return {};
    }

    Result<bool> revoke_key(std::string_view key_id, std::int64_t now_ms) override {
        Statement st(db_, "UPDATE gateway_api_keys SET revoked_at_ms = ?2 WHERE key_id = ?1 AND revoked_at_ms IS NULL");
        if (!st.ok()) return db_error(db_, "preparing key revocation");
        st.text(1, key_id).integer(2, now_ms);
        if (st.step() != SQLITE_DONE) return db_error(db_, "revoking key");
        return sqlite3_changes(db_) > 0;
    }

    Result<std::optional<detail::KeyRow>> key(std::string_view key_id) override {
        Statement st(db_,
                     "SELECT tenant, user_id, role, team, secret_sha256 FROM gateway_api_keys "
                     "WHERE key_id = ?1 AND revoked_at_ms IS NULL");
        if (!st.ok()) return db_error(db_, "preparing key lookup");
        st.text(1, key_id);
        const int rc = st.step();
        if (rc == SQLITE_DONE) return std::optional<detail::KeyRow>();
        if (rc != SQLITE_ROW) return db_error(db_, "reading key");
        const auto role = rbac::role_from_string(st.column_text(2));
        if (!role) return std::optional<detail::KeyRow>();
        return std::optional<detail::KeyRow>(detail::KeyRow{
            rbac::Principal(UserId(st.column_text(1)), TenantId(st.column_text(0)), *role, st.column_text(3)),
            std::string(st.column_blob(4))});
    }

    Result<void> insert_integration(const Integration& integration, std::int64_t now_ms) override {
        Statement st(db_,
                     "INSERT INTO gateway_integrations (id, tenant, secret, source, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)");
        if (!st.ok()) return db_error(db_, "preparing integration insert");
        st.text(1, integration.id).text(2, integration.tenant).text(3, integration.secret).text(4, integration.source)
            .integer(5, now_ms);
        if (st.step() != SQLITE_DONE) return db_error(db_, "storing integration");
        return {};
    }

    Result<std::optional<Integration>> integration(std::string_view id) override {
        Statement st(db_, "SELECT id, tenant, secret, source FROM gateway_integrations WHERE id = ?1");
        if (!st.ok()) return db_error(db_, "preparing integration lookup");
        st.text(1, id);
        const int rc = st.step();
        if (rc == SQLITE_DONE) return std::optional<Integration>();
        if (rc != SQLITE_ROW) return db_error(db_, "reading integration");
        return std::optional<Integration>(
            Integration{st.column_text(0), st.column_text(1), st.column_text(2), st.column_text(3)});
    }

    Result<std::string> secret(std::string_view name, std::string_view candidate) override {
        {
            Statement insert(db_, "INSERT INTO gateway_secrets (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING");
            if (!insert.ok()) return db_error(db_, "preparing secret insert");
            insert.text(1, name).text(2, candidate);
            if (insert.step() != SQLITE_DONE) return db_error(db_, "storing secret");
        }
        Statement st(db_, "SELECT value FROM gateway_secrets WHERE name = ?1");
        if (!st.ok()) return db_error(db_, "preparing secret lookup");
        st.text(1, name);
        if (st.step() != SQLITE_ROW) return db_error(db_, "reading secret");
        return st.column_text(0);
    }

private:
    sqlite3* db_;
};

}  // namespace

struct Directory::Impl {
    struct CachedKey {
        Digest secret_hash;
        rbac::Principal principal;
        Timestamp loaded;
    };

    std::unique_ptr<detail::DirectoryBackend> backend;
    const Clock* clock = nullptr;
    mutable std::mutex mutex;  // guards the backend (one connection) and the key cache
    mutable std::unordered_map<std::string, CachedKey> key_cache;
    struct CachedTenant {
        std::optional<std::string> tenant;
        Timestamp loaded;
    };
    // Every webhook delivery asks, on an I/O thread: the number cache has a lock of its own, so a
    // lookup that finds its answer there never waits for the database. It is filled and cleared
    // only by holders of `mutex` too (taken first), so a read of the backend and the caching of
    // its answer cannot straddle a put_tenant.
    mutable std::mutex number_mutex;
    mutable std::unordered_map<std::string, CachedTenant> number_cache;

    std::optional<std::optional<std::string>> cached_tenant(std::string_view number, Timestamp now) const {
        std::lock_guard lock(number_mutex);
        auto it = number_cache.find(std::string(number));
        if (it == number_cache.end() || now - it->second.loaded >= key_cache_ttl) return std::nullopt;
        return it->second.tenant;
    }
};

Directory::Directory(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Directory::~Directory() = default;

Result<std::unique_ptr<Directory>> Directory::open(const std::string& path, const Clock& clock) {
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, nullptr);
    auto backend = std::make_unique<SqliteBackend>(db);  // closes the handle on every path
    if (rc != SQLITE_OK) return db_error(db, "opening '" + path + "'");
    sqlite3_busy_timeout(db, 5000);
    if (auto r = backend->exec("PRAGMA foreign_keys = ON;"); !r) return r.error();
    if (auto r = backend->exec(schema); !r) return r.error();
    auto impl = std::make_unique<Impl>();
    impl->backend = std::move(backend);
    impl->clock = &clock;
    return std::unique_ptr<Directory>(new Directory(std::move(impl)));
}

Result<std::unique_ptr<Directory>> Directory::open_postgres(const std::string& conninfo, const Clock& clock) {
#if !HEROSHHI_WITH_POSTGRES
    (void)conninfo;
    (void)clock;
    return Error(ConfigErrc::invalid_value, "this build has no PostgreSQL support (HEROSHHI_WITH_POSTGRES=OFF)");
#else
    auto backend = detail::open_postgres_backend(conninfo);
    if (!backend) return backend.error();
    auto impl = std::make_unique<Impl>();
    impl->backend = std::move(*backend);
    impl->clock = &clock;
    return std::unique_ptr<Directory>(new Directory(std::move(impl)));
#endif
}

Result<void> Directory::put_tenant(const Tenant& tenant) {
    if (!valid_id(tenant.id))
        return Error(ConfigErrc::invalid_value, "a tenant id is 1-128 characters of letters, digits, '-', '_' and '.'");
    if (tenant.name.size() > 200) return Error(ConfigErrc::invalid_value, "a tenant name is at most 200 bytes");
    if (!tenant.phone_number_id.empty() && !valid_id(tenant.phone_number_id))
        return Error(ConfigErrc::invalid_value, "a phone number id is 1-128 letters and digits");
    std::lock_guard lock(impl_->mutex);
    auto stored = impl_->backend->put_tenant(tenant, millis(impl_->clock->now()));
    if (!stored) return stored.error();
    if (!*stored)
        return Error(ConfigErrc::invalid_value, "phone number id " + tenant.phone_number_id + " belongs to another tenant");
    std::lock_guard numbers(impl_->number_mutex);
    impl_->number_cache.clear();
    return {};
}

Result<std::optional<Tenant>> Directory::tenant(std::string_view id) const {
    std::lock_guard lock(impl_->mutex);
    return impl_->backend->tenant(id);
}

Result<std::optional<std::string>> Directory::tenant_for_number(std::string_view phone_number_id) const {
    const Timestamp now = impl_->clock->now();
    if (auto known = impl_->cached_tenant(phone_number_id, now)) return *known;
    std::lock_guard lock(impl_->mutex);
    auto tenant = impl_->backend->tenant_for_number(phone_number_id);
    if (!tenant) return tenant.error();
    std::lock_guard numbers(impl_->number_mutex);
    if (impl_->number_cache.size() >= 10'000) impl_->number_cache.clear();  // numbers are few; junk ids are not kept
    impl_->number_cache.insert_or_assign(std::string(phone_number_id), Impl::CachedTenant{*tenant, now});
    return *tenant;
}

std::optional<std::optional<std::string>> Directory::cached_tenant_for_number(std::string_view phone_number_id) const {
    return impl_->cached_tenant(phone_number_id, impl_->clock->now());
}

Result<IssuedKey> Directory::create_key(const rbac::Principal& principal) {
    if (!valid_id(principal.user.value()))
        return Error(ConfigErrc::invalid_value, "a user id is 1-128 letters, digits, '-', '_' and '.'");
    auto owner = tenant(principal.tenant.value());
    if (!owner) return owner.error();
    if (!*owner) return Error(ConfigErrc::invalid_value, "no tenant " + principal.tenant.value() + "; create it first");

    IssuedKey key{random_hex(key_id_bytes), {}};
    const std::string secret = random_hex(key_secret_bytes);
    key.token = std::string(key_prefix) + key.key_id + "_" + secret;
    const Digest hash = sha256(secret);

    std::lock_guard lock(impl_->mutex);
    if (auto r = impl_->backend->insert_key(key.key_id, principal,
                                            std::string_view(reinterpret_cast<const char*>(hash.data()), hash.size()),
                                            millis(impl_->clock->now()));
        !r)
        return r.error();
    return key;
}

Result<bool> Directory::revoke_key(std::string_view key_id) {
    std::lock_guard lock(impl_->mutex);
    auto revoked = impl_->backend->revoke_key(key_id, millis(impl_->clock->now()));
    if (!revoked) return revoked.error();
    impl_->key_cache.erase(std::string(key_id));
    return *revoked;
}

Result<std::optional<KeyHolder>> Directory::authenticate(std::string_view token) const {
    // hsk_<16 hex>_<64 hex>
    constexpr std::size_t id_len = key_id_bytes * 2, secret_len = key_secret_bytes * 2;
    if (token.size() != key_prefix.size() + id_len + 1 + secret_len || !token.starts_with(key_prefix) ||
        token[key_prefix.size() + id_len] != '_')
        return std::optional<KeyHolder>();
    const std::string key_id(token.substr(key_prefix.size(), id_len));
    const Digest presented = sha256(token.substr(key_prefix.size() + id_len + 1));
    const Timestamp now = impl_->clock->now();

    std::lock_guard lock(impl_->mutex);
    auto matches = [&](const Impl::CachedKey& k) {
        return CRYPTO_memcmp(k.secret_hash.data(), presented.data(), presented.size()) == 0;
    };
    if (auto it = impl_->key_cache.find(key_id); it != impl_->key_cache.end() && now - it->second.loaded < key_cache_ttl) {
        if (!matches(it->second)) return std::optional<KeyHolder>();
        return std::optional<KeyHolder>(KeyHolder{key_id, it->second.principal});
    }
    auto row = impl_->backend->key(key_id);
    if (!row) return row.error();
    if (!*row) {
        impl_->key_cache.erase(key_id);
        return std::optional<KeyHolder>();
    }
    const std::string& stored = (*row)->secret_sha256;
    if (stored.size() != presented.size()) return std::optional<KeyHolder>();
    Impl::CachedKey cached{{}, (*row)->principal, now};
    std::copy(stored.begin(), stored.end(), cached.secret_hash.begin());
    const bool ok = matches(cached);
    KeyHolder holder{key_id, cached.principal};
    impl_->key_cache.insert_or_assign(key_id, std::move(cached));
    if (!ok) return std::optional<KeyHolder>();
    return std::optional<KeyHolder>(std::move(holder));
}

Result<Integration> Directory::create_integration(std::string_view tenant_id, std::string_view source) {
    auto owner = tenant(tenant_id);
    if (!owner) return owner.error();
    if (!*owner) return Error(ConfigErrc::invalid_value, "no tenant " + std::string(tenant_id));
    Integration integration{"int_" + random_hex(8), std::string(tenant_id), random_hex(32), std::string(source)};
    std::lock_guard lock(impl_->mutex);
    if (auto r = impl_->backend->insert_integration(integration, millis(impl_->clock->now())); !r) return r.error();
    return integration;
}

Result<std::optional<Integration>> Directory::integration(std::string_view id) const {
    std::lock_guard lock(impl_->mutex);
    return impl_->backend->integration(id);
}

Result<std::string> Directory::secret(std::string_view name) {
    std::lock_guard lock(impl_->mutex);
    return impl_->backend->secret(name, random_hex(32));
}

}  // namespace heroshhi::gateway
