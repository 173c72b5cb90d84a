#include <heroshhi/storage/errors.hpp>
#include <heroshhi/testing/store_conformance.hpp>

#include "detail/expect.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace heroshhi::testing {
namespace {

using namespace storage;
using optout::OptOutEvent;

using heroshhi::testing::detail::Expect;

#define EXPECT(cond) ex.that((cond), __LINE__, #cond)

const TenantId tenant_a{"tenant-a"};
const TenantId tenant_b{"tenant-b"};
const Timestamp t0 = from_unix_ms(1'764'000'000'000);  // 2025-11-24

bool yes(const Result<bool>& r) { return r && *r; }
bool no(const Result<bool>& r) { return r && !*r; }

PhoneNumber phone(std::string_view e164) { return PhoneNumber::parse(e164).value(); }

Contact contact(const TenantId& tenant, std::string id, std::string_view number) {
    Contact c{tenant, ContactId{std::move(id)}, phone(number)};
    c.created_at = c.updated_at = t0;
    c.name = "Ada Lovelace";
    c.email = "ada@example.com";
    c.source = "direct";
    return c;
}

MessageRecord message(const TenantId& tenant, std::string id, std::string contact_id, Timestamp at, std::string body) {
    MessageRecord m;
    m.tenant = tenant;
    m.id = MessageId{std::move(id)};
    m.contact = ContactId{std::move(contact_id)};
    m.body = std::move(body);
    m.created_at = m.updated_at = at;
    return m;
}

OptOutEvent event(const TenantId& tenant, std::string_view number, optout::EventKind kind, Timestamp at,
                  std::string provider_id = {}) {
    OptOutEvent e{tenant, phone(number)};
    e.kind = kind;
    e.at = at;
    e.trigger = kind == optout::EventKind::opt_out ? "STOP" : "START";
    e.provider_message_id = std::move(provider_id);
    return e;
}

void contacts_round_trip(StoreSet& s, Expect& ex) {
    Contact c = contact(tenant_a, "c1", "+14155550101");
    c.assignee = UserId{"u-7"};
    c.team = "north";
    c.legal_hold = true;
    c.restricted = true;
    c.analytics_objection = true;
    c.deleted_at = t0 + std::chrono::hours(1);
    c.updated_at = t0 + std::chrono::minutes(5);
    if (!ex.ok(s.contacts().put(c), __LINE__, "put")) return;
    auto got = ex.ok(s.contacts().get(tenant_a, c.id), __LINE__, "get");
    if (!got) return;
    EXPECT(got->has_value());
    if (!got->has_value()) return;
    const Contact& g = **got;
    EXPECT(g.tenant == c.tenant && g.id == c.id && g.phone == c.phone && g.phone.e164() == "+14155550101");
    EXPECT(g.name == c.name && g.email == c.email && g.source == c.source && g.team == c.team);
    EXPECT(g.assignee == c.assignee && g.legal_hold && g.restricted && g.deleted_at == c.deleted_at);
    EXPECT(g.analytics_objection);
    EXPECT(g.created_at == c.created_at && g.updated_at == c.updated_at);
    auto missing = ex.ok(s.contacts().get(tenant_a, ContactId{"nope"}), __LINE__, "get missing");
    EXPECT(missing && !missing->has_value());
}

void contacts_put_replaces(StoreSet& s, Expect& ex) {
    Contact c = contact(tenant_a, "c1", "+14155550101");
    EXPECT(s.contacts().put(c).has_value());
    EXPECT(s.contacts().put(c).has_value());
    c.name = "Grace Hopper";
    c.assignee.reset();
    EXPECT(s.contacts().put(c).has_value());
    auto all = ex.ok(s.contacts().list(tenant_a, {}), __LINE__, "list");
    EXPECT(all && all->size() == 1);
    if (all && all->size() == 1) EXPECT((*all)[0].name == "Grace Hopper" && !(*all)[0].assignee);
}

void listing_is_ordered_and_paged(StoreSet& s, Expect& ex) {
    for (std::string id : {"c3", "c1", "c5", "c2", "c4"})
        EXPECT(s.contacts().put(contact(tenant_a, id, "+14155550101")).has_value());
    auto first = ex.ok(s.contacts().list(tenant_a, {"", 2}), __LINE__, "list page 1");
    auto second = ex.ok(s.contacts().list(tenant_a, {"c2", 2}), __LINE__, "list page 2");
    auto last = ex.ok(s.contacts().list(tenant_a, {"c4", 10}), __LINE__, "list page 3");
    if (!first || !second || !last) return;
    EXPECT(first->size() == 2 && (*first)[0].id.value() == "c1" && (*first)[1].id.value() == "c2");
    EXPECT(second->size() == 2 && (*second)[0].id.value() == "c3" && (*second)[1].id.value() == "c4");
    EXPECT(last->size() == 1 && (*last)[0].id.value() == "c5");
}

void held_contacts_are_listed_alone(StoreSet& s, Expect& ex) {
    for (std::string id : {"c4", "c1", "c5", "c2", "c3"}) {
        Contact c = contact(tenant_a, id, "+14155550101");
        c.legal_hold = id != "c2" && id != "c4";
        if (id == "c5") c.deleted_at = t0;  // a soft-deleted lead under hold is still held
        EXPECT(s.contacts().put(c).has_value());
    }
    Contact other = contact(tenant_b, "c0", "+14155550101");
    other.legal_hold = true;
    EXPECT(s.contacts().put(other).has_value());
    auto first = ex.ok(s.contacts().list_held(tenant_a, {"", 2}), __LINE__, "held page 1");
    auto rest = ex.ok(s.contacts().list_held(tenant_a, {"c3", 2}), __LINE__, "held page 2");
    auto ids = [](const std::optional<std::vector<Contact>>& page) {
        std::vector<std::string> out;
        if (page)
            for (const Contact& c : *page) out.push_back(c.id.value());
        return out;
    };
    EXPECT((ids(first) == std::vector<std::string>{"c1", "c3"}));
    EXPECT((ids(rest) == std::vector<std::string>{"c5"}));
    // Lifting the hold takes the contact off the list.
    Contact c1 = contact(tenant_a, "c1", "+14155550101");
    EXPECT(s.contacts().put(c1).has_value());
    auto after = ex.ok(s.contacts().list_held(tenant_a, {"", 10}), __LINE__, "held after lifting");
    EXPECT((ids(after) == std::vector<std::string>{"c3", "c5"}));
}

void tenants_are_isolated(StoreSet& s, Expect& ex) {
    const auto p = phone("+14155550101");
    EXPECT(s.contacts().put(contact(tenant_a, "c1", "+14155550101")).has_value());
    EXPECT(yes(s.messages().append(message(tenant_a, "m1", "c1", t0, "hello"))));
    auto e = event(tenant_a, "+14155550101", optout::EventKind::opt_out, t0, "wamid.1");
    EXPECT(s.optouts().append(e).has_value());
    EXPECT(s.consents().append({tenant_a, p, Purpose::marketing, true, t0, "web_form", std::nullopt}).has_value());
    EXPECT(s.activity().record_inbound(tenant_a, p, t0).has_value());

    auto got = s.contacts().get(tenant_b, ContactId{"c1"});
    EXPECT(got && !got->has_value());
    auto by_phone = s.contacts().find_by_phone(tenant_b, p);
    EXPECT(by_phone && !by_phone->has_value());
    auto listed = s.contacts().list(tenant_b, {});
    EXPECT(listed && listed->empty());
    auto msgs = s.messages().list_for_contact(tenant_b, ContactId{"c1"}, 100);
    EXPECT(msgs && msgs->empty());
    EXPECT(no(s.messages().update_status(tenant_b, MessageId{"m1"}, MessageStatus::read, t0)));
    auto hist = s.optouts().history(tenant_b, p);
    EXPECT(hist && hist->empty());
    std::size_t seen = 0;
    EXPECT(s.optouts().scan(tenant_b, [&](const OptOutEvent&) { ++seen; }).has_value());
    EXPECT(s.consents().scan(tenant_b, [&](const ConsentRecord&) { ++seen; }).has_value());
    EXPECT(s.activity().scan(tenant_b, [&](const PhoneNumber&, Timestamp) { ++seen; }).has_value());
    EXPECT(seen == 0);
    auto consent = s.consents().latest(tenant_b, p, Purpose::marketing);
    EXPECT(consent && !consent->has_value());
    auto inbound = s.activity().last_inbound(tenant_b, p);
    EXPECT(inbound && !inbound->has_value());
    // The same keys are independent per tenant.
    auto e_b = event(tenant_b, "+14155550101", optout::EventKind::opt_out, t0, "wamid.1");
    EXPECT(yes(s.optouts().append(e_b)));
    EXPECT(yes(s.dedup().remember(tenant_a, "wamid.9", t0)));
    EXPECT(yes(s.dedup().remember(tenant_b, "wamid.9", t0)));
    EXPECT(no(s.contacts().soft_delete(tenant_b, ContactId{"c1"}, t0)));
    EXPECT(no(s.contacts().hard_delete(tenant_b, ContactId{"c1"})));
    auto still = s.contacts().get(tenant_a, ContactId{"c1"});
    EXPECT(still && still->has_value() && !(*still)->deleted_at);
}

void soft_delete_hides_from_lookup_but_keeps_the_row(StoreSet& s, Expect& ex) {
    const auto p = phone("+14155550101");
    EXPECT(s.contacts().put(contact(tenant_a, "c1", "+14155550101")).has_value());
    EXPECT(yes(s.contacts().soft_delete(tenant_a, ContactId{"c1"}, t0 + std::chrono::hours(2))));
    EXPECT(no(s.contacts().soft_delete(tenant_a, ContactId{"c1"}, t0 + std::chrono::hours(3))));
    auto got = ex.ok(s.contacts().get(tenant_a, ContactId{"c1"}), __LINE__, "get");
    EXPECT(got && got->has_value() && (*got)->deleted_at == t0 + std::chrono::hours(2));
    auto by_phone = s.contacts().find_by_phone(tenant_a, p);
    EXPECT(by_phone && !by_phone->has_value());
    auto listed = s.contacts().list(tenant_a, {});
    EXPECT(listed && listed->size() == 1);
    EXPECT(no(s.contacts().soft_delete(tenant_a, ContactId{"missing"}, t0)));
}

void find_by_phone_returns_the_live_contact(StoreSet& s, Expect& ex) {
    const auto p = phone("+447946095800");
    EXPECT(s.contacts().put(contact(tenant_a, "b", "+447946095800")).has_value());
    EXPECT(s.contacts().put(contact(tenant_a, "a", "+447946095800")).has_value());
    EXPECT(s.contacts().put(contact(tenant_a, "z", "+14155550101")).has_value());
    auto found = ex.ok(s.contacts().find_by_phone(tenant_a, p), __LINE__, "find");
    EXPECT(found && found->has_value() && (*found)->id.value() == "a");
    EXPECT(yes(s.contacts().soft_delete(tenant_a, ContactId{"a"}, t0)));
    found = ex.ok(s.contacts().find_by_phone(tenant_a, p), __LINE__, "find after delete");
    EXPECT(found && found->has_value() && (*found)->id.value() == "b");
}

void hard_delete_cascades_messages_and_keeps_optouts(StoreSet& s, Expect& ex) {
    const auto p = phone("+14155550101");
    EXPECT(s.contacts().put(contact(tenant_a, "c1", "+14155550101")).has_value());
    EXPECT(s.contacts().put(contact(tenant_a, "c2", "+14155550102")).has_value());
    EXPECT(yes(s.messages().append(message(tenant_a, "m1", "c1", t0, "one"))));
    EXPECT(yes(s.messages().append(message(tenant_a, "m2", "c1", t0, "two"))));
    EXPECT(yes(s.messages().append(message(tenant_a, "m3", "c2", t0, "three"))));
    auto e = event(tenant_a, "+14155550101", optout::EventKind::opt_out, t0);
    EXPECT(s.optouts().append(e).has_value());
    EXPECT(yes(s.contacts().hard_delete(tenant_a, ContactId{"c1"})));
    EXPECT(no(s.contacts().hard_delete(tenant_a, ContactId{"c1"})));
    auto gone = s.contacts().get(tenant_a, ContactId{"c1"});
    EXPECT(gone && !gone->has_value());
    auto msgs = s.messages().list_for_contact(tenant_a, ContactId{"c1"}, 100);
    EXPECT(msgs && msgs->empty());
    auto other = s.messages().list_for_contact(tenant_a, ContactId{"c2"}, 100);
    EXPECT(other && other->size() == 1);
    auto hist = s.optouts().history(tenant_a, p);
    EXPECT(hist && hist->size() == 1);
    // The id can be reused for a new message once the old one is gone with its contact.
    EXPECT(s.contacts().put(contact(tenant_a, "c1", "+14155550101")).has_value());
    EXPECT(yes(s.messages().append(message(tenant_a, "m1", "c1", t0, "again"))));
}

void messages_are_ordered_and_idempotent(StoreSet& s, Expect& ex) {
    EXPECT(s.contacts().put(contact(tenant_a, "c1", "+14155550101")).has_value());
    EXPECT(yes(s.messages().append(message(tenant_a, "m-b", "c1", t0 + std::chrono::seconds(2), "second"))));
    EXPECT(yes(s.messages().append(message(tenant_a, "m-a", "c1", t0 + std::chrono::seconds(1), "first"))));
    EXPECT(yes(s.messages().append(message(tenant_a, "m-c", "c1", t0 + std::chrono::seconds(2), "third"))));
    auto dup = s.messages().append(message(tenant_a, "m-a", "c1", t0, "changed"));
    EXPECT(dup && !dup.value());
    auto msgs = ex.ok(s.messages().list_for_contact(tenant_a, ContactId{"c1"}, 100), __LINE__, "list");
    if (!msgs) return;
    EXPECT(msgs->size() == 3);
    if (msgs->size() == 3) {
        EXPECT((*msgs)[0].body == "first" && (*msgs)[1].body == "second" && (*msgs)[2].body == "third");
        EXPECT((*msgs)[0].created_at == t0 + std::chrono::seconds(1));
    }
    auto limited = s.messages().list_for_contact(tenant_a, ContactId{"c1"}, 2);
    EXPECT(limited && limited->size() == 2);
    EXPECT(yes(s.messages().update_status(tenant_a, MessageId{"m-b"}, MessageStatus::delivered,
                                          t0 + std::chrono::seconds(9))));
    EXPECT(no(s.messages().update_status(tenant_a, MessageId{"zzz"}, MessageStatus::read, t0)));
    msgs = ex.ok(s.messages().list_for_contact(tenant_a, ContactId{"c1"}, 100), __LINE__, "list again");
    if (msgs && msgs->size() == 3)
        EXPECT((*msgs)[1].status == MessageStatus::delivered && (*msgs)[1].updated_at == t0 + std::chrono::seconds(9));
    auto orphan = s.messages().append(message(tenant_a, "m-x", "no-such-contact", t0, "x"));
    EXPECT(!orphan && orphan.error() == StorageErrc::not_found);
}

void provider_statuses_only_move_forward(StoreSet& s, Expect& ex) {
    using std::chrono::seconds;
    EXPECT(s.contacts().put(contact(tenant_a, "c1", "+14155550101")).has_value());
    auto outbound = [&](std::string id, std::string wamid, MessageStatus status, Direction direction) {
        MessageRecord m = message(tenant_a, std::move(id), "c1", t0, "hi");
        m.direction = direction;
        m.status = status;
        m.provider_message_id = std::move(wamid);
        return yes(s.messages().append(m));
    };
    EXPECT(outbound("m1", "wamid.A", MessageStatus::queued, Direction::outbound));
    EXPECT(outbound("m2", "wamid.B", MessageStatus::sent, Direction::outbound));
    EXPECT(outbound("m3", "wamid.C", MessageStatus::received, Direction::inbound));
    EXPECT(outbound("m4", "wamid.D", MessageStatus::queued, Direction::outbound));
    EXPECT(outbound("m5", "wamid.E", MessageStatus::delivered, Direction::outbound));
    auto step = [&](const TenantId& tenant, std::string_view wamid, MessageStatus status, int at) {
        return s.messages().update_status_by_provider_id(tenant, wamid, status, t0 + seconds(at));
    };
    auto changed = [](const Result<std::optional<MessageId>>& r, std::string_view id) {
        return r && r->has_value() && (*r)->value() == id;
    };
    auto unchanged = [](const Result<std::optional<MessageId>>& r) { return r && !r->has_value(); };

    EXPECT(changed(step(tenant_a, "wamid.A", MessageStatus::sent, 1), "m1"));
    EXPECT(unchanged(step(tenant_a, "wamid.A", MessageStatus::sent, 2)));       // the same status again
    EXPECT(unchanged(step(tenant_a, "wamid.A", MessageStatus::queued, 3)));     // backwards
    EXPECT(changed(step(tenant_a, "wamid.A", MessageStatus::read, 4), "m1"));   // delivered may be skipped
    EXPECT(unchanged(step(tenant_a, "wamid.A", MessageStatus::delivered, 5)));  // late delivered after read
    EXPECT(unchanged(step(tenant_a, "wamid.A", MessageStatus::sent, 6)));       // late sent after read
    EXPECT(unchanged(step(tenant_a, "wamid.A", MessageStatus::failed, 7)));     // a read message did not fail
    EXPECT(changed(step(tenant_a, "wamid.B", MessageStatus::failed, 8), "m2"));
    EXPECT(unchanged(step(tenant_a, "wamid.B", MessageStatus::delivered, 9)));  // failed is final
    EXPECT(unchanged(step(tenant_a, "wamid.C", MessageStatus::read, 10)));      // inbound messages keep theirs
    EXPECT(unchanged(step(tenant_a, "wamid.unknown", MessageStatus::read, 11)));
    EXPECT(unchanged(step(tenant_b, "wamid.D", MessageStatus::delivered, 12)));  // another tenant's id
    EXPECT(changed(step(tenant_a, "wamid.D", MessageStatus::failed, 13), "m4"));  // queued may fail
    EXPECT(unchanged(step(tenant_a, "wamid.E", MessageStatus::failed, 14)));      // a delivered message did not
    auto empty = step(tenant_a, "", MessageStatus::read, 15);
    EXPECT(!empty && empty.error() == StorageErrc::invalid_argument);

    auto msgs = ex.ok(s.messages().list_for_contact(tenant_a, ContactId{"c1"}, 10), __LINE__, "list");
    EXPECT(msgs && msgs->size() == 5);
    if (!msgs || msgs->size() != 5) return;
    EXPECT((*msgs)[0].status == MessageStatus::read && (*msgs)[0].updated_at == t0 + seconds(4));
    EXPECT((*msgs)[1].status == MessageStatus::failed && (*msgs)[1].updated_at == t0 + seconds(8));
    EXPECT((*msgs)[2].status == MessageStatus::received && (*msgs)[2].updated_at == t0);
    EXPECT((*msgs)[3].status == MessageStatus::failed && (*msgs)[3].updated_at == t0 + seconds(13));
    EXPECT((*msgs)[4].status == MessageStatus::delivered && (*msgs)[4].updated_at == t0);
}

void record_sent_keeps_the_provider_id(StoreSet& s, Expect& ex) {
    using std::chrono::seconds;
    EXPECT(s.contacts().put(contact(tenant_a, "c1", "+14155550101")).has_value());
    MessageRecord m = message(tenant_a, "m1", "c1", t0, "hi");
    m.direction = Direction::outbound;
    m.status = MessageStatus::queued;
    EXPECT(yes(s.messages().append(m)));
    EXPECT(yes(s.messages().record_sent(tenant_a, MessageId{"m1"}, "wamid.S", t0 + seconds(1))));
    EXPECT(yes(s.messages().record_sent(tenant_a, MessageId{"m1"}, "wamid.other", t0 + seconds(2))));  // first id kept
    auto missing = s.messages().record_sent(tenant_b, MessageId{"m1"}, "wamid.S", t0);  // another tenant's message
    EXPECT(missing && !*missing);
    auto empty = s.messages().record_sent(tenant_a, MessageId{"m1"}, "", t0);
    EXPECT(!empty && empty.error() == StorageErrc::invalid_argument);
    // The status webhooks that follow find it by the provider id.
    auto read = s.messages().update_status_by_provider_id(tenant_a, "wamid.S", MessageStatus::read, t0 + seconds(3));
    EXPECT(read && read->has_value() && (*read)->value() == "m1");
    // A late acceptance does not move a read message back.
    EXPECT(yes(s.messages().record_sent(tenant_a, MessageId{"m1"}, "wamid.S", t0 + seconds(4))));
    auto msgs = ex.ok(s.messages().list_for_contact(tenant_a, ContactId{"c1"}, 10), __LINE__, "list");
    EXPECT(msgs && msgs->size() == 1);
    if (!msgs || msgs->size() != 1) return;
    EXPECT((*msgs)[0].provider_message_id == "wamid.S");
    EXPECT((*msgs)[0].status == MessageStatus::read && (*msgs)[0].updated_at == t0 + seconds(3));
}

void optout_events_are_append_only_and_ordered(StoreSet& s, Expect& ex) {
    const auto p = phone("+14155550101");
    auto e1 = event(tenant_a, "+14155550101", optout::EventKind::opt_out, t0 + std::chrono::minutes(2), "wamid.1");
    auto e2 = event(tenant_a, "+14155550101", optout::EventKind::opt_in, t0 + std::chrono::minutes(1), "wamid.2");
    auto e3 = event(tenant_a, "+14155550102", optout::EventKind::opt_out, t0);
    e3.method = optout::Method::manual;
    e3.scope = optout::Scope::marketing;
    e3.actor = UserId{"u-1"};
    e3.channel = "dashboard";
    e3.trigger = "";
    EXPECT(yes(s.optouts().append(e1)));
    EXPECT(yes(s.optouts().append(e2)));
    EXPECT(yes(s.optouts().append(e3)));
    EXPECT(e1.sequence > 0 && e2.sequence > e1.sequence && e3.sequence > e2.sequence);
    auto again = event(tenant_a, "+14155550101", optout::EventKind::opt_out, t0, "wamid.1");
    auto dup = s.optouts().append(again);
    EXPECT(dup && !dup.value());
    // Events without a provider id are never merged.
    auto manual1 = event(tenant_a, "+14155550103", optout::EventKind::opt_out, t0);
    auto manual2 = event(tenant_a, "+14155550103", optout::EventKind::opt_out, t0);
    EXPECT(yes(s.optouts().append(manual1)) && yes(s.optouts().append(manual2)));

    auto hist = ex.ok(s.optouts().history(tenant_a, p), __LINE__, "history");
    if (hist) {
        EXPECT(hist->size() == 2);
        if (hist->size() == 2) {
            EXPECT((*hist)[0].kind == optout::EventKind::opt_out && (*hist)[1].kind == optout::EventKind::opt_in);
            EXPECT((*hist)[0].at == e1.at && (*hist)[0].trigger == "STOP" && (*hist)[0].provider_message_id == "wamid.1");
            EXPECT((*hist)[0].sequence == e1.sequence);
        }
    }
    std::vector<OptOutEvent> scanned;
    EXPECT(s.optouts().scan(tenant_a, [&](const OptOutEvent& e) { scanned.push_back(e); }).has_value());
    EXPECT(scanned.size() == 5);
    EXPECT(std::is_sorted(scanned.begin(), scanned.end(),
                          [](const OptOutEvent& a, const OptOutEvent& b) { return a.sequence < b.sequence; }));
    auto marketing = std::find_if(scanned.begin(), scanned.end(), [](const OptOutEvent& e) { return e.sequence != 0 && e.scope == optout::Scope::marketing; });
    EXPECT(marketing != scanned.end());
    if (marketing != scanned.end())
        EXPECT(marketing->method == optout::Method::manual && marketing->actor == UserId{"u-1"} &&
               marketing->channel == "dashboard" && marketing->phone.e164() == "+14155550102");
}

void consent_latest_record_wins(StoreSet& s, Expect& ex) {
    const auto p = phone("+14155550101");
    auto none = ex.ok(s.consents().latest(tenant_a, p, Purpose::marketing), __LINE__, "latest");
    EXPECT(none && !none->has_value());
    EXPECT(s.consents().append({tenant_a, p, Purpose::marketing, true, t0, "web_form", std::nullopt}).has_value());
    EXPECT(s.consents().append({tenant_a, p, Purpose::marketing, false, t0 + std::chrono::hours(1), "dashboard", UserId{"u-2"}}).has_value());
    auto latest = ex.ok(s.consents().latest(tenant_a, p, Purpose::marketing), __LINE__, "latest");
    EXPECT(latest && latest->has_value() && !(*latest)->granted && (*latest)->source == "dashboard" &&
           (*latest)->actor == UserId{"u-2"} && (*latest)->at == t0 + std::chrono::hours(1));
    std::size_t n = 0;
    EXPECT(s.consents().scan(tenant_a, [&](const ConsentRecord&) { ++n; }).has_value());
    EXPECT(n == 2);
}

void inbound_time_only_moves_forward(StoreSet& s, Expect& ex) {
    const auto p = phone("+14155550101");
    EXPECT(s.activity().record_inbound(tenant_a, p, t0 + std::chrono::hours(2)).has_value());
    EXPECT(s.activity().record_inbound(tenant_a, p, t0 + std::chrono::hours(1)).has_value());
    auto last = ex.ok(s.activity().last_inbound(tenant_a, p), __LINE__, "last_inbound");
    EXPECT(last && last->has_value() && **last == t0 + std::chrono::hours(2));
    EXPECT(s.activity().record_inbound(tenant_a, p, t0 + std::chrono::hours(3)).has_value());
    last = ex.ok(s.activity().last_inbound(tenant_a, p), __LINE__, "last_inbound");
    EXPECT(last && last->has_value() && **last == t0 + std::chrono::hours(3));
    std::vector<std::pair<std::string, Timestamp>> seen;
    EXPECT(s.activity().scan(tenant_a, [&](const PhoneNumber& ph, Timestamp at) { seen.emplace_back(ph.e164(), at); }).has_value());
    EXPECT(seen.size() == 1 && seen[0].first == "+14155550101" && seen[0].second == t0 + std::chrono::hours(3));
}

/// The completions of record_inbound_async writes: how often each ran and with what.
class AsyncOutcomes {
public:
    explicit AsyncOutcomes(std::size_t writes) : calls_(writes, 0), failed_(writes, false) {}
    ActivityStore::WriteDone done(std::size_t i) {
        return [this, i](Result<void> outcome) {
            std::lock_guard lock(mutex_);  // notified under it: the waiter may go once it sees the count
            ++calls_[i];
            failed_[i] = !outcome;
            ++finished_;
            changed_.notify_all();
        };
    }
    /// Waits (a generous limit, so a stuck store fails instead of hanging) for `n` completions.
    bool wait_for(std::size_t n) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, std::chrono::seconds(120), [&] { return finished_ >= n; });
    }
    int calls(std::size_t i) {
        std::lock_guard lock(mutex_);
        return calls_[i];
    }
    bool failed(std::size_t i) {
        std::lock_guard lock(mutex_);
        return failed_[i];
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<int> calls_;
    std::vector<bool> failed_;
    std::size_t finished_ = 0;
};

