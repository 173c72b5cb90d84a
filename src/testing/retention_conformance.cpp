// The retention conformance suite (include/heroshhi/testing/retention_conformance.hpp): the
// contract of retention/target.hpp, journal.hpp, aggregates.hpp and storage/account_store.hpp,
// checked on the library's own tables, case by case.
#include <heroshhi/privacy/request.hpp>
#include <heroshhi/storage/errors.hpp>
#include <heroshhi/storage/store_set.hpp>
#include <heroshhi/testing/retention_conformance.hpp>

#include "detail/expect.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <map>
#include <set>

namespace heroshhi::testing {
namespace {

using heroshhi::testing::detail::Expect;
using retention::Batch;
using retention::Candidate;
using retention::CandidatePage;
using retention::Category;
using retention::DailyAggregate;
using retention::Selection;
using retention::Target;
using storage::Account;
using storage::Contact;
using storage::MessageRecord;

#define EXPECT(cond) ex.that((cond), __LINE__, #cond)

const TenantId tenant_a{"tenant-a"};
const TenantId tenant_b{"tenant-b"};
const Timestamp now = from_unix_ms(1'767'225'600'000);  // 2026-01-01T00:00:00Z
using Days = std::chrono::days;

/// One case's database, with the helpers that seed it and read the targets.
class Db {
public:
    Db(RetentionSubject& s, Expect& ex) : s_(s), ex_(ex) {}

    storage::StoreSet& stores() { return *s_.stores; }
    retention::RetentionStores& ports() { return *s_.retention; }

    static PhoneNumber phone(int n) { return PhoneNumber::parse("+1415555" + std::to_string(1000 + n)).value(); }

    void lead(const TenantId& t, const std::string& id, int number, Timestamp active,
              std::optional<Timestamp> deleted = std::nullopt, bool hold = false, std::string source = "direct") {
        Contact c{t, ContactId{id}, phone(number)};
        c.name = "Name of " + id;
        c.source = std::move(source);
        c.created_at = c.updated_at = active;
        c.deleted_at = deleted;
        c.legal_hold = hold;
        ex_.ok(stores().contacts().put(c), __LINE__, "seeding a contact");
    }
    void message(const TenantId& t, const std::string& id, const std::string& contact, Timestamp at,
                 storage::Direction d = storage::Direction::inbound) {
        MessageRecord m;
        m.tenant = t;
        m.id = MessageId{id};
        m.contact = ContactId{contact};
        m.direction = d;
        m.body = "text of " + id;
        m.created_at = m.updated_at = at;
        ex_.ok(stores().messages().append(m), __LINE__, "seeding a message");
    }
    void consent(const TenantId& t, int number, Timestamp at) {
        ex_.ok(stores().consents().append({t, phone(number), storage::Purpose::marketing, true, at, "web_form", {}}),
               __LINE__, "seeding a consent record");
    }
    void inbound(const TenantId& t, int number, Timestamp at) {
        ex_.ok(stores().activity().record_inbound(t, phone(number), at), __LINE__, "seeding inbound activity");
    }
    void optout(const TenantId& t, int number, Timestamp at) {
        optout::OptOutEvent e(t, phone(number));
        e.at = at;
        e.trigger = "STOP";
        ex_.ok(stores().optouts().append(e), __LINE__, "seeding an opt-out");
    }
    void request(const TenantId& t, const std::string& id, privacy::RequestStatus status, Timestamp at) {
        privacy::SubjectRequest r;
        r.tenant = t;
        r.id = id;
        r.type = privacy::RequestType::access;
        r.subject = privacy::subject_of(ContactId{"c-" + id});
        r.received_at = at;
        r.acknowledge_by = privacy::acknowledge_deadline(at);
        r.due_by = privacy::due_deadline(at, false);
        r.status = status;
        ex_.ok(stores().requests().put(r), __LINE__, "seeding a subject request");
    }
    std::size_t requests_of(const TenantId& t) {
        auto got = ex_.ok(stores().requests().list(t, {"", 1000}, false), __LINE__, "listing requests");
        return got ? got->size() : 0;
    }
    void webhook_key(const TenantId& t, const std::string& key, Timestamp at) {
        ex_.ok(stores().dedup().remember(t, key, at), __LINE__, "seeding a webhook key");
    }

    /// The target named `name`, or nullptr (recorded as a failure).
    Target* target(std::string_view name) {
        for (const auto& b : ports().targets())
            if (b.target != nullptr && b.target->name() == name) return b.target;
        ex_.that(false, __LINE__, "no target named " + std::string(name));
        return nullptr;
    }

