// PostgresStore against a real server (HEROSHHI_PG_URL; ctest's "postgres" fixture starts a
// throwaway cluster): schema migrations, connection loss and reconnection, two stores appending
// at once, the opt-out notification, and what field encryption leaves in the tables. The
// behaviour every store shares runs in tests/conformance/stores.cpp, plain and encrypted.
#include <doctest/doctest.h>

#include "support/pg_test_db.hpp"
#include "support/test_keys.hpp"

#include <heroshhi/crypto/blind_index.hpp>
#include <heroshhi/crypto/key_ring.hpp>
#include <heroshhi/crypto/reencryption.hpp>
#include <heroshhi/storage/errors.hpp>
#include <heroshhi/storage/postgres_store.hpp>

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace heroshhi;
using namespace heroshhi::storage;
using test_support::PgAdmin;
using test_support::PgTestDb;

namespace {

const TenantId acme{"acme"};
const TenantId globex{"globex"};
const Timestamp t0 = from_unix_ms(1'764'000'000'000);

PhoneNumber phone(std::string_view e164) { return PhoneNumber::parse(e164).value(); }

using test_support::key_of;
using test_support::ring_of;

struct Keys {
    crypto::KeyRing ring = ring_of({1}, 1);
    crypto::BlindIndex index = crypto::BlindIndex::create(key_of(0xB1)).value();

    PostgresOptions options() const {
        PostgresOptions o;
        o.keys = &ring;
        o.blind_index = &index;
        return o;
    }
};

std::unique_ptr<PostgresStore> open_store(const PgTestDb& db, PostgresOptions options = {}) {
    auto store = PostgresStore::open(db.url(), options);
    REQUIRE_MESSAGE(store.has_value(), (store ? "" : store.error().message()));
    return std::move(store).value();
}

std::string scalar(PgAdmin& admin, const char* sql, const std::vector<std::string>& params = {}) {
    const auto rows = admin.query(sql, params);
    REQUIRE(rows.size() == 1);
    return rows[0][0];
}

optout::OptOutEvent stop_event(const TenantId& tenant, std::string_view number, std::string provider_id) {
    optout::OptOutEvent event(tenant, phone(number));
    event.at = t0;
    event.trigger = "STOP";
    event.provider_message_id = std::move(provider_id);
    return event;
}

audit::Entry audit_entry(const TenantId& tenant, std::int64_t sequence) {
    audit::Entry e;
    e.tenant = tenant;
    e.sequence = sequence;
    e.at = t0 + std::chrono::seconds(sequence);
    e.actor = audit::Actor::member(UserId{"u-1"}, rbac::Role::sales);
    e.action = "read";
    e.target_type = "lead";
    e.target_id = "c-1";
    e.rule = "sales.assigned_leads";
    e.request_id = "req-" + std::to_string(sequence);
    e.policy_revision = "builtin-1";
    e.prev_hash.fill(static_cast<std::uint8_t>(sequence - 1));
    e.hash.fill(static_cast<std::uint8_t>(sequence));
    return e;
}

audit::ChainHead head_at(std::int64_t sequence) {
    audit::ChainHead head;
    head.sequence = sequence;
    if (sequence > 0) head.hash.fill(static_cast<std::uint8_t>(sequence));
    return head;
}

/// Terminates every backend of `db` but the admin's own, and waits until they are gone.
void kill_connections(PgAdmin& admin, const PgTestDb& db) {
    admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                {db.name()});
    for (int i = 0; i < 200; ++i) {
        if (scalar(admin, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                   {db.name()}) == "0")
            return;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL("the terminated backends did not go away");
}

}  // namespace

