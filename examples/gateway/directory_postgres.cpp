// heroshhi gateway — the Directory's rows in PostgreSQL (several gateway instances, one database).
// libpq directly: one connection, constant SQL with parameters only.
#include "directory_backend.hpp"

#include <libpq-fe.h>

#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <heroshhi/storage/errors.hpp>

namespace heroshhi::gateway::detail {
namespace {

// Created under an advisory lock, so that instances starting together do not race on CREATE.
constexpr const char* schema = R"sql(
SELECT pg_advisory_xact_lock(hashtext('heroshhi.gateway_schema'));
CREATE TABLE IF NOT EXISTS heroshhi.gateway_tenants (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    phone_number_id TEXT UNIQUE,
    created_at_ms   BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS heroshhi.gateway_api_keys (
    key_id          TEXT PRIMARY KEY,
    tenant          TEXT NOT NULL REFERENCES heroshhi.gateway_tenants (id),
    user_id         TEXT NOT NULL,
    role            TEXT NOT NULL,
    team            TEXT NOT NULL,
    secret_sha256   BYTEA NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    revoked_at_ms   BIGINT
);
CREATE TABLE IF NOT EXISTS heroshhi.gateway_integrations (
    id              TEXT PRIMARY KEY,
    tenant          TEXT NOT NULL REFERENCES heroshhi.gateway_tenants (id),
    secret          TEXT NOT NULL,
    source          TEXT NOT NULL,
    created_at_ms   BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS heroshhi.gateway_secrets (
    name            TEXT PRIMARY KEY,
    value           TEXT NOT NULL
);
)sql";

struct ResultDeleter {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

/// One statement's parameters: text, or bytes sent in binary (bytea).
class Args {
public:
    Args& text(std::string_view v) { return add(std::string(v), 0); }
    Args& integer(std::int64_t v) { return add(std::to_string(v), 0); }
    Args& bytes(std::string_view v) { return add(std::string(v), 1); }
    Args& null() {
        values_.emplace_back();
        nulls_.push_back(true);
        formats_.push_back(0);
        return *this;
    }

    int size() const { return static_cast<int>(values_.size()); }
    std::vector<const char*> pointers() const {
        std::vector<const char*> out;
        for (std::size_t i = 0; i < values_.size(); ++i) out.push_back(nulls_[i] ? nullptr : values_[i].c_str());
        return out;
    }
    std::vector<int> lengths() const {
        std::vector<int> out;
        for (const auto& v : values_) out.push_back(static_cast<int>(v.size()));
        return out;
    }
    const int* formats() const { return formats_.data(); }

private:
    Args& add(std::string v, int format) {
        values_.push_back(std::move(v));
        nulls_.push_back(false);
        formats_.push_back(format);
        return *this;
    }
    std::vector<std::string> values_;
    std::vector<bool> nulls_;
    std::vector<int> formats_;
};

std::string value(const PGresult* r, int row, int column) {
    return std::string(PQgetvalue(r, row, column), static_cast<std::size_t>(PQgetlength(r, row, column)));
}

class PostgresBackend final : public DirectoryBackend {
public:
    explicit PostgresBackend(std::string conninfo) : conninfo_(std::move(conninfo)) {}
    ~PostgresBackend() override {
        if (conn_ != nullptr) PQfinish(conn_);
    }

    Result<void> create_tables() {
        if (auto c = connection(); !c) return c.error();
        PgResult r(PQexec(conn_, schema));
        if (PQresultStatus(r.get()) != PGRES_TUPLES_OK && PQresultStatus(r.get()) != PGRES_COMMAND_OK)
            return failure(r.get(), "creating the gateway tables");
        return {};
    }

    Result<bool> put_tenant(const Tenant& tenant, std::int64_t now_ms) override {
        Args a;
        a.text(tenant.id).text(tenant.name);
        if (tenant.phone_number_id.empty()) a.null();
        else a.text(tenant.phone_number_id);
        a.integer(now_ms);
        auto r = exec("INSERT INTO heroshhi.gateway_tenants (id, name, phone_number_id, created_at_ms)"
                      " VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
                      " phone_number_id = excluded.phone_number_id",
                      a, "storing tenant " + tenant.id, true);
        if (!r) return r.error();
        return *r != nullptr;  // null: the number belongs to another tenant
    }

    Result<std::optional<Tenant>> tenant(std::string_view id) override {
        auto r = exec("SELECT id, name, COALESCE(phone_number_id, '') FROM heroshhi.gateway_tenants WHERE id = $1",
                      Args().text(id), "reading tenant");
        if (!r) return r.error();
        if (PQntuples(r->get()) == 0) return std::optional<Tenant>();
        return std::optional<Tenant>(Tenant{value(r->get(), 0, 0), value(r->get(), 0, 1), value(r->get(), 0, 2)});
    }

    Result<std::optional<std::string>> tenant_for_number(std::string_view phone_number_id) override {
        auto r = exec("SELECT id FROM heroshhi.gateway_tenants WHERE phone_number_id = $1", Args().text(phone_number_id),
                      "reading tenant of a number");
        if (!r) return r.error();
        if (PQntuples(r->get()) == 0) return std::optional<std::string>();
        return std::optional<std::string>(value(r->get(), 0, 0));
    }

    Result<void> insert_key(std::string_view key_id, const rbac::Principal& principal, std::string_view hash,
                            std::int64_t now_ms) override {
        auto r = exec("INSERT INTO heroshhi.gateway_api_keys (key_id, tenant, user_id, role, team, secret_sha256,"
                      " created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                      Args()
                          .text(key_id)
                          .text(principal.tenant.value())
                          .text(principal.user.value())
                          .text(rbac::to_string(principal.role))
                          .text(principal.team)
                          .bytes(hash)
                          .integer(now_ms),
                      "storing key");
        if (!r) return r.error();
        return {};
    }

    Result<bool> revoke_key(std::string_view key_id, std::int64_t now_ms) override {
        auto r = exec("UPDATE heroshhi.gateway_api_keys SET revoked_at_ms = $2 WHERE key_id = $1 AND revoked_at_ms IS NULL",
                      Args().text(key_id).integer(now_ms), "revoking key");
        if (!r) return r.error();
        return std::strcmp(PQcmdTuples(r->get()), "0") != 0;
    }

    Result<std::optional<KeyRow>> key(std::string_view key_id) override {
        // encode(): the hash comes back as hex text, like every other column.
        auto r = exec("SELECT tenant, user_id, role, team, encode(secret_sha256, 'hex') FROM heroshhi.gateway_api_keys"
                      " WHERE key_id = $1 AND revoked_at_ms IS NULL",
                      Args().text(key_id), "reading key");
        if (!r) return r.error();
        if (PQntuples(r->get()) == 0) return std::optional<KeyRow>();
        const auto role = rbac::role_from_string(value(r->get(), 0, 2));
        auto hash = unhex(value(r->get(), 0, 4));
        if (!role || !hash) return std::optional<KeyRow>();
        return std::optional<KeyRow>(KeyRow{rbac::Principal(UserId(value(r->get(), 0, 1)), TenantId(value(r->get(), 0, 0)),
                                                            *role, value(r->get(), 0, 3)),
                                            std::move(*hash)});
    }

    Result<void> insert_integration(const Integration& integration, std::int64_t now_ms) override {
        auto r = exec("INSERT INTO heroshhi.gateway_integrations (id, tenant, secret, source, created_at_ms)"
                      " VALUES ($1, $2, $3, $4, $5)",
                      Args()
                          .text(integration.id)
                          .text(integration.tenant)
                          .text(integration.secret)
                          .text(integration.source)
                          .integer(now_ms),
                      "storing integration");
        if (!r) return r.error();
        return {};
    }

    Result<std::optional<Integration>> integration(std::string_view id) override {
        auto r = exec("SELECT id, tenant, secret, source FROM heroshhi.gateway_integrations WHERE id = $1",
                      Args().text(id), "reading integration");
        if (!r) return r.error();
        if (PQntuples(r->get()) == 0) return std::optional<Integration>();
        return std::optional<Integration>(Integration{value(r->get(), 0, 0), value(r->get(), 0, 1),
                                                      value(r->get(), 0, 2), value(r->get(), 0, 3)});
    }

    Result<std::string> secret(std::string_view name, std::string_view candidate) override {
        // One statement: the first instance's value is kept, and every instance reads that one.
        auto r = exec("WITH ins AS (INSERT INTO heroshhi.gateway_secrets (name, value) VALUES ($1, $2)"
                      " ON CONFLICT (name) DO NOTHING RETURNING value)"
                      " SELECT value FROM ins UNION ALL SELECT value FROM heroshhi.gateway_secrets WHERE name = $1",
                      Args().text(name).text(candidate), "storing secret");
        if (!r) return r.error();
        if (PQntuples(r->get()) == 0) return Error(storage::StorageErrc::unavailable, "reading secret: no row");
        return value(r->get(), 0, 0);
    }

private:
    Result<void> connection() {
        if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK) return {};
        if (conn_ != nullptr) PQfinish(conn_);
        const char* keywords[] = {"dbname", "connect_timeout", "application_name", nullptr};
        const char* values[] = {conninfo_.c_str(), "5", "heroshhi-gateway-directory", nullptr};
        conn_ = PQconnectdbParams(keywords, values, 1);
        if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
            std::string why = conn_ != nullptr ? PQerrorMessage(conn_) : "out of memory";
            if (conn_ != nullptr) PQfinish(conn_);
            conn_ = nullptr;
            return Error(storage::StorageErrc::unavailable, "gateway directory: cannot connect: " + why);
        }
        PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
        return {};
    }

    // Runs a statement. With `unique_is_null`, a unique violation answers a null result instead of
    // an error.
    Result<PgResult> exec(const char* sql, const Args& args, const std::string& what, bool unique_is_null = false) {
        if (auto c = connection(); !c) return c.error();
        const auto values = args.pointers();
        const auto lengths = args.lengths();
        PgResult r(PQexecParams(conn_, sql, args.size(), nullptr, values.data(), lengths.data(), args.formats(), 0));
        const auto status = PQresultStatus(r.get());
        if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) return r;
        const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
        if (unique_is_null && state != nullptr && std::strcmp(state, "23505") == 0) return PgResult();
        return failure(r.get(), what);
    }

    Error failure(const PGresult* r, const std::string& what) const {
        std::string why = r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(conn_);
        while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
        return Error(storage::StorageErrc::unavailable, "gateway directory: " + what + ": " + why);
    }

    static std::optional<std::string> unhex(const std::string& hex) {
        if (hex.size() % 2 != 0) return std::nullopt;
        auto nibble = [](char c) -> int {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            return -1;
        };
        std::string out;
        for (std::size_t i = 0; i < hex.size(); i += 2) {
            const int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out += static_cast<char>(hi * 16 + lo);
        }
        return out;
    }

    std::string conninfo_;
    PGconn* conn_ = nullptr;
};

}  // namespace

Result<std::unique_ptr<DirectoryBackend>> open_postgres_backend(const std::string& conninfo) {
    auto backend = std::make_unique<PostgresBackend>(conninfo);
    if (auto r = backend->create_tables(); !r) return r.error();
    return std::unique_ptr<DirectoryBackend>(std::move(backend));
}

}  // namespace heroshhi::gateway::detail