    /// Every candidate of a selection, read page by page with `page_size`.
    std::vector<Candidate> all(Target& t, const TenantId& tenant, Selection sel, Timestamp cutoff,
                               std::size_t page_size = 2) {
        std::vector<Candidate> out;
        std::string after;
        for (int pages = 0; pages < 1000; ++pages) {
            auto page = ex_.ok(t.candidates(tenant, sel, cutoff, after, page_size), __LINE__, "listing candidates");
            if (!page) return out;
            ex_.that(page->rows.size() <= page_size, __LINE__, "a page holds at most `limit` rows");
            out.insert(out.end(), page->rows.begin(), page->rows.end());
            if (!page->more) return out;
            after = page->next;
        }
        ex_.that(false, __LINE__, "candidates() never said the last page");
        return out;
    }
    std::vector<std::string> ids(const std::vector<Candidate>& rows) {
        std::vector<std::string> out;
        for (const auto& c : rows) out.push_back(c.id);
        return out;
    }

    std::optional<Contact> contact(const TenantId& t, const std::string& id) {
        auto c = ex_.ok(stores().contacts().get(t, ContactId{id}), __LINE__, "reading a contact");
        return c ? *c : std::nullopt;
    }
    std::size_t messages_of(const TenantId& t, const std::string& contact) {
        auto m = ex_.ok(stores().messages().list_for_contact(t, ContactId{contact}, 1000), __LINE__, "listing messages");
        return m ? m->size() : 0;
    }
    std::vector<DailyAggregate> aggregates(const TenantId& t) {
        auto got = ex_.ok(ports().aggregates().list(t, std::chrono::sys_days{}, std::chrono::sys_days{Days{100'000}}),
                          __LINE__, "listing aggregates");
        return got ? *got : std::vector<DailyAggregate>{};
    }
    std::int64_t aggregate(const TenantId& t, std::string_view event, std::string_view source) {
        std::int64_t n = 0;
        for (const auto& a : aggregates(t))
            if (a.event_type == event && a.source == source) n += a.count;
        return n;
    }

private:
    RetentionSubject& s_;
    Expect& ex_;
};

Batch batch(const TenantId& t, Selection sel, Timestamp cutoff, const std::vector<std::string>& ids,
            std::string_view sweeper = {}, std::string_view progress = {}) {
    return Batch{t, sel, cutoff, ids, now, sweeper, progress};
}

std::int64_t rows_of(const Result<retention::Change>& c) { return c ? c->rows : -1; }

// ---- accounts ----

void accounts_round_trip(Db& db, Expect& ex) {
    auto& accounts = db.ports().accounts();
    Account a{tenant_a};
    a.opened_at = now - Days{400};
    a.closed_at = now - Days{3};
    a.legal_hold = true;
    if (!ex.ok(accounts.put(a), __LINE__, "put")) return;
    auto got = ex.ok(accounts.get(tenant_a), __LINE__, "get");
    EXPECT(got && got->has_value() && **got == a);
    a.closed_at.reset();
    a.legal_hold = false;
    ex.ok(accounts.put(a), __LINE__, "put again");
    got = ex.ok(accounts.get(tenant_a), __LINE__, "get again");
    EXPECT(got && got->has_value() && **got == a);
    auto missing = ex.ok(accounts.get(tenant_b), __LINE__, "get unregistered");
    EXPECT(missing && !missing->has_value());
    auto empty = accounts.put(Account{TenantId{}});
    EXPECT(!empty && empty.error() == storage::StorageErrc::invalid_argument);
}

void accounts_list_tenants(Db& db, Expect& ex) {
    Account held{TenantId{"t3"}};
    held.legal_hold = true;
    ex.ok(db.ports().accounts().put(held), __LINE__, "put");
    db.lead(TenantId{"t1"}, "c", 1, now);
    db.consent(TenantId{"t2"}, 1, now);
    db.webhook_key(TenantId{"t4"}, "k", now);
    db.inbound(TenantId{"t5"}, 1, now);
    audit::Entry e;  // an audit trail alone makes a tenant sweepable (its entries age out)
    e.tenant = TenantId{"t6"};
    e.sequence = 1;
    e.at = now;
    e.action = "read";
    e.target_type = "lead";
    e.target_id = "x";
    e.hash[0] = 1;
    ex.ok(db.stores().audit().append(e.tenant, std::span(&e, 1), audit::ChainHead{}), __LINE__, "audit append");
    db.optout(TenantId{"t7"}, 1, now);  // opt-outs alone: nothing to sweep
    auto all = ex.ok(db.ports().accounts().list({"", 100}), __LINE__, "list");
    if (!all) return;
    std::vector<std::string> ids;
    for (const auto& a : *all) ids.push_back(a.tenant.value());
    EXPECT((ids == std::vector<std::string>{"t1", "t2", "t3", "t4", "t5", "t6"}));
    if (all->size() == 6) {
        EXPECT((*all)[2].legal_hold);
        EXPECT(!(*all)[0].legal_hold && !(*all)[0].closed_at);
    }
    auto page = ex.ok(db.ports().accounts().list({"t2", 2}), __LINE__, "list a page");
    EXPECT(page && page->size() == 2 && page->front().tenant == TenantId{"t3"} && page->back().tenant == TenantId{"t4"});
    auto unregistered = ex.ok(db.ports().accounts().get(TenantId{"t1"}), __LINE__, "get");
    EXPECT(unregistered && !unregistered->has_value());
}

// ---- the sweep journal ----

void journal_saves_per_sweeper(Db& db, Expect& ex) {
    auto& j = db.ports().journal();
    auto none = ex.ok(j.load("retention"), __LINE__, "load before save");
    EXPECT(none && !none->has_value());
    ex.ok(j.save("retention", R"({"step":1})"), __LINE__, "save");
    ex.ok(j.save("host", R"({"step":7,"name":"Zoë"})"), __LINE__, "save another");
    ex.ok(j.save("retention", R"({"step":2})"), __LINE__, "replace");
    auto got = ex.ok(j.load("retention"), __LINE__, "load");
    EXPECT(got && *got == std::optional<std::string>(R"({"step":2})"));
    auto other = ex.ok(j.load("host"), __LINE__, "load another");
    EXPECT(other && *other == std::optional<std::string>(R"({"step":7,"name":"Zoë"})"));
    ex.ok(j.clear("retention"), __LINE__, "clear");
    got = ex.ok(j.load("retention"), __LINE__, "load after clear");
    EXPECT(got && !got->has_value());
    other = ex.ok(j.load("host"), __LINE__, "the other is kept");
    EXPECT(other && other->has_value());
    ex.ok(j.clear("never-saved"), __LINE__, "clearing what is not there");
}

// ---- aggregates ----

void aggregates_add_up_and_list_in_order(Db& db, Expect& ex) {
    auto& agg = db.ports().aggregates();
    const auto d = std::chrono::floor<Days>(now);
    const std::vector<DailyAggregate> first{{tenant_a, d, "lead", "integration", 2},
                                            {tenant_a, d - Days{1}, "message.inbound", "whatsapp", 5},
                                            {tenant_a, d, "lead", "direct", 1},
                                            {tenant_b, d, "lead", "integration", 9}};
    ex.ok(agg.add(first), __LINE__, "add");
    const DailyAggregate more{tenant_a, d, "lead", "integration", 3};
    ex.ok(agg.add(std::span(&more, 1)), __LINE__, "add to a total");
    ex.ok(agg.add({}), __LINE__, "add nothing");
    auto got = ex.ok(agg.list(tenant_a, d - Days{10}, d + Days{1}), __LINE__, "list");
    const std::vector<DailyAggregate> want{{tenant_a, d - Days{1}, "message.inbound", "whatsapp", 5},
                                           {tenant_a, d, "lead", "direct", 1},
                                           {tenant_a, d, "lead", "integration", 5}};
    EXPECT(got && *got == want);
    auto until_excluded = ex.ok(agg.list(tenant_a, d - Days{10}, d), __LINE__, "list before d");
    EXPECT(until_excluded && until_excluded->size() == 1);
    auto other = ex.ok(agg.list(tenant_b, d, d + Days{1}), __LINE__, "list another tenant");
    EXPECT(other && other->size() == 1 && other->front().count == 9);
    // Nothing personal can be kept forever through add: a free-text source or event type is
    // refused, and with it the whole call (the good count beside it too).
    for (const DailyAggregate& bad : {DailyAggregate{tenant_a, d, "lead", "Jane Roe +14155550100", 1},
                                      DailyAggregate{tenant_a, d, "lead by Jane", "direct", 1},
                                      DailyAggregate{tenant_a, d, "lead", "direct", -1}}) {
        const std::vector<DailyAggregate> call{{tenant_a, d, "lead", "direct", 1}, bad};
        auto refused = agg.add(call);
        EXPECT(!refused && refused.error() == storage::StorageErrc::invalid_argument);
    }
    auto after = ex.ok(agg.list(tenant_a, d - Days{10}, d + Days{1}), __LINE__, "list after refusals");
    EXPECT(after && *after == want);
    const DailyAggregate bad[] = {{tenant_a, d, "lead", "direct", -1}};
    auto refused = agg.add(bad);
    EXPECT(!refused && refused.error() == storage::StorageErrc::invalid_argument);
    const DailyAggregate no_tenant[] = {{TenantId{}, d, "lead", "direct", 1}};
    auto refused_too = agg.add(no_tenant);
    EXPECT(!refused_too && refused_too.error() == storage::StorageErrc::invalid_argument);
    got = ex.ok(agg.list(tenant_a, d - Days{10}, d + Days{1}), __LINE__, "list after refusals");
    EXPECT(got && *got == want);  // a refused add changes nothing
}

// ---- the targets ----

void targets_are_named_and_bound(Db& db, Expect& ex) {
    const auto bindings = db.ports().targets();
    const std::vector<std::pair<std::string, Category>> want{{"contacts", Category::lead},
                                                             {"messages", Category::message},
                                                             {"consent_records", Category::account},
                                                             {"inbound_activity", Category::account},
                                                             {"subject_requests", Category::account},
                                                             {"webhook_keys", Category::webhook_key}};
    std::vector<std::pair<std::string, Category>> got;
    for (const auto& b : bindings)
        if (b.target != nullptr) got.emplace_back(std::string(b.target->name()), b.category);
    EXPECT(got == want);
    for (const auto& b : bindings) EXPECT(b.category != Category::optout_record);
}

void lead_candidates_by_selection(Db& db, Expect& ex) {
    Target* t = db.target("contacts");
    if (t == nullptr) return;
    db.lead(tenant_a, "c1", 1, now - Days{400});
    db.lead(tenant_a, "c2", 2, now - Days{10});                          // active
    db.lead(tenant_a, "c3", 3, now - Days{400}, std::nullopt, true);    // held
    db.lead(tenant_a, "c4", 4, now - Days{400});
    db.message(tenant_a, "c4-m", "c4", now - Days{5});                   // a message is activity
    db.lead(tenant_a, "c5", 5, now - Days{365});                         // on the boundary
    db.lead(tenant_a, "c6", 6, now - Days{400}, now - Days{40});         // soft-deleted long ago
    db.message(tenant_a, "c6-m1", "c6", now - Days{400});
    db.message(tenant_a, "c6-m2", "c6", now - Days{399});
    db.lead(tenant_a, "c7", 7, now - Days{400}, now - Days{10});         // soft-deleted lately
    db.lead(tenant_b, "c1", 8, now - Days{400});

    const Timestamp cutoff = now - Days{365};
    const auto expired = db.all(*t, tenant_a, Selection::expired, cutoff);
    EXPECT((db.ids(expired) == std::vector<std::string>{"c1", "c3", "c5"}));
    for (const auto& c : expired) {
        EXPECT(c.legal_hold == (c.id == "c3"));
        EXPECT(c.since <= cutoff);
    }
    const auto soft = db.all(*t, tenant_a, Selection::soft_deleted, now - Days{30});
    EXPECT((db.ids(soft) == std::vector<std::string>{"c6"}));
    if (soft.size() == 1) {
        EXPECT(soft[0].since == now - Days{40});
        EXPECT(soft[0].dependents == 2);
    }
    const auto every = db.all(*t, tenant_a, Selection::all, now, 3);
    EXPECT((db.ids(every) == std::vector<std::string>{"c1", "c2", "c3", "c4", "c5", "c6", "c7"}));
    auto counted = ex.ok(t->count(tenant_a, Selection::expired, cutoff), __LINE__, "count");
    EXPECT(counted && *counted == 3);
    auto counted_all = ex.ok(t->count(tenant_a, Selection::all, now), __LINE__, "count all");
    EXPECT(counted_all && *counted_all == 7);
    // A cursor past the end: an empty last page.
    auto past = ex.ok(t->candidates(tenant_a, Selection::all, now, "c9", 10), __LINE__, "page past the end");
    EXPECT(past && past->rows.empty() && !past->more);
}

void lead_soft_delete_once(Db& db, Expect& ex) {
    Target* t = db.target("contacts");
    if (t == nullptr) return;
    db.lead(tenant_a, "due", 1, now - Days{400});
    db.lead(tenant_a, "held", 2, now - Days{400}, std::nullopt, true);
    db.lead(tenant_a, "active", 3, now - Days{10});
    const Timestamp cutoff = now - Days{365};
    const std::vector<std::string> ids{"active", "due", "held", "missing"};
    EXPECT(rows_of(t->soft_delete(batch(tenant_a, Selection::expired, cutoff, ids))) == 1);
    auto due = db.contact(tenant_a, "due");
    EXPECT(due && due->deleted_at == now);
    auto held = db.contact(tenant_a, "held");
    EXPECT(held && !held->deleted_at);
    auto active = db.contact(tenant_a, "active");
    EXPECT(active && !active->deleted_at);
    EXPECT(rows_of(t->soft_delete(batch(tenant_a, Selection::expired, cutoff, ids))) == 0);  // idempotent
    EXPECT(db.all(*t, tenant_a, Selection::expired, cutoff).size() == 1);                   // only the held one
}

void lead_hard_delete_cascades_and_folds_once(Db& db, Expect& ex) {
    Target* t = db.target("contacts");
    if (t == nullptr) return;
    const Timestamp created = now - Days{100};
    db.lead(tenant_a, "gone", 1, created, now - Days{40}, false, "integration");
    db.message(tenant_a, "m1", "gone", created);
    db.message(tenant_a, "m2", "gone", created, storage::Direction::outbound);
    db.lead(tenant_a, "objected", 2, created, now - Days{40}, false, "integration");
    if (auto c = db.contact(tenant_a, "objected")) {
        c->analytics_objection = true;
        ex.ok(db.stores().contacts().put(*c), __LINE__, "objecting to analytics");
    }
    db.message(tenant_a, "m3", "objected", created);
    db.lead(tenant_a, "recent", 3, created, now - Days{10});
    db.lead(tenant_a, "unknown-source", 4, created, now - Days{40}, false, "");
    // A host wrote free text (a name and a number) as the source: aggregates must not keep it.
    db.lead(tenant_a, "free-text-source", 5, created, now - Days{40}, false, "Referred by Jane Roe +14155550100");
    db.optout(tenant_a, 1, now - Days{50});
    const std::vector<std::string> ids{"gone", "objected", "recent", "unknown-source", "free-text-source"};
    auto change = ex.ok(t->hard_delete(batch(tenant_a, Selection::soft_deleted, now - Days{30}, ids)), __LINE__,
                        "hard delete");
    EXPECT(change && change->rows == 4 && change->dependents == 3);
    EXPECT(!db.contact(tenant_a, "gone") && !db.contact(tenant_a, "objected") && db.contact(tenant_a, "recent"));
    EXPECT(db.messages_of(tenant_a, "gone") == 0 && db.messages_of(tenant_a, "objected") == 0);
    const auto d = std::chrono::floor<Days>(created);
    const std::vector<DailyAggregate> want{{tenant_a, d, "lead", "integration", 1},
                                           {tenant_a, d, "lead", "other", 1},
                                           {tenant_a, d, "lead", "unknown", 1},
                                           {tenant_a, d, "message.inbound", "integration", 1},
                                           {tenant_a, d, "message.outbound", "integration", 1}};
    EXPECT(db.aggregates(tenant_a) == want);  // the objecting contact left out
    auto again = t->hard_delete(batch(tenant_a, Selection::soft_deleted, now - Days{30}, ids));
    EXPECT(rows_of(again) == 0);
    EXPECT(db.aggregates(tenant_a) == want);  // folded once
    auto history = ex.ok(db.stores().optouts().history(tenant_a, Db::phone(1)), __LINE__, "opt-out history");
    EXPECT(history && history->size() == 1);  // opt-out records survive the cascade
    // Termination takes every row but held ones, live or not.
    db.lead(tenant_a, "live", 5, now);
    db.lead(tenant_a, "kept", 6, now, std::nullopt, true);
    const std::vector<std::string> rest{"kept", "live", "recent"};
    EXPECT(rows_of(t->hard_delete(batch(tenant_a, Selection::all, now, rest))) == 2);
    EXPECT(db.contact(tenant_a, "kept").has_value());
}

// Art. 18: a restricted contact's data is stored, not otherwise processed, so its deletion feeds
// no aggregate, as an analytics objection does (its messages neither, deleted with it or alone).
void restricted_contacts_left_out_of_aggregates(Db& db, Expect& ex) {
    Target* leads = db.target("contacts");
    Target* messages = db.target("messages");
    if (leads == nullptr || messages == nullptr) return;
    const Timestamp created = now - Days{100};
    for (const char* id : {"restricted", "open"}) {
        db.lead(tenant_a, id, id == std::string("open") ? 2 : 1, created, now - Days{40}, false, "integration");
        db.message(tenant_a, std::string("m-") + id, id, created);
    }
    db.lead(tenant_a, "restricted-live", 3, created, std::nullopt, false, "integration");
    db.message(tenant_a, "m-live", "restricted-live", now - Days{200}, storage::Direction::outbound);
    for (const char* id : {"restricted", "restricted-live"})
        if (auto c = db.contact(tenant_a, id)) {
            c->restricted = true;
            ex.ok(db.stores().contacts().put(*c), __LINE__, "restricting processing");
        }
    const std::vector<std::string> ids{"open", "restricted"};
    EXPECT(rows_of(leads->hard_delete(batch(tenant_a, Selection::soft_deleted, now - Days{30}, ids))) == 2);
    const std::vector<std::string> live{"m-live"};
    EXPECT(rows_of(messages->hard_delete(batch(tenant_a, Selection::expired, now - Days{90}, live))) == 1);
    EXPECT(db.messages_of(tenant_a, "restricted") == 0 && db.messages_of(tenant_a, "restricted-live") == 0);
    const auto d = std::chrono::floor<Days>(created);
    const std::vector<DailyAggregate> want{{tenant_a, d, "lead", "integration", 1},
                                           {tenant_a, d, "message.inbound", "integration", 1}};
    EXPECT(db.aggregates(tenant_a) == want);  // only the open contact and its message
}

void hold_after_listing_wins(Db& db, Expect& ex) {
    Target* t = db.target("contacts");
    if (t == nullptr) return;
    db.lead(tenant_a, "l1", 1, now - Days{100}, now - Days{40});
    db.lead(tenant_a, "l2", 2, now - Days{100}, now - Days{40});
    const auto listed = db.all(*t, tenant_a, Selection::soft_deleted, now - Days{30}, 10);
    EXPECT(listed.size() == 2);
    if (auto l1 = db.contact(tenant_a, "l1")) {
        l1->legal_hold = true;
        ex.ok(db.stores().contacts().put(*l1), __LINE__, "placing a hold");
    }
    const std::vector<std::string> ids{"l1", "l2"};
    EXPECT(rows_of(t->hard_delete(batch(tenant_a, Selection::soft_deleted, now - Days{30}, ids))) == 1);
    EXPECT(db.contact(tenant_a, "l1").has_value() && !db.contact(tenant_a, "l2").has_value());
    // A row that no longer qualifies (restored by the user) is left alone.
    db.lead(tenant_a, "l3", 3, now - Days{100});
    const std::vector<std::string> l3{"l3"};
    EXPECT(rows_of(t->hard_delete(batch(tenant_a, Selection::soft_deleted, now - Days{30}, l3))) == 0);
    EXPECT(db.contact(tenant_a, "l3").has_value());
}

void messages_go_by_their_time(Db& db, Expect& ex) {
    Target* t = db.target("messages");
    if (t == nullptr) return;
    db.lead(tenant_a, "lead", 1, now - Days{5}, std::nullopt, false, "whatsapp");
    db.lead(tenant_a, "held", 2, now - Days{5}, std::nullopt, true);
    db.message(tenant_a, "m-before", "lead", now - Days{89});
    db.message(tenant_a, "m-on", "lead", now - Days{90});
    db.message(tenant_a, "m-after", "lead", now - Days{91}, storage::Direction::outbound);
    db.message(tenant_a, "m-held", "held", now - Days{200});
    const Timestamp cutoff = now - Days{90};
    const auto due = db.all(*t, tenant_a, Selection::expired, cutoff);
    EXPECT((db.ids(due) == std::vector<std::string>{"m-after", "m-held", "m-on"}));
    for (const auto& c : due) EXPECT(c.legal_hold == (c.id == "m-held"));
    const std::vector<std::string> ids = db.ids(due);
    EXPECT(rows_of(t->hard_delete(batch(tenant_a, Selection::expired, cutoff, ids))) == 2);
    EXPECT(db.messages_of(tenant_a, "lead") == 1 && db.messages_of(tenant_a, "held") == 1);
    EXPECT(db.contact(tenant_a, "lead").has_value());
    EXPECT(db.aggregate(tenant_a, "message.inbound", "whatsapp") == 1);
    EXPECT(db.aggregate(tenant_a, "message.outbound", "whatsapp") == 1);
    EXPECT(rows_of(t->hard_delete(batch(tenant_a, Selection::expired, cutoff, ids))) == 0);
    EXPECT(db.aggregate(tenant_a, "message.inbound", "whatsapp") == 1);
}

void account_data_goes_at_termination(Db& db, Expect& ex) {
    Target* consents = db.target("consent_records");
    Target* activity = db.target("inbound_activity");
    if (consents == nullptr || activity == nullptr) return;
    db.lead(tenant_a, "held", 1, now, std::nullopt, true);
    for (int n : {1, 2, 3}) {
        db.consent(tenant_a, n, now - Days{n});
        db.inbound(tenant_a, n, now - Days{n});
    }
    db.consent(tenant_b, 2, now);
    for (Target* t : {consents, activity}) {
        EXPECT(db.all(*t, tenant_a, Selection::expired, now).empty());  // only termination takes them
        const auto all = db.all(*t, tenant_a, Selection::all, now, 2);
        EXPECT(all.size() == 3);
        EXPECT(std::count_if(all.begin(), all.end(), [](const Candidate& c) { return c.legal_hold; }) == 1);
        const std::vector<std::string> ids = db.ids(all);
        EXPECT(rows_of(t->hard_delete(batch(tenant_a, Selection::all, now, ids))) == 2);
        EXPECT(rows_of(t->hard_delete(batch(tenant_a, Selection::all, now, ids))) == 0);
    }
    auto kept = ex.ok(db.stores().consents().records(tenant_a, Db::phone(1)), __LINE__, "the held number's consent");
    EXPECT(kept && kept->size() == 1);
    auto gone = ex.ok(db.stores().consents().records(tenant_a, Db::phone(2)), __LINE__, "another number's consent");
    EXPECT(gone && gone->empty());
    auto other = ex.ok(db.stores().consents().records(tenant_b, Db::phone(2)), __LINE__, "another tenant's consent");
    EXPECT(other && other->size() == 1);
    auto held_inbound = ex.ok(db.stores().activity().last_inbound(tenant_a, Db::phone(1)), __LINE__, "last inbound");
    EXPECT(held_inbound && held_inbound->has_value());
    auto gone_inbound = ex.ok(db.stores().activity().last_inbound(tenant_a, Db::phone(3)), __LINE__, "last inbound");
    EXPECT(gone_inbound && !gone_inbound->has_value());
}

void requests_go_at_termination(Db& db, Expect& ex) {
    Target* t = db.target("subject_requests");
    if (t == nullptr) return;
    // Open or closed, a request names its subject: all of them go with the account.
    db.request(tenant_a, "r-1", privacy::RequestStatus::received, now - Days{3});
    db.request(tenant_a, "r-2", privacy::RequestStatus::completed, now - Days{400});
    db.request(tenant_a, "r-3", privacy::RequestStatus::acknowledged, now - Days{1});
    db.request(tenant_b, "r-1", privacy::RequestStatus::received, now);
    EXPECT(db.all(*t, tenant_a, Selection::expired, now).empty());  // only termination takes them
    EXPECT(db.all(*t, tenant_a, Selection::soft_deleted, now).empty());
    const auto all = db.all(*t, tenant_a, Selection::all, now, 2);
    EXPECT((db.ids(all) == std::vector<std::string>{"r-1", "r-2", "r-3"}));
    for (const auto& c : all) EXPECT(!c.legal_hold);
    const std::vector<std::string> ids = db.ids(all);
    EXPECT(rows_of(t->hard_delete(batch(tenant_a, Selection::expired, now, ids))) == 0);
    EXPECT(rows_of(t->hard_delete(batch(tenant_a, Selection::all, now, ids))) == 3);
    EXPECT(rows_of(t->hard_delete(batch(tenant_a, Selection::all, now, ids))) == 0);
    EXPECT(db.requests_of(tenant_a) == 0);
    EXPECT(db.requests_of(tenant_b) == 1);
}

void store_set_is_the_same_database(Db& db, Expect& ex) {
    storage::StoreSet* set = db.ports().store_set();
    if (set == nullptr) return;  // a database without the library's opt-out events: nothing to reduce
    db.optout(tenant_a, 1, now);
    std::size_t seen = 0;
    ex.ok(set->optouts().scan(tenant_a, [&](const optout::OptOutEvent& e) { seen += e.phone == Db::phone(1); }),
          __LINE__, "scanning opt-outs through store_set()");
    EXPECT(seen == 1);
    db.lead(tenant_a, "held", 2, now, std::nullopt, true);
    auto held = ex.ok(set->contacts().get(tenant_a, ContactId{"held"}), __LINE__, "reading through store_set()");
    EXPECT(held && held->has_value() && (*held)->legal_hold);
}

void webhook_keys_expire(Db& db, Expect& ex) {
    Target* t = db.target("webhook_keys");
    if (t == nullptr) return;
    db.webhook_key(tenant_a, "wamid.before", now - Days{29});
    db.webhook_key(tenant_a, "wamid.on", now - Days{30});
    db.webhook_key(tenant_a, "wamid.after", now - Days{31});
    db.webhook_key(tenant_b, "wamid.after", now - Days{31});
    const Timestamp cutoff = now - Days{30};
    const auto due = db.all(*t, tenant_a, Selection::expired, cutoff, 1);
    EXPECT((db.ids(due) == std::vector<std::string>{"wamid.after", "wamid.on"}));
    for (const auto& c : due) EXPECT(!c.legal_hold && c.since <= cutoff);
    // A key not yet due is not deleted even if a batch names it.
    const std::vector<std::string> ids{"wamid.after", "wamid.before", "wamid.on"};
    EXPECT(rows_of(t->hard_delete(batch(tenant_a, Selection::expired, cutoff, ids))) == 2);
    auto remembered = ex.ok(db.stores().dedup().remember(tenant_a, "wamid.before", now), __LINE__, "remember");
    EXPECT(remembered && !*remembered);
    auto forgotten = ex.ok(db.stores().dedup().remember(tenant_a, "wamid.on", now), __LINE__, "remember");
    EXPECT(forgotten && *forgotten);
    auto other = ex.ok(db.stores().dedup().remember(tenant_b, "wamid.after", now), __LINE__, "other tenant");
    EXPECT(other && !*other);
    // Termination: all of them.
    const auto all = db.all(*t, tenant_a, Selection::all, now);
    EXPECT(all.size() == 2);
    const std::vector<std::string> every = db.ids(all);
    EXPECT(rows_of(t->hard_delete(batch(tenant_a, Selection::all, now, every))) == 2);
    EXPECT(db.all(*t, tenant_a, Selection::all, now).empty());
}

void batches_save_progress_in_a_sweep_only(Db& db, Expect& ex) {
    Target* t = db.target("contacts");
    if (t == nullptr) return;
    db.lead(tenant_a, "l1", 1, now - Days{100}, now - Days{40});
    db.lead(tenant_a, "l2", 2, now - Days{100});
    db.message(tenant_a, "l2-m", "l2", now - Days{100});
    const std::vector<std::string> one{"l1"};
    auto in_sweep = ex.ok(t->hard_delete(batch(tenant_a, Selection::soft_deleted, now - Days{30}, one, "retention",
                                               R"({"step":3})")),
                          __LINE__, "a batch in a sweep");
    if (in_sweep && in_sweep->progress_saved) {
        auto saved = ex.ok(db.ports().journal().load("retention"), __LINE__, "load");
        EXPECT(saved && *saved == std::optional<std::string>(R"({"step":3})"));
    }
    ex.ok(db.ports().journal().clear("retention"), __LINE__, "clear");
    // Outside a sweep (an erasure reusing the target): no journal key, nothing saved.
    const std::vector<std::string> two{"l2"};
    auto outside = ex.ok(t->hard_delete(batch(tenant_a, Selection::all, now, two)), __LINE__, "a batch outside a sweep");
    EXPECT(outside && outside->rows == 1 && outside->dependents == 1 && !outside->progress_saved);
    auto none = ex.ok(db.ports().journal().load("retention"), __LINE__, "load");
    EXPECT(none && !none->has_value());
    auto empty_key = ex.ok(db.ports().journal().load(""), __LINE__, "load the empty key");
    EXPECT(empty_key && !empty_key->has_value());
}

void tenants_are_isolated(Db& db, Expect& ex) {
    db.lead(tenant_a, "c1", 1, now - Days{400}, now - Days{40});
    db.message(tenant_a, "m1", "c1", now - Days{400});
    db.consent(tenant_a, 1, now);
    db.inbound(tenant_a, 1, now);
    db.webhook_key(tenant_a, "k1", now - Days{100});
    db.request(tenant_a, "c1", privacy::RequestStatus::received, now);
    for (const auto& b : db.ports().targets()) {
        if (b.target == nullptr) continue;
        for (Selection sel : {Selection::expired, Selection::soft_deleted, Selection::all}) {
            const auto rows_a = db.all(*b.target, tenant_a, sel, now);
            EXPECT(db.all(*b.target, tenant_b, sel, now).empty());
            // A batch of tenant B naming tenant A's ids changes nothing.
            const std::vector<std::string> ids = db.ids(rows_a);
            EXPECT(rows_of(b.target->hard_delete(batch(tenant_b, sel, now, ids))) == 0);
            EXPECT(rows_of(b.target->soft_delete(batch(tenant_b, sel, now, ids))) == 0);
        }
        auto no_tenant = b.target->candidates(TenantId{}, Selection::all, now, "", 10);
        EXPECT(!no_tenant || no_tenant->rows.empty());
        const std::vector<std::string> ids{"c1"};
        auto refused = b.target->hard_delete(batch(TenantId{}, Selection::all, now, ids));
        EXPECT(!refused || refused->rows == 0);
    }
    EXPECT(db.contact(tenant_a, "c1").has_value() && db.messages_of(tenant_a, "c1") == 1);
    auto remembered = ex.ok(db.stores().dedup().remember(tenant_a, "k1", now), __LINE__, "remember");
    EXPECT(remembered && !*remembered);
    EXPECT(db.aggregates(tenant_b).empty());
}

struct Case {
    const char* name;
    void (*run)(Db&, Expect&);
};

const Case cases[] = {
    {"accounts round-trip, are replaced, and need a tenant", accounts_round_trip},
    {"tenants are listed whether registered or only holding data, in id order and paged", accounts_list_tenants},
    {"the sweep journal keeps one state per sweeper until cleared", journal_saves_per_sweeper},
    {"aggregates add up per day, event and source, and list a range in order", aggregates_add_up_and_list_in_order},
    {"the targets over the library's tables are named and bound as documented", targets_are_named_and_bound},
    {"lead candidates by last activity, soft delete and termination, in id order and paged",
     lead_candidates_by_selection},
    {"a lead soft delete changes only leads that still qualify, once", lead_soft_delete_once},
    {"a lead hard delete removes its messages and folds it into aggregates, once", lead_hard_delete_cascades_and_folds_once},
    {"a restricted contact is left out of the aggregates, like an analytics objection",
     restricted_contacts_left_out_of_aggregates},
    {"a hold placed after the listing still stops the batch", hold_after_listing_wins},
    {"messages go by their own time while their lead stays, held leads' messages kept", messages_go_by_their_time},
    {"consent records and inbound activity go only at termination, except a held lead's number",
     account_data_goes_at_termination},
    {"webhook keys go 30 days after they were seen, and all at termination", webhook_keys_expire},
    {"the request register goes at termination, open requests too", requests_go_at_termination},
    {"store_set(), if any, reads the same database's opt-outs and contacts", store_set_is_the_same_database},
    {"a batch saves the sweep's progress with it, and nothing outside a sweep", batches_save_progress_in_a_sweep_only},
    {"tenant A's rows are never listed or changed for tenant B", tenants_are_isolated},
};

#undef EXPECT

}  // namespace

std::vector<std::string> retention_conformance_case_names() {
    std::vector<std::string> names;
    for (const Case& c : cases) names.emplace_back(c.name);
    return names;
}

std::vector<std::string> run_retention_conformance_case(std::string_view name, const RetentionStoreFactory& make) {
    for (const Case& c : cases) {
        if (name != c.name) continue;
        Expect ex;
        RetentionSubject subject = make();
        if (subject.stores == nullptr || subject.retention == nullptr) return {"the factory returned no database"};
        try {
            Db db(subject, ex);
            c.run(db, ex);
        } catch (const std::exception& e) {
            ex.that(false, 0, std::string("exception escaped: ") + e.what());
        }
        return ex.take();
    }
    return {"no retention conformance case named '" + std::string(name) + "'"};
}

}  // namespace heroshhi::testing