/// record_inbound_async is optional (a store may return false and leave `done` alone); a store
/// that takes the write completes it once, with record_inbound's outcome, and the time is stored
/// (only forward) by then.
void inbound_async_completes_once(StoreSet& s, Expect& ex) {
    const auto p = phone("+14155550101");
    AsyncOutcomes outcomes(4);
    auto done = outcomes.done(0);
    if (!s.activity().record_inbound_async(tenant_a, p, t0 + std::chrono::hours(2), std::move(done))) {
        EXPECT(done != nullptr);  // not offered: `done` was left as it was, nothing written
        auto last = ex.ok(s.activity().last_inbound(tenant_a, p), __LINE__, "last_inbound");
        EXPECT(last && !last->has_value());
        return;
    }
    EXPECT(outcomes.wait_for(1));
    EXPECT(outcomes.calls(0) == 1 && !outcomes.failed(0));
    auto last = ex.ok(s.activity().last_inbound(tenant_a, p), __LINE__, "last_inbound");
    EXPECT(last && last->has_value() && **last == t0 + std::chrono::hours(2));
    EXPECT(s.activity().record_inbound_async(tenant_a, p, t0 + std::chrono::hours(1), outcomes.done(1)));
    EXPECT(outcomes.wait_for(2));
    EXPECT(outcomes.calls(1) == 1 && !outcomes.failed(1));
    last = ex.ok(s.activity().last_inbound(tenant_a, p), __LINE__, "last_inbound");
    EXPECT(last && last->has_value() && **last == t0 + std::chrono::hours(2));
    EXPECT(s.activity().record_inbound_async(TenantId{""}, p, t0, outcomes.done(2)));  // refused like record_inbound
    EXPECT(outcomes.wait_for(3));
    EXPECT(outcomes.calls(2) == 1 && outcomes.failed(2));
    EXPECT(s.activity().record_inbound_async(tenant_a, p, t0 + std::chrono::hours(3), outcomes.done(3)));
    EXPECT(outcomes.wait_for(4));
    last = ex.ok(s.activity().last_inbound(tenant_a, p), __LINE__, "last_inbound");
    EXPECT(last && last->has_value() && **last == t0 + std::chrono::hours(3));
    for (std::size_t i = 0; i < 4; ++i) EXPECT(outcomes.calls(i) == 1);
}

