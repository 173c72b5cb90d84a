// Retention: the Policy (validation, plans, the boundary of every rule), and the Sweeper over the
// memory and SQLite stores (the ports themselves — accounts, journal, aggregates, targets — are
// checked by the retention conformance suite, tests/conformance/retention.cpp) — each rule of the retention table a day before, on and after its
// boundary; legal holds on a lead and on a tenant; cascade to messages; opt-out records surviving
// every sweep; analytics folded into aggregates; a crash on the Nth store call then a rerun equal to
// an uninterrupted sweep; dry run equal to the real run; idempotence; time budget and progress.
#include <doctest/doctest.h>

#include "support/temp_db.hpp"
#include "support/test_keys.hpp"

#include <heroshhi/crypto/blind_index.hpp>
#include <heroshhi/crypto/key_ring.hpp>
#include <heroshhi/audit/log.hpp>
#include <heroshhi/audit/pseudonym.hpp>
#include <heroshhi/core/errors.hpp>
#include <heroshhi/retention/errors.hpp>
#include <heroshhi/retention/policy.hpp>
#include <heroshhi/retention/sweeper.hpp>
#include <heroshhi/engine.hpp>
#include <heroshhi/privacy/request.hpp>
#include <heroshhi/storage/errors.hpp>
#include <heroshhi/storage/memory_store.hpp>
#include <heroshhi/storage/sqlite_store.hpp>
#include <heroshhi/testing/failing_store.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace heroshhi;
using namespace heroshhi::retention;
using namespace std::chrono_literals;

namespace {

const Timestamp now = from_unix_ms(1'767'225'600'000);  // 2026-01-01T00:00:00Z
const TenantId acme{"acme"};
const TenantId globex{"globex"};
const TenantId initech{"initech"};

PhoneNumber phone(int n) {
    std::string digits = std::to_string(1000 + n % 9000);
    return PhoneNumber::parse("+1415555" + digits).value();
}

// sqlite_encrypted: the same file store with field encryption on (phone keys are blind-index
// tags, names and bodies ciphertexts), which the retention SQL must work with unchanged.
enum class Kind { memory, sqlite, sqlite_encrypted };
const char* name(Kind k) {
    return k == Kind::memory ? "memory" : k == Kind::sqlite ? "sqlite" : "sqlite (encrypted)";
}

using test_support::key_of;

Policy policy_with(std::optional<Days> leads, std::optional<Days> messages = std::nullopt) {
    PolicyConfig config;
    config.defaults = {leads, messages};
    return Policy::create(config).value();
}

/// A store (memory or SQLite), a manual clock at `now`, and the audit log over the store.
class World {
public:
    explicit World(Kind kind) {
        // The Engine's blind index: the sweeper reduces a terminated tenant's opt-outs to its tags.
        index_ = std::make_unique<crypto::BlindIndex>(crypto::BlindIndex::create(key_of(0xB1)).value());
        if (kind == Kind::memory) {
            memory_ = std::make_unique<storage::MemoryStore>();
        } else {
            file_ = std::make_unique<test_support::TempDb>();
            storage::SqliteOptions options;
            if (kind == Kind::sqlite_encrypted) {
                crypto::KeySet set;
                set.keys.push_back({crypto::KeyId{1}, key_of(0x5A)});
                set.primary = crypto::KeyId{1};
                keys_ = std::make_unique<crypto::KeyRing>(crypto::KeyRing::create(std::move(set)).value());
                options.keys = keys_.get();
                options.blind_index = index_.get();
            }
            sqlite_ = storage::SqliteStore::open(file_->str(), options).value();
        }
        log_ = std::make_unique<audit::Log>(stores().audit(), clock);
    }

    storage::StoreSet& stores() { return memory_ ? static_cast<storage::StoreSet&>(*memory_) : *sqlite_; }
    RetentionStores& retention() { return memory_ ? memory_->retention() : sqlite_->retention(); }
    audit::Log& log() { return *log_; }
    const test_support::TempDb* file() const { return file_.get(); }
    const crypto::BlindIndex& index() const { return *index_; }
    /// What every sweeper of these tests is given: the blind index.
    Sweeper::Setup setup() const {
        Sweeper::Setup s;
        s.blind_index = index_.get();
        return s;
    }

    /// A lead last active at `active` (created and updated then).
    void lead(const TenantId& t, const std::string& id, int number, Timestamp active, std::string source = "direct",
              std::optional<Timestamp> deleted = std::nullopt, bool hold = false) {
        storage::Contact c{t, ContactId{id}, phone(number)};
        c.name = "Name of " + id;
        c.source = std::move(source);
        c.created_at = active;
        c.updated_at = active;
        c.deleted_at = deleted;
        c.legal_hold = hold;
        REQUIRE(stores().contacts().put(c).has_value());
    }
    void message(const TenantId& t, const std::string& id, const std::string& contact, Timestamp at,
                 storage::Direction direction = storage::Direction::inbound) {
        storage::MessageRecord m;
        m.tenant = t;
        m.id = MessageId{id};
        m.contact = ContactId{contact};
        m.direction = direction;
        m.body = "text of " + id;
        m.created_at = at;
        m.updated_at = at;
        REQUIRE(stores().messages().append(m).value());
    }
    void optout(const TenantId& t, int number, Timestamp at) {
        optout::OptOutEvent e(t, phone(number));
        e.at = at;
        e.trigger = "STOP";
        REQUIRE(stores().optouts().append(e).value());
    }
    void consent(const TenantId& t, int number, Timestamp at) {
        REQUIRE(stores().consents().append({t, phone(number), storage::Purpose::marketing, true, at, "web_form", {}}).has_value());
    }
    void inbound(const TenantId& t, int number, Timestamp at) {
        REQUIRE(stores().activity().record_inbound(t, phone(number), at).has_value());
    }
    void audit_at(const TenantId& t, Timestamp at, const std::string& target) {
        clock.set(at);
        audit::Entry e;
        e.tenant = t;
        e.actor = audit::Actor::member(UserId{"u-1"}, rbac::Role::sales);
        e.action = "read";
        e.target_type = "lead";
        e.target_id = target;
        REQUIRE(log().append(e).has_value());
        clock.set(now);
    }
    void request(const TenantId& t, const std::string& id, const std::string& contact, Timestamp at) {
        privacy::SubjectRequest r;
        r.tenant = t;
        r.id = id;
        r.type = privacy::RequestType::erasure;
        r.subject = privacy::subject_of(ContactId{contact});
        r.received_at = at;
        r.acknowledge_by = privacy::acknowledge_deadline(at);
        r.due_by = privacy::due_deadline(at, false);
        REQUIRE(stores().requests().put(r).has_value());
    }
    std::size_t requests_of(const TenantId& t) {
        auto got = stores().requests().list(t, {"", 1000}, false);
        REQUIRE(got.has_value());
        return got->size();
    }
    void account(const TenantId& t, std::optional<Timestamp> closed, bool hold = false) {
        storage::Account a{t};
        a.opened_at = now - Days{1000};
        a.closed_at = closed;
        a.legal_hold = hold;
        REQUIRE(retention().accounts().put(a).has_value());
    }

    Result<SweepReport> sweep(const Policy& policy, SweepOptions options = {}) {
        auto sweeper = Sweeper::create(policy, retention(), log(), clock, setup());
        REQUIRE(sweeper.has_value());
        return sweeper->run(now, options);
    }
    SweepReport sweep_ok(const Policy& policy, SweepOptions options = {}) {
        auto report = sweep(policy, std::move(options));
        REQUIRE_MESSAGE(report.has_value(), (report ? "" : report.error().message()));
        return std::move(report).value();
    }

