// PostgresChangeFeed: LISTEN heroshhi_optout drives an engine that shares its store: current only
// while listening, caught up on each notification, failing closed the moment the connection is lost;
// LISTEN heroshhi_facts carries consent records and restrictions (the tenant is reloaded).
#include <doctest/doctest.h>

#include "support/pg_test_db.hpp"
#include "support/temp_db.hpp"

#include <heroshhi/engine.hpp>
#include <heroshhi/storage/postgres_change_feed.hpp>
#include <heroshhi/storage/postgres_store.hpp>
#include <heroshhi/storage/sqlite_store.hpp>
#include <heroshhi/testing/store_conformance.hpp>

#include <chrono>
#include <functional>
#include <thread>

using namespace heroshhi;
using namespace std::chrono_literals;
using messaging::MessageKind;

namespace {

const TenantId acme{"acme"};
const Timestamp start_time = from_unix_ms(1'793'628'187'000);

PhoneNumber phone(const char* text) { return PhoneNumber::parse(text).value(); }

/// Polls `done` until it holds or a generous bound passes (a busy machine must not fail the test;
/// no timing is asserted here).
bool eventually(const std::function<bool()>& done, std::chrono::seconds bound = 20s) {
    const auto give_up = std::chrono::steady_clock::now() + bound;
    while (!done()) {
        if (std::chrono::steady_clock::now() > give_up) return false;
        std::this_thread::sleep_for(2ms);
    }
    return true;
}

/// Instance A writes the opt-outs; instance B learns of them through the feed. The opt-outs live
/// in one SQLite file both open (the feed only needs PostgreSQL for LISTEN/NOTIFY); the test
/// notifies as PostgresStore does after each append.
EngineOptions shared(bool change_feed) {
    EngineOptions o;
    o.shared.enabled = true;
    o.shared.change_feed = change_feed;
    o.shared.recheck_interval = 0ms;  // only the feed brings news here
    return o;
}

struct Fixture {
    void notify() { admin->query("SELECT pg_notify('heroshhi_optout', $1)", {acme.value()}); }

    Reason utility_to(const PhoneNumber& to) { return b.check_send(acme, to, MessageKind::utility_template).reason(); }

    test_support::PgTestDb db;
    std::unique_ptr<test_support::PgAdmin> admin = db.admin();
    test_support::TempDb file;
    ManualClock clock{start_time};
    std::unique_ptr<storage::SqliteStore> a_store = storage::SqliteStore::open(file.str()).value();
    std::unique_ptr<storage::SqliteStore> b_store = storage::SqliteStore::open(file.str()).value();
    Engine a{*a_store, clock, shared(false)};
    Engine b{*b_store, clock, shared(true)};
    PhoneNumber lead = phone("+14155550123");
    PhoneNumber other = phone("+14155550124");
};

}  // namespace

TEST_CASE("the feed makes a shared engine current once it listens, and catches it up on each notification") {
    Fixture f;
    REQUIRE(f.a.warm(acme).has_value());
    REQUIRE(f.b.warm(acme).has_value());
    CHECK(f.utility_to(f.lead) == Reason::suppression_not_current);  // no feed yet

    auto feed = storage::PostgresChangeFeed::start(f.b, f.db.url());
    REQUIRE(feed.has_value());
    REQUIRE(eventually([&] { return f.b.current(acme); }));
    CHECK((*feed)->connected());
    CHECK(f.utility_to(f.lead) == Reason::allowed);

    REQUIRE(f.a.on_inbound(InboundMessage{acme, f.lead, "STOP"}).has_value());
    f.notify();
    CHECK(eventually([&] { return f.utility_to(f.lead) == Reason::opted_out; }));
    CHECK((*feed)->notifications() >= 1);
    CHECK(f.b.current(acme));

    // A notification for a tenant B never loaded changes nothing and harms nothing.
    f.admin->query("SELECT pg_notify('heroshhi_optout', 'someone-else')");
    f.notify();
    CHECK(eventually([&] { return (*feed)->notifications() >= 3; }));
    CHECK(f.b.current(acme));

    // Destroying the feed disconnects it: B no longer trusts its index.
    feed->reset();
    CHECK_FALSE(f.b.current(acme));
}