/// append_async is optional (a store may return false and leave `done` alone); a store that takes
/// the event completes it once with what append gives: a sequence above those before it, 0 for a
/// redelivered provider id (nothing stored), a failure for an event without a tenant.
void optout_append_async_completes_once(StoreSet& s, Expect& ex) {
    const auto p = phone("+14155550101");
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<std::optional<Result<std::int64_t>>> got(3);
    auto done = [&](std::size_t i) -> OptOutStore::AppendDone {
        return [&, i](Result<std::int64_t> r) {
            std::lock_guard lock(mutex);
            got[i] = std::move(r);
            changed.notify_all();
        };
    };
    auto wait_for = [&](std::size_t i) {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, std::chrono::seconds(120), [&] { return got[i].has_value(); });
    };
    auto first = event(tenant_a, "+14155550101", optout::EventKind::opt_out, t0, "wamid.async-1");
    EXPECT(yes(s.optouts().append(first)));
    auto d0 = done(0);
    auto stop = event(tenant_a, "+14155550101", optout::EventKind::opt_out, t0 + std::chrono::minutes(1), "wamid.async-2");
    if (!s.optouts().append_async(stop, std::move(d0))) {
        EXPECT(d0 != nullptr);  // not offered: `done` was left as it was, nothing written
        auto hist = ex.ok(s.optouts().history(tenant_a, p), __LINE__, "history");
        EXPECT(hist && hist->size() == 1);
        return;
    }
    EXPECT(wait_for(0));
    EXPECT(got[0] && *got[0]);
    if (!got[0] || !*got[0]) return;
    EXPECT(**got[0] > first.sequence);
    EXPECT(s.optouts().append_async(stop, done(1)));  // Meta redelivers it
    EXPECT(wait_for(1));
    EXPECT(got[1] && *got[1] && **got[1] == 0);
    EXPECT(s.optouts().append_async(event(TenantId{""}, "+14155550101", optout::EventKind::opt_out, t0), done(2)));
    EXPECT(wait_for(2));
    EXPECT(got[2] && !*got[2]);
    auto hist = ex.ok(s.optouts().history(tenant_a, p), __LINE__, "history");
    EXPECT(hist && hist->size() == 2);
    if (hist && hist->size() == 2) {
        EXPECT((*hist)[1].sequence == **got[0]);
        EXPECT((*hist)[1].provider_message_id == "wamid.async-2" && (*hist)[1].at == stop.at);
    }
}