TEST_CASE("a new database gets the schema; reopening keeps the rows and the version") {
    PgTestDb db;
    auto admin = db.admin();
    {
        auto store = open_store(db);
        CHECK_FALSE(store->encrypted());
        Contact c(acme, ContactId{"c1"}, phone("+14155550101"));
        REQUIRE(store->contacts().put(c).has_value());
    }
    CHECK(scalar(*admin, "SELECT version FROM heroshhi.schema_version") == std::to_string(PostgresStore::schema_version));
    // The tables are in the schema `heroshhi`, not in the host's public schema.
    CHECK(scalar(*admin, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "0");
    CHECK(scalar(*admin, "SELECT count(*) FROM pg_tables WHERE schemaname = 'heroshhi' AND tablename = 'contacts'") == "1");
    // Tenant leads every index of the port tables (the sweep journal is keyed by sweeper, h-ret).
    CHECK(scalar(*admin,
                 "SELECT count(*) FROM pg_indexes WHERE schemaname = 'heroshhi' AND tablename NOT IN"
                 " ('schema_version', 'store_settings', 'optout_sequences', 'retention_sweeps')"
                 " AND indexdef NOT LIKE '%(tenant%'") == "0");
    auto again = open_store(db);
    auto found = again->contacts().get(acme, ContactId{"c1"});
    REQUIRE(found.has_value());
    CHECK(found->has_value());
    CHECK(scalar(*admin, "SELECT version FROM heroshhi.schema_version") == std::to_string(PostgresStore::schema_version));
}

TEST_CASE("instances starting together on a new database migrate it once") {
    PgTestDb db;
    constexpr int instances = 4;
    std::vector<std::thread> threads;
    std::atomic<int> opened{0};
    std::vector<std::string> errors(instances);
    for (int i = 0; i < instances; ++i)
        threads.emplace_back([&, i] {
            auto store = PostgresStore::open(db.url());
            if (store) ++opened;
            else errors[static_cast<std::size_t>(i)] = store.error().message();
        });
    for (auto& t : threads) t.join();
    for (const auto& e : errors) CHECK_MESSAGE(e.empty(), e);
    CHECK(opened == instances);
    auto admin = db.admin();
    CHECK(scalar(*admin, "SELECT count(*) FROM heroshhi.schema_version") == "1");
}

TEST_CASE("a database of a newer schema, or a foreign schema named heroshhi, is refused and left unchanged") {
    PgTestDb db;
    auto admin = db.admin();
    SUBCASE("newer schema") {
        { auto store = open_store(db); }
        admin->run("UPDATE heroshhi.schema_version SET version = 99");
        auto store = PostgresStore::open(db.url());
        REQUIRE_FALSE(store);
        CHECK(store.error() == StorageErrc::newer_schema);
        CHECK(store.error().message().find("99") != std::string::npos);
        CHECK(scalar(*admin, "SELECT version FROM heroshhi.schema_version") == "99");
    }
    SUBCASE("another application's schema") {
        admin->run("CREATE SCHEMA heroshhi; CREATE TABLE heroshhi.contacts (whatever integer)");
        auto store = PostgresStore::open(db.url());
        REQUIRE_FALSE(store);
        CHECK(store.error() == StorageErrc::not_a_database);
        CHECK(scalar(*admin, "SELECT count(*) FROM pg_tables WHERE schemaname = 'heroshhi'") == "1");
    }
}

TEST_CASE("a server that cannot be reached fails closed with unavailable, naming it but not the password") {
    PostgresOptions options;
    options.connect_timeout = std::chrono::milliseconds(1000);
    // Port 1 on loopback: nothing listens there.
    auto store = PostgresStore::open("postgresql://someone:hunter2@127.0.0.1:1/nowhere", options);
    REQUIRE_FALSE(store);
    CHECK(store.error() == StorageErrc::unavailable);
    CHECK(store.error().message().find("127.0.0.1:1/nowhere") != std::string::npos);
    CHECK(store.error().message().find("hunter2") == std::string::npos);

    auto bad = PostgresStore::open("this is = not a connection string '");
    REQUIRE_FALSE(bad);
    CHECK(bad.error() == StorageErrc::invalid_argument);
}

TEST_CASE("connections closed by the server are replaced: the next call works") {
    PgTestDb db;
    auto admin = db.admin();
    PostgresOptions options;
    options.pool_size = 2;
    auto store = open_store(db, options);
    REQUIRE(store->dedup().remember(acme, "k1", t0).has_value());
    kill_connections(*admin, db);
    // The pool finds its idle connections closed and opens new ones.
    auto again = store->dedup().remember(acme, "k2", t0);
    REQUIRE_MESSAGE(again.has_value(), (again ? "" : again.error().message()));
    CHECK(*again);
    auto repeat = store->dedup().remember(acme, "k1", t0);
    REQUIRE(repeat.has_value());
    CHECK_FALSE(*repeat);
}

TEST_CASE("a connection killed in the middle of a multi-row write: nothing of it is stored, the error is "
          "unavailable, the next call works") {
    PgTestDb db;
    auto store = open_store(db);
    auto admin = db.admin();
    auto blocker = db.admin();
    // An uncommitted chain row for the tenant makes the append wait at its last statement (moving
    // the head), after its entries are inserted: then its backend is terminated.
    blocker->run("BEGIN");
    blocker->query("INSERT INTO heroshhi.audit_chains VALUES ('acme', 0, decode(repeat('00', 32), 'hex'), 0,"
                   " decode(repeat('00', 32), 'hex'), 0, 0)");
    std::vector<audit::Entry> batch;
    for (int i = 1; i <= 50; ++i) batch.push_back(audit_entry(acme, i));
    std::optional<Result<void>> appended;
    std::thread writer([&] { appended.emplace(store->audit().append(acme, batch, head_at(0))); });
    std::string waiting;
    for (int i = 0; i < 500 && waiting.empty(); ++i) {
        const auto rows = admin->query(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock' AND query LIKE "
            "'INSERT INTO audit_chains%'",
            {db.name()});
        if (!rows.empty()) waiting = rows[0][0];
        else std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE_FALSE(waiting.empty());
    // Its 50 entries are written (in its transaction) when it is killed.
    admin->query("SELECT pg_terminate_backend($1::integer)", {waiting});
    writer.join();
    blocker->run("ROLLBACK");
    REQUIRE(appended.has_value());
    REQUIRE_FALSE(appended->has_value());
    CHECK(appended->error() == StorageErrc::unavailable);
    CHECK(appended->error().message().find("connection") != std::string::npos);
    CHECK(scalar(*admin, "SELECT count(*) FROM heroshhi.audit_entries WHERE tenant = 'acme'") == "0");

    auto chain = store->audit().chain(acme);
    REQUIRE(chain.has_value());
    CHECK(chain->head.sequence == 0);
    auto retried = store->audit().append(acme, batch, head_at(0));
    REQUIRE_MESSAGE(retried.has_value(), (retried ? "" : retried.error().message()));
    CHECK(scalar(*admin, "SELECT count(*) FROM heroshhi.audit_entries WHERE tenant = 'acme'") == "50");
}

TEST_CASE("two stores on one database: opt-out sequences strictly increase, each provider id is stored once, "
          "a webhook key is won once") {
    PgTestDb db;
    auto a = open_store(db);
    auto b = open_store(db);
    constexpr int per_thread = 60;
    std::vector<std::thread> threads;
    std::vector<std::vector<std::int64_t>> assigned(4);
    std::atomic<int> stored{0}, duplicates{0}, failures{0}, won{0};
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            PostgresStore& store = t % 2 == 0 ? *a : *b;
            for (int i = 0; i < per_thread; ++i) {
                // Threads t and t^1 (one per store) deliver the same provider ids: a redelivery
                // reaching both instances.
                const int n = (t / 2) * per_thread + i;
                auto e = stop_event(acme, "+1415555" + std::to_string(3000 + n), "wamid." + std::to_string(n));
                auto r = store.optouts().append(e);
                if (!r) ++failures;
                else if (*r) {
                    ++stored;
                    assigned[static_cast<std::size_t>(t)].push_back(e.sequence);
                } else {
                    ++duplicates;
                }
                auto k = store.dedup().remember(acme, "key-" + std::to_string(n), t0);
                if (k && *k) ++won;
            }
        });
    for (auto& t : threads) t.join();
    CHECK(failures == 0);
    CHECK(stored == 2 * per_thread);
    CHECK(duplicates == 2 * per_thread);
    CHECK(won == 2 * per_thread);
    for (const auto& seq : assigned) CHECK(std::is_sorted(seq.begin(), seq.end()));

    std::vector<std::int64_t> scanned;
    std::set<std::string> provider_ids;
    REQUIRE(a->optouts()
                .scan(acme,
                      [&](const optout::OptOutEvent& e) {
                          scanned.push_back(e.sequence);
                          provider_ids.insert(e.provider_message_id);
                      })
                .has_value());
    CHECK(scanned.size() == std::size_t(2 * per_thread));
    CHECK(provider_ids.size() == std::size_t(2 * per_thread));
    CHECK(std::adjacent_find(scanned.begin(), scanned.end(), std::greater_equal<>()) == scanned.end());
    // Per tenant: globex's first event is 1, whatever acme's count.
    auto g = stop_event(globex, "+14155550199", "");
    REQUIRE(b->optouts().append(g).value());
    CHECK(g.sequence == 1);
}

