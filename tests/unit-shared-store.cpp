// Several engines (processes) on one store: catching up with the opt-outs the others record, and
// failing closed until an engine has confirmed it is current.
#include <doctest/doctest.h>

#include "support/forwarding_store.hpp"
#include "support/temp_db.hpp"

#include <heroshhi/crypto/blind_index.hpp>
#include <heroshhi/crypto/secret_key.hpp>
#include <heroshhi/engine.hpp>
#include <heroshhi/storage/memory_store.hpp>
#include <heroshhi/storage/sqlite_store.hpp>
#include <heroshhi/testing/failing_store.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

using namespace heroshhi;
using namespace std::chrono_literals;
using messaging::MessageKind;

namespace {

const TenantId acme{"acme"};
const Timestamp start_time = from_unix_ms(1'793'628'187'000);  // 2026-11-02T14:03:07Z

PhoneNumber phone(const char* text) { return PhoneNumber::parse(text).value(); }

InboundMessage text_from(const PhoneNumber& from, std::string text, std::string wamid = {}) {
    InboundMessage m{acme, from, std::move(text)};
    m.provider_message_id = std::move(wamid);
    return m;
}

std::unique_ptr<storage::SqliteStore> open_store(const test_support::TempDb& file) {
    auto store = storage::SqliteStore::open(file.str());
    REQUIRE(store.has_value());
    return std::move(store).value();
}

/// Shared, without a feed and without the background thread: catch-ups happen when the test says.
EngineOptions polled() {
    EngineOptions o;
    o.shared.enabled = true;
    o.shared.recheck_interval = 0ms;
    return o;
}

EngineOptions with_feed() {
    EngineOptions o = polled();
    o.shared.change_feed = true;
    return o;
}

Reason utility_to(Engine& engine, const PhoneNumber& to) {
    return engine.check_send(acme, to, MessageKind::utility_template).reason();
}

/// Two engines, as two gateway instances, each with its own connection to one SQLite file.
struct TwoInstances {
    explicit TwoInstances(EngineOptions b_options = polled()) : b(*b_store, clock, std::move(b_options)) {
        REQUIRE(a.warm(acme).has_value());
        REQUIRE(b.warm(acme).has_value());
    }

    test_support::TempDb file;
    ManualClock clock{start_time};
    std::unique_ptr<storage::SqliteStore> a_store = open_store(file);
    std::unique_ptr<storage::SqliteStore> b_store = open_store(file);
    Engine a{*a_store, clock, polled()};
    Engine b;
    PhoneNumber lead = phone("+14155550123");
    rbac::Principal admin{UserId{"u-admin"}, acme, rbac::Role::admin};
};

/// A memory store whose opt-out log runs `during_scan` inside every scan_since: to make something
/// happen while an engine is reading the log.
class HookedStore final : public test_support::MemoryBackedStore {
public:
    storage::OptOutStore& optouts() override { return optouts_; }

    std::function<void()> during_scan;

private:
    class OptOuts final : public storage::OptOutStore {
    public:
        explicit OptOuts(HookedStore& owner) : owner_(owner) {}
        Result<bool> append(optout::OptOutEvent& e) override { return log().append(e); }
        Result<std::vector<optout::OptOutEvent>> history(const TenantId& t, const PhoneNumber& p) const override {
            return log().history(t, p);
        }
        Result<void> scan(const TenantId& t, const std::function<void(const optout::OptOutEvent&)>& v) const override {
            return log().scan(t, v);
        }
        Result<std::size_t> erase_number(const TenantId& t, const PhoneNumber& p, const optout::NumberTag& tag) override {
            return log().erase_number(t, p, tag);
        }
        Result<void> scan_erased(const TenantId& t,
                                 const std::function<void(const optout::ErasedOptOutEvent&)>& v) const override {
            return log().scan_erased(t, v);
        }
        Result<void> scan_since(const TenantId& t, std::int64_t after,
                                const std::function<void(const optout::OptOutEvent&)>& v,
                                const std::function<void(const optout::ErasedOptOutEvent&)>& ve) const override {
            if (owner_.during_scan) owner_.during_scan();
            return log().scan_since(t, after, v, ve);
        }

    private:
        storage::OptOutStore& log() const { return owner_.inner.optouts(); }
        HookedStore& owner_;
    };
    OptOuts optouts_{*this};
};

}  // namespace