/// Threads mixing blocking and asynchronous inbound writes (blocking where a store does not take
/// them): every write completes once, successfully, and every time is stored.
void inbound_async_and_blocking_writers_lose_nothing(StoreSet& s, Expect& ex) {
    constexpr std::size_t threads = 4, per_thread = 100, writes = threads * per_thread;
    AsyncOutcomes outcomes(writes);
    std::atomic<std::size_t> taken{0};
    std::atomic<int> failures{0};
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            for (std::size_t i = 0; i < per_thread; ++i) {
                const std::size_t n = t * per_thread + i;
                const auto p = phone("+1415555" + std::to_string(1000 + n));
                const Timestamp at = t0 + std::chrono::seconds(n);
                if (i % 2 == 0 && s.activity().record_inbound_async(tenant_a, p, at, outcomes.done(n))) {
                    ++taken;
                } else if (!s.activity().record_inbound(tenant_a, p, at)) {
                    ++failures;
                }
            }
        });
    for (auto& th : pool) th.join();
    EXPECT(failures == 0);
    EXPECT(outcomes.wait_for(taken));
    std::size_t completed_ok = 0;
    for (std::size_t n = 0; n < writes; ++n) completed_ok += outcomes.calls(n) == 1 && !outcomes.failed(n);
    EXPECT(completed_ok == taken);
    std::size_t right = 0, seen = 0;
    EXPECT(s.activity()
               .scan(tenant_a,
                     [&](const PhoneNumber& ph, Timestamp at) {
                         ++seen;
                         const auto n = static_cast<std::size_t>(std::stoul(ph.e164().substr(8)) - 1000);
                         right += at == t0 + std::chrono::seconds(n);
                     })
               .has_value());
    EXPECT(seen == writes);
    EXPECT(right == writes);
}

void unicode_and_binary_text_round_trip(StoreSet& s, Expect& ex) {
    Contact c = contact(tenant_a, "ünïcødé-🆔", "+5511987654321");
    c.name = "José Ñúñez 李小龍 محمد 👩🏽‍💻";
    c.email = "josé@exämple.com";
    if (!ex.ok(s.contacts().put(c), __LINE__, "put")) return;
    std::string body = "olá 👋\nlinha 2\t";
    body.push_back('\0');
    body += "after NUL";
    EXPECT(yes(s.messages().append(message(tenant_a, "m-✓", c.id.value(), t0, body))));
    auto got = ex.ok(s.contacts().get(tenant_a, c.id), __LINE__, "get");
    EXPECT(got && got->has_value() && (*got)->name == c.name && (*got)->email == c.email);
    auto msgs = ex.ok(s.messages().list_for_contact(tenant_a, c.id, 10), __LINE__, "list");
    EXPECT(msgs && msgs->size() == 1 && (*msgs)[0].body == body && (*msgs)[0].id.value() == "m-✓");
}

void large_values_round_trip(StoreSet& s, Expect& ex) {
    Contact c = contact(tenant_a, "c1", "+14155550101");
    c.name.assign(64 * 1024, 'n');
    if (!ex.ok(s.contacts().put(c), __LINE__, "put")) return;
    std::string body(2 * 1024 * 1024, 'x');
    for (std::size_t i = 0; i < body.size(); i += 4096) body[i] = char('a' + (i / 4096) % 26);
    EXPECT(yes(s.messages().append(message(tenant_a, "big", "c1", t0, body))));
    auto msgs = ex.ok(s.messages().list_for_contact(tenant_a, ContactId{"c1"}, 1), __LINE__, "list");
    EXPECT(msgs && msgs->size() == 1 && (*msgs)[0].body == body);
    auto got = s.contacts().get(tenant_a, ContactId{"c1"});
    EXPECT(got && got->has_value() && (*got)->name.size() == 64 * 1024);
}

void concurrent_writers_lose_nothing(StoreSet& s, Expect& ex) {
    constexpr int threads = 4, per_thread = 100;
    EXPECT(s.contacts().put(contact(tenant_a, "c1", "+14155550101")).has_value());
    std::atomic<int> failures{0}, fresh_dedup{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                const std::string n = std::to_string(t) + "-" + std::to_string(i);
                auto e = event(tenant_a, "+1415555" + std::to_string(1000 + t * per_thread + i),
                               optout::EventKind::opt_out, t0, "wamid." + n);
                if (!s.optouts().append(e)) ++failures;
                if (!s.messages().append(message(tenant_a, "m" + n, "c1", t0, n))) ++failures;
                auto d = s.dedup().remember(tenant_a, "shared-" + std::to_string(i), t0);
                if (!d) ++failures;
                else if (*d) ++fresh_dedup;
            }
        });
    for (auto& th : pool) th.join();
    EXPECT(failures == 0);
    EXPECT(fresh_dedup == per_thread);  // each shared key won by exactly one thread
    std::set<std::int64_t> sequences;
    EXPECT(s.optouts().scan(tenant_a, [&](const OptOutEvent& e) { sequences.insert(e.sequence); }).has_value());
    EXPECT(sequences.size() == std::size_t(threads * per_thread));
    auto msgs = s.messages().list_for_contact(tenant_a, ContactId{"c1"}, 10'000);
    EXPECT(msgs && msgs->size() == std::size_t(threads * per_thread));
}

// ---------------------------------------------------------------------------------------------
// Audit trail. The store keeps what it is given: hashes here are placeholders, not a real chain.