TEST_CASE("an opt-out append notifies heroshhi_optout with the tenant, once committed; a redelivery does not") {
    PgTestDb db;
    auto store = open_store(db);
    auto listener = db.admin();
    listener->run("LISTEN heroshhi_optout");
    auto next_payload = [&]() -> std::optional<std::string> {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (std::chrono::steady_clock::now() < deadline) {
            PQconsumeInput(listener->native());
            if (PGnotify* n = PQnotifies(listener->native())) {
                std::string payload = n->extra;
                PQfreemem(n);
                return payload;
            }
            pollfd fd{PQsocket(listener->native()), POLLIN, 0};
            ::poll(&fd, 1, 50);
        }
        return std::nullopt;
    };
    auto e = stop_event(acme, "+14155550123", "wamid.1");
    REQUIRE(store->optouts().append(e).value());
    CHECK(next_payload() == std::optional<std::string>("acme"));
    auto again = stop_event(acme, "+14155550123", "wamid.1");
    REQUIRE_FALSE(store->optouts().append(again).value());
    CHECK_FALSE(next_payload().has_value());
}

TEST_CASE("a text with a NUL byte is refused, not cut short") {
    PgTestDb db;
    auto store = open_store(db);
    Contact c(acme, ContactId{"c1"}, phone("+14155550101"));
    c.source = std::string("web\0form", 8);
    auto put = store->contacts().put(c);
    REQUIRE_FALSE(put);
    CHECK(put.error() == StorageErrc::invalid_argument);
    auto found = store->contacts().get(acme, ContactId{"c1"});
    REQUIRE(found.has_value());
    CHECK_FALSE(found->has_value());
}