TEST_CASE("a tenant whose load began before the feed connected is current once loaded") {
    // The feed connects while the engine reads the tenant's log: the feed's catch-up of the loaded
    // tenants cannot have seen this one, and nothing else will come (no recheck, no notification).
    HookedStore store;
    ManualClock clock{start_time};
    Engine engine(store, clock, with_feed());
    store.during_scan = [&] {
        store.during_scan = nullptr;
        engine.set_change_feed_connected(true);
        CHECK(engine.catch_up_all().has_value());  // what the feed does: the tenant is not loaded yet
    };
    REQUIRE(engine.warm(acme).has_value());
    CHECK(engine.current(acme));
    CHECK(utility_to(engine, phone("+14155550123")) == Reason::allowed);
}

TEST_CASE("an opt-out recorded through one engine reaches another on the same SQLite file when it catches up") {
    TwoInstances f;
    REQUIRE(f.a.on_inbound(text_from(f.lead, "STOP", "wamid.1")).has_value());
    CHECK(utility_to(f.a, f.lead) == Reason::opted_out);
    // B has not read the log since: its index does not know yet.
    CHECK(utility_to(f.b, f.lead) == Reason::allowed);

    auto read = f.b.catch_up(acme);
    REQUIRE(read.has_value());
    CHECK(*read == 1);
    Decision d = f.b.check_send(acme, f.lead, MessageKind::utility_template);
    CHECK(d.reason() == Reason::opted_out);
    CHECK(d.notice().find("by replying STOP") != std::string::npos);
    // Nothing new: nothing read, nothing changed.
    CHECK(f.b.catch_up(acme).value() == 0);

    // And back: a START through B reaches A.
    f.clock.advance(1h);
    REQUIRE(f.b.on_inbound(text_from(f.lead, "START", "wamid.2")).has_value());
    CHECK(utility_to(f.b, f.lead) == Reason::allowed);
    CHECK(utility_to(f.a, f.lead) == Reason::opted_out);
    REQUIRE(f.a.catch_up_all().has_value());
    CHECK(utility_to(f.a, f.lead) == Reason::allowed);
}

TEST_CASE("an engine's own write is applied in the log's order, after the other engine's earlier events") {
    TwoInstances f;
    // A: STOP then START. B knows neither when it records an opt-out of its own.
    REQUIRE(f.a.on_inbound(text_from(f.lead, "STOP")).has_value());
    f.clock.advance(1min);
    REQUIRE(f.a.on_inbound(text_from(f.lead, "START")).has_value());
    f.clock.advance(1min);
    auto mine = f.b.opt_out_via_api(acme, f.admin, f.lead, {});
    REQUIRE(mine.has_value());
    REQUIRE(mine->allowed());
    // Applying B's opt-out first and A's older START after it would let B send again.
    CHECK(utility_to(f.b, f.lead) == Reason::opted_out);
    CHECK(f.b.catch_up(acme).value() == 0);  // the write already read the log up to itself
    REQUIRE(f.a.catch_up(acme).has_value());
    CHECK(utility_to(f.a, f.lead) == Reason::opted_out);
}

TEST_CASE("a webhook delivered to two engines is recorded once, and both know the opt-out") {
    TwoInstances f;
    auto first = f.a.on_inbound(text_from(f.lead, "STOP", "wamid.same"));
    auto second = f.b.on_inbound(text_from(f.lead, "STOP", "wamid.same"));
    REQUIRE(first.has_value());
    REQUIRE(second.has_value());
    CHECK_FALSE(first->duplicate);
    CHECK(second->duplicate);
    CHECK(second->reply.empty());  // one confirmation: from the instance that recorded it
    CHECK(utility_to(f.b, f.lead) == Reason::opted_out);  // read back from the log, not from B's own write
    CHECK(f.a.history(acme, f.lead).value().size() == 1);
}

