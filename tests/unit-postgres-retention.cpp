// The PostgreSQL retention ports (src/storage/postgres/pg_retention.cpp) on a real server: the
// accounts, journal and aggregates; every target's rules over rows written straight into the
// schema; the batch lock (a second instance waits); and two instances sweeping one database at
// once — every row deleted once, aggregates counted once, opt-out records untouched.
// Runs inside ctest's "postgres" fixture (HEROSHHI_PG_URL).
#include <doctest/doctest.h>

#include "support/pg_test_db.hpp"
#include "support/test_keys.hpp"

#include <heroshhi/audit/log.hpp>
#include <heroshhi/crypto/blind_index.hpp>
#include <heroshhi/retention/policy.hpp>
#include <heroshhi/retention/sweeper.hpp>
#include <heroshhi/storage/errors.hpp>
#include <heroshhi/storage/memory_store.hpp>
#include <heroshhi/storage/postgres_store.hpp>

#include <atomic>
#include <future>
#include <string>
#include <thread>
#include <vector>

using namespace heroshhi;
using namespace heroshhi::retention;
using namespace std::chrono_literals;

namespace {

const Timestamp now = from_unix_ms(1'767'225'600'000);  // 2026-01-01T00:00:00Z
const TenantId acme{"acme"};

std::string ms(Timestamp t) { return std::to_string(to_unix_ms(t)); }

/// One instance of the host: its own PostgresStore (pool) on the shared database, and its
/// retention ports.
struct Instance {
    explicit Instance(const std::string& url) {
        storage::PostgresOptions o;
        o.pool_size = 2;
        auto opened = storage::PostgresStore::open(url, o);
        REQUIRE_MESSAGE(opened.has_value(), (opened ? "" : opened.error().message()));
        store = std::move(opened).value();
        ports = &store->retention();
    }
    std::unique_ptr<storage::PostgresStore> store;
    RetentionStores* ports = nullptr;
};

/// Rows written straight into the schema (plaintext mode: the phone key is any unique bytes).
class Seed {
public:
    explicit Seed(const test_support::PgTestDb& db) : admin_(db.admin()) { admin_->run("SET search_path = heroshhi"); }