    std::optional<storage::Contact> contact(const TenantId& t, const std::string& id) {
        auto c = stores().contacts().get(t, ContactId{id});
        REQUIRE(c.has_value());
        return *c;
    }
    bool live(const TenantId& t, const std::string& id) {
        auto c = contact(t, id);
        return c && !c->deleted_at;
    }
    std::size_t messages_of(const TenantId& t, const std::string& id) {
        auto m = stores().messages().list_for_contact(t, ContactId{id}, 1000);
        REQUIRE(m.has_value());
        return m->size();
    }
    /// Opt-out events that still hold their plain number.
    std::size_t optouts_of(const TenantId& t) {
        std::size_t n = 0;
        REQUIRE(stores().optouts().scan(t, [&](const optout::OptOutEvent&) { ++n; }).has_value());
        return n;
    }
    /// Opt-out events kept only as their number's keyed hash.
    std::size_t erased_of(const TenantId& t) {
        std::size_t n = 0;
        REQUIRE(stores().optouts().scan_erased(t, [&](const optout::ErasedOptOutEvent&) { ++n; }).has_value());
        return n;
    }
    std::vector<audit::Entry> entries(const TenantId& t, std::optional<std::string> action = std::nullopt) {
        audit::Query q(t);
        q.action = std::move(action);
        q.limit = 100'000;
        auto got = log().query(q);
        REQUIRE(got.has_value());
        return *got;
    }
    std::vector<DailyAggregate> aggregates(const TenantId& t) {
        auto got = retention().aggregates().list(t, std::chrono::sys_days{}, std::chrono::sys_days{Days{100'000}});
        REQUIRE(got.has_value());
        return *got;
    }
    std::optional<std::string> journal() {
        auto got = retention().journal().load("retention");
        REQUIRE(got.has_value());
        return *got;
    }

    /// Everything a sweep may change, as text, for comparing two worlds. Audit purge notes are left
    /// out: an interrupted purge logs itself again when it is retried.
    std::string snapshot(const std::vector<TenantId>& tenants) {
        std::ostringstream out;
        for (const TenantId& t : tenants) {
            out << "tenant " << t.value() << "\n";
            auto contacts = stores().contacts().list(t, {"", 100'000});
            REQUIRE(contacts.has_value());
            for (const auto& c : *contacts) {
                out << " contact " << c.id.value() << " deleted=" << (c.deleted_at ? to_iso8601(*c.deleted_at) : "-")
                    << " messages:";
                auto msgs = stores().messages().list_for_contact(t, c.id, 1000);
                REQUIRE(msgs.has_value());
                for (const auto& m : *msgs) out << " " << m.id.value();
                out << "\n";
            }
            REQUIRE(stores().consents().scan(t, [&](const storage::ConsentRecord& r) {
                out << " consent " << r.phone.e164() << "\n";
            }).has_value());
            REQUIRE(stores().activity().scan(t, [&](const PhoneNumber& p, Timestamp) { out << " inbound " << p.e164() << "\n"; }).has_value());
            out << " optouts " << optouts_of(t) << " hashed " << erased_of(t) << "\n";
            for (const auto& a : aggregates(t))
                out << " aggregate " << a.day.time_since_epoch().count() << " " << a.event_type << " " << a.source << " "
                    << a.count << "\n";
            for (const auto& e : entries(t))
                if (e.action != "audit.purge") out << " audit " << e.action << " " << e.target_id << "\n";
            auto verified = log().verify(t);
            REQUIRE(verified.has_value());
            out << " chain " << (verified->intact() ? "intact" : verified->detail) << "\n";
        }
        return out.str();
    }

    ManualClock clock{now};

private:
    std::unique_ptr<test_support::TempDb> file_;
    std::unique_ptr<crypto::KeyRing> keys_;  // before the store, which borrows them
    std::unique_ptr<crypto::BlindIndex> index_;
    std::unique_ptr<storage::MemoryStore> memory_;
    std::unique_ptr<storage::SqliteStore> sqlite_;
    std::unique_ptr<audit::Log> log_;
};

/// Three tenants with something for every rule: acme (lead retention 365 days, messages 90 days),
/// globex (defaults: only soft-deleted leads and old audit entries go), initech (terminated 40
/// days ago, with one lead under legal hold).
void seed(World& w) {
    for (int i = 0; i < 12; ++i) {
        const std::string id = "a" + std::to_string(10 + i);
        const Timestamp active = now - Days{300 + 10 * i};  // a10..a16 active, a17..a21 inactive
        w.lead(acme, id, i, active, i % 2 == 0 ? "integration" : "webhook", std::nullopt, i == 9);
        w.message(acme, id + "-m1", id, active - Days{5}, storage::Direction::outbound);
        w.message(acme, id + "-m2", id, active);
        w.consent(acme, i, active);
        w.inbound(acme, i, active);
    }
    w.lead(acme, "a90", 90, now - Days{10}, "direct", now - Days{45});  // soft-deleted 45 days ago
    w.message(acme, "a90-m1", "a90", now - Days{10});
    w.lead(acme, "a91", 91, now - Days{10}, "direct", now - Days{20});  // soft-deleted 20 days ago
    w.optout(acme, 3, now - Days{900});
    w.optout(acme, 90, now - Days{20});
    for (int i = 0; i < 6; ++i) w.audit_at(acme, now - Days{400 - 20 * i}, "a" + std::to_string(10 + i));

    for (int i = 0; i < 5; ++i) {
        const std::string id = "g" + std::to_string(i);
        w.lead(globex, id, 100 + i, now - Days{2000}, "whatsapp", i < 3 ? std::optional(now - Days{31 + i}) : std::nullopt);
        w.message(globex, id + "-m", id, now - Days{2000});
    }
    w.optout(globex, 100, now - Days{2000});
    w.audit_at(globex, now - Days{700}, "g0");
    w.audit_at(globex, now - Days{10}, "g1");

    w.account(initech, now - Days{40});
    for (int i = 0; i < 4; ++i) {
        const std::string id = "i" + std::to_string(i);
        w.lead(initech, id, 200 + i, now - Days{50}, "direct", std::nullopt, i == 0);
        w.message(initech, id + "-m", id, now - Days{50});
        w.consent(initech, 200 + i, now - Days{50});
        w.inbound(initech, 200 + i, now - Days{50});
    }
    REQUIRE(w.stores().dedup().remember(initech, "wamid.init", now - Days{45}).value());
    w.optout(initech, 201, now - Days{60});
    // More numbers than a batch of the opt-out step: 201 twice, the held lead i0's 200, and
    // numbers that never were leads.
    for (int n : {202, 203, 204, 205, 200, 201, 206}) w.optout(initech, n, now - Days{59});
    w.audit_at(initech, now - Days{45}, "i1");
}

Policy seeded_policy() {
    PolicyConfig config;
    config.tenants.emplace(acme, TenantSettings{Days{365}, Days{90}});
    config.revision = "test-7";
    return Policy::create(config).value();
}

const std::vector<TenantId> seeded_tenants{acme, globex, initech};

}  // namespace

// =================================================================================================
// Policy

TEST_CASE("the default policy keeps leads and messages and sweeps soft-deleted leads, audit entries and closed accounts") {
    const Policy p = Policy::defaults();
    CHECK_FALSE(p.settings(acme).lead_retention.has_value());
    CHECK_FALSE(p.settings(acme).message_retention.has_value());
    const Plan plan = p.plan(storage::Account{acme}, now);
    CHECK_FALSE(plan.held);
    CHECK_FALSE(plan.terminated);
    REQUIRE(plan.steps.size() == 3);
    CHECK(plan.steps[0] == Step{Category::lead, Selection::soft_deleted, Action::hard_delete, now - Days{30}});
    CHECK(plan.steps[1] == Step{Category::activity_log, Selection::expired, Action::hard_delete, now - Days{365}});
    CHECK(plan.steps[2] == Step{Category::webhook_key, Selection::expired, Action::hard_delete, now - Days{30}});
    CHECK(plan.audit_cutoff == now - Days{365} + 1ms);
}

TEST_CASE("a tenant's settings add message and lead steps, messages first") {
    const Policy p = policy_with(Days{365}, Days{90});
    const Plan plan = p.plan(storage::Account{acme}, now);
    REQUIRE(plan.steps.size() == 5);
    CHECK(plan.steps[0] == Step{Category::message, Selection::expired, Action::hard_delete, now - Days{90}});
    CHECK(plan.steps[1] == Step{Category::lead, Selection::expired, Action::soft_delete, now - Days{365}});
    CHECK(plan.steps[2].selection == Selection::soft_deleted);
    CHECK(plan.steps[3].category == Category::activity_log);
}

TEST_CASE("per-tenant overrides replace the defaults for that tenant only") {
    PolicyConfig config;
    config.defaults = {Days{730}, std::nullopt};
    config.tenants.emplace(acme, TenantSettings{std::nullopt, std::nullopt});
    const Policy p = Policy::create(config).value();
    CHECK_FALSE(p.settings(acme).lead_retention.has_value());
    CHECK(p.settings(globex).lead_retention == Days{730});
    const Policy q = p.with_tenant(globex, {Days{30}, Days{7}}).value();
    CHECK(q.settings(globex).message_retention == Days{7});
    CHECK_FALSE(p.settings(globex).message_retention.has_value());  // the original is unchanged
}

TEST_CASE("a configuration that would auto-delete opt-out records is rejected") {
    PolicyConfig config;
    config.optout_records = Days{3650};
    auto p = Policy::create(config);
    REQUIRE_FALSE(p.has_value());
    CHECK(p.error() == RetentionErrc::optout_records_protected);
    CHECK(p.error().detail().find("optout_records") != std::string::npos);
    CHECK(p.error().detail().find("never auto-deleted") != std::string::npos);
}

TEST_CASE("negative, zero and absurd periods are rejected, naming the setting") {
    struct Bad {
        TenantSettings settings;
        RetentionErrc code;
        const char* names;
    };
    const Bad cases[] = {
        {{Days{0}, std::nullopt}, RetentionErrc::invalid_period, "lead_retention"},
        {{Days{-5}, std::nullopt}, RetentionErrc::invalid_period, "lead_retention"},
        {{Days{40'000}, std::nullopt}, RetentionErrc::invalid_period, "lead_retention"},
        {{std::nullopt, Days{-1}}, RetentionErrc::invalid_period, "message_retention"},
        {{Days{365}, Days{400}}, RetentionErrc::inconsistent_settings, "message_retention"},
    };
    for (const Bad& bad : cases) {
        PolicyConfig config;
        config.defaults = bad.settings;
        auto p = Policy::create(config);
        REQUIRE_FALSE(p.has_value());
        CHECK(p.error() == bad.code);
        CHECK(p.error().detail().find(bad.names) != std::string::npos);
        // The same settings as a tenant override fail the same way, naming the tenant.
        auto q = Policy::defaults().with_tenant(acme, bad.settings);
        REQUIRE_FALSE(q.has_value());
        CHECK(q.error() == bad.code);
        CHECK(q.error().detail().find("tenants[acme]." + std::string(bad.names)) != std::string::npos);
    }
    CHECK(Policy::create(PolicyConfig{{Days{1}, Days{1}}, {}, std::nullopt, "r"}).has_value());
    CHECK(Policy::create(PolicyConfig{{Policy::longest_period, std::nullopt}, {}, std::nullopt, "r"}).has_value());
    auto empty_revision = Policy::create(PolicyConfig{{}, {}, std::nullopt, ""});
    REQUIRE_FALSE(empty_revision.has_value());
    CHECK(empty_revision.error() == ConfigErrc::invalid_value);
}

TEST_CASE("an account is terminated once its closure is 30 days old, and a hold keeps its plan counted only") {
    const Policy p = Policy::defaults();
    storage::Account a{acme};
    a.closed_at = now - Days{29};
    CHECK_FALSE(p.plan(a, now).terminated);
    a.closed_at = now - Days{30};
    CHECK(p.plan(a, now).terminated);
    CHECK(Policy::deletion_due(a) == now);
    const Plan plan = p.plan(a, now);
    REQUIRE(plan.steps.size() == 5);
    CHECK(plan.steps[0].category == Category::lead);
    CHECK(plan.steps[0].selection == Selection::all);
    CHECK(plan.steps[1].category == Category::account);
    CHECK(plan.steps[3] == Step{Category::webhook_key, Selection::all, Action::hard_delete, now});
    // Last: the opt-out records are reduced to keyed hashes, never deleted.
    CHECK(plan.steps[4] == Step{Category::optout_record, Selection::all, Action::reduce_to_tag, now});
    a.legal_hold = true;
    CHECK(p.plan(a, now).held);
}

TEST_CASE("a row is due on its boundary, not a millisecond before") {
    const Step step{Category::lead, Selection::expired, Action::soft_delete, now - Days{365}};
    CHECK_FALSE(Policy::due(step, now - Days{365} + 1ms));
    CHECK(Policy::due(step, now - Days{365}));
    CHECK(Policy::due(step, now - Days{366}));
    CHECK(Policy::due(Step{Category::lead, Selection::all, Action::hard_delete, now}, now + Days{1}));
}

TEST_CASE("the sweep's audit text reads back and stays within an audit field for any counts") {
    TenantReport r;
    r.tenant = acme;
    r.terminated = true;
    r[Category::lead] = {3, 2, 10, 1, 0};
    r[Category::audit_log].purged = 7;
    const std::string text = r.to_audit_text(now);
    CHECK(text == "as_of=2026-01-01T00:00:00.000Z;terminated;lead:soft=3,hard=2,cascaded=10,held=1;audit_log:purged=7");
    CHECK(TenantReport::from_audit_text(acme, text) == r);
    CHECK_FALSE(TenantReport::from_audit_text(acme, "lead:soft=3").has_value());
    CHECK_FALSE(TenantReport::from_audit_text(acme, "as_of=2026-01-01T00:00:00.000Z;lead:soft=-1").has_value());

    // Every field a sweep can set, at its largest, still fits the 512 bytes of an audit field.
    TenantReport huge;
    huge.tenant = acme;
    huge.held = huge.terminated = huge.audit_chain_broken = true;
    constexpr auto max = std::numeric_limits<std::int64_t>::max();
    huge[Category::lead] = {max, max, max, max, 0};
    huge[Category::message] = {0, max, 0, max, 0};
    huge[Category::account] = {0, max, 0, max, 0};
    huge[Category::activity_log] = {0, max, 0, max, 0};
    huge[Category::audit_log] = {0, 0, 0, max, max};
    huge[Category::webhook_key] = {0, max, 0, max, 0};
    const std::string text_of_huge = huge.to_audit_text(now);
    CHECK(text_of_huge.size() <= 512);
    CHECK(TenantReport::from_audit_text(acme, text_of_huge) == huge);
}

// =================================================================================================
// The rules, a day before, on and after each boundary

TEST_CASE("leads are soft-deleted once the tenant's period since their last activity has passed") {
    for (Kind kind : {Kind::memory, Kind::sqlite, Kind::sqlite_encrypted}) {
        CAPTURE(name(kind));
        World w(kind);
        w.lead(acme, "before", 1, now - Days{364});
        w.lead(acme, "on", 2, now - Days{365});
        w.lead(acme, "after", 3, now - Days{366});
        w.lead(acme, "wrote-lately", 4, now - Days{800});
        w.message(acme, "m-late", "wrote-lately", now - Days{10});
        w.lead(acme, "elsewhere", 5, now - Days{800});
        w.lead(globex, "other-tenant", 6, now - Days{800});
        const Policy p = policy_with(Days{365}).with_tenant(globex, {}).value();

        const SweepReport report = w.sweep_ok(p);
        CHECK(w.live(acme, "before"));
        REQUIRE(w.contact(acme, "on"));
        CHECK(w.contact(acme, "on")->deleted_at == now);
        CHECK(w.contact(acme, "after")->deleted_at == now);
        CHECK(w.live(acme, "wrote-lately"));  // a message is activity
        CHECK_FALSE(w.live(acme, "elsewhere"));
        CHECK(w.live(globex, "other-tenant"));  // globex keeps its leads
        CHECK(w.messages_of(acme, "wrote-lately") == 1);
        CHECK(report.total(Category::lead).soft_deleted == 3);
        CHECK(report.total(Category::lead).hard_deleted == 0);

        // A day later, "before" is due too; the soft-deleted ones stay soft-deleted for 30 days.
        w.clock.set(now + Days{1});
        auto sweeper = Sweeper::create(p, w.retention(), w.log(), w.clock, w.setup()).value();
        auto next = sweeper.run(now + Days{1});
        REQUIRE(next.has_value());
        CHECK_FALSE(w.live(acme, "before"));
        CHECK(w.contact(acme, "on").has_value());
    }
}

TEST_CASE("soft-deleted leads are hard-deleted with their messages 30 days after the soft delete") {
    for (Kind kind : {Kind::memory, Kind::sqlite, Kind::sqlite_encrypted}) {
        CAPTURE(name(kind));
        World w(kind);
        for (auto [id, age] : {std::pair{"before", 29}, {"on", 30}, {"after", 31}}) {
            w.lead(acme, id, age, now - Days{100}, "direct", now - Days{age});
            w.message(acme, std::string(id) + "-1", id, now - Days{100});
            w.message(acme, std::string(id) + "-2", id, now - Days{99}, storage::Direction::outbound);
        }
        const SweepReport report = w.sweep_ok(Policy::defaults());
        CHECK(w.contact(acme, "before").has_value());
        CHECK(w.messages_of(acme, "before") == 2);
        CHECK_FALSE(w.contact(acme, "on").has_value());
        CHECK_FALSE(w.contact(acme, "after").has_value());
        CHECK(w.messages_of(acme, "on") == 0);
        CHECK(w.messages_of(acme, "after") == 0);
        CHECK(report.total(Category::lead).hard_deleted == 2);
        CHECK(report.total(Category::lead).cascaded == 4);
        if (w.file() != nullptr) {
            // The cascade left nothing behind in the file's tables either.
            sqlite3* db = nullptr;
            REQUIRE(sqlite3_open(w.file()->str().c_str(), &db) == SQLITE_OK);
            sqlite3_stmt* st = nullptr;
            REQUIRE(sqlite3_prepare_v2(db, "SELECT count(*) FROM messages WHERE contact_id IN ('on', 'after')", -1, &st,
                                       nullptr) == SQLITE_OK);
            REQUIRE(sqlite3_step(st) == SQLITE_ROW);
            CHECK(sqlite3_column_int(st, 0) == 0);
            sqlite3_finalize(st);
            sqlite3_close(db);
        }
    }
}

TEST_CASE("messages go after the tenant's shorter setting while their lead stays") {
    for (Kind kind : {Kind::memory, Kind::sqlite, Kind::sqlite_encrypted}) {
        CAPTURE(name(kind));
        World w(kind);
        w.lead(acme, "lead", 1, now - Days{5});  // active: the lead stays
        w.message(acme, "m-before", "lead", now - Days{89});
        w.message(acme, "m-on", "lead", now - Days{90});
        w.message(acme, "m-after", "lead", now - Days{91}, storage::Direction::outbound);
        const SweepReport report = w.sweep_ok(policy_with(Days{365}, Days{90}));
        auto left = w.stores().messages().list_for_contact(acme, ContactId{"lead"}, 10);
        REQUIRE(left.has_value());
        REQUIRE(left->size() == 1);
        CHECK(left->front().id == MessageId{"m-before"});
        CHECK(w.live(acme, "lead"));
        CHECK(report.total(Category::message).hard_deleted == 2);
    }
}

TEST_CASE("audit entries are purged once a year old, and the chain still verifies") {
    for (Kind kind : {Kind::memory, Kind::sqlite, Kind::sqlite_encrypted}) {
        CAPTURE(name(kind));
        World w(kind);
        w.audit_at(acme, now - Days{366}, "after");
        w.audit_at(acme, now - Days{365}, "on");
        w.audit_at(acme, now - Days{364}, "before");
        const SweepReport report = w.sweep_ok(Policy::defaults());
        CHECK(report.total(Category::audit_log).purged == 2);
        std::vector<std::string> left;
        for (const auto& e : w.entries(acme))
            if (e.action == "read") left.push_back(e.target_id);
        CHECK(left == std::vector<std::string>{"before"});
        auto verified = w.log().verify(acme);
        REQUIRE(verified.has_value());
        CHECK(verified->intact());
    }
}

TEST_CASE("a closed account's data goes 30 days after closure, except opt-outs and what a hold keeps") {
    for (Kind kind : {Kind::memory, Kind::sqlite, Kind::sqlite_encrypted}) {
        CAPTURE(name(kind));
        World w(kind);
        const TenantId before{"t-before"}, on{"t-on"}, after{"t-after"};
        int n = 0;
        for (auto [tenant, age] : {std::pair{before, 29}, {on, 30}, {after, 31}}) {
            w.account(tenant, now - Days{age});
            w.lead(tenant, "live", ++n, now - Days{1});
            w.message(tenant, "live-m", "live", now - Days{1});
            w.lead(tenant, "soft", ++n, now - Days{2}, "direct", now - Days{2});
            w.lead(tenant, "held", ++n, now - Days{3}, "direct", std::nullopt, true);
            w.message(tenant, "held-m", "held", now - Days{3});
            w.consent(tenant, n - 2, now - Days{1});
            w.consent(tenant, n, now - Days{3});  // the held lead's number
            w.inbound(tenant, n - 2, now - Days{1});
            w.inbound(tenant, n, now - Days{3});
            REQUIRE(w.stores().dedup().remember(tenant, "wamid." + std::to_string(n), now - Days{1}).value());
            w.optout(tenant, n - 2, now - Days{1});
            w.optout(tenant, n, now - Days{3});  // the held lead's number
            w.request(tenant, "req-1", "live", now - Days{5});
            w.audit_at(tenant, now - Days{10}, "live");
        }
        const SweepReport report = w.sweep_ok(Policy::defaults());
        for (const TenantId& t : {before, on, after}) {
            CAPTURE(t.value());
            const bool gone = t != before;
            CHECK(w.contact(t, "live").has_value() == !gone);
            CHECK(w.contact(t, "soft").has_value() == !gone);
            CHECK(w.contact(t, "held").has_value());  // legal hold beats termination
            CHECK(w.messages_of(t, "held") == 1);
            // Opt-out records are never deleted; at termination they are kept as keyed hashes,
            // except the held lead's, which stays as it was.
            CHECK(w.optouts_of(t) + w.erased_of(t) == 2);
            CHECK(w.optouts_of(t) == (gone ? 1u : 2u));
            // The request register names its subjects: account data, gone at termination.
            CHECK(w.requests_of(t) == (gone ? 0u : 1u));
            std::size_t consents = 0, inbound = 0;
            REQUIRE(w.stores().consents().scan(t, [&](const storage::ConsentRecord&) { ++consents; }).has_value());
            REQUIRE(w.stores().activity().scan(t, [&](const PhoneNumber&, Timestamp) { ++inbound; }).has_value());
            CHECK(consents == (gone ? 1u : 2u));  // the held lead's number keeps its consent
            CHECK(inbound == (gone ? 1u : 2u));
            auto dedup = w.stores().dedup().remember(t, "probe-" + t.value(), now);  // table still usable
            REQUIRE(dedup.has_value());
            CHECK(*dedup);
            // The audit trail keeps its year, as security evidence.
            CHECK_FALSE(w.entries(t, "read").empty());
        }
        CHECK(report.tenants.size() == 3);
        for (const TenantReport& t : report.tenants) {
            CHECK(t.terminated == (t.tenant != before));
            if (!t.terminated) continue;
            CHECK(t[Category::lead].hard_deleted == 2);
            CHECK(t[Category::lead].cascaded == 1);
            CHECK(t[Category::lead].held == 1);
            CHECK(t[Category::account].hard_deleted == 3);  // a consent, an inbound time, a request
            CHECK(t[Category::account].held == 2);          // the held lead's consent and inbound time
            CHECK(t[Category::webhook_key].hard_deleted == 1);  // seen a day ago: only termination takes it
            CHECK(t[Category::optout_record] == Counts{.held = 1, .hashed = 1});
        }
        // The webhook keys of terminated tenants are gone: remembering one again says "new".
        CHECK(w.stores().dedup().remember(on, "wamid.6", now).value());
        CHECK_FALSE(w.stores().dedup().remember(before, "wamid.3", now).value());
    }
}

TEST_CASE("webhook keys go 30 days after they were seen, so the de-duplication table does not grow forever") {
    for (Kind kind : {Kind::memory, Kind::sqlite, Kind::sqlite_encrypted}) {
        CAPTURE(name(kind));
        World w(kind);
        auto& dedup = w.stores().dedup();
        REQUIRE(dedup.remember(acme, "wamid.before", now - Days{29}).value());
        REQUIRE(dedup.remember(acme, "wamid.on", now - Days{30}).value());
        REQUIRE(dedup.remember(acme, "wamid.after", now - Days{31}).value());
        REQUIRE(dedup.remember(acme, "wamid.recent", now - Days{1}).value());
        REQUIRE(dedup.remember(globex, "wamid.elsewhere", now - Days{400}).value());
        // The default policy: no customer setting is needed for this rule.
        const SweepReport report = w.sweep_ok(Policy::defaults(), {.batch_size = 2});
        CHECK(report.total(Category::webhook_key).hard_deleted == 3);
        // remember() says "new" for a key that is gone and "seen" for one that is kept.
        CHECK_FALSE(dedup.remember(acme, "wamid.before", now).value());
        CHECK_FALSE(dedup.remember(acme, "wamid.recent", now).value());
        CHECK(dedup.remember(acme, "wamid.on", now).value());
        CHECK(dedup.remember(acme, "wamid.after", now).value());
        CHECK(dedup.remember(globex, "wamid.elsewhere", now).value());
        // A second sweep at the same time finds nothing more.
        CHECK(w.sweep_ok(Policy::defaults()).total(Category::webhook_key).hard_deleted == 0);
    }
}

// =================================================================================================
// Legal hold, opt-outs, cascade, analytics

TEST_CASE("a legal hold on a lead keeps it and its messages through every rule") {
    for (Kind kind : {Kind::memory, Kind::sqlite, Kind::sqlite_encrypted}) {
        CAPTURE(name(kind));
        World w(kind);
        w.lead(acme, "inactive-held", 1, now - Days{900}, "direct", std::nullopt, true);
        w.message(acme, "old-m", "inactive-held", now - Days{900});
        w.lead(acme, "soft-held", 2, now - Days{900}, "direct", now - Days{60}, true);
        w.lead(acme, "inactive", 3, now - Days{900});
        const SweepReport report = w.sweep_ok(policy_with(Days{365}, Days{30}));
        CHECK(w.live(acme, "inactive-held"));
        CHECK(w.messages_of(acme, "inactive-held") == 1);
        CHECK(w.contact(acme, "soft-held").has_value());
        CHECK_FALSE(w.live(acme, "inactive"));
        const TenantReport& t = report.tenants.at(0);
        CHECK(t[Category::lead].held == 2);
        CHECK(t[Category::lead].soft_deleted == 1);
        CHECK(t[Category::message].held == 1);
    }
}

TEST_CASE("a legal hold on a tenant keeps all its data, even after termination, and is counted") {
    for (Kind kind : {Kind::memory, Kind::sqlite, Kind::sqlite_encrypted}) {
        CAPTURE(name(kind));
        World w(kind);
        w.account(acme, now - Days{90}, /*hold=*/true);
        w.lead(acme, "l1", 1, now - Days{900});
        w.message(acme, "m1", "l1", now - Days{900});
        w.lead(acme, "l2", 2, now - Days{900}, "direct", now - Days{60});
        w.consent(acme, 1, now - Days{900});
        w.audit_at(acme, now - Days{500}, "l1");
        w.account(globex, std::nullopt, /*hold=*/true);
        w.lead(globex, "g1", 3, now - Days{900}, "direct", now - Days{60});
        w.audit_at(globex, now - Days{500}, "g1");
        const std::string before = w.snapshot({acme, globex});
        const SweepReport report = w.sweep_ok(policy_with(Days{365}));
        std::string after = w.snapshot({acme, globex});
        // Only the sweep's own audit entries were added.
        for (std::size_t at; (at = after.find(" audit retention.sweep")) != std::string::npos;)
            after.erase(at, after.find('\n', at) - at + 1);
        CHECK(after == before);
        REQUIRE(report.tenants.size() == 2);
        const TenantReport& a = report.tenants[0];
        CHECK(a.held);
        CHECK(a.terminated);
        CHECK(a[Category::lead].held == 2);
        CHECK(a[Category::account].held == 1);
        CHECK(a[Category::audit_log].held == 1);
        CHECK(a[Category::lead].hard_deleted == 0);
        const TenantReport& g = report.tenants[1];
        CHECK(g.held);
        CHECK(g[Category::lead].held == 1);
        CHECK(g[Category::audit_log].held == 1);
    }
}

TEST_CASE("opt-out records survive every sweep") {
    for (Kind kind : {Kind::memory, Kind::sqlite, Kind::sqlite_encrypted}) {
        CAPTURE(name(kind));
        World w(kind);
        seed(w);
        const std::size_t before[] = {w.optouts_of(acme), w.optouts_of(globex), w.optouts_of(initech)};
        CHECK(w.erased_of(initech) == 0);
        for (int i = 0; i < 3; ++i) {
            w.clock.set(now + Days{400 * i});
            auto sweeper = Sweeper::create(seeded_policy(), w.retention(), w.log(), w.clock, w.setup()).value();
            REQUIRE(sweeper.run(now + Days{400 * i}).has_value());
        }
        CHECK(w.optouts_of(acme) == before[0]);
        CHECK(w.optouts_of(globex) == before[1]);
        // initech was terminated: every event survives, as a keyed hash except the held lead's.
        CHECK(w.optouts_of(initech) == 1);
        CHECK(w.optouts_of(initech) + w.erased_of(initech) == before[2]);
        CHECK(before[0] == 2);
        // Everything else of acme that could go did (its leads are all inactive by now), but
        // the held lead remains.
        auto left = w.stores().contacts().list(acme, {"", 100});
        REQUIRE(left.has_value());
        REQUIRE(left->size() == 1);
        CHECK(left->front().id == ContactId{"a19"});
    }
}

TEST_CASE("no target may take opt-out records, the audit log or analytics") {
    storage::MemoryStore store;
    ManualClock clock{now};
    audit::Log log(store.audit(), clock);
    Target* contacts = store.retention().targets().at(0).target;
    auto with = [&](Category c) {
        Sweeper::Setup setup;
        setup.name = "host";
        setup.extra_targets = {{contacts, c}};
        return Sweeper::create(Policy::defaults(), store.retention(), log, clock, setup);
    };
    auto code = [](const auto& result) { return result ? std::error_code{} : result.error().code(); };
    CHECK(code(with(Category::optout_record)) == RetentionErrc::optout_records_protected);
    CHECK(code(with(Category::audit_log)) == RetentionErrc::invalid_target);
    CHECK(code(with(Category::analytics)) == RetentionErrc::invalid_target);
    CHECK(code(with(Category::lead)) == RetentionErrc::invalid_target);  // the same target twice
    Sweeper::Setup null_target;
    null_target.extra_targets = {{nullptr, Category::lead}};
    CHECK(code(Sweeper::create(Policy::defaults(), store.retention(), log, clock, null_target)) ==
          RetentionErrc::invalid_target);
    auto sweeper = Sweeper::create(Policy::defaults(), store.retention(), log, clock).value();
    CHECK(code(sweeper.run(now, {.batch_size = 0})) == RetentionErrc::invalid_options);
    CHECK(code(sweeper.run(now, {.batch_size = 100'001})) == RetentionErrc::invalid_options);
    CHECK(code(sweeper.run(now, {.batch_size = 100'000})) == std::error_code{});
}

TEST_CASE("deleted rows are folded into daily aggregates by event type and source, without personal data") {
    for (Kind kind : {Kind::memory, Kind::sqlite, Kind::sqlite_encrypted}) {
        CAPTURE(name(kind));
        World w(kind);
        const Timestamp created = now - Days{100};
        w.lead(acme, "l1", 1, created, "integration", now - Days{40});
        w.message(acme, "m1", "l1", created);
        w.message(acme, "m2", "l1", created, storage::Direction::outbound);
        w.message(acme, "m3", "l1", created + Days{1}, storage::Direction::outbound);
        w.lead(acme, "l2", 2, created, "", now - Days{40});
        w.lead(acme, "l3", 3, created, "integration");  // live: not folded
        w.lead(acme, "l4", 4, created, "integration", now - Days{40});  // objected to analytics: left out
        {
            auto l4 = w.stores().contacts().get(acme, ContactId{"l4"}).value().value();
            l4.analytics_objection = true;
            REQUIRE(w.stores().contacts().put(l4).has_value());
        }
        w.message(acme, "m5", "l4", created);
        w.message(acme, "m4", "l3", now - Days{200});   // due by the message setting
        w.sweep_ok(policy_with(std::nullopt, Days{150}));
        const auto d = std::chrono::floor<Days>(created);
        const std::vector<DailyAggregate> expected{
            {acme, d, "lead", "integration", 1},
            {acme, d, "lead", "unknown", 1},
            {acme, d, "message.inbound", "integration", 1},
            {acme, d, "message.outbound", "integration", 1},
            {acme, std::chrono::floor<Days>(now - Days{200}), "message.inbound", "integration", 1},
            {acme, d + Days{1}, "message.outbound", "integration", 1},
        };
        auto got = w.aggregates(acme);
        std::sort(got.begin(), got.end(), [](const DailyAggregate& a, const DailyAggregate& b) {
            return std::tie(a.day, a.event_type, a.source) < std::tie(b.day, b.event_type, b.source);
        });
        auto want = expected;
        std::sort(want.begin(), want.end(), [](const DailyAggregate& a, const DailyAggregate& b) {
            return std::tie(a.day, a.event_type, a.source) < std::tie(b.day, b.event_type, b.source);
        });
        CHECK(got == want);
        for (const auto& a : got) {
            CHECK(a.event_type.find("l1") == std::string::npos);
            CHECK(a.source.find("+1") == std::string::npos);
        }
    }
}

// =================================================================================================
// The sweep: audit entry, idempotence, dry run, crash and rerun, budget

TEST_CASE("every sweep writes one audit entry per tenant with its counts") {
    for (Kind kind : {Kind::memory, Kind::sqlite, Kind::sqlite_encrypted}) {
        CAPTURE(name(kind));
        World w(kind);
        seed(w);
        const SweepReport report = w.sweep_ok(seeded_policy(), {.request_id = "cron-42"});
        REQUIRE(report.complete);
        REQUIRE(report.tenants.size() == 3);
        for (const TenantReport& t : report.tenants) {
            CAPTURE(t.tenant.value());
            const auto entries = w.entries(t.tenant, "retention.sweep");
            REQUIRE(entries.size() == 1);
            const audit::Entry& e = entries.front();
            CHECK(e.actor.is_system());
            CHECK(e.target_type == "retention_sweep");
            CHECK(e.rule == "retention.policy");
            CHECK(e.request_id == "cron-42");
            CHECK(e.policy_revision == "test-7");
            CHECK(TenantReport::from_audit_text(t.tenant, e.target_id) == t);
            auto verified = w.log().verify(t.tenant);
            REQUIRE(verified.has_value());
            CHECK(verified->intact());
        }
        const TenantReport& a = report.tenants[0];
        CHECK(a[Category::message].hard_deleted > 0);
        CHECK(a[Category::lead].soft_deleted == 4);  // a17, a18, a20, a21 (a19 is held)
        CHECK(a[Category::lead].held == 1);
        CHECK(a[Category::lead].hard_deleted == 1);   // a90
        CHECK(a[Category::audit_log].purged == 2);
        CHECK(report.tenants[2].terminated);
    }
}

TEST_CASE("a second sweep at the same time changes nothing but its own audit entries") {
    for (Kind kind : {Kind::memory, Kind::sqlite, Kind::sqlite_encrypted}) {
        CAPTURE(name(kind));
        World w(kind);
        seed(w);
        w.sweep_ok(seeded_policy());
        const std::string first = w.snapshot(seeded_tenants);
        const SweepReport second = w.sweep_ok(seeded_policy());
        for (const TenantReport& t : second.tenants)
            for (std::size_t c = 0; c < category_count; ++c) CHECK(t.counts[c].soft_deleted + t.counts[c].hard_deleted +
                                                                       t.counts[c].cascaded + t.counts[c].purged ==
                                                                   0);
        std::string again = w.snapshot(seeded_tenants);
        // The only difference: one more "retention.sweep" line per tenant.
        std::size_t extra = 0;
        for (std::size_t at = 0; (at = again.find(" audit retention.sweep", at)) != std::string::npos; ++at) ++extra;
        std::size_t before = 0;
        for (std::size_t at = 0; (at = first.find(" audit retention.sweep", at)) != std::string::npos; ++at) ++before;
        CHECK(extra == before + 3);
        CHECK_FALSE(w.journal().has_value());
    }
}

TEST_CASE("a dry run reports exactly what the real run then does, and changes nothing") {
    for (Kind kind : {Kind::memory, Kind::sqlite, Kind::sqlite_encrypted}) {
        CAPTURE(name(kind));
        World w(kind);
        seed(w);
        const std::string before = w.snapshot(seeded_tenants);
        const SweepReport dry = w.sweep_ok(seeded_policy(), {.dry_run = true, .batch_size = 3});
        CHECK(dry.dry_run);
        CHECK(dry.complete);
        CHECK(w.snapshot(seeded_tenants) == before);
        CHECK_FALSE(w.journal().has_value());
        const SweepReport real = w.sweep_ok(seeded_policy(), {.batch_size = 3});
        CHECK(real.tenants == dry.tenants);
        CHECK(real.as_of == dry.as_of);
        CHECK(w.snapshot(seeded_tenants) != before);
    }
}

TEST_CASE("a sweep that crashes on the Nth store call, then runs again, ends as an uninterrupted sweep") {
    for (Kind kind : {Kind::memory, Kind::sqlite, Kind::sqlite_encrypted}) {
        CAPTURE(name(kind));
        const SweepOptions options{.batch_size = 4};
        World reference(kind);
        seed(reference);
        const SweepReport uninterrupted = reference.sweep_ok(seeded_policy(), options);
        const std::string expected = reference.snapshot(seeded_tenants);

        // Every N for the memory store; a spread of N for SQLite (each needs a fresh file).
        const long step = kind == Kind::memory ? 1 : 9;
        long crashes = 0;
        for (long n = 0;; n += step) {
            CAPTURE(n);
            World w(kind);
            seed(w);
            {
                testing::FailingStore failing(w.stores(), w.retention(), n);
                audit::Log log(failing.audit(), w.clock);
                auto sweeper = Sweeper::create(seeded_policy(), failing.retention(), log, w.clock, w.setup()).value();
                auto crashed = sweeper.run(now, options);
                if (crashed) {  // n is past the sweep's last call: it ran through
                    CHECK(crashed->tenants == uninterrupted.tenants);
                    break;
                }
                CHECK(crashed.error() == storage::StorageErrc::unavailable);
                ++crashes;
            }
            // A new process: fresh log and sweeper over the healthy store, a later wall clock.
            World& rerun = w;
            auto report = rerun.sweep(seeded_policy(), options);
            REQUIRE_MESSAGE(report.has_value(), report.error().message());
            CHECK(report->complete);
            CHECK(report->as_of == now);
            CHECK(rerun.snapshot(seeded_tenants) == expected);
            CHECK_FALSE(rerun.journal().has_value());
        }
        CHECK(crashes > 10);
    }
}

TEST_CASE("a time budget stops a sweep between batches; the next runs continue it to the same end") {
    for (Kind kind : {Kind::memory, Kind::sqlite, Kind::sqlite_encrypted}) {
        CAPTURE(name(kind));
        World reference(kind);
        seed(reference);
        reference.sweep_ok(seeded_policy(), {.batch_size = 2});
        const std::string expected = reference.snapshot(seeded_tenants);

        World w(kind);
        seed(w);
        int runs = 0;
        std::vector<Progress> seen;
        for (;;) {
            ++runs;
            REQUIRE(runs < 100);
            SweepOptions options{.batch_size = 2, .time_budget = 3s};
            // Each batch "takes" a second on the sweeper's clock.
            options.progress = [&](const Progress& p) {
                seen.push_back(p);
                w.clock.advance(1s);
                return true;
            };
            auto sweeper = Sweeper::create(seeded_policy(), w.retention(), w.log(), w.clock, w.setup()).value();
            auto report = sweeper.run(runs == 1 ? now : now + Days{runs}, options);  // a resumed sweep keeps its own time
            REQUIRE(report.has_value());
            CHECK(report->as_of == now);
            CHECK(report->resumed == (runs > 1));
            if (report->complete) break;
            CHECK(w.journal().has_value());
        }
        CHECK(runs > 3);
        CHECK(w.snapshot(seeded_tenants) == expected);
        REQUIRE_FALSE(seen.empty());
        CHECK(seen.front().tenant == acme);
        CHECK(seen.front().total.has_value());
        CHECK(std::any_of(seen.begin(), seen.end(), [](const Progress& p) { return p.target == "contacts"; }));
    }
}

TEST_CASE("the progress callback can stop a sweep, and a dry run resumes from the journal like a real one") {
    World w(Kind::memory);
    seed(w);
    int batches = 0;
    SweepOptions stop_early{.batch_size = 2};
    stop_early.progress = [&](const Progress&) { return ++batches < 2; };
    const SweepReport partial = w.sweep_ok(seeded_policy(), stop_early);
    CHECK_FALSE(partial.complete);
    CHECK(batches == 2);
    REQUIRE(w.journal().has_value());
    const SweepReport dry = w.sweep_ok(seeded_policy(), {.dry_run = true, .batch_size = 2});
    CHECK(dry.resumed);
    CHECK(w.journal().has_value());  // a dry run leaves the journal as it was
    const SweepReport rest = w.sweep_ok(seeded_policy(), {.batch_size = 2});
    CHECK(rest.resumed);
    CHECK(rest.tenants == dry.tenants);
    CHECK_FALSE(w.journal().has_value());
}

TEST_CASE("an unreadable journal fails the sweep with corrupt_journal, changing nothing") {
    World w(Kind::sqlite);
    seed(w);
    REQUIRE(w.retention().journal().save("retention", "{not json").has_value());
    const std::string before = w.snapshot(seeded_tenants);
    auto report = w.sweep(seeded_policy());
    REQUIRE_FALSE(report.has_value());
    CHECK(report.error() == RetentionErrc::corrupt_journal);
    CHECK(w.snapshot(seeded_tenants) == before);
}

namespace {

/// A host's own table: "deals" of leads, deleted with the lead-data rules, not journaling its
/// progress itself. One row is offered although it is not due: the sweeper must not delete it.
class Deals final : public Target {
public:
    struct Deal {
        std::string id;
        Timestamp active;
        std::optional<Timestamp> deleted;
        bool hold = false;
    };
    std::map<std::string, Deal> rows;

    std::string_view name() const noexcept override { return "deals"; }
    Result<CandidatePage> candidates(const TenantId& tenant, Selection sel, Timestamp cutoff, std::string_view after,
                                     std::size_t limit) const override {
        CandidatePage page;
        page.next = std::string(after);
        if (tenant != acme) return page;
        for (auto it = rows.upper_bound(std::string(after)); it != rows.end(); ++it) {
            if (page.rows.size() == limit) {
                page.more = true;
                break;
            }
            const Deal& d = it->second;
            page.next = d.id;
            if (sel == Selection::expired && !d.deleted && (d.active <= cutoff || d.id == "not-due"))
                page.rows.push_back({d.id, d.active, d.hold, 0});
            if (sel == Selection::soft_deleted && d.deleted && *d.deleted <= cutoff)
                page.rows.push_back({d.id, *d.deleted, d.hold, 0});
            if (sel == Selection::all) page.rows.push_back({d.id, d.active, d.hold, 0});
        }
        return page;
    }
    Result<std::int64_t> count(const TenantId&, Selection, Timestamp) const override {
        return static_cast<std::int64_t>(rows.size());
    }
    Result<Change> soft_delete(const Batch& b) override {
        Change c;
        for (const auto& id : b.ids)
            if (auto it = rows.find(id); it != rows.end() && !it->second.deleted && !it->second.hold) {
                it->second.deleted = b.at;
                ++c.rows;
            }
        return c;
    }
    Result<Change> hard_delete(const Batch& b) override {
        Change c;
        for (const auto& id : b.ids)
            if (auto it = rows.find(id); it != rows.end() && !it->second.hold) {
                rows.erase(it);
                ++c.rows;
            }
        return c;
    }
};

}  // namespace

TEST_CASE("a host's own table is swept by the same rules through its target") {
    World w(Kind::sqlite);
    w.account(acme, std::nullopt);  // the host registers its tenants: the store holds none of acme's rows
    Deals deals;
    deals.rows = {{"inactive", {"inactive", now - Days{400}, std::nullopt}},
                  {"active", {"active", now - Days{10}, std::nullopt}},
                  {"not-due", {"not-due", now - Days{10}, std::nullopt}},
                  {"old-soft", {"old-soft", now - Days{400}, now - Days{31}}},
                  {"held", {"held", now - Days{400}, std::nullopt, true}}};
    Sweeper::Setup setup = w.setup();
    setup.extra_targets = {{&deals, Category::lead}};
    auto sweeper = Sweeper::create(policy_with(Days{365}), w.retention(), w.log(), w.clock, setup).value();
    auto report = sweeper.run(now, {.batch_size = 2});
    REQUIRE(report.has_value());
    CHECK(deals.rows.at("inactive").deleted == now);
    CHECK_FALSE(deals.rows.at("active").deleted.has_value());
    CHECK_FALSE(deals.rows.at("not-due").deleted.has_value());
    CHECK(deals.rows.count("old-soft") == 0);
    CHECK_FALSE(deals.rows.at("held").deleted.has_value());
    REQUIRE(report->tenants.size() == 1);
    CHECK(report->tenants[0][Category::lead].soft_deleted == 1);
    CHECK(report->tenants[0][Category::lead].hard_deleted == 1);
    CHECK(report->tenants[0][Category::lead].held == 1);
    CHECK_FALSE(w.journal().has_value());
}

TEST_CASE("the schema has the retention tables, and every new table but the sweep journal is scoped by tenant") {
    World w(Kind::sqlite);
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(w.file()->str().c_str(), &db) == SQLITE_OK);
    auto one = [&](const char* sql) {
        sqlite3_stmt* st = nullptr;
        REQUIRE(sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK);
        REQUIRE(sqlite3_step(st) == SQLITE_ROW);
        std::string out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        return out;
    };
    CHECK(one("PRAGMA user_version") == std::to_string(storage::SqliteStore::schema_version));
    CHECK(one("SELECT count(*) FROM sqlite_master WHERE name IN ('accounts', 'analytics_daily', 'retention_sweeps',"
              " 'contacts_soft_deleted', 'contacts_held_by_phone')") == "5");
    // The sweep's listing of soft-deleted leads uses its partial index.
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "EXPLAIN QUERY PLAN SELECT id FROM contacts WHERE tenant = 'a' AND id > ''"
                               " AND deleted_at_ms IS NOT NULL AND deleted_at_ms <= 5 ORDER BY id", -1, &st, nullptr) == SQLITE_OK);
    std::string plan;
    while (sqlite3_step(st) == SQLITE_ROW) plan += reinterpret_cast<const char*>(sqlite3_column_text(st, 3));
    sqlite3_finalize(st);
    CHECK(plan.find("contacts_soft_deleted") != std::string::npos);
    sqlite3_close(db);
}

TEST_CASE("ids that are not UTF-8 survive the journal") {
    for (Kind kind : {Kind::memory, Kind::sqlite, Kind::sqlite_encrypted}) {
        CAPTURE(name(kind));
        World w(kind);
        const TenantId odd{std::string("t\xff;\"x", 5)};
        for (int i = 0; i < 4; ++i)
            w.lead(odd, std::string("c\xfe\"") + std::to_string(i), i, now - Days{100}, "direct", now - Days{40});
        SweepOptions stop{.batch_size = 1};
        stop.progress = [](const Progress&) { return false; };
        const SweepReport first = w.sweep_ok(Policy::defaults(), stop);
        CHECK_FALSE(first.complete);
        REQUIRE(w.journal().has_value());
        const SweepReport rest = w.sweep_ok(Policy::defaults());
        CHECK(rest.complete);
        CHECK(rest.resumed);
        REQUIRE(rest.tenants.size() == 1);
        CHECK(rest.tenants[0].tenant == odd);
        CHECK(rest.tenants[0][Category::lead].hard_deleted == 4);  // the interrupted run's one included
        auto left = w.stores().contacts().list(odd, {"", 10});
        REQUIRE(left.has_value());
        CHECK(left->empty());
    }
}

TEST_CASE("a dry run after a crash in any phase changes nothing, and the real run then finishes the sweep") {
    World reference(Kind::memory);
    seed(reference);
    reference.sweep_ok(seeded_policy());
    const std::string expected = reference.snapshot(seeded_tenants);
    std::set<std::string> phases;
    for (long n = 0;; ++n) {
        CAPTURE(n);
        World w(Kind::memory);
        seed(w);
        {
            testing::FailingStore failing(w.stores(), w.retention(), n);
            audit::Log log(failing.audit(), w.clock);
            auto sweeper = Sweeper::create(seeded_policy(), failing.retention(), log, w.clock, w.setup()).value();
            if (sweeper.run(now).has_value()) break;
        }
        if (auto journal = w.journal()) {
            for (const char* phase : {"data", "audit", "record"})
                if (journal->find(std::string("\"phase\":\"") + phase + "\"") != std::string::npos) phases.insert(phase);
        }
        const std::string before = w.snapshot(seeded_tenants);
        const auto journal_before = w.journal();
        REQUIRE(w.sweep(seeded_policy(), {.dry_run = true}).has_value());
        CHECK(w.snapshot(seeded_tenants) == before);
        CHECK(w.journal() == journal_before);
        REQUIRE(w.sweep(seeded_policy()).has_value());
        CHECK(w.snapshot(seeded_tenants) == expected);
    }
    CHECK(phases == std::set<std::string>{"audit", "data", "record"});  // every phase was interrupted
}

// =================================================================================================
// Termination: opt-out records kept only as keyed hashes

namespace {

/// A tenant terminated 40 days ago: a held lead (number 1) and a lead (number 2) with opt-outs,
/// numbers that never were leads, a number with three events, one that opted back in.
const TenantId hooli{"hooli"};
void seed_terminated(World& w) {
    w.account(hooli, now - Days{40});
    w.lead(hooli, "held", 1, now - Days{50}, "direct", std::nullopt, true);
    w.lead(hooli, "gone", 2, now - Days{50});
    for (int n : {1, 2, 3, 4, 4, 5, 1, 6, 7, 4, 8}) w.optout(hooli, n, now - Days{60} + std::chrono::minutes{n});
    optout::OptOutEvent back(hooli, phone(3));
    back.kind = optout::EventKind::opt_in;
    back.at = now - Days{45};
    back.trigger = "START";
    REQUIRE(w.stores().optouts().append(back).value());
    w.optout(globex, 30, now - Days{60});  // another tenant's, open account: untouched
}
constexpr std::int64_t hooli_plain_events = 12;  // 11 opt-outs and an opt-in
constexpr std::int64_t hooli_held_events = 2;    // number 1's

std::string file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("at termination opt-out records are kept only as keyed hashes, and every number stays suppressed") {
    for (Kind kind : {Kind::memory, Kind::sqlite, Kind::sqlite_encrypted}) {
        CAPTURE(name(kind));
        World w(kind);
        seed_terminated(w);
        const SweepReport dry = w.sweep_ok(Policy::defaults(), {.dry_run = true, .batch_size = 2});
        CHECK(w.optouts_of(hooli) == static_cast<std::size_t>(hooli_plain_events));
        const SweepReport report = w.sweep_ok(Policy::defaults(), {.batch_size = 2});  // several passes
        CHECK(report.tenants == dry.tenants);
        auto it = std::find_if(report.tenants.begin(), report.tenants.end(),
                               [](const TenantReport& t) { return t.tenant == hooli; });
        REQUIRE(it != report.tenants.end());
        CHECK((*it)[Category::optout_record] ==
              Counts{.held = hooli_held_events, .hashed = hooli_plain_events - hooli_held_events});

        // Only the held lead's number is still plain; every other event is there by its tag.
        std::vector<optout::OptOutEvent> plain;
        REQUIRE(w.stores().optouts().scan(hooli, [&](const optout::OptOutEvent& e) { plain.push_back(e); }).has_value());
        REQUIRE(plain.size() == 2);
        for (const auto& e : plain) CHECK(e.phone == phone(1));
        std::vector<optout::ErasedOptOutEvent> hashed;
        REQUIRE(w.stores().optouts().scan_erased(hooli, [&](const optout::ErasedOptOutEvent& e) { hashed.push_back(e); })
                    .has_value());
        CHECK(hashed.size() == static_cast<std::size_t>(hooli_plain_events - hooli_held_events));
        std::set<optout::NumberTag> tags;
        for (const auto& e : hashed) tags.insert(e.tag);
        std::set<optout::NumberTag> expected;
        for (int n = 2; n <= 8; ++n) expected.insert(w.index().phone(hooli, phone(n)).value());
        CHECK(tags == expected);
        CHECK(w.optouts_of(globex) == 1);
        CHECK(w.erased_of(globex) == 0);

        // A new engine over the store (a restart) with the same index still refuses them.
        EngineOptions options;
        options.blind_index = &w.index();
        Engine engine(w.stores(), w.clock, options);
        for (int n : {1, 2, 4, 5, 6, 7, 8}) {
            CAPTURE(n);
            CHECK(engine.check_send(hooli, phone(n), messaging::MessageKind::utility_template).reason() ==
                  Reason::opted_out);
        }
        CHECK(engine.check_send(hooli, phone(3), messaging::MessageKind::utility_template).allowed());  // opted in
        CHECK(engine.check_send(hooli, phone(9), messaging::MessageKind::utility_template).allowed());

        // Idempotent: a second sweep has nothing left to reduce.
        const SweepReport again = w.sweep_ok(Policy::defaults(), {.batch_size = 2});
        for (const TenantReport& t : again.tenants)
            if (t.tenant == hooli) CHECK(t[Category::optout_record] == Counts{.held = hooli_held_events});

        if (kind == Kind::sqlite) {  // no trace of the numbers left in the file
            REQUIRE(w.stores().scrub().has_value());
            const std::string bytes = file_bytes(w.file()->str()) + file_bytes(w.file()->str() + "-wal");
            CHECK(bytes.find(phone(1).e164()) != std::string::npos);   // held: kept
            CHECK(bytes.find(phone(30).e164()) != std::string::npos);  // another tenant's: kept
            for (int n = 2; n <= 8; ++n) {
                CAPTURE(n);
                CHECK(bytes.find(phone(n).e164()) == std::string::npos);
            }
        }
    }
}

TEST_CASE("a terminated tenant's plain opt-outs without a blind index fail the sweep, a dry run too") {
    for (Kind kind : {Kind::memory, Kind::sqlite}) {
        CAPTURE(name(kind));
        World w(kind);
        seed_terminated(w);
        for (bool dry : {true, false}) {
            auto sweeper = Sweeper::create(Policy::defaults(), w.retention(), w.log(), w.clock).value();
            auto report = sweeper.run(now, {.dry_run = dry});
            REQUIRE_FALSE(report.has_value());
            CHECK(report.error() == RetentionErrc::key_unavailable);
            CHECK(report.error().message().find("hooli") != std::string::npos);
        }
        CHECK(w.optouts_of(hooli) == static_cast<std::size_t>(hooli_plain_events));  // nothing reduced
        // With the index, the interrupted sweep finishes.
        const SweepReport report = w.sweep_ok(Policy::defaults());
        CHECK(report.resumed);
        CHECK(w.optouts_of(hooli) == static_cast<std::size_t>(hooli_held_events));
    }
}

TEST_CASE("without a blind index, a terminated tenant with nothing to reduce is swept") {
    World w(Kind::memory);
    w.account(hooli, now - Days{40});
    w.lead(hooli, "held", 1, now - Days{50}, "direct", std::nullopt, true);
    w.optout(hooli, 1, now - Days{60});  // the held lead's: stays plain, needs no key
    w.lead(hooli, "gone", 2, now - Days{50});
    auto sweeper = Sweeper::create(Policy::defaults(), w.retention(), w.log(), w.clock).value();
    auto report = sweeper.run(now);
    REQUIRE(report.has_value());
    CHECK(report->total(Category::optout_record) == Counts{.held = 1});
    CHECK_FALSE(w.contact(hooli, "gone").has_value());
    // A tenant hold: nothing is reduced, so nothing needs the key either.
    World held(Kind::memory);
    seed_terminated(held);
    held.account(hooli, now - Days{40}, true);
    auto other = Sweeper::create(Policy::defaults(), held.retention(), held.log(), held.clock).value();
    auto kept = other.run(now);
    REQUIRE(kept.has_value());
    CHECK(kept->total(Category::optout_record) == Counts{.held = hooli_plain_events});
    CHECK(held.optouts_of(hooli) == static_cast<std::size_t>(hooli_plain_events));
}

TEST_CASE("a crash anywhere in the opt-out step, then a rerun, ends as an uninterrupted sweep") {
    for (Kind kind : {Kind::memory, Kind::sqlite}) {
        CAPTURE(name(kind));
        const SweepOptions options{.batch_size = 2};
        World reference(kind);
        seed_terminated(reference);
        const SweepReport uninterrupted = reference.sweep_ok(Policy::defaults(), options);
        const std::vector<TenantId> tenants{globex, hooli};
        const std::string expected = reference.snapshot(tenants);

        long crashes = 0;
        for (long n = 0;; n += kind == Kind::memory ? 1 : 3) {
            CAPTURE(n);
            World w(kind);
            seed_terminated(w);
            {
                testing::FailingStore failing(w.stores(), w.retention(), n);
                audit::Log log(failing.audit(), w.clock);
                auto sweeper = Sweeper::create(Policy::defaults(), failing.retention(), log, w.clock, w.setup()).value();
                auto crashed = sweeper.run(now, options);
                if (crashed) {
                    CHECK(crashed->tenants == uninterrupted.tenants);
                    break;
                }
                ++crashes;
            }
            // A dry run of the rest reports what the rerun then does.
            const SweepReport dry = w.sweep_ok(Policy::defaults(), {.dry_run = true, .batch_size = 2});
            const SweepReport rerun = w.sweep_ok(Policy::defaults(), options);
            CHECK(rerun.tenants == dry.tenants);
            if (!rerun.tenants.empty()) CHECK(rerun.tenants == uninterrupted.tenants);  // else: crashed once done
            CHECK(w.snapshot(tenants) == expected);
        }
        CHECK(crashes > 10);
    }
}

// =================================================================================================
// Audit purge and contact holds

TEST_CASE("audit entries about a lead under legal hold outlive their year; the rest of the prefix after them waits") {
    for (Kind kind : {Kind::memory, Kind::sqlite}) {
        CAPTURE(name(kind));
        World w(kind);
        const std::string key(32, 'k');
        w.lead(acme, "held", 1, now - Days{800}, "direct", std::nullopt, true);
        w.lead(acme, "free", 2, now - Days{800});
        w.audit_at(acme, now - Days{500}, "free");
        // The held lead's number named by its pseudonym (as the engine names a number).
        w.clock.set(now - Days{400});
        audit::Entry by_pseudonym;
        by_pseudonym.tenant = acme;
        by_pseudonym.actor = audit::Actor::system();
        by_pseudonym.action = "optout.record";
        by_pseudonym.target_type = "contact";
        by_pseudonym.target_id = audit::phone_pseudonym(key, phone(1));
        REQUIRE(w.log().append(by_pseudonym).has_value());
        w.clock.set(now);
        w.audit_at(acme, now - Days{366}, "held");  // due a day before the sweep ...
        w.audit_at(acme, now - Days{365}, "free");  // ... and this one on the day
        w.audit_at(acme, now - Days{364}, "free");  // not due

        auto sweep_at = [&](Timestamp at, std::string audit_key) {
            w.clock.set(at);
            Sweeper::Setup setup = w.setup();
            setup.audit_key = std::move(audit_key);
            auto sweeper = Sweeper::create(Policy::defaults(), w.retention(), w.log(), w.clock, setup).value();
            auto report = sweeper.run(at);
            REQUIRE(report.has_value());
            return report->total(Category::audit_log);
        };
        auto read_targets = [&] {
            std::vector<std::string> out;
            for (const auto& e : w.entries(acme))
                if (e.action == "read" || e.action == "optout.record") out.push_back(e.target_id);
            return out;
        };
        // Without the audit key a held lead's pseudonym cannot be told from another's: while a
        // lead is held, any entry naming a number by pseudonym stops the purge (fail closed).
        const std::string pseudonym = by_pseudonym.target_id;
        CHECK(sweep_at(now - Days{1}, "") == Counts{.held = 2, .purged = 1});  // only the 500-day one goes
        CHECK(read_targets() == std::vector<std::string>{pseudonym, "held", "free", "free"});

        World v(kind);  // the same trail, swept with the key: the pseudonym's entry is held too
        v.lead(acme, "held", 1, now - Days{800}, "direct", std::nullopt, true);
        v.audit_at(acme, now - Days{500}, "free");
        v.clock.set(now - Days{400});
        REQUIRE(v.log().append(by_pseudonym).has_value());
        v.clock.set(now);
        Sweeper::Setup setup = v.setup();
        setup.audit_key = key;
        auto keyed = Sweeper::create(Policy::defaults(), v.retention(), v.log(), v.clock, setup).value().run(now);
        REQUIRE(keyed.has_value());
        CHECK(keyed->total(Category::audit_log) == Counts{.held = 1, .purged = 1});

        // On the day, after it: the held lead's entries stay, and so do the due ones after them.
        CHECK(sweep_at(now, key) == Counts{.held = 3});
        CHECK(sweep_at(now + Days{1}, key) == Counts{.held = 4});
        CHECK(read_targets() == std::vector<std::string>{pseudonym, "held", "free", "free"});
        auto verified = w.log().verify(acme);
        REQUIRE(verified.has_value());
        CHECK(verified->intact());

        // Once the hold is lifted, the next sweep purges what was kept.
        auto lead = w.contact(acme, "held").value();
        lead.legal_hold = false;
        REQUIRE(w.stores().contacts().put(lead).has_value());
        CHECK(sweep_at(now + Days{1}, key).purged == 4);
        CHECK(read_targets().empty());
    }
}