TEST_CASE("a lost feed connection fails closed at once; the feed reconnects, catches up and is current again") {
    Fixture f;
    REQUIRE(f.a.warm(acme).has_value());
    REQUIRE(f.b.warm(acme).has_value());
    storage::PostgresChangeFeedOptions options;
    options.reconnect_delay = 1500ms;  // long enough to look at the outage
    auto feed = storage::PostgresChangeFeed::start(f.b, f.db.url(), options);
    REQUIRE(feed.has_value());
    REQUIRE(eventually([&] { return f.b.current(acme); }));
    CHECK((*feed)->connections() == 1);

    // The server drops the feed's connection (a restart, a network cut, an operator).
    f.admin->query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                   " WHERE application_name = 'heroshhi-change-feed' AND datname = current_database()");
    REQUIRE(eventually([&] { return !f.b.current(acme); }));
    CHECK(f.utility_to(f.other) == Reason::suppression_not_current);

    // Meanwhile A records an opt-out; its notification is lost with the connection.
    REQUIRE(f.a.on_inbound(InboundMessage{acme, f.other, "STOP"}).has_value());
    f.notify();

    // Reconnected: the catch-up that follows brings what it missed, and only then is B current.
    REQUIRE(eventually([&] { return f.b.current(acme); }));
    CHECK((*feed)->connections() == 2);
    CHECK(f.utility_to(f.other) == Reason::opted_out);
    CHECK(f.utility_to(f.lead) == Reason::allowed);
}

TEST_CASE("an unreadable connection string is refused; an unreachable server keeps the engine failing closed") {
    test_support::TempDb file;
    ManualClock clock{start_time};
    auto store = storage::SqliteStore::open(file.str()).value();
    Engine engine(*store, clock, shared(true));
    REQUIRE(engine.warm(acme).has_value());

    CHECK_FALSE(storage::PostgresChangeFeed::start(engine, "postgresql://[").has_value());

    storage::PostgresChangeFeedOptions quick;
    quick.connect_timeout = 1s;
    quick.reconnect_delay = 10ms;
    quick.max_reconnect_delay = 50ms;
    // Port 1 on loopback: nothing listens there.
    auto feed = storage::PostgresChangeFeed::start(engine, "postgresql://postgres@127.0.0.1:1/postgres", quick);
    REQUIRE(feed.has_value());
    std::this_thread::sleep_for(300ms);  // several failed attempts
    CHECK_FALSE((*feed)->connected());
    CHECK((*feed)->connections() == 0);
    CHECK_FALSE(engine.current(acme));
    CHECK(engine.check_send(acme, phone("+14155550123"), MessageKind::utility_template).reason() ==
          Reason::suppression_not_current);
}

TEST_CASE("PostgresStore reads opt-out events since a sequence as the conformance suite says") {
    test_support::PgTestDb db;
    const auto failures = testing::run_conformance_case(
        "opt-out events are read since a sequence, erased ones too, in one order",
        [&]() -> std::unique_ptr<storage::StoreSet> { return storage::PostgresStore::open(db.url()).value(); });
    for (const auto& f : failures) FAIL_CHECK(f);
}

TEST_CASE("two engines on one PostgreSQL database: an opt-out through one reaches the other through the feed alone") {
    test_support::PgTestDb db;
    ManualClock clock{start_time};
    auto a_store = storage::PostgresStore::open(db.url()).value();
    auto b_store = storage::PostgresStore::open(db.url()).value();
    Engine a(*a_store, clock, shared(true));
    Engine b(*b_store, clock, shared(true));
    auto a_feed = storage::PostgresChangeFeed::start(a, db.url()).value();
    auto b_feed = storage::PostgresChangeFeed::start(b, db.url()).value();
    const PhoneNumber lead = phone("+14155550123");
    REQUIRE(a.warm(acme).has_value());
    REQUIRE(b.warm(acme).has_value());
    REQUIRE(eventually([&] { return a.current(acme) && b.current(acme); }));
    CHECK(b.check_send(acme, lead, MessageKind::utility_template).reason() == Reason::allowed);

    // The store's own NOTIFY, in the append's transaction: no catch_up call, no recheck.
    REQUIRE(a.on_inbound(InboundMessage{acme, lead, "STOP"}).has_value());
    CHECK(eventually([&] {
        return b.check_send(acme, lead, MessageKind::utility_template).reason() == Reason::opted_out;
    }));
    // And back, through B.
    clock.advance(1h);
    REQUIRE(b.on_inbound(InboundMessage{acme, lead, "START"}).has_value());
    CHECK(eventually([&] {
        return a.check_send(acme, lead, MessageKind::utility_template).reason() == Reason::allowed;
    }));
}

namespace {

/// Two instances on one PostgreSQL database, each with its own feed; only the feed brings news
/// (no recheck, no periodic reload).
struct TwoInstances {
    TwoInstances() {
        storage::Contact c{acme, ContactId{"c-42"}, lead};
        REQUIRE(a_store->contacts().put(c).has_value());
        REQUIRE(a.warm(acme).has_value());
        REQUIRE(b.warm(acme).has_value());
        REQUIRE(eventually([&] { return a.current(acme) && b.current(acme); }));
    }
    static EngineOptions options() {
        EngineOptions o = shared(true);
        o.shared.facts_reload_interval = 0ms;
        return o;
    }
    Reason b_sends(MessageKind kind) { return b.check_send(acme, lead, kind).reason(); }