    /// The packed key of a real number (+1415555xxxx), so the store reads the rows back as numbers.
    static std::string key(int phone) { return std::to_string(14'155'550'000LL + phone); }

    void lead(const TenantId& t, const std::string& id, int phone, Timestamp active,
              std::optional<Timestamp> deleted = std::nullopt, bool hold = false, const std::string& source = "direct") {
        admin_->query("INSERT INTO contacts (tenant, id, phone_key, phone_e164, name, email, source, assignee, team,"
                      " created_at_ms, updated_at_ms, deleted_at_ms, legal_hold, restricted, analytics_objection)"
                      " VALUES ($1, $2, int8send($3::bigint), 'x', 'n', '', $4, NULL, '', $5::bigint, $5::bigint,"
                      " NULLIF($6, '')::bigint, $7::boolean, false, false)",
                      {t.value(), id, key(phone), source, ms(active), deleted ? ms(*deleted) : "",
                       hold ? "true" : "false"});
    }
    void message(const TenantId& t, const std::string& id, const std::string& contact, Timestamp at,
                 const std::string& direction = "inbound") {
        admin_->query("INSERT INTO messages (tenant, id, contact_id, direction, body, status, provider_message_id,"
                      " created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, 'b', 'received', '', $5, $5)",
                      {t.value(), id, contact, direction, ms(at)});
    }
    void consent(const TenantId& t, int phone, Timestamp at) {
        admin_->query("INSERT INTO consent_records (tenant, phone_key, phone_e164, purpose, granted, at_ms, source)"
                      " VALUES ($1, int8send($2::bigint), 'x', 'marketing', true, $3, 'web_form')",
                      {t.value(), key(phone), ms(at)});
    }
    void inbound(const TenantId& t, int phone, Timestamp at) {
        admin_->query("INSERT INTO inbound_activity (tenant, phone_key, phone_e164, last_inbound_ms)"
                      " VALUES ($1, int8send($2::bigint), 'x', $3)",
                      {t.value(), key(phone), ms(at)});
    }
    void optout(const TenantId& t, std::int64_t sequence, int phone, Timestamp at) {
        admin_->query("INSERT INTO optout_events (tenant, sequence, phone_key, phone_e164, kind, scope, method, at_ms,"
                      " trigger_text, channel, provider_message_id) VALUES ($1, $2, int8send($3::bigint), 'x',"
                      " 'opt_out', 'all', 'keyword', $4, 'STOP', 'whatsapp', '')",
                      {t.value(), std::to_string(sequence), key(phone), ms(at)});
    }
    void webhook_key(const TenantId& t, const std::string& key, Timestamp at) {
        admin_->query("INSERT INTO dedup_keys (tenant, dedup_key, seen_at_ms) VALUES ($1, $2, $3)",
                      {t.value(), key, ms(at)});
    }
    std::int64_t count(const char* sql, const std::vector<std::string>& params = {}) {
        return std::stoll(admin_->query(sql, params).at(0).at(0));
    }
    test_support::PgAdmin& admin() { return *admin_; }

private:
    std::unique_ptr<test_support::PgAdmin> admin_;
};

SweepReport sweep(Instance& instance, const Policy& policy, std::string name, audit::Log& log, const Clock& clock,
                  std::size_t batch = 1000) {
    static const crypto::BlindIndex index = crypto::BlindIndex::create(test_support::key_of(0xB1)).value();
    Sweeper::Setup setup;
    setup.name = std::move(name);
    setup.blind_index = &index;
    auto sweeper = Sweeper::create(policy, *instance.ports, log, clock, setup);
    REQUIRE(sweeper.has_value());
    auto report = sweeper->run(now, {.batch_size = batch});
    REQUIRE_MESSAGE(report.has_value(), (report ? "" : report.error().message()));
    return *report;
}

}  // namespace

TEST_CASE("the retention tables are schema version 2, and migrating again changes nothing") {
    test_support::PgTestDb db;
    Instance first(db.url());
    Instance second(db.url());  // a second instance opening the same database
    Seed seed(db);
    CHECK(seed.count("SELECT version FROM schema_version") == storage::PostgresStore::schema_version);
    CHECK(storage::PostgresStore::schema_version == 2);
    CHECK(seed.count("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                     " WHERE n.nspname = 'heroshhi' AND c.relname IN ('accounts', 'analytics_daily',"
                     " 'retention_sweeps', 'contacts_soft_deleted', 'contacts_held_by_phone')") == 5);
}

TEST_CASE("PostgreSQL accounts, sweep journal and aggregates keep what the ports promise") {
    test_support::PgTestDb db;
    Instance pgi(db.url());
    Seed seed(db);
    auto& accounts = pgi.ports->accounts();
    storage::Account a{TenantId{"t3"}};
    a.opened_at = now - std::chrono::days{10};
    a.closed_at = now - std::chrono::days{1};
    a.legal_hold = true;
    REQUIRE(accounts.put(a).has_value());
    auto got = accounts.get(TenantId{"t3"});
    REQUIRE(got.has_value());
    REQUIRE(got->has_value());
    CHECK(**got == a);
    CHECK_FALSE(accounts.get(TenantId{"t9"}).value().has_value());
    CHECK(accounts.put(storage::Account{TenantId{}}).error() == storage::StorageErrc::invalid_argument);
    seed.lead(TenantId{"t1"}, "c", 1, now);
    seed.consent(TenantId{"t2"}, 1, now);
    seed.webhook_key(TenantId{"t4"}, "k", now);
    seed.optout(TenantId{"t7"}, 1, 1, now);  // opt-outs alone: not listed
    auto listed = accounts.list({"", 10});
    REQUIRE(listed.has_value());
    std::vector<std::string> ids;
    for (const auto& x : *listed) ids.push_back(x.tenant.value());
    CHECK(ids == std::vector<std::string>{"t1", "t2", "t3", "t4"});
    CHECK((*listed)[2].legal_hold);
    auto paged = accounts.list({"t1", 2});
    REQUIRE(paged.has_value());
    REQUIRE(paged->size() == 2);
    CHECK(paged->front().tenant == TenantId{"t2"});

    auto& journal = pgi.ports->journal();
    CHECK_FALSE(journal.load("retention").value().has_value());
    REQUIRE(journal.save("retention", R"({"step":1})").has_value());
    REQUIRE(journal.save("retention", R"({"step":2})").has_value());
    CHECK(journal.load("retention").value() == std::optional<std::string>(R"({"step":2})"));
    REQUIRE(journal.clear("retention").has_value());
    CHECK_FALSE(journal.load("retention").value().has_value());

    auto& aggregates = pgi.ports->aggregates();
    const auto d = std::chrono::floor<std::chrono::days>(now);
    const DailyAggregate counts[] = {{acme, d, "lead", "direct", 2}, {acme, d - std::chrono::days{1}, "lead", "direct", 1},
                                     {acme, d, "lead", "direct", 3}};
    REQUIRE(aggregates.add(counts).has_value());
    auto listed_counts = aggregates.list(acme, d - std::chrono::days{5}, d + std::chrono::days{1});
    REQUIRE(listed_counts.has_value());
    CHECK(*listed_counts == std::vector<DailyAggregate>{{acme, d - std::chrono::days{1}, "lead", "direct", 1},
                                                        {acme, d, "lead", "direct", 5}});
    const DailyAggregate bad[] = {{acme, d, "lead", "direct", -1}};
    CHECK(aggregates.add(bad).error() == storage::StorageErrc::invalid_argument);
}

TEST_CASE("a PostgreSQL sweep applies every rule of the retention table, holds and cascade included") {
    test_support::PgTestDb db;
    Instance pgi(db.url());
    Seed seed(db);
    const auto days = [](int n) { return std::chrono::days{n}; };
    seed.lead(acme, "inactive", 1, now - days(400), std::nullopt, false, "integration");
    seed.message(acme, "inactive-m", "inactive", now - days(400));
    seed.lead(acme, "active", 2, now - days(400));
    seed.message(acme, "active-m", "active", now - days(3));  // a message is activity
    seed.message(acme, "active-old-m", "active", now - days(100), "outbound");  // past the 90-day setting
    seed.lead(acme, "held", 3, now - days(400), std::nullopt, true);
    seed.lead(acme, "soft-old", 4, now - days(400), now - days(31), false, "whatsapp");
    seed.message(acme, "soft-old-m1", "soft-old", now - days(400));
    seed.message(acme, "soft-old-m2", "soft-old", now - days(399), "outbound");
    seed.lead(acme, "soft-new", 5, now - days(400), now - days(29));
    seed.optout(acme, 1, 4, now - days(500));
    seed.webhook_key(acme, "wamid.old", now - days(31));
    seed.webhook_key(acme, "wamid.new", now - days(2));
    seed.consent(acme, 1, now - days(400));
    // A tenant closed 40 days ago: everything goes but a held lead's rows and opt-outs.
    const TenantId closed{"closed"};
    {
        storage::Account a{closed};
        a.closed_at = now - days(40);
        REQUIRE(pgi.ports->accounts().put(a).has_value());
    }
    seed.lead(closed, "c1", 11, now - days(50));
    seed.message(closed, "c1-m", "c1", now - days(50));
    seed.lead(closed, "c2", 12, now - days(50), std::nullopt, true);
    seed.consent(closed, 11, now - days(50));
    seed.consent(closed, 12, now - days(50));
    seed.inbound(closed, 11, now - days(50));
    seed.inbound(closed, 12, now - days(50));
    seed.webhook_key(closed, "wamid.c", now - days(1));
    seed.optout(closed, 1, 11, now - days(60));

    storage::MemoryStore audit_store;
    ManualClock clock{now};
    audit::Log log(audit_store.audit(), clock);
    const Policy policy = Policy::defaults().with_tenant(acme, {days(365), days(90)}).value();
    const SweepReport report = sweep(pgi, policy, "retention", log, clock, 2);
    REQUIRE(report.complete);

    const auto ids = [&](const char* sql, const std::string& tenant) {
        std::vector<std::string> out;
        for (const auto& row : seed.admin().query(sql, {tenant})) out.push_back(row.at(0));
        return out;
    };
    const auto live = ids("SELECT id FROM contacts WHERE tenant = $1 AND deleted_at_ms IS NULL ORDER BY id", "acme");
    CHECK(live == std::vector<std::string>{"active", "held"});
    CHECK(ids("SELECT id FROM contacts WHERE tenant = $1 AND deleted_at_ms IS NOT NULL ORDER BY id", "acme") ==
          std::vector<std::string>{"inactive", "soft-new"});
    // Messages past 90 days went while their lead was live; soft-old's went with it.
    CHECK(ids("SELECT id FROM messages WHERE tenant = $1 ORDER BY id", "acme") == std::vector<std::string>{"active-m"});
    CHECK(ids("SELECT dedup_key FROM dedup_keys WHERE tenant = $1", "acme") == std::vector<std::string>{"wamid.new"});
    CHECK(seed.count("SELECT count(*) FROM consent_records WHERE tenant = 'acme'") == 1);  // kept while open
    CHECK(ids("SELECT id FROM contacts WHERE tenant = $1", "closed") == std::vector<std::string>{"c2"});
    CHECK(seed.count("SELECT count(*) FROM consent_records WHERE tenant = 'closed'") == 1);  // the held number's
    CHECK(seed.count("SELECT count(*) FROM inbound_activity WHERE tenant = 'closed'") == 1);
    CHECK(seed.count("SELECT count(*) FROM dedup_keys WHERE tenant = 'closed'") == 0);
    CHECK(seed.count("SELECT count(*) FROM optout_events") == 2);  // never auto-deleted
    // The terminated tenant's is kept only as its number's keyed hash; the open tenant's as it was.
    CHECK(seed.count("SELECT count(*) FROM optout_events WHERE tenant = 'closed' AND erased_tag IS NOT NULL"
                     " AND phone_key = ''::bytea") == 1);
    CHECK(seed.count("SELECT count(*) FROM optout_events WHERE tenant = 'acme' AND erased_tag IS NULL") == 1);

    const TenantReport& a = report.tenants.at(0);
    CHECK(a.tenant == acme);
    CHECK(a[Category::message].hard_deleted == 2);
    CHECK(a[Category::lead].soft_deleted == 1);
    CHECK(a[Category::lead].hard_deleted == 1);
    CHECK(a[Category::lead].cascaded == 2);
    CHECK(a[Category::lead].held == 1);
    CHECK(a[Category::webhook_key].hard_deleted == 1);
    const TenantReport& c = report.tenants.at(1);
    CHECK(c.terminated);
    CHECK(c[Category::lead].hard_deleted == 1);
    CHECK(c[Category::account].hard_deleted == 2);
    CHECK(c[Category::account].held == 2);
    CHECK(c[Category::webhook_key].hard_deleted == 1);
    CHECK(c[Category::optout_record] == Counts{.hashed = 1});

    auto folded = pgi.ports->aggregates().list(acme, std::chrono::sys_days{}, std::chrono::sys_days{days(100'000)});
    REQUIRE(folded.has_value());
    std::int64_t leads = 0, messages = 0;
    for (const auto& x : *folded) (x.event_type == "lead" ? leads : messages) += x.count;
    CHECK(leads == 1);     // soft-old
    CHECK(messages == 4);  // inactive-m and active-old-m by the message rule, soft-old's two by the cascade

    // Idempotent: a second sweep changes nothing.
    const SweepReport again = sweep(pgi, policy, "retention", log, clock);
    CHECK(again.total(Category::lead).hard_deleted + again.total(Category::lead).soft_deleted +
              again.total(Category::message).hard_deleted + again.total(Category::webhook_key).hard_deleted ==
          0);
}

TEST_CASE("a second instance's batch on the same tenant and category waits for the first's lock") {
    test_support::PgTestDb db;
    Instance pgi(db.url());
    Seed seed(db);
    seed.lead(acme, "l1", 1, now - std::chrono::days{100}, now - std::chrono::days{40});
    Target* contacts = pgi.ports->targets().at(0).target;
    REQUIRE(contacts->name() == "contacts");
    // Another instance holds the batch lock of (acme, lead data) — as inside its own batch.
    auto other = db.admin();
    other->query("SELECT pg_advisory_lock(hashtextextended('heroshhi.retention:lead:acme', 0))");
    const std::vector<std::string> ids{"l1"};
    auto pending = std::async(std::launch::async, [&] {
        return contacts->hard_delete({acme, Selection::soft_deleted, now - std::chrono::days{30}, ids, now, "", ""});
    });
    // It cannot have finished: the lock is held, and the row is still there.
    CHECK(pending.wait_for(300ms) == std::future_status::timeout);
    CHECK(seed.count("SELECT count(*) FROM contacts") == 1);
    // Another tenant's batch does not wait.
    const std::vector<std::string> none{"x"};
    auto globex = contacts->hard_delete({TenantId{"globex"}, Selection::soft_deleted, now, none, now, "", ""});
    REQUIRE(globex.has_value());
    other->query("SELECT pg_advisory_unlock(hashtextextended('heroshhi.retention:lead:acme', 0))");
    auto change = pending.get();
    REQUIRE(change.has_value());
    CHECK(change->rows == 1);
    CHECK(seed.count("SELECT count(*) FROM contacts") == 0);
}

TEST_CASE("two instances sweeping one database at once delete every row once and count it once") {
    test_support::PgTestDb db;
    Seed seed(db);
    Instance first(db.url());
    Instance second(db.url());
    const int tenants = 3, leads = 60;
    std::int64_t optouts = 0;
    for (int t = 0; t < tenants; ++t) {
        const TenantId tenant{"tenant-" + std::to_string(t)};
        for (int i = 0; i < leads; ++i) {
            const std::string id = "l" + std::to_string(1000 + i);
            seed.lead(tenant, id, t * 1000 + i, now - std::chrono::days{200}, now - std::chrono::days{40}, false,
                      i % 2 == 0 ? "integration" : "whatsapp");
            seed.message(tenant, id + "-a", id, now - std::chrono::days{200});
            seed.message(tenant, id + "-b", id, now - std::chrono::days{120}, "outbound");  // due by message_retention too
            seed.webhook_key(tenant, "wamid." + id, now - std::chrono::days{60});
            if (i % 10 == 0) seed.optout(tenant, ++optouts, t * 1000 + i, now - std::chrono::days{300});
        }
    }
    const Policy policy = [] {
        PolicyConfig config;
        config.defaults = {std::chrono::days{365}, std::chrono::days{90}};
        return Policy::create(config).value();
    }();
    ManualClock clock{now};
    storage::MemoryStore audit_a, audit_b;  // each instance's own audit trail: not what is tested here
    audit::Log log_a(audit_a.audit(), clock), log_b(audit_b.audit(), clock);
    std::atomic<bool> go{false};
    auto run = [&](Instance& instance, const char* name, audit::Log& log) {
        while (!go.load()) std::this_thread::yield();
        return sweep(instance, policy, name, log, clock, 7);
    };
    auto a = std::async(std::launch::async, run, std::ref(first), "retention@a", std::ref(log_a));
    auto b = std::async(std::launch::async, run, std::ref(second), "retention@b", std::ref(log_b));
    go = true;
    const SweepReport ra = a.get();
    const SweepReport rb = b.get();

    CHECK(seed.count("SELECT count(*) FROM contacts") == 0);
    CHECK(seed.count("SELECT count(*) FROM messages") == 0);
    CHECK(seed.count("SELECT count(*) FROM dedup_keys") == 0);
    CHECK(seed.count("SELECT count(*) FROM optout_events") == optouts);  // untouched
    // Every row deleted once: the two reports add up to the seeded rows, no more.
    const auto deleted = [&](Category c) { return ra.total(c).hard_deleted + rb.total(c).hard_deleted; };
    const auto cascaded = ra.total(Category::lead).cascaded + rb.total(Category::lead).cascaded;
    CHECK(deleted(Category::lead) == tenants * leads);
    CHECK(deleted(Category::message) + cascaded == 2 * tenants * leads);
    CHECK(deleted(Category::webhook_key) == tenants * leads);
    // Aggregates counted once.
    CHECK(seed.count("SELECT sum(count) FROM analytics_daily WHERE event_type = 'lead'") == tenants * leads);
    CHECK(seed.count("SELECT sum(count) FROM analytics_daily WHERE event_type LIKE 'message.%'") == 2 * tenants * leads);
    CHECK(seed.count("SELECT sum(count) FROM analytics_daily WHERE event_type = 'lead' AND source = 'integration'") ==
          tenants * leads / 2);
    CHECK(seed.count("SELECT count(*) FROM retention_sweeps") == 0);  // both finished
}