audit::Hash fake_hash(std::int64_t sequence) {
    audit::Hash h{};
    h.fill(static_cast<std::uint8_t>(sequence & 0xff));
    if (sequence != 0) h[0] = 0xa5;  // never all zeros, which is the empty chain's hash
    return h;
}

audit::ChainHead head_at(std::int64_t sequence) { return {sequence, sequence == 0 ? audit::Hash{} : fake_hash(sequence)}; }

audit::Entry audit_entry(const TenantId& tenant, std::int64_t sequence, Timestamp at, std::string actor = "u-1",
                         std::string action = "read", std::string target = "c-1") {
    audit::Entry e;
    e.tenant = tenant;
    e.sequence = sequence;
    e.at = at;
    e.actor = audit::Actor::member(UserId{std::move(actor)}, rbac::Role::sales);
    e.action = std::move(action);
    e.target_type = "lead";
    e.target_id = std::move(target);
    e.rule = "sales.assigned_leads";
    e.request_id = "req-" + std::to_string(sequence);
    e.policy_revision = "builtin-1";
    e.prev_hash = head_at(sequence - 1).hash;
    e.hash = fake_hash(sequence);
    return e;
}

std::size_t audit_count(StoreSet& s, const TenantId& tenant) {
    auto all = s.audit().query(audit::Query(tenant));
    return all ? all->size() : 0;
}

void audit_round_trip(StoreSet& s, Expect& ex) {
    std::vector<audit::Entry> entries{audit_entry(tenant_a, 1, t0), audit_entry(tenant_a, 2, t0 + std::chrono::seconds(1)),
                                      audit_entry(tenant_a, 3, t0 + std::chrono::seconds(2))};
    entries[1].actor = audit::Actor::system();
    entries[1].action = "audit.purge";
    entries[1].target_type = "audit_log";
    entries[1].rule = "";
    entries[2].actor = audit::Actor::member(UserId{"u-ümlaut-🆔"}, rbac::Role::manager);
    entries[2].outcome = Reason::not_authorized;
    entries[2].rule = "default.deny";
    entries[2].request_id = "req-\n\"quoted\"";
    auto empty = ex.ok(s.audit().chain(tenant_a), __LINE__, "chain of an empty trail");
    EXPECT(empty && empty->head == audit::ChainHead{} && !empty->checkpoint);
    if (!ex.ok(s.audit().append(tenant_a, entries, head_at(0)), __LINE__, "append")) return;
    auto chain = ex.ok(s.audit().chain(tenant_a), __LINE__, "chain");
    EXPECT(chain && chain->head == head_at(3) && !chain->checkpoint);
    auto all = ex.ok(s.audit().query(audit::Query(tenant_a)), __LINE__, "query");
    EXPECT(all && *all == entries);
    EXPECT(s.audit().append(tenant_a, {}, head_at(3)).has_value());  // an empty append is harmless
}

void audit_append_is_conditional_and_atomic(StoreSet& s, Expect& ex) {
    std::vector<audit::Entry> first{audit_entry(tenant_a, 1, t0), audit_entry(tenant_a, 2, t0)};
    if (!ex.ok(s.audit().append(tenant_a, first, head_at(0)), __LINE__, "append")) return;
    std::vector<audit::Entry> again{audit_entry(tenant_a, 1, t0)};
    auto stale = s.audit().append(tenant_a, again, head_at(0));
    EXPECT(!stale && stale.error() == StorageErrc::conflict);
    audit::ChainHead wrong_hash = head_at(2);
    wrong_hash.hash[5] ^= 1;
    std::vector<audit::Entry> third{audit_entry(tenant_a, 3, t0)};
    auto forged = s.audit().append(tenant_a, third, wrong_hash);
    EXPECT(!forged && forged.error() == StorageErrc::conflict);
    std::vector<audit::Entry> gap{audit_entry(tenant_a, 3, t0), audit_entry(tenant_a, 5, t0)};
    auto gapped = s.audit().append(tenant_a, gap, head_at(2));
    EXPECT(!gapped && gapped.error() == StorageErrc::invalid_argument);
    std::vector<audit::Entry> mixed{audit_entry(tenant_a, 3, t0), audit_entry(tenant_b, 4, t0)};
    auto foreign = s.audit().append(tenant_a, mixed, head_at(2));
    EXPECT(!foreign && foreign.error() == StorageErrc::invalid_argument);
    auto nobody = s.audit().append(TenantId{}, third, head_at(2));
    EXPECT(!nobody && nobody.error() == StorageErrc::invalid_argument);
    EXPECT(audit_count(s, tenant_a) == 2);  // nothing of the refused appends was stored
    auto chain = s.audit().chain(tenant_a);
    EXPECT(chain && chain->head == head_at(2));
    EXPECT(s.audit().append(tenant_a, third, head_at(2)).has_value());
    EXPECT(audit_count(s, tenant_a) == 3);
}

void audit_trails_are_per_tenant(StoreSet& s, Expect& ex) {
    std::vector<audit::Entry> a{audit_entry(tenant_a, 1, t0), audit_entry(tenant_a, 2, t0)};
    std::vector<audit::Entry> b{audit_entry(tenant_b, 1, t0, "u-9")};
    EXPECT(s.audit().append(tenant_a, a, head_at(0)).has_value());
    EXPECT(s.audit().append(tenant_b, b, head_at(0)).has_value());
    auto b_entries = ex.ok(s.audit().query(audit::Query(tenant_b)), __LINE__, "query b");
    EXPECT(b_entries && b_entries->size() == 1 && (*b_entries)[0].actor.user == UserId{"u-9"});
    audit::Query by_actor(tenant_b);
    by_actor.actor = UserId{"u-1"};
    auto none = s.audit().query(by_actor);
    EXPECT(none && none->empty());
    auto none_c = s.audit().query(audit::Query(TenantId{"tenant-c"}));
    EXPECT(none_c && none_c->empty());
    auto purged_b = s.audit().purge_through(tenant_b, 1);
    EXPECT(purged_b && *purged_b == 1);
    auto chain_a = s.audit().chain(tenant_a);
    EXPECT(chain_a && chain_a->head == head_at(2) && !chain_a->checkpoint);
    EXPECT(audit_count(s, tenant_a) == 2);
    auto chain_b = s.audit().chain(tenant_b);
    EXPECT(chain_b && chain_b->checkpoint && chain_b->checkpoint->purged == 1);
}

void audit_queries_filter_and_page(StoreSet& s, Expect& ex) {
    std::vector<audit::Entry> entries;
    for (int i = 1; i <= 12; ++i)
        entries.push_back(audit_entry(tenant_a, i, t0 + std::chrono::minutes(i), i % 3 == 0 ? "u-3" : "u-1",
                                      i % 2 == 0 ? "export" : "read", i % 4 == 0 ? "c-4" : "c-1"));
    entries[10].actor = audit::Actor::system();  // sequence 11
    if (!ex.ok(s.audit().append(tenant_a, entries, head_at(0)), __LINE__, "append")) return;
    auto sequences = [&](const audit::Query& q) {
        std::vector<std::int64_t> out;
        if (auto r = ex.ok(s.audit().query(q), __LINE__, "query"))
            for (const auto& e : *r) out.push_back(e.sequence);
        return out;
    };
    audit::Query q(tenant_a);
    q.from = t0 + std::chrono::minutes(3);
    q.until = t0 + std::chrono::minutes(6);
    EXPECT((sequences(q) == std::vector<std::int64_t>{3, 4, 5}));
    audit::Query actor(tenant_a);
    actor.actor = UserId{"u-3"};
    EXPECT((sequences(actor) == std::vector<std::int64_t>{3, 6, 9, 12}));
    audit::Query action(tenant_a);
    action.action = "export";
    action.actor = UserId{"u-1"};
    EXPECT((sequences(action) == std::vector<std::int64_t>{2, 4, 8, 10}));
    audit::Query target(tenant_a);
    target.target_type = "lead";
    target.target_id = "c-4";
    EXPECT((sequences(target) == std::vector<std::int64_t>{4, 8, 12}));
    target.until = t0 + std::chrono::minutes(10);
    EXPECT((sequences(target) == std::vector<std::int64_t>{4, 8}));
    audit::Query type_only(tenant_a);
    type_only.target_type = "contact";
    EXPECT(sequences(type_only).empty());
    audit::Query page(tenant_a);
    page.limit = 5;
    EXPECT((sequences(page) == std::vector<std::int64_t>{1, 2, 3, 4, 5}));
    page.after_sequence = 5;
    EXPECT((sequences(page) == std::vector<std::int64_t>{6, 7, 8, 9, 10}));
    page.after_sequence = 10;
    EXPECT((sequences(page) == std::vector<std::int64_t>{11, 12}));
    audit::Query id_only(tenant_a);
    id_only.target_id = "c-1";
    id_only.action = "read";
    id_only.after_sequence = 4;
    EXPECT((sequences(id_only) == std::vector<std::int64_t>{5, 7, 9, 11}));
}