namespace {

/// Writes a contact, a message, an opt-out, a consent record and inbound activity.
void write_secrets(PostgresStore& store) {
    Contact c(acme, ContactId{"c1"}, phone("+14155550123"));
    c.name = "Zephyrine Quokka";
    c.email = "zephyrine@quokka.example";
    REQUIRE(store.contacts().put(c).has_value());
    MessageRecord m;
    m.tenant = acme;
    m.id = MessageId{"m1"};
    m.contact = ContactId{"c1"};
    m.body = "the secret body text";
    m.created_at = m.updated_at = t0;
    REQUIRE(store.messages().append(m).value());
    auto e = stop_event(acme, "+14155550123", "wamid.9");
    REQUIRE(store.optouts().append(e).value());
    REQUIRE(store.consents().append(ConsentRecord{acme, phone("+14155550123"), Purpose::marketing, true, t0, "web_form", std::nullopt}).has_value());
    REQUIRE(store.activity().record_inbound(acme, phone("+14155550123"), t0).has_value());
}

/// Every value of the sensitive columns, bytes shown as text where printable.
std::string raw_dump(PgAdmin& admin) {
    std::string out;
    for (const char* sql :
         {"SELECT encode(phone_key, 'escape') || encode(phone_e164, 'escape') || encode(name, 'escape') ||"
          " encode(email, 'escape') FROM heroshhi.contacts",
          "SELECT encode(body, 'escape') FROM heroshhi.messages",
          "SELECT encode(phone_key, 'escape') || encode(phone_e164, 'escape') FROM heroshhi.optout_events",
          "SELECT encode(phone_key, 'escape') || encode(phone_e164, 'escape') FROM heroshhi.consent_records",
          "SELECT encode(phone_key, 'escape') || encode(phone_e164, 'escape') FROM heroshhi.inbound_activity"})
        for (const auto& row : admin.query(sql)) out += row[0] + "\n";
    return out;
}

}  // namespace