TEST_CASE("with a change feed, sends are refused until a catch-up made while the feed is connected") {
    TwoInstances f(with_feed());
    const PhoneNumber other = phone("+14155550124");
    // Loaded, but the feed never connected: B cannot know it will hear of A's opt-outs.
    CHECK_FALSE(f.b.current(acme));
    Decision d = f.b.check_send(acme, other, MessageKind::utility_template);
    CHECK(d.reason() == Reason::suppression_not_current);
    CHECK(d.rule() == "gate.suppression_not_current");
    CHECK_FALSE(d.notice().empty());
    // Campaigns exclude everyone too.
    const std::vector<PhoneNumber> audience{other};
    CHECK(f.b.filter_audience(acme, audience, MessageKind::utility_template).sendable.empty());

    // A catch-up while the feed is down reads the news, but does not make B current.
    REQUIRE(f.a.on_inbound(text_from(f.lead, "STOP")).has_value());
    REQUIRE(f.b.catch_up(acme).has_value());
    CHECK_FALSE(f.b.current(acme));
    CHECK(utility_to(f.b, other) == Reason::suppression_not_current);

    f.b.set_change_feed_connected(true);
    CHECK_FALSE(f.b.current(acme));  // connected, not yet caught up
    REQUIRE(f.b.catch_up_all().has_value());
    CHECK(f.b.current(acme));
    CHECK(utility_to(f.b, other) == Reason::allowed);
    CHECK(utility_to(f.b, f.lead) == Reason::opted_out);

    // The feed is lost: at once, nothing goes out, whatever the index says.
    f.b.set_change_feed_connected(false);
    CHECK_FALSE(f.b.current(acme));
    CHECK(utility_to(f.b, other) == Reason::suppression_not_current);
    // While it was down, A recorded more; after reconnecting, B catches up and has it all.
    f.clock.advance(1min);
    REQUIRE(f.a.on_inbound(text_from(other, "STOP")).has_value());
    f.b.set_change_feed_connected(true);
    REQUIRE(f.b.catch_up_all().has_value());
    CHECK(f.b.current(acme));
    CHECK(utility_to(f.b, other) == Reason::opted_out);
}

TEST_CASE("a tenant first used after the feed connected is current once loaded") {
    TwoInstances f(with_feed());
    f.b.set_change_feed_connected(true);
    const TenantId globex{"globex"};
    const PhoneNumber someone = phone("+14155550199");
    // Its load reads the whole log after the feed started listening.
    CHECK(f.b.check_send(globex, someone, MessageKind::utility_template).reason() == Reason::allowed);
    CHECK(f.b.current(globex));
}

TEST_CASE("a catch-up that fails marks the tenant not current until one succeeds") {
    test_support::TempDb file;
    ManualClock clock{start_time};
    auto store = open_store(file);
    testing::FailingStore failing(*store);
    Engine engine(failing, clock, polled());
    const PhoneNumber lead = phone("+14155550123");
    REQUIRE(engine.warm(acme).has_value());
    CHECK(engine.current(acme));
    CHECK(utility_to(engine, lead) == Reason::allowed);

    failing.fail_now();
    CHECK_FALSE(engine.catch_up(acme).has_value());
    CHECK_FALSE(engine.current(acme));
    CHECK(utility_to(engine, lead) == Reason::suppression_not_current);

    failing.heal();
    REQUIRE(engine.catch_up(acme).has_value());
    CHECK(engine.current(acme));
    CHECK(utility_to(engine, lead) == Reason::allowed);
}

TEST_CASE("an engine that does not share its store is current once loaded, feed or not") {
    storage::MemoryStore store;
    ManualClock clock{start_time};
    Engine engine(store, clock);
    REQUIRE(engine.warm(acme).has_value());
    CHECK(engine.current(acme));
    engine.set_change_feed_connected(false);
    CHECK(engine.current(acme));
    CHECK_FALSE(engine.current(TenantId{"never-loaded"}));
}

TEST_CASE("the background re-check brings another engine's opt-outs without being asked") {
    test_support::TempDb file;
    ManualClock clock{start_time};
    auto a_store = open_store(file);
    auto b_store = open_store(file);
    Engine a(*a_store, clock, polled());
    EngineOptions rechecked = polled();
    rechecked.shared.recheck_interval = 20ms;
    Engine b(*b_store, clock, rechecked);
    const PhoneNumber lead = phone("+14155550123");
    REQUIRE(a.warm(acme).has_value());
    REQUIRE(b.warm(acme).has_value());
    REQUIRE(a.on_inbound(text_from(lead, "STOP")).has_value());
    // No catch_up call here: only the engine's own thread can bring it. A generous bound, so a
    // busy machine does not fail the test; it normally takes one interval.
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (utility_to(b, lead) != Reason::opted_out && std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(5ms);
    CHECK(utility_to(b, lead) == Reason::opted_out);
}

TEST_CASE("an opt-out recorded by another process on the same SQLite file is caught up") {
    test_support::TempDb file;
    ManualClock clock{start_time};
    const PhoneNumber lead = phone("+14155550123");
    {
        auto created = open_store(file);  // the schema exists before the two processes open it
    }
    auto store = open_store(file);
    Engine engine(*store, clock, polled());
    REQUIRE(engine.warm(acme).has_value());

    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // The other instance: its own connection, engine and write; the exit code is its verdict.
        int code = 1;
        if (auto own = storage::SqliteStore::open(file.str())) {
            Engine other(**own, clock, polled());
            if (other.on_inbound(text_from(lead, "STOP", "wamid.child")).has_value() &&
                other.check_send(acme, lead, MessageKind::utility_template).reason() == Reason::opted_out)
                code = 0;
        }
        _exit(code);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);

    CHECK(utility_to(engine, lead) == Reason::allowed);  // not read yet
    CHECK(engine.catch_up(acme).value() == 1);
    CHECK(utility_to(engine, lead) == Reason::opted_out);
    CHECK(engine.status(acme, lead).value().opted_out);
}