void audit_purge_keeps_a_checkpoint(StoreSet& s, Expect& ex) {
    std::vector<audit::Entry> entries;
    for (int i = 1; i <= 5; ++i) entries.push_back(audit_entry(tenant_a, i, t0 + std::chrono::hours(i)));
    if (!ex.ok(s.audit().append(tenant_a, entries, head_at(0)), __LINE__, "append")) return;
    auto purged = ex.ok(s.audit().purge_through(tenant_a, 3), __LINE__, "purge");
    EXPECT(purged && *purged == 3);
    auto chain = ex.ok(s.audit().chain(tenant_a), __LINE__, "chain");
    EXPECT(chain && chain->head == head_at(5));
    EXPECT(chain && chain->checkpoint &&
           *chain->checkpoint == (audit::Checkpoint{3, fake_hash(3), t0 + std::chrono::hours(3), 3}));
    auto rest = ex.ok(s.audit().query(audit::Query(tenant_a)), __LINE__, "query");
    EXPECT(rest && rest->size() == 2 && rest->front().sequence == 4);
    auto again = s.audit().purge_through(tenant_a, 3);
    EXPECT(!again && again.error() == StorageErrc::not_found);
    auto beyond = s.audit().purge_through(tenant_a, 99);
    EXPECT(!beyond && beyond.error() == StorageErrc::not_found);
    EXPECT(audit_count(s, tenant_a) == 2);
    auto all = ex.ok(s.audit().purge_through(tenant_a, 5), __LINE__, "purge the rest");
    EXPECT(all && *all == 2);
    chain = ex.ok(s.audit().chain(tenant_a), __LINE__, "chain");
    EXPECT(chain && chain->checkpoint && chain->checkpoint->purged == 5 && chain->checkpoint->sequence == 5);
    std::vector<audit::Entry> next{audit_entry(tenant_a, 6, t0 + std::chrono::hours(6))};
    EXPECT(s.audit().append(tenant_a, next, head_at(5)).has_value());
    EXPECT(audit_count(s, tenant_a) == 1);
}

void audit_concurrent_appends_one_wins(StoreSet& s, Expect& ex) {
    constexpr int threads = 4, rounds = 25;
    std::atomic<int> wins{0}, conflicts{0}, other{0};
    for (int round = 0; round < rounds; ++round) {
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t)
            pool.emplace_back([&, t] {
                std::vector<audit::Entry> e{audit_entry(tenant_a, round + 1, t0, "u-" + std::to_string(t))};
                auto r = s.audit().append(tenant_a, e, head_at(round));
                if (r) ++wins;
                else if (r.error() == StorageErrc::conflict) ++conflicts;
                else ++other;
            });
        for (auto& th : pool) th.join();
    }
    EXPECT(wins == rounds);
    EXPECT(conflicts == rounds * (threads - 1));
    EXPECT(other == 0);
    EXPECT(audit_count(s, tenant_a) == std::size_t(rounds));
}

/// Whether a scanned view shows every field of the entry that was appended.
bool shows(const audit::EntryView& v, const audit::Entry& e) {
    const audit::EntryView want = audit::view_of(e);
    return v.tenant == want.tenant && v.sequence == want.sequence && v.at == want.at &&
           v.actor_user == want.actor_user && v.actor_role == want.actor_role && v.action == want.action &&
           v.target_type == want.target_type && v.target_id == want.target_id && v.outcome == want.outcome &&
           v.rule == want.rule && v.request_id == want.request_id && v.policy_revision == want.policy_revision &&
           std::equal(v.prev_hash.begin(), v.prev_hash.end(), want.prev_hash.begin(), want.prev_hash.end()) &&
           std::equal(v.hash.begin(), v.hash.end(), want.hash.begin(), want.hash.end());
}

void audit_scan_hands_out_stored_fields(StoreSet& s, Expect& ex) {
    std::vector<audit::Entry> entries;
    for (int i = 1; i <= 6; ++i) entries.push_back(audit_entry(tenant_a, i, t0 + std::chrono::seconds(i)));
    entries[1].actor = audit::Actor::system();
    entries[1].rule = "";
    entries[2].actor = audit::Actor::member(UserId{"u-ümlaut-🆔"}, rbac::Role::owner);
    entries[2].outcome = Reason::not_authorized;
    entries[2].request_id = std::string("req\0with a NUL", 14);
    if (!ex.ok(s.audit().append(tenant_a, entries, head_at(0)), __LINE__, "append")) return;
    EXPECT(s.audit().append(tenant_b, std::vector<audit::Entry>{audit_entry(tenant_b, 1, t0)}, head_at(0)).has_value());

    std::vector<std::int64_t> seen;
    bool all_shown = true;
    auto all = ex.ok(s.audit().scan(tenant_a, 0, 100,
                                    [&](const audit::EntryView& v) {
                                        const auto i = static_cast<std::size_t>(v.sequence - 1);
                                        all_shown = all_shown && i < entries.size() && shows(v, entries[i]);
                                        seen.push_back(v.sequence);
                                        return true;
                                    }),
                     __LINE__, "scan");
    EXPECT(all && *all == 6);
    EXPECT((seen == std::vector<std::int64_t>{1, 2, 3, 4, 5, 6}));
    EXPECT(all_shown);

    auto sequences = [&](const TenantId& tenant, std::int64_t after, std::size_t limit, std::size_t stop_after,
                         std::size_t expect_handed) {
        std::vector<std::int64_t> out;
        auto handed = s.audit().scan(tenant, after, limit, [&](const audit::EntryView& v) {
            out.push_back(v.sequence);
            return out.size() < stop_after;
        });
        ex.that(handed && *handed == expect_handed, __LINE__, "scan hands over the expected count");
        return out;
    };
    EXPECT((sequences(tenant_a, 2, 2, 100, 2) == std::vector<std::int64_t>{3, 4}));
    EXPECT((sequences(tenant_a, 4, 100, 100, 2) == std::vector<std::int64_t>{5, 6}));
    EXPECT((sequences(tenant_a, 0, 100, 3, 3) == std::vector<std::int64_t>{1, 2, 3}));  // the visitor stopped it
    EXPECT(sequences(tenant_a, 6, 100, 100, 0).empty());
    EXPECT(sequences(tenant_a, 0, 0, 100, 0).empty());
    EXPECT((sequences(tenant_b, 0, 100, 100, 1) == std::vector<std::int64_t>{1}));
    EXPECT(sequences(TenantId{"tenant-c"}, 0, 100, 100, 0).empty());
    auto nobody = s.audit().scan(TenantId{}, 0, 100, [](const audit::EntryView&) { return true; });
    EXPECT(!nobody && nobody.error() == StorageErrc::invalid_argument);
    EXPECT(s.audit().purge_through(tenant_a, 2).has_value());
    EXPECT((sequences(tenant_a, 0, 100, 100, 4) == std::vector<std::int64_t>{3, 4, 5, 6}));
}

// ---- data-subject rights (privacy::) ----

optout::NumberTag tag_of(std::uint8_t fill) {
    optout::NumberTag t{};
    t.fill(fill);
    return t;
}

void erasing_a_number_keeps_its_optouts_as_a_tag(StoreSet& s, Expect& ex) {
    const auto ada = phone("+14155550101");
    const auto bob = phone("+14155550102");
    auto stop = event(tenant_a, "+14155550101", optout::EventKind::opt_out, t0, "wamid.ada-1");
    auto manual = event(tenant_a, "+14155550101", optout::EventKind::opt_out, t0 + std::chrono::minutes(1));
    manual.method = optout::Method::manual;
    manual.scope = optout::Scope::marketing;
    manual.trigger = "Ada called and asked us to stop";
    manual.actor = UserId{"u-1"};
    manual.channel = "dashboard";
    auto other = event(tenant_a, "+14155550102", optout::EventKind::opt_out, t0 + std::chrono::minutes(2));
    auto start = event(tenant_a, "+14155550101", optout::EventKind::opt_in, t0 + std::chrono::minutes(3));
    auto b_side = event(tenant_b, "+14155550101", optout::EventKind::opt_out, t0);
    for (OptOutEvent* e : {&stop, &manual, &other, &start, &b_side}) EXPECT(yes(s.optouts().append(*e)));

    auto erased = ex.ok(s.optouts().erase_number(tenant_a, ada, tag_of(0xA1)), __LINE__, "erase_number");
    EXPECT(erased == std::optional<std::size_t>{3});
    auto history = ex.ok(s.optouts().history(tenant_a, ada), __LINE__, "history after erasure");
    EXPECT(history && history->empty());
    std::vector<OptOutEvent> live;
    EXPECT(s.optouts().scan(tenant_a, [&](const OptOutEvent& e) { live.push_back(e); }).has_value());
    EXPECT(live.size() == 1 && live[0].phone == bob);

    std::vector<optout::ErasedOptOutEvent> kept;
    EXPECT(s.optouts().scan_erased(tenant_a, [&](const optout::ErasedOptOutEvent& e) { kept.push_back(e); }).has_value());
    EXPECT(kept.size() == 3);
    if (kept.size() == 3) {
        EXPECT(kept[0].sequence == stop.sequence && kept[1].sequence == manual.sequence &&
               kept[2].sequence == start.sequence);
        for (const auto& k : kept) EXPECT(k.tenant == tenant_a && k.tag == tag_of(0xA1));
        EXPECT(kept[0].kind == optout::EventKind::opt_out && kept[0].method == optout::Method::keyword &&
               kept[0].scope == optout::Scope::all && kept[0].at == t0 && kept[0].trigger == "STOP" &&
               kept[0].channel == "whatsapp");
        // A team member's note is free text about the person: it goes with the number.
        EXPECT(kept[1].method == optout::Method::manual && kept[1].scope == optout::Scope::marketing &&
               kept[1].trigger.empty() && kept[1].channel == "dashboard");
        EXPECT(kept[2].kind == optout::EventKind::opt_in && kept[2].trigger == "START");
    }
    // Idempotent; the other tenant keeps its own events.
    auto again = ex.ok(s.optouts().erase_number(tenant_a, ada, tag_of(0xA1)), __LINE__, "erase_number again");
    EXPECT(again == std::optional<std::size_t>{0});
    auto b_history = ex.ok(s.optouts().history(tenant_b, ada), __LINE__, "other tenant's history");
    EXPECT(b_history && b_history->size() == 1);
    std::size_t b_erased = 0;
    EXPECT(s.optouts().scan_erased(tenant_b, [&](const optout::ErasedOptOutEvent&) { ++b_erased; }).has_value());
    EXPECT(b_erased == 0);
    // The number may come back later: its new events are ordinary ones again.
    auto back = event(tenant_a, "+14155550101", optout::EventKind::opt_out, t0 + std::chrono::hours(1));
    EXPECT(yes(s.optouts().append(back)));
    EXPECT(back.sequence > start.sequence);
    auto after = ex.ok(s.optouts().history(tenant_a, ada), __LINE__, "history of the returning number");
    EXPECT(after && after->size() == 1);
}

