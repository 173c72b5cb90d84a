// Test support: a fresh PostgreSQL database per test, on the server HEROSHHI_PG_URL points to
// (ctest's "postgres" fixture starts a throwaway cluster and sets it; see tests/support/pg_cluster.sh).
// The database is created on construction and dropped (WITH (FORCE)) on destruction. A test that
// needs PostgreSQL and finds no HEROSHHI_PG_URL fails: CI must run it, not skip it.
#pragma once

#include <libpq-fe.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace heroshhi::test_support {

/// The admin URL, or throws with a message saying how to get one.
inline std::string pg_admin_url() {
    const char* url = std::getenv("HEROSHHI_PG_URL");
    if (url == nullptr || *url == '\0')
        throw std::runtime_error(
            "HEROSHHI_PG_URL is not set: the PostgreSQL tests need a server. Run them through ctest (the "
            "pg-cluster-start fixture starts a throwaway cluster), or start one with "
            "`tests/support/pg_cluster.sh start <dir>` and export HEROSHHI_PG_URL=$(cat <dir>/url)");
    return url;
}

/// `url` with its database replaced by `dbname` (a URI's path, or a later dbname= keyword).
inline std::string pg_url_for(const std::string& url, const std::string& dbname) {
    if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0) {
        const auto scheme_end = url.find("://") + 3;
        const auto query = url.find('?', scheme_end);
        const std::string head = url.substr(0, query);
        const std::string tail = query == std::string::npos ? "" : url.substr(query);
        const auto slash = head.find('/', scheme_end);
        return (slash == std::string::npos ? head : head.substr(0, slash)) + "/" + dbname + tail;
    }
    return url + " dbname=" + dbname;
}

/// A libpq connection that throws on failure; for setup, raw checks and killing backends.
class PgAdmin {
public:
    explicit PgAdmin(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
        if (PQstatus(conn_) != CONNECTION_OK) {
            std::string message = PQerrorMessage(conn_);
            PQfinish(conn_);
            throw std::runtime_error("cannot connect to " + url + ": " + message);
        }
        PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);  // "schema does not exist, skipping"
    }
    ~PgAdmin() { PQfinish(conn_); }
    PgAdmin(const PgAdmin&) = delete;
    PgAdmin& operator=(const PgAdmin&) = delete;

    /// Runs constant SQL with text parameters; returns the rows as text ("" for NULL). Throws on error.
    std::vector<std::vector<std::string>> query(const char* sql, const std::vector<std::string>& params = {}) {
        std::vector<const char*> values;
        for (const auto& p : params) values.push_back(p.c_str());
        PGresult* r = PQexecParams(conn_, sql, static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                                   nullptr, 0);
        const auto status = PQresultStatus(r);
        if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
            std::string message = PQresultErrorMessage(r);
            PQclear(r);
            throw std::runtime_error(std::string("query failed: ") + sql + ": " + message);
        }
        std::vector<std::vector<std::string>> rows;
        for (int i = 0; i < PQntuples(r); ++i) {
            auto& row = rows.emplace_back();
            for (int j = 0; j < PQnfields(r); ++j) row.emplace_back(PQgetvalue(r, i, j), PQgetlength(r, i, j));
        }
        PQclear(r);
        return rows;
    }
    /// Runs a constant script (no parameters, may hold several statements). Throws on error.
    void run(const char* script) {
        PGresult* r = PQexec(conn_, script);
        const auto status = PQresultStatus(r);
        std::string message = PQresultErrorMessage(r);
        PQclear(r);
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
            throw std::runtime_error(std::string("script failed: ") + script + ": " + message);
    }
    PGconn* native() const { return conn_; }

private:
    PGconn* conn_;
};

/// A database of its own for one test: created now, dropped with everything in it at the end.
class PgTestDb {
public:
    PgTestDb() : admin_url_(pg_admin_url()) {
        static std::atomic<unsigned> counter{0};
        std::random_device random;
        name_ = "heroshhi_test_" + std::to_string(random() % 100000000u) + "_" + std::to_string(counter++);
        PgAdmin admin(admin_url_);
        admin.run(("CREATE DATABASE " + name_).c_str());  // a name of ours: CREATE DATABASE takes no parameter
        url_ = pg_url_for(admin_url_, name_);
    }
    ~PgTestDb() {
        try {
            PgAdmin admin(admin_url_);
            admin.run(("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)").c_str());
        } catch (...) {  // the server went away: the cluster is thrown away anyway
        }
    }
    PgTestDb(const PgTestDb&) = delete;
    PgTestDb& operator=(const PgTestDb&) = delete;

    /// The URL of this database.
    const std::string& url() const { return url_; }
    const std::string& name() const { return name_; }
    /// A raw connection to this database.
    std::unique_ptr<PgAdmin> admin() const { return std::make_unique<PgAdmin>(url_); }

private:
    std::string admin_url_;
    std::string name_;
    std::string url_;
};

}  // namespace heroshhi::test_support