TEST_CASE("field encryption: no phone number, name, email or body reaches the tables in clear") {
    PgTestDb db;
    auto admin = db.admin();
    SUBCASE("plaintext store (the check can see them)") {
        auto store = open_store(db);
        write_secrets(*store);
        const std::string dump = raw_dump(*admin);
        CHECK(dump.find("4155550123") != std::string::npos);
        CHECK(dump.find("Zephyrine") != std::string::npos);
        CHECK(dump.find("secret body") != std::string::npos);
    }
    SUBCASE("encrypted store") {
        Keys keys;
        auto store = open_store(db, keys.options());
        CHECK(store->encrypted());
        write_secrets(*store);
        const std::string dump = raw_dump(*admin);
        CHECK(dump.find("4155550123") == std::string::npos);
        CHECK(dump.find("Zephyrine") == std::string::npos);
        CHECK(dump.find("quokka") == std::string::npos);
        CHECK(dump.find("secret body") == std::string::npos);
        // And it all reads back through the store.
        auto c = store->contacts().find_by_phone(acme, phone("+14155550123"));
        REQUIRE(c.has_value());
        REQUIRE(c->has_value());
        CHECK((*c)->name == "Zephyrine Quokka");
        auto h = store->optouts().history(acme, phone("+14155550123"));
        REQUIRE(h.has_value());
        CHECK(h->size() == 1);
    }
}

TEST_CASE("the database's encryption mode is fixed at first open and checked after: fail closed") {
    PgTestDb db;
    Keys keys;
    SUBCASE("plaintext database opened with keys") {
        { auto store = open_store(db); }
        auto store = PostgresStore::open(db.url(), keys.options());
        REQUIRE_FALSE(store);
        CHECK(store.error() == StorageErrc::not_encrypted);
    }
    SUBCASE("encrypted database opened without keys, with a ring lacking its key, with another index key") {
        { auto store = open_store(db, keys.options()); }
        auto plain = PostgresStore::open(db.url());
        REQUIRE_FALSE(plain);
        CHECK(plain.error() == StorageErrc::key_unavailable);

        const crypto::KeyRing other_ring = ring_of({7}, 7);
        PostgresOptions wrong_key = keys.options();
        wrong_key.keys = &other_ring;
        auto by_key = PostgresStore::open(db.url(), wrong_key);
        REQUIRE_FALSE(by_key);
        CHECK(by_key.error() == StorageErrc::key_unavailable);

        const crypto::BlindIndex other_index = crypto::BlindIndex::create(key_of(0xB2)).value();
        PostgresOptions wrong_index = keys.options();
        wrong_index.blind_index = &other_index;
        auto by_index = PostgresStore::open(db.url(), wrong_index);
        REQUIRE_FALSE(by_index);
        CHECK(by_index.error() == StorageErrc::key_unavailable);

        CHECK(open_store(db, keys.options())->encrypted());
    }
    SUBCASE("keys without a blind index") {
        PostgresOptions half;
        half.keys = &keys.ring;
        auto store = PostgresStore::open(db.url(), half);
        REQUIRE_FALSE(store);
        CHECK(store.error() == StorageErrc::invalid_argument);
    }
}

TEST_CASE("after a key rotation a re-encryption pass moves every field to the new key") {
    PgTestDb db;
    Keys keys;
    {
        auto store = open_store(db, keys.options());
        write_secrets(*store);
        for (int i = 0; i < 30; ++i) {
            const PhoneNumber p = phone("+1415555" + std::to_string(2000 + i));
            Contact c(i % 2 == 0 ? acme : globex, ContactId{"bulk-" + std::to_string(i)}, p);
            REQUIRE(store->contacts().put(c).has_value());
            REQUIRE(store->activity().record_inbound(globex, p, t0).has_value());
        }
    }
    // 1 key check + 31 contacts x 3 + 1 message + 1 opt-out + 1 consent + 31 activity rows.
    constexpr std::size_t fields = 1 + 31 * 3 + 1 + 1 + 1 + 31;
    REQUIRE(keys.ring.rotate({crypto::KeyId{2}, key_of(2)}).has_value());
    auto store = open_store(db, keys.options());
    const crypto::FieldCipher cipher(keys.ring);
    crypto::ReencryptionPass pass(cipher, store->encrypted_fields());
    std::size_t rewritten = 0;
    while (!pass.finished()) {
        auto batch = pass.run_batch(7);
        REQUIRE_MESSAGE(batch.has_value(), (batch ? "" : batch.error().message()));
        CHECK(batch->failures.empty());
        rewritten += batch->rewritten;
    }
    CHECK(rewritten == fields);
    REQUIRE(keys.ring.remove(crypto::KeyId{1}).has_value());
    auto reopened = open_store(db, keys.options());
    auto c = reopened->contacts().find_by_phone(acme, phone("+14155550123"));
    REQUIRE(c.has_value());
    REQUIRE(c->has_value());
    CHECK((*c)->email == "zephyrine@quokka.example");
}