void optout_events_are_read_since_a_sequence(StoreSet& s, Expect& ex) {
    auto ada_stop = event(tenant_a, "+14155550101", optout::EventKind::opt_out, t0);
    auto bob_stop = event(tenant_a, "+14155550102", optout::EventKind::opt_out, t0 + std::chrono::minutes(1));
    auto other = event(tenant_b, "+14155550103", optout::EventKind::opt_out, t0);
    auto ada_start = event(tenant_a, "+14155550101", optout::EventKind::opt_in, t0 + std::chrono::minutes(2));
    auto cy_stop = event(tenant_a, "+14155550104", optout::EventKind::opt_out, t0 + std::chrono::minutes(3), "wamid.cy");
    for (OptOutEvent* e : {&ada_stop, &bob_stop, &other, &ada_start, &cy_stop}) EXPECT(yes(s.optouts().append(*e)));
    EXPECT(ada_stop.sequence < bob_stop.sequence && bob_stop.sequence < ada_start.sequence &&
           ada_start.sequence < cy_stop.sequence);
    // Ada is erased: her two events are now erased ones, still in the log's order.
    EXPECT(ex.ok(s.optouts().erase_number(tenant_a, phone("+14155550101"), tag_of(0xA1)), __LINE__, "erase_number") ==
           std::optional<std::size_t>{2});

    // (sequence, erased) pairs in the order the visitors were called.
    using Seen = std::vector<std::pair<std::int64_t, bool>>;
    const auto since = [&](const TenantId& t, std::int64_t after) {
        Seen seen;
        const auto r = s.optouts().scan_since(
            t, after,
            [&](const OptOutEvent& e) {
                EXPECT(e.tenant == t);
                seen.emplace_back(e.sequence, false);
            },
            [&](const optout::ErasedOptOutEvent& e) {
                EXPECT(e.tenant == t && e.tag == tag_of(0xA1));
                seen.emplace_back(e.sequence, true);
            });
        EXPECT(r.has_value());
        return seen;
    };
    EXPECT((since(tenant_a, 0) == Seen{{ada_stop.sequence, true},
                                      {bob_stop.sequence, false},
                                      {ada_start.sequence, true},
                                      {cy_stop.sequence, false}}));
    EXPECT((since(tenant_a, bob_stop.sequence) == Seen{{ada_start.sequence, true}, {cy_stop.sequence, false}}));
    EXPECT(since(tenant_a, cy_stop.sequence).empty());
    EXPECT((since(tenant_b, 0) == Seen{{other.sequence, false}}));

    // Every field of an ordinary event comes back, as from scan().
    std::vector<OptOutEvent> got;
    EXPECT(s.optouts()
               .scan_since(tenant_a, ada_start.sequence, [&](const OptOutEvent& e) { got.push_back(e); },
                           [](const optout::ErasedOptOutEvent&) {})
               .has_value());
    EXPECT(got.size() == 1);
    if (got.size() == 1)
        EXPECT(got[0].phone == phone("+14155550104") && got[0].kind == optout::EventKind::opt_out &&
               got[0].trigger == "STOP" && got[0].at == t0 + std::chrono::minutes(3) &&
               got[0].provider_message_id == "wamid.cy" && got[0].sequence == cy_stop.sequence);

    // Many events: every one once, in order, across the store's read batches.
    const std::int64_t before = cy_stop.sequence;
    for (int i = 0; i < 600; ++i) {
        auto e = event(tenant_a, "+14155550105", i % 2 == 0 ? optout::EventKind::opt_out : optout::EventKind::opt_in,
                       t0 + std::chrono::seconds(i));
        EXPECT(yes(s.optouts().append(e)));
    }
    const Seen many = since(tenant_a, before);
    EXPECT(many.size() == 600);
    bool ordered = true;
    for (std::size_t i = 1; i < many.size(); ++i) ordered = ordered && many[i - 1].first < many[i].first;
    EXPECT(ordered);
}

void consent_records_of_a_number_are_listed_and_erased(StoreSet& s, Expect& ex) {
    const auto ada = phone("+14155550101");
    const auto bob = phone("+14155550102");
    EXPECT(s.consents().append({tenant_a, ada, Purpose::marketing, true, t0, "web_form", std::nullopt}).has_value());
    EXPECT(s.consents().append({tenant_a, bob, Purpose::marketing, true, t0, "web_form", std::nullopt}).has_value());
    EXPECT(s.consents().append({tenant_a, ada, Purpose::marketing, false, t0 + std::chrono::hours(1), "whatsapp",
                                UserId{"u-1"}}).has_value());
    EXPECT(s.consents().append({tenant_b, ada, Purpose::marketing, true, t0, "web_form", std::nullopt}).has_value());
    auto records = ex.ok(s.consents().records(tenant_a, ada), __LINE__, "records");
    EXPECT(records && records->size() == 2);
    if (records && records->size() == 2) {
        EXPECT((*records)[0].granted && (*records)[0].source == "web_form");
        EXPECT(!(*records)[1].granted && (*records)[1].actor == UserId{"u-1"});
    }
    auto erased = ex.ok(s.consents().erase_number(tenant_a, ada), __LINE__, "erase_number");
    EXPECT(erased == std::optional<std::size_t>{2});
    auto latest = ex.ok(s.consents().latest(tenant_a, ada, Purpose::marketing), __LINE__, "latest after erasure");
    EXPECT(latest && !latest->has_value());
    auto left = ex.ok(s.consents().records(tenant_a, ada), __LINE__, "records after erasure");
    EXPECT(left && left->empty());
    auto others = ex.ok(s.consents().records(tenant_a, bob), __LINE__, "another number's records");
    EXPECT(others && others->size() == 1);
    auto b_side = ex.ok(s.consents().records(tenant_b, ada), __LINE__, "another tenant's records");
    EXPECT(b_side && b_side->size() == 1);
    auto again = ex.ok(s.consents().erase_number(tenant_a, ada), __LINE__, "erase_number again");
    EXPECT(again == std::optional<std::size_t>{0});
}

void inbound_activity_of_a_number_is_forgotten(StoreSet& s, Expect& ex) {
    const auto ada = phone("+14155550101");
    const auto bob = phone("+14155550102");
    EXPECT(s.activity().record_inbound(tenant_a, ada, t0).has_value());
    EXPECT(s.activity().record_inbound(tenant_a, bob, t0).has_value());
    EXPECT(s.activity().record_inbound(tenant_b, ada, t0).has_value());
    EXPECT(yes(s.activity().forget(tenant_a, ada)));
    EXPECT(no(s.activity().forget(tenant_a, ada)));
    auto last = ex.ok(s.activity().last_inbound(tenant_a, ada), __LINE__, "last_inbound after forget");
    EXPECT(last && !last->has_value());
    std::vector<PhoneNumber> seen;
    EXPECT(s.activity().scan(tenant_a, [&](const PhoneNumber& p, Timestamp) { seen.push_back(p); }).has_value());
    EXPECT(seen == std::vector<PhoneNumber>{bob});
    auto b_side = ex.ok(s.activity().last_inbound(tenant_b, ada), __LINE__, "another tenant's activity");
    EXPECT(b_side && b_side->has_value());
}