TEST_CASE("a number another engine erased stays suppressed after the catch-up, by its keyed hash") {
    test_support::TempDb file;
    ManualClock clock{start_time};
    const auto blind = crypto::BlindIndex::create(
                           crypto::SecretKey::from_bytes(std::vector<std::uint8_t>(crypto::SecretKey::size, 0xB1)).value())
                           .value();
    EngineOptions options = polled();
    options.blind_index = &blind;
    auto a_store = open_store(file);
    auto b_store = open_store(file);
    Engine a(*a_store, clock, options);
    Engine b(*b_store, clock, options);
    const PhoneNumber lead = phone("+14155550123");
    REQUIRE(a.warm(acme).has_value());
    REQUIRE(b.warm(acme).has_value());

    // A records the number's consent to nothing, then erases it: the log keeps only its tag.
    REQUIRE(a.on_inbound(text_from(lead, "hello")).has_value());
    REQUIRE(a.erase_number(acme, lead, UserId{"u-dpo"}).has_value());
    CHECK(a.history(acme, lead).value().empty());

    auto read = b.catch_up(acme);
    REQUIRE(read.has_value());
    CHECK(*read == 1);  // the erasure's own opt-out, as an erased event
    CHECK(utility_to(b, lead) == Reason::opted_out);
}

TEST_CASE("one SQLite file: a restriction and a consent withdrawal through A reach B at its reload, and lifting too") {
    TwoInstances f;
    REQUIRE(f.a_store->contacts().put(storage::Contact{acme, ContactId{"c-42"}, f.lead}).has_value());
    REQUIRE(f.a.record_platform_consent({acme, f.lead, storage::Purpose::marketing, true, start_time, "web_form", {}})
                .has_value());
    REQUIRE(f.b.reload_all().has_value());
    CHECK(f.b.check_send(acme, f.lead, MessageKind::marketing_template).reason() == Reason::allowed);

    REQUIRE(f.a.restrict_processing(acme, f.admin, ContactId{"c-42"}, true).value().allowed());
    REQUIRE(f.b.catch_up_all().has_value());
    CHECK(utility_to(f.b, f.lead) == Reason::allowed);  // not in the opt-out log: a catch-up misses it
    REQUIRE(f.b.reload_all().has_value());
    CHECK(utility_to(f.b, f.lead) == Reason::restricted);
    CHECK(f.b.current(acme));

    REQUIRE(f.a.restrict_processing(acme, f.admin, ContactId{"c-42"}, false).value().allowed());
    auto withdrawn = f.a.record_consent(f.admin, {acme, f.lead, storage::Purpose::marketing, false, start_time,
                                                  "phone_call", {}});
    REQUIRE(withdrawn.has_value());
    REQUIRE(withdrawn->allowed());
    REQUIRE(f.b.reload(acme).value());
    CHECK(utility_to(f.b, f.lead) == Reason::allowed);
    CHECK(f.b.check_send(acme, f.lead, MessageKind::marketing_template).reason() == Reason::no_consent);
    CHECK_FALSE(f.b.reload(TenantId{"globex"}).value());  // not loaded: nothing read
}

TEST_CASE("one SQLite file: B's background thread reloads the facts at facts_reload_interval") {
    EngineOptions o = polled();
    o.shared.recheck_interval = 5ms;
    o.shared.facts_reload_interval = 20ms;
    TwoInstances f(o);
    REQUIRE(f.a_store->contacts().put(storage::Contact{acme, ContactId{"c-42"}, f.lead}).has_value());
    REQUIRE(f.a.restrict_processing(acme, f.admin, ContactId{"c-42"}, true).value().allowed());
    const auto give_up = std::chrono::steady_clock::now() + 20s;
    while (utility_to(f.b, f.lead) != Reason::restricted && std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(2ms);
    CHECK(utility_to(f.b, f.lead) == Reason::restricted);
}
