// The retention conformance suite on the stores heroshhi ships: memory, SQLite, PostgreSQL, and
// SQLite and PostgreSQL with field encryption (phone keys are blind-index tags there, which the
// targets must page over).
#include <doctest/doctest.h>

#include <heroshhi/crypto/blind_index.hpp>
#include <heroshhi/crypto/key_ring.hpp>
#include <heroshhi/storage/memory_store.hpp>
#include <heroshhi/storage/sqlite_store.hpp>
#include <heroshhi/testing/retention_conformance.hpp>

#include <atomic>
#include <filesystem>

#ifdef HEROSHHI_WITH_POSTGRES
#include <heroshhi/storage/postgres_store.hpp>

#include "support/pg_test_db.hpp"
#endif

#include <unistd.h>

namespace {

using heroshhi::testing::RetentionStoreFactory;

void run_all(const RetentionStoreFactory& make) {
    for (const std::string& name : heroshhi::testing::retention_conformance_case_names()) {
        SUBCASE(name.c_str()) {
            for (const std::string& failure : heroshhi::testing::run_retention_conformance_case(name, make))
                FAIL_CHECK(failure);
        }
    }
}

void run_all_sqlite(const heroshhi::storage::SqliteOptions& options) {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("heroshhi-retention-conformance-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    static std::atomic<int> counter{0};
    run_all([&] {
        const fs::path file = dir / ("store-" + std::to_string(counter++) + ".db");
        auto store = heroshhi::storage::SqliteStore::open(file.string(), options);
        REQUIRE_MESSAGE(store.has_value(), (store ? "" : store.error().message()));
        return heroshhi::testing::retention_subject(std::move(store).value());
    });
    fs::remove_all(dir);
}

}  // namespace

TEST_CASE("the in-memory retention ports conform") {
    run_all([] { return heroshhi::testing::retention_subject(std::make_unique<heroshhi::storage::MemoryStore>()); });
}

TEST_CASE("the SQLite retention ports conform") { run_all_sqlite({}); }

TEST_CASE("the SQLite retention ports with field encryption conform") {
    using namespace heroshhi::crypto;
    KeySet keys;
    keys.keys.push_back({KeyId{1}, SecretKey::generate().value()});
    keys.primary = KeyId{1};
    const KeyRing ring = KeyRing::create(std::move(keys)).value();
    const BlindIndex index = BlindIndex::create(SecretKey::generate().value()).value();
    heroshhi::storage::SqliteOptions options;
    options.keys = &ring;
    options.blind_index = &index;
    run_all_sqlite(options);
}

#ifdef HEROSHHI_WITH_POSTGRES
namespace {

// On PostgreSQL (HEROSHHI_PG_URL, set by ctest's postgres fixture): one database for the run, its
// schema dropped before each case so that every case starts empty.
void run_all_postgres(const heroshhi::storage::PostgresOptions& options) {
    heroshhi::test_support::PgTestDb db;
    auto admin = db.admin();
    run_all([&] {
        admin->run("DROP SCHEMA IF EXISTS heroshhi CASCADE");
        auto store = heroshhi::storage::PostgresStore::open(db.url(), options);
        REQUIRE_MESSAGE(store.has_value(), (store ? "" : store.error().message()));
        return heroshhi::testing::retention_subject(std::move(store).value());
    });
}

}  // namespace

TEST_CASE("the PostgreSQL retention ports conform") { run_all_postgres({}); }

TEST_CASE("the PostgreSQL retention ports with field encryption conform") {
    using namespace heroshhi::crypto;
    KeySet keys;
    keys.keys.push_back({KeyId{1}, SecretKey::generate().value()});
    keys.primary = KeyId{1};
    const KeyRing ring = KeyRing::create(std::move(keys)).value();
    const BlindIndex index = BlindIndex::create(SecretKey::generate().value()).value();
    heroshhi::storage::PostgresOptions options;
    options.keys = &ring;
    options.blind_index = &index;
    run_all_postgres(options);
}
#endif