void contact_messages_are_scanned_in_order(StoreSet& s, Expect& ex) {
    EXPECT(s.contacts().put(contact(tenant_a, "c1", "+14155550101")).has_value());
    EXPECT(s.contacts().put(contact(tenant_a, "c2", "+14155550102")).has_value());
    // More than any reasonable batch, with ties in time (order of appending breaks them).
    for (int i = 0; i < 700; ++i) {
        const Timestamp at = t0 + std::chrono::seconds(700 - i / 3);
        // Appended rather than "m" + ...: g++ 12 at -O2 warns falsely (-Wrestrict) on the insert.
        std::string id = "m";
        id += std::to_string(i);
        std::string body = "body ";
        body += std::to_string(i);
        EXPECT(yes(s.messages().append(message(tenant_a, id, "c1", at, body))));
    }
    EXPECT(yes(s.messages().append(message(tenant_a, "x1", "c2", t0, "not c1's"))));
    auto listed = ex.ok(s.messages().list_for_contact(tenant_a, ContactId{"c1"}, 10'000), __LINE__, "list_for_contact");
    std::vector<std::string> scanned;
    EXPECT(s.messages()
               .scan_for_contact(tenant_a, ContactId{"c1"},
                                 [&](const MessageRecord& m) { scanned.push_back(m.id.value() + "|" + m.body); })
               .has_value());
    if (!listed) return;
    std::vector<std::string> expected;
    for (const auto& m : *listed) expected.push_back(m.id.value() + "|" + m.body);
    EXPECT(scanned.size() == 700);
    EXPECT(scanned == expected);
    std::size_t other_tenant = 0;
    EXPECT(s.messages().scan_for_contact(tenant_b, ContactId{"c1"}, [&](const MessageRecord&) { ++other_tenant; }).has_value());
    EXPECT(other_tenant == 0);
}

privacy::SubjectRequest request(const TenantId& tenant, std::string id, privacy::RequestStatus status) {
    privacy::SubjectRequest r;
    r.tenant = tenant;
    r.id = std::move(id);
    r.type = privacy::RequestType::erasure;
    r.subject = "contact:c1";
    r.received_at = t0;
    r.acknowledge_by = t0 + std::chrono::hours(48);
    r.due_by = t0 + std::chrono::days(30);
    r.status = status;
    return r;
}

void subject_requests_round_trip_and_list(StoreSet& s, Expect& ex) {
    using privacy::RequestStatus;
    auto full = request(tenant_a, "r2", RequestStatus::acknowledged);
    full.type = privacy::RequestType::portability;
    full.subject = "phone:0123456789abcdef0123456789abcdef";
    full.extended = true;
    full.handled_by = UserId{"u-9"};
    full.acknowledged_at = t0 + std::chrono::hours(3);
    EXPECT(s.requests().put(full).has_value());
    EXPECT(s.requests().put(request(tenant_a, "r1", RequestStatus::completed)).has_value());
    EXPECT(s.requests().put(request(tenant_a, "r3", RequestStatus::received)).has_value());
    EXPECT(s.requests().put(request(tenant_b, "r4", RequestStatus::received)).has_value());
    auto got = ex.ok(s.requests().get(tenant_a, "r2"), __LINE__, "get");
    EXPECT(got && got->has_value());
    if (got && got->has_value()) {
        const auto& g = **got;
        EXPECT(g.tenant == tenant_a && g.id == "r2" && g.type == privacy::RequestType::portability);
        EXPECT(g.subject == full.subject && g.received_at == t0 && g.acknowledge_by == full.acknowledge_by);
        EXPECT(g.due_by == full.due_by && g.extended && g.status == RequestStatus::acknowledged);
        EXPECT(g.handled_by == full.handled_by && g.acknowledged_at == full.acknowledged_at && !g.closed_at);
    }
    // Replacing it closes it.
    full.status = RequestStatus::refused;
    full.closed_at = t0 + std::chrono::days(2);
    EXPECT(s.requests().put(full).has_value());
    auto closed = ex.ok(s.requests().get(tenant_a, "r2"), __LINE__, "get after replace");
    EXPECT(closed && closed->has_value() && (*closed)->status == RequestStatus::refused &&
           (*closed)->closed_at == full.closed_at);
    auto all = ex.ok(s.requests().list(tenant_a, {"", 2}, false), __LINE__, "list page 1");
    EXPECT(all && all->size() == 2 && (*all)[0].id == "r1" && (*all)[1].id == "r2");
    auto rest = ex.ok(s.requests().list(tenant_a, {"r2", 2}, false), __LINE__, "list page 2");
    EXPECT(rest && rest->size() == 1 && (*rest)[0].id == "r3");
    auto open = ex.ok(s.requests().list(tenant_a, {}, true), __LINE__, "list open");
    EXPECT(open && open->size() == 1 && (*open)[0].id == "r3");
    auto other = ex.ok(s.requests().get(tenant_b, "r2"), __LINE__, "get from another tenant");
    EXPECT(other && !other->has_value());
    auto bad = s.requests().put(request(tenant_a, "", RequestStatus::received));
    EXPECT(!bad && bad.error() == StorageErrc::invalid_argument);
}

struct Case {
    const char* name;
    void (*run)(StoreSet&, Expect&);
};

void dedup_case(StoreSet& s, Expect& ex) {
    EXPECT(yes(s.dedup().remember(tenant_a, "wamid.1", t0)));
    auto again = s.dedup().remember(tenant_a, "wamid.1", t0 + std::chrono::hours(48));
    EXPECT(again && !again.value());
    EXPECT(yes(s.dedup().remember(tenant_a, "wamid.2", t0)));
}

void invalid_case(StoreSet& s, Expect& ex) {
    auto bad_contact = s.contacts().put(contact(TenantId{""}, "c1", "+14155550101"));
    EXPECT(!bad_contact && bad_contact.error() == StorageErrc::invalid_argument);
    auto no_id = s.contacts().put(contact(tenant_a, "", "+14155550101"));
    EXPECT(!no_id && no_id.error() == StorageErrc::invalid_argument);
    auto bad_msg = s.messages().append(message(tenant_a, "", "c1", t0, "x"));
    EXPECT(!bad_msg && bad_msg.error() == StorageErrc::invalid_argument);
    auto e = event(TenantId{""}, "+14155550101", optout::EventKind::opt_out, t0);
    auto bad_event = s.optouts().append(e);
    EXPECT(!bad_event && bad_event.error() == StorageErrc::invalid_argument);
    auto bad_key = s.dedup().remember(tenant_a, "", t0);
    EXPECT(!bad_key && bad_key.error() == StorageErrc::invalid_argument);
    auto listed = s.contacts().list(tenant_a, {});
    EXPECT(listed && listed->empty());  // nothing half-stored
}

const Case cases[] = {
    {"contacts round-trip every field", contacts_round_trip},
    {"putting a contact again replaces it", contacts_put_replaces},
    {"contact listings are ordered by id and paged", listing_is_ordered_and_paged},
    {"contacts under legal hold are listed alone, soft-deleted ones too, in id order and paged",
     held_contacts_are_listed_alone},
    {"tenant A never sees tenant B's rows", tenants_are_isolated},
    {"soft delete hides a contact from lookup but keeps the row", soft_delete_hides_from_lookup_but_keeps_the_row},
    {"find by phone returns the live contact with the smallest id", find_by_phone_returns_the_live_contact},
    {"hard delete cascades to messages and keeps opt-out events", hard_delete_cascades_messages_and_keeps_optouts},
    {"messages are ordered by time and appended once per id", messages_are_ordered_and_idempotent},
    {"a provider's delivery status only moves a message forward", provider_statuses_only_move_forward},
    {"an accepted send keeps its provider id for the status webhooks", record_sent_keeps_the_provider_id},
    {"opt-out events are append-only, ordered and de-duplicated by provider id", optout_events_are_append_only_and_ordered},
    {"the latest consent record is in force", consent_latest_record_wins},
    {"the last inbound time only moves forward", inbound_time_only_moves_forward},
    {"an asynchronous inbound write, if taken, completes once with what record_inbound gives",
     inbound_async_completes_once},
    {"threads mixing asynchronous and blocking inbound writes lose nothing",
     inbound_async_and_blocking_writers_lose_nothing},
    {"an asynchronous opt-out append, if taken, completes once with what append gives",
     optout_append_async_completes_once},
    {"a webhook key is remembered once", dedup_case},
    {"unicode and NUL bytes round-trip", unicode_and_binary_text_round_trip},
    {"large values round-trip", large_values_round_trip},
    {"concurrent writers lose nothing", concurrent_writers_lose_nothing},
    {"invalid records are refused and nothing is stored", invalid_case},
    {"audit entries round-trip every field, in order, with the chain's head", audit_round_trip},
    {"an audit append against a stale head or out of line stores nothing", audit_append_is_conditional_and_atomic},
    {"audit trails are separate per tenant", audit_trails_are_per_tenant},
    {"audit queries filter by time, actor, action and target, and page by sequence", audit_queries_filter_and_page},
    {"an audit purge removes a prefix and records its checkpoint", audit_purge_keeps_a_checkpoint},
    {"of concurrent audit appends against one head exactly one wins", audit_concurrent_appends_one_wins},
    {"an audit scan hands out every stored field, from a sequence, up to a limit, until told to stop",
     audit_scan_hands_out_stored_fields},
    {"erasing a number keeps its opt-out events only as a keyed hash, in order", erasing_a_number_keeps_its_optouts_as_a_tag},
    {"opt-out events are read since a sequence, erased ones too, in one order", optout_events_are_read_since_a_sequence},
    {"a number's consent records are listed and erased", consent_records_of_a_number_are_listed_and_erased},
    {"a number's inbound activity is forgotten", inbound_activity_of_a_number_is_forgotten},
    {"a contact's messages are scanned in order, however many", contact_messages_are_scanned_in_order},
    {"data-subject requests round-trip and list by id, open ones apart", subject_requests_round_trip_and_list},
};

#undef EXPECT

}  // namespace

std::vector<std::string> conformance_case_names() {
    std::vector<std::string> names;
    for (const Case& c : cases) names.emplace_back(c.name);
    return names;
}

std::vector<std::string> run_conformance_case(std::string_view name, const StoreFactory& make) {
    for (const Case& c : cases) {
        if (name != c.name) continue;
        Expect ex;
        std::unique_ptr<StoreSet> store = make();
        if (!store) return {"the factory returned no store"};
        try {
            c.run(*store, ex);
        } catch (const std::exception& e) {
            ex.that(false, 0, std::string("exception escaped: ") + e.what());
        }
        return ex.take();
    }
    return {"no conformance case named '" + std::string(name) + "'"};
}

}  // namespace heroshhi::testing