    test_support::PgTestDb db;
    ManualClock clock{start_time};
    std::unique_ptr<storage::PostgresStore> a_store = storage::PostgresStore::open(db.url()).value();
    std::unique_ptr<storage::PostgresStore> b_store = storage::PostgresStore::open(db.url()).value();
    Engine a{*a_store, clock, options()};
    Engine b{*b_store, clock, options()};
    std::unique_ptr<storage::PostgresChangeFeed> a_feed = storage::PostgresChangeFeed::start(a, db.url()).value();
    std::unique_ptr<storage::PostgresChangeFeed> b_feed = storage::PostgresChangeFeed::start(b, db.url()).value();
    PhoneNumber lead = phone("+14155550123");
    rbac::Principal admin{UserId{"u-admin-1"}, acme, rbac::Role::admin};
};

}  // namespace

TEST_CASE("two engines on one PostgreSQL database: a restriction through one reaches the other, and so does lifting it") {
    TwoInstances f;
    CHECK(f.b_sends(MessageKind::utility_template) == Reason::allowed);

    REQUIRE(f.a.restrict_processing(acme, f.admin, ContactId{"c-42"}, true).value().allowed());
    CHECK(eventually([&] { return f.b_sends(MessageKind::utility_template) == Reason::restricted; }));

    REQUIRE(f.a.restrict_processing(acme, f.admin, ContactId{"c-42"}, false).value().allowed());
    CHECK(eventually([&] { return f.b_sends(MessageKind::utility_template) == Reason::allowed; }));
    CHECK(f.b.current(acme));
}

TEST_CASE("two engines on one PostgreSQL database: a consent withdrawal through one reaches the other") {
    TwoInstances f;
    CHECK(f.b_sends(MessageKind::marketing_template) == Reason::no_consent);

    REQUIRE(f.a.record_platform_consent({acme, f.lead, storage::Purpose::marketing, true, start_time, "web_form", {}})
                .has_value());
    CHECK(eventually([&] { return f.b_sends(MessageKind::marketing_template) == Reason::allowed; }));

    f.clock.advance(1h);
    auto withdrawn = f.a.record_consent(f.admin, {acme, f.lead, storage::Purpose::marketing, false, f.clock.now(),
                                                  "phone_call", {}});
    REQUIRE(withdrawn.has_value());
    REQUIRE(withdrawn->allowed());
    CHECK(eventually([&] { return f.b_sends(MessageKind::marketing_template) == Reason::no_consent; }));
    CHECK(f.b.current(acme));
}

TEST_CASE("PostgresStore announces consent records and restriction changes on heroshhi_facts, not ordinary contact writes") {
    test_support::PgTestDb db;
    auto store = storage::PostgresStore::open(db.url()).value();
    auto admin = db.admin();
    admin->query("LISTEN heroshhi_facts");
    // How many announcements for acme arrived since the last call: a marker notified after the
    // writes arrives after everything committed before it (the queue keeps commit order).
    auto heard = [&] {
        admin->query("SELECT pg_notify('heroshhi_facts', 'marker')");
        int count = 0;
        PGconn* conn = admin->native();
        while (true) {
            if (PQconsumeInput(conn) == 0) return -1;
            while (PGnotify* n = PQnotifies(conn)) {
                const std::string payload = n->extra;
                PQfreemem(n);
                if (payload == "marker") return count;
                if (payload == acme.value()) ++count;
            }
            std::this_thread::sleep_for(1ms);
        }
    };
    storage::Contact c{acme, ContactId{"c-42"}, phone("+14155550123")};
    REQUIRE(store->contacts().put(c).has_value());
    c.name = "Ada";
    REQUIRE(store->contacts().put(c).has_value());
    CHECK(heard() == 0);  // ordinary contact writes announce nothing
    c.restricted = true;
    REQUIRE(store->contacts().put(c).has_value());
    CHECK(heard() == 1);
    c.name = "Ada L.";
    REQUIRE(store->contacts().put(c).has_value());
    CHECK(heard() == 0);  // still restricted: no change
    c.restricted = false;
    REQUIRE(store->contacts().put(c).has_value());
    CHECK(heard() == 1);
    REQUIRE(store->consents().append({acme, c.phone, storage::Purpose::marketing, true, start_time, "web_form", {}})
                .has_value());
    CHECK(heard() == 1);
}

TEST_CASE("a restriction written while B's feed was not listening reaches B when its feed connects") {
    TwoInstances f;
    f.b_feed.reset();  // B hears nothing from here on, and refuses every send
    REQUIRE(f.a.restrict_processing(acme, f.admin, ContactId{"c-42"}, true).value().allowed());
    CHECK(f.b_sends(MessageKind::utility_template) == Reason::suppression_not_current);

    f.b_feed = storage::PostgresChangeFeed::start(f.b, f.db.url()).value();
    CHECK(eventually([&] { return f.b.current(acme); }));
    CHECK(f.b_sends(MessageKind::utility_template) == Reason::restricted);
}
