// The store conformance suite on the stores heroshhi ships.
#include <doctest/doctest.h>

#include <heroshhi/crypto/blind_index.hpp>
#include <heroshhi/crypto/key_ring.hpp>
#include <heroshhi/storage/memory_store.hpp>
#include <heroshhi/storage/sqlite_store.hpp>
#include <heroshhi/testing/store_conformance.hpp>

#include <atomic>
#include <filesystem>

#ifdef HEROSHHI_WITH_POSTGRES
#include <heroshhi/storage/postgres_store.hpp>

#include "support/pg_test_db.hpp"
#endif

#include <unistd.h>

namespace {

void run_all(const heroshhi::testing::StoreFactory& make) {
    for (const std::string& name : heroshhi::testing::conformance_case_names()) {
        SUBCASE(name.c_str()) {
            for (const std::string& failure : heroshhi::testing::run_conformance_case(name, make))
                FAIL_CHECK(failure);
        }
    }
}

}  // namespace

TEST_CASE("the in-memory store conforms") {
    run_all([] { return std::make_unique<heroshhi::storage::MemoryStore>(); });
}

void run_all_sqlite(const heroshhi::storage::SqliteOptions& options, bool encrypted) {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("heroshhi-conformance-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    static std::atomic<int> counter{0};
    run_all([&]() -> std::unique_ptr<heroshhi::storage::StoreSet> {
        const fs::path file = dir / ("store-" + std::to_string(counter++) + ".db");
        auto store = heroshhi::storage::SqliteStore::open(file.string(), options);
        REQUIRE_MESSAGE(store.has_value(), (store ? "" : store.error().message()));
        REQUIRE((*store)->encrypted() == encrypted);
        return std::move(store).value();
    });
    fs::remove_all(dir);
}

TEST_CASE("the SQLite store conforms") { run_all_sqlite({}, false); }

TEST_CASE("the SQLite store with field encryption conforms") {
    using namespace heroshhi::crypto;
    KeySet keys;
    keys.keys.push_back({KeyId{1}, SecretKey::generate().value()});
    keys.primary = KeyId{1};
    const KeyRing ring = KeyRing::create(std::move(keys)).value();
    const BlindIndex index = BlindIndex::create(SecretKey::generate().value()).value();
    heroshhi::storage::SqliteOptions options;
    options.keys = &ring;
    options.blind_index = &index;
    run_all_sqlite(options, true);
}

#ifdef HEROSHHI_WITH_POSTGRES
// On PostgreSQL (HEROSHHI_PG_URL, set by ctest's postgres fixture): one database for the run, its
// schema dropped before each case so that every case starts empty.
void run_all_postgres(const heroshhi::storage::PostgresOptions& options, bool encrypted) {
    heroshhi::test_support::PgTestDb db;
    auto admin = db.admin();
    run_all([&]() -> std::unique_ptr<heroshhi::storage::StoreSet> {
        admin->run("DROP SCHEMA IF EXISTS heroshhi CASCADE");
        auto store = heroshhi::storage::PostgresStore::open(db.url(), options);
        REQUIRE_MESSAGE(store.has_value(), (store ? "" : store.error().message()));
        REQUIRE((*store)->encrypted() == encrypted);
        return std::move(store).value();
    });
}

TEST_CASE("the PostgreSQL store conforms") { run_all_postgres({}, false); }

TEST_CASE("the PostgreSQL store with field encryption conforms") {
    using namespace heroshhi::crypto;
    KeySet keys;
    keys.keys.push_back({KeyId{1}, SecretKey::generate().value()});
    keys.primary = KeyId{1};
    const KeyRing ring = KeyRing::create(std::move(keys)).value();
    const BlindIndex index = BlindIndex::create(SecretKey::generate().value()).value();
    heroshhi::storage::PostgresOptions options;
    options.keys = &ring;
    options.blind_index = &index;
    run_all_postgres(options, true);
}
#endif
