#include <heroshhi/storage/errors.hpp>
#include <heroshhi/storage/memory_store.hpp>

#include "detail/retention_cursor.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <tuple>
#include <unordered_map>

namespace heroshhi::storage {

struct MemoryStore::State {
    using ContactKey = std::pair<std::string, std::string>;  // tenant, contact id
    using PhoneKey = std::pair<std::string, std::uint64_t>;  // tenant, phone key

    mutable std::mutex mutex;
    std::map<ContactKey, Contact> contacts;
    std::vector<MessageRecord> messages;                     // in order of appending
    std::set<std::pair<std::string, std::string>> message_ids;
    std::vector<optout::OptOutEvent> optout_events;          // in sequence order
    std::set<std::pair<std::string, std::string>> optout_provider_ids;
    std::int64_t next_sequence = 1;
    std::vector<ConsentRecord> consents;
    std::map<PhoneKey, Timestamp> last_inbound;
    std::map<std::pair<std::string, std::string>, Timestamp> dedup_keys;  // -> when first seen
    struct AuditTrail {
        std::vector<audit::Entry> entries;  // in sequence order
        audit::ChainState chain;
    };
    std::map<std::string, AuditTrail> audit;  // by tenant
    // Retention (issue 6)
    std::vector<std::int64_t> consent_sequences;  // parallel to `consents`: stable keys for sweeps
    std::int64_t next_consent_sequence = 1;
    std::map<std::string, Account> accounts;      // by tenant
    std::map<std::string, std::string, std::less<>> journal;  // by sweeper name
    using AggregateKey = std::tuple<std::string, std::int64_t, std::string, std::string>;  // tenant, day, event, source
    std::map<AggregateKey, std::int64_t> aggregates;
    // Data-subject rights (privacy::)
    std::vector<optout::ErasedOptOutEvent> erased_events;  // in sequence order
    std::map<std::pair<std::string, std::string>, privacy::SubjectRequest> requests;  // tenant, id
};

namespace {

Result<void> require(bool ok, const char* what) {
    if (ok) return {};
    return {StorageErrc::invalid_argument, what};
}

}  // namespace

Result<void> MemoryStore::put(const Contact& c) {
    if (auto ok = require(!c.tenant.empty() && !c.id.empty(), "contact needs a tenant and an id"); !ok) return ok;
    std::lock_guard lock(state_->mutex);
    state_->contacts.insert_or_assign({c.tenant.value(), c.id.value()}, c);
    return {};
}

Result<std::optional<Contact>> MemoryStore::get(const TenantId& tenant, const ContactId& id) const {
    std::lock_guard lock(state_->mutex);
    auto it = state_->contacts.find({tenant.value(), id.value()});
    if (it == state_->contacts.end()) return std::optional<Contact>{};
    return std::optional<Contact>{it->second};
}

Result<std::optional<Contact>> MemoryStore::find_by_phone(const TenantId& tenant, const PhoneNumber& phone) const {
    std::lock_guard lock(state_->mutex);
    for (auto it = state_->contacts.lower_bound({tenant.value(), ""});
         it != state_->contacts.end() && it->first.first == tenant.value(); ++it)
        if (it->second.phone == phone && !it->second.deleted_at) return std::optional<Contact>{it->second};
    return std::optional<Contact>{};
}

Result<std::vector<Contact>> MemoryStore::list(const TenantId& tenant, const Page& page) const {
    std::lock_guard lock(state_->mutex);
    std::vector<Contact> out;
    for (auto it = state_->contacts.upper_bound({tenant.value(), page.after});
         it != state_->contacts.end() && it->first.first == tenant.value() && out.size() < page.limit; ++it)
        out.push_back(it->second);
    return out;
}

Result<std::vector<Contact>> MemoryStore::list_held(const TenantId& tenant, const Page& page) const {
    std::lock_guard lock(state_->mutex);
    std::vector<Contact> out;
    for (auto it = state_->contacts.upper_bound({tenant.value(), page.after});
         it != state_->contacts.end() && it->first.first == tenant.value() && out.size() < page.limit; ++it)
        if (it->second.legal_hold) out.push_back(it->second);
    return out;
}

Result<bool> MemoryStore::soft_delete(const TenantId& tenant, const ContactId& id, Timestamp at) {
    std::lock_guard lock(state_->mutex);
    auto it = state_->contacts.find({tenant.value(), id.value()});
    if (it == state_->contacts.end() || it->second.deleted_at) return false;
    it->second.deleted_at = at;
    return true;
}

Result<bool> MemoryStore::hard_delete(const TenantId& tenant, const ContactId& id) {
    std::lock_guard lock(state_->mutex);
    if (state_->contacts.erase({tenant.value(), id.value()}) == 0) return false;
    auto& msgs = state_->messages;
    msgs.erase(std::remove_if(msgs.begin(), msgs.end(),
                              [&](const MessageRecord& m) {
                                  const bool gone = m.tenant == tenant && m.contact == id;
                                  if (gone) state_->message_ids.erase({m.tenant.value(), m.id.value()});
                                  return gone;
                              }),
               msgs.end());
    return true;
}

Result<bool> MemoryStore::append(const MessageRecord& m) {
    if (auto ok = require(!m.tenant.empty() && !m.id.empty() && !m.contact.empty(),
                          "message needs a tenant, an id and a contact");
        !ok)
        return ok.error();
    std::lock_guard lock(state_->mutex);
    if (!state_->contacts.count({m.tenant.value(), m.contact.value()}))
        return {StorageErrc::not_found, "no contact '" + m.contact.value() + "' for this message"};
    if (!state_->message_ids.insert({m.tenant.value(), m.id.value()}).second) return false;
    state_->messages.push_back(m);
    return true;
}

Result<bool> MemoryStore::update_status(const TenantId& tenant, const MessageId& id, MessageStatus status,
                                        Timestamp at) {
    std::lock_guard lock(state_->mutex);
    for (auto& m : state_->messages)
        if (m.tenant == tenant && m.id == id) {
            m.status = status;
            m.updated_at = at;
            return true;
        }
    return false;
}

Result<bool> MemoryStore::record_sent(const TenantId& tenant, const MessageId& id, std::string_view provider_message_id,
                                      Timestamp at) {
    if (auto ok = require(!tenant.empty() && !id.empty() && !provider_message_id.empty(),
                          "recording a send needs a tenant, an id and a provider message id");
        !ok)
        return ok.error();
    std::lock_guard lock(state_->mutex);
    for (auto& m : state_->messages) {
        if (m.tenant != tenant || m.id != id) continue;
        if (m.provider_message_id.empty()) m.provider_message_id = std::string(provider_message_id);
        if (status_advances(m.status, MessageStatus::sent)) {
            m.status = MessageStatus::sent;
            m.updated_at = at;
        }
        return true;
    }
    return false;
}

Result<std::optional<MessageId>> MemoryStore::update_status_by_provider_id(const TenantId& tenant,
                                                                         std::string_view provider_message_id,
                                                                         MessageStatus status, Timestamp at) {
    if (auto ok = require(!tenant.empty() && !provider_message_id.empty(),
                          "a status update needs a tenant and a provider message id");
        !ok)
        return ok.error();
    std::lock_guard lock(state_->mutex);
    for (auto& m : state_->messages) {
        if (m.tenant != tenant || m.provider_message_id != provider_message_id) continue;
        if (!status_advances(m.status, status)) return std::optional<MessageId>{};
        m.status = status;
        m.updated_at = at;
        return std::optional<MessageId>{m.id};
    }
    return std::optional<MessageId>{};
}

Result<std::vector<MessageRecord>> MemoryStore::list_for_contact(const TenantId& tenant, const ContactId& contact,
                                                                std::size_t limit) const {
    std::lock_guard lock(state_->mutex);
    std::vector<MessageRecord> out;
    for (const auto& m : state_->messages)
        if (m.tenant == tenant && m.contact == contact) out.push_back(m);
    std::stable_sort(out.begin(), out.end(),
                     [](const MessageRecord& a, const MessageRecord& b) { return a.created_at < b.created_at; });
    if (out.size() > limit) out.resize(limit);
    return out;
}

Result<void> MemoryStore::scan_for_contact(const TenantId& tenant, const ContactId& contact,
                                           const std::function<void(const MessageRecord&)>& visit) const {
    if (auto ok = require(!tenant.empty() && !contact.empty() && visit, "scanning messages needs a tenant, a contact and a visitor");
        !ok)
        return ok;
    auto all = list_for_contact(tenant, contact, std::numeric_limits<std::size_t>::max());
    if (!all) return all.error();
    for (const MessageRecord& m : *all) visit(m);  // outside the lock: the visitor may call back
    return {};
}

Result<bool> MemoryStore::append(optout::OptOutEvent& e) {
    if (auto ok = require(!e.tenant.empty(), "opt-out event needs a tenant"); !ok) return ok.error();
    std::lock_guard lock(state_->mutex);
    if (!e.provider_message_id.empty() &&
        !state_->optout_provider_ids.insert({e.tenant.value(), e.provider_message_id}).second)
        return false;
    e.sequence = state_->next_sequence++;
    state_->optout_events.push_back(e);
    return true;
}

Result<std::vector<optout::OptOutEvent>> MemoryStore::history(const TenantId& tenant, const PhoneNumber& phone) const {
    std::lock_guard lock(state_->mutex);
    std::vector<optout::OptOutEvent> out;
    for (const auto& e : state_->optout_events)
        if (e.tenant == tenant && e.phone == phone) out.push_back(e);
    return out;
}

Result<void> MemoryStore::scan(const TenantId& tenant,
                               const std::function<void(const optout::OptOutEvent&)>& visit) const {
    std::lock_guard lock(state_->mutex);
    for (const auto& e : state_->optout_events)
        if (e.tenant == tenant) visit(e);
    return {};
}

Result<std::size_t> MemoryStore::erase_number(const TenantId& tenant, const PhoneNumber& phone,
                                              const optout::NumberTag& tag) {
    if (auto ok = require(!tenant.empty(), "erasing a number needs a tenant"); !ok) return ok.error();
    std::lock_guard lock(state_->mutex);
    std::size_t erased = 0;
    std::erase_if(state_->optout_events, [&](const optout::OptOutEvent& e) {
        if (e.tenant != tenant || e.phone != phone) return false;
        const bool free_text = e.method == optout::Method::manual || e.method == optout::Method::api;
        state_->erased_events.push_back({e.tenant, tag, e.kind, e.scope, e.method, e.at,
                                         free_text ? std::string() : e.trigger, e.channel, e.sequence});
        if (!e.provider_message_id.empty()) state_->optout_provider_ids.erase({e.tenant.value(), e.provider_message_id});
        ++erased;
        return true;
    });
    std::stable_sort(state_->erased_events.begin(), state_->erased_events.end(),
                     [](const auto& a, const auto& b) { return a.sequence < b.sequence; });
    return erased;
}

Result<void> MemoryStore::scan_erased(const TenantId& tenant,
                                      const std::function<void(const optout::ErasedOptOutEvent&)>& visit) const {
    std::lock_guard lock(state_->mutex);
    for (const auto& e : state_->erased_events)
        if (e.tenant == tenant) visit(e);
    return {};
}

Result<void> MemoryStore::scan_since(const TenantId& tenant, std::int64_t after_sequence,
                                     const std::function<void(const optout::OptOutEvent&)>& visit,
                                     const std::function<void(const optout::ErasedOptOutEvent&)>& visit_erased) const {
    if (auto ok = require(!tenant.empty() && visit && visit_erased, "scanning opt-out events needs a tenant and two visitors");
        !ok)
        return ok.error();
    std::vector<optout::OptOutEvent> events;
    std::vector<optout::ErasedOptOutEvent> erased;
    {
        std::lock_guard lock(state_->mutex);  // both lists at one moment; visited outside the lock
        for (const auto& e : state_->optout_events)
            if (e.tenant == tenant && e.sequence > after_sequence) events.push_back(e);
        for (const auto& e : state_->erased_events)
            if (e.tenant == tenant && e.sequence > after_sequence) erased.push_back(e);
    }
    std::size_t i = 0, j = 0;
    while (i < events.size() || j < erased.size()) {
        if (j == erased.size() || (i < events.size() && events[i].sequence < erased[j].sequence)) visit(events[i++]);
        else visit_erased(erased[j++]);
    }
    return {};
}

Result<void> MemoryStore::append(const ConsentRecord& r) {
    if (auto ok = require(!r.tenant.empty(), "consent record needs a tenant"); !ok) return ok;
    std::lock_guard lock(state_->mutex);
    state_->consents.push_back(r);
    state_->consent_sequences.push_back(state_->next_consent_sequence++);
    return {};
}

Result<std::optional<ConsentRecord>> MemoryStore::latest(const TenantId& tenant, const PhoneNumber& phone,
                                                         Purpose purpose) const {
    std::lock_guard lock(state_->mutex);
    for (auto it = state_->consents.rbegin(); it != state_->consents.rend(); ++it)
        if (it->tenant == tenant && it->phone == phone && it->purpose == purpose) return std::optional<ConsentRecord>{*it};
    return std::optional<ConsentRecord>{};
}

Result<void> MemoryStore::scan(const TenantId& tenant, const std::function<void(const ConsentRecord&)>& visit) const {
    std::lock_guard lock(state_->mutex);
    for (const auto& r : state_->consents)
        if (r.tenant == tenant) visit(r);
    return {};
}

Result<std::vector<ConsentRecord>> MemoryStore::records(const TenantId& tenant, const PhoneNumber& phone) const {
    std::lock_guard lock(state_->mutex);
    std::vector<ConsentRecord> out;
    for (const auto& r : state_->consents)
        if (r.tenant == tenant && r.phone == phone) out.push_back(r);
    return out;
}

Result<std::size_t> MemoryStore::erase_number(const TenantId& tenant, const PhoneNumber& phone) {
    if (auto ok = require(!tenant.empty(), "erasing consent records needs a tenant"); !ok) return ok.error();
    std::lock_guard lock(state_->mutex);
    return std::erase_if(state_->consents, [&](const ConsentRecord& r) { return r.tenant == tenant && r.phone == phone; });
}

Result<void> MemoryStore::record_inbound(const TenantId& tenant, const PhoneNumber& phone, Timestamp at) {
    if (auto ok = require(!tenant.empty(), "inbound activity needs a tenant"); !ok) return ok;
    std::lock_guard lock(state_->mutex);
    auto [it, inserted] = state_->last_inbound.try_emplace({tenant.value(), phone.key()}, at);
    if (!inserted && it->second < at) it->second = at;
    return {};
}

bool MemoryStore::record_inbound_async(const TenantId& tenant, const PhoneNumber& phone, Timestamp at,
                                       WriteDone&& done) {
    WriteDone callback = std::move(done);
    try {
        Result<void> outcome = Error(make_error_code(StorageErrc::unavailable));
        try {
            outcome = record_inbound(tenant, phone, at);
        } catch (...) {  // out of memory: the map was left as it was
        }
        callback(std::move(outcome));
    } catch (...) {  // what the completion throws is dropped, as a store thread would drop it
    }
    return true;
}

Result<std::optional<Timestamp>> MemoryStore::last_inbound(const TenantId& tenant, const PhoneNumber& phone) const {
    std::lock_guard lock(state_->mutex);
    auto it = state_->last_inbound.find({tenant.value(), phone.key()});
    if (it == state_->last_inbound.end()) return std::optional<Timestamp>{};
    return std::optional<Timestamp>{it->second};
}

Result<void> MemoryStore::scan(const TenantId& tenant,
                               const std::function<void(const PhoneNumber&, Timestamp)>& visit) const {
    std::lock_guard lock(state_->mutex);
    for (auto it = state_->last_inbound.lower_bound({tenant.value(), 0});
         it != state_->last_inbound.end() && it->first.first == tenant.value(); ++it)
        if (auto phone = PhoneNumber::from_key(it->first.second)) visit(*phone, it->second);
    return {};
}

Result<bool> MemoryStore::forget(const TenantId& tenant, const PhoneNumber& phone) {
    if (auto ok = require(!tenant.empty(), "forgetting inbound activity needs a tenant"); !ok) return ok.error();
    std::lock_guard lock(state_->mutex);
    return state_->last_inbound.erase({tenant.value(), phone.key()}) > 0;
}

Result<bool> MemoryStore::remember(const TenantId& tenant, std::string_view key, Timestamp at) {
    if (auto ok = require(!tenant.empty() && !key.empty(), "dedup key needs a tenant and a key"); !ok) return ok.error();
    std::lock_guard lock(state_->mutex);
    return state_->dedup_keys.try_emplace({tenant.value(), std::string(key)}, at).second;
}

Result<void> MemoryStore::append(const TenantId& tenant, std::span<const audit::Entry> entries,
                                 const audit::ChainHead& expected) {
    if (auto ok = require(!tenant.empty(), "audit entries need a tenant"); !ok) return ok;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        if (entries[i].tenant != tenant) return {StorageErrc::invalid_argument, "an audit entry of another tenant"};
        if (entries[i].sequence != expected.sequence + static_cast<std::int64_t>(i) + 1)
            return {StorageErrc::invalid_argument, "audit entry sequences must follow the head without a gap"};
    }
    std::lock_guard lock(state_->mutex);
    auto& trail = state_->audit[tenant.value()];
    if (trail.chain.head != expected)
        return {StorageErrc::conflict, "the audit chain's head moved (another writer appended)"};
    if (entries.empty()) return {};
    trail.entries.insert(trail.entries.end(), entries.begin(), entries.end());
    trail.chain.head = {entries.back().sequence, entries.back().hash};
    return {};
}

Result<audit::ChainState> MemoryStore::chain(const TenantId& tenant) const {
    if (auto ok = require(!tenant.empty(), "reading an audit chain needs a tenant"); !ok) return ok.error();
    std::lock_guard lock(state_->mutex);
    auto it = state_->audit.find(tenant.value());
    if (it == state_->audit.end()) return audit::ChainState{};
    return it->second.chain;
}

Result<std::vector<audit::Entry>> MemoryStore::query(const audit::Query& q) const {
    if (auto ok = require(!q.tenant.empty(), "an audit query needs a tenant"); !ok) return ok.error();
    std::lock_guard lock(state_->mutex);
    std::vector<audit::Entry> out;
    auto it = state_->audit.find(q.tenant.value());
    if (it == state_->audit.end()) return out;
    const auto& entries = it->second.entries;
    auto first = std::upper_bound(entries.begin(), entries.end(), q.after_sequence,
                                  [](std::int64_t s, const audit::Entry& e) { return s < e.sequence; });
    for (auto e = first; e != entries.end() && out.size() < q.limit; ++e) {
        if (q.from && e->at < *q.from) continue;
        if (q.until && e->at >= *q.until) continue;
        if (q.actor && (e->actor.is_system() || e->actor.user != *q.actor)) continue;
        if (q.action && e->action != *q.action) continue;
        if (q.target_type && e->target_type != *q.target_type) continue;
        if (q.target_id && e->target_id != *q.target_id) continue;
        out.push_back(*e);
    }
    return out;
}

Result<std::size_t> MemoryStore::scan(const TenantId& tenant, std::int64_t after_sequence, std::size_t limit,
                                      const std::function<bool(const audit::EntryView&)>& visit) const {
    if (auto ok = require(!tenant.empty(), "an audit scan needs a tenant"); !ok) return ok.error();
    std::lock_guard lock(state_->mutex);
    auto it = state_->audit.find(tenant.value());
    if (it == state_->audit.end()) return std::size_t{0};
    const auto& entries = it->second.entries;
    auto first = std::upper_bound(entries.begin(), entries.end(), after_sequence,
                                  [](std::int64_t s, const audit::Entry& e) { return s < e.sequence; });
    std::size_t handed = 0;
    for (auto e = first; e != entries.end() && handed < limit; ++e) {
        ++handed;
        if (!visit(audit::view_of(*e))) break;
    }
    return handed;
}

Result<std::int64_t> MemoryStore::purge_through(const TenantId& tenant, std::int64_t through) {
    if (auto ok = require(!tenant.empty(), "purging audit entries needs a tenant"); !ok) return ok.error();
    std::lock_guard lock(state_->mutex);
    auto it = state_->audit.find(tenant.value());
    if (it == state_->audit.end()) return {StorageErrc::not_found, "no audit entry " + std::to_string(through)};
    auto& trail = it->second;
    auto last = std::find_if(trail.entries.begin(), trail.entries.end(),
                             [&](const audit::Entry& e) { return e.sequence == through; });
    if (last == trail.entries.end()) return {StorageErrc::not_found, "no audit entry " + std::to_string(through)};
    audit::Checkpoint checkpoint{through, last->hash, last->at, 0};
    auto end = std::find_if(trail.entries.begin(), trail.entries.end(),
                            [&](const audit::Entry& e) { return e.sequence > through; });
    const auto deleted = static_cast<std::int64_t>(end - trail.entries.begin());
    trail.entries.erase(trail.entries.begin(), end);
    checkpoint.purged = (trail.chain.checkpoint ? trail.chain.checkpoint->purged : 0) + deleted;
    trail.chain.checkpoint = checkpoint;
    return deleted;
}

// ==========================================================================================// Retention (issue 6): accounts, the sweep journal, analytics aggregates and the retention targets
// over the tables above, all under the store's one mutex (so a batch, its analytics and its
// journal entry change together).

namespace {

std::int64_t day_of(Timestamp t) { return std::chrono::floor<std::chrono::days>(t).time_since_epoch().count(); }

using detail::numeric_cursor;

Result<std::int64_t> count_pages(const retention::Target& target, const TenantId& tenant, retention::Selection selection,
                                 Timestamp cutoff) {
    std::int64_t n = 0;
    std::string after;
    for (;;) {
        auto page = target.candidates(tenant, selection, cutoff, after, 4096);
        if (!page) return page.error();
        n += static_cast<std::int64_t>(page->rows.size());
        if (!page->more || page->rows.empty()) return n;
        after = page->next;
    }
}

}  // namespace

class MemoryStore::Retention final : public retention::RetentionStores,
                                     private AccountStore,
                                     private retention::SweepJournal,
                                     private retention::AggregateStore {
public:
    Retention(State& s, StoreSet& owner)
        : s_(s), owner_(owner), contacts_(s), messages_(s), consents_(s), activity_(s), requests_(s), webhook_keys_(s) {}

    AccountStore& accounts() override { return *this; }
    retention::SweepJournal& journal() override { return *this; }
    retention::AggregateStore& aggregates() override { return *this; }
    std::vector<retention::TargetBinding> targets() override {
        using retention::Category;
        return {{&contacts_, Category::lead},
                {&messages_, Category::message},
                {&consents_, Category::account},
                {&activity_, Category::account},
                {&requests_, Category::account},
                {&webhook_keys_, Category::webhook_key}};
    }
    StoreSet* store_set() noexcept override { return &owner_; }

private:
    using Selection = retention::Selection;
    using Candidate = retention::Candidate;
    using CandidatePage = retention::CandidatePage;
    using Batch = retention::Batch;
    using Change = retention::Change;

    // Helpers; all expect the mutex to be held.

    // A lead's source as aggregates keep it: one of the policy's four tags, "unknown" when empty,
    // "other" for anything else (a host may write free text there, and aggregates are kept forever).
    static std::string source_of(const Contact& c) { return std::string(retention::aggregate_source(c.source)); }
    // A contact who objected to analytics, or whose processing is restricted (Art. 18: stored,
    // not otherwise processed), is left out of the aggregates.
    static bool counted(const Contact& c) { return !c.analytics_objection && !c.restricted; }

    static void fold(State& s, const std::string& tenant, Timestamp at, std::string event, const std::string& source) {
        s.aggregates[{tenant, day_of(at), std::move(event), source}] += 1;
    }
    static std::string message_event(const MessageRecord& m) {
        return m.direction == Direction::inbound ? "message.inbound" : "message.outbound";
    }

    /// The newest message of each contact of the tenant.
    static std::map<std::string, Timestamp> newest_messages(const State& s, const TenantId& tenant) {
        std::map<std::string, Timestamp> out;
        for (const MessageRecord& m : s.messages)
            if (m.tenant == tenant) {
                auto [it, inserted] = out.try_emplace(m.contact.value(), m.created_at);
                if (!inserted && it->second < m.created_at) it->second = m.created_at;
            }
        return out;
    }
    static Timestamp last_activity(const Contact& c, const std::map<std::string, Timestamp>& newest) {
        Timestamp t = std::max(c.created_at, c.updated_at);
        if (auto it = newest.find(c.id.value()); it != newest.end()) t = std::max(t, it->second);
        return t;
    }
    static std::int64_t message_count(const State& s, const TenantId& tenant, const ContactId& contact) {
        return std::count_if(s.messages.begin(), s.messages.end(),
                             [&](const MessageRecord& m) { return m.tenant == tenant && m.contact == contact; });
    }
    static std::set<std::uint64_t> held_phones(const State& s, const TenantId& tenant) {
        std::set<std::uint64_t> out;
        for (auto it = s.contacts.lower_bound({tenant.value(), ""});
             it != s.contacts.end() && it->first.first == tenant.value(); ++it)
            if (it->second.legal_hold) out.insert(it->second.phone.key());
        return out;
    }
    static Change saved(State& s, const Batch& b, std::int64_t rows, std::int64_t dependents) {
        if (b.sweeper.empty()) return Change{rows, dependents, false};  // not part of a sweep
        s.journal.insert_or_assign(std::string(b.sweeper), std::string(b.progress));
        return Change{rows, dependents, true};
    }
    /// Removes the messages matching `gone`, folding each into the aggregates first.
    template <class Pred>
    static std::int64_t remove_messages(State& s, const std::string& source, bool counted, Pred gone) {
        std::int64_t n = 0;
        auto& msgs = s.messages;
        msgs.erase(std::remove_if(msgs.begin(), msgs.end(),
                                  [&](const MessageRecord& m) {
                                      if (!gone(m)) return false;
                                      if (counted) fold(s, m.tenant.value(), m.created_at, message_event(m), source);
                                      s.message_ids.erase({m.tenant.value(), m.id.value()});
                                      ++n;
                                      return true;
                                  }),
                   msgs.end());
        return n;
    }

    /// Contacts (leads): soft delete by last activity, hard delete with their messages.
    class Contacts final : public retention::Target {
    public:
        explicit Contacts(State& s) : s_(s) {}
        std::string_view name() const noexcept override { return "contacts"; }

        Result<CandidatePage> candidates(const TenantId& tenant, Selection sel, Timestamp cutoff, std::string_view after,
                                         std::size_t limit) const override {
            std::lock_guard lock(s_.mutex);
            const auto newest = sel == Selection::expired ? newest_messages(s_, tenant) : std::map<std::string, Timestamp>{};
            CandidatePage page;
            for (auto it = s_.contacts.upper_bound({tenant.value(), std::string(after)});
                 it != s_.contacts.end() && it->first.first == tenant.value(); ++it) {
                if (page.rows.size() == limit) {
                    page.more = true;
                    break;
                }
                const Contact& c = it->second;
                if (auto row = candidate(c, sel, cutoff, newest)) page.rows.push_back(std::move(*row));
                page.next = c.id.value();
            }
            if (page.next.empty()) page.next = std::string(after);
            return page;
        }

        Result<std::int64_t> count(const TenantId& tenant, Selection sel, Timestamp cutoff) const override {
            return count_pages(*this, tenant, sel, cutoff);
        }

        Result<Change> soft_delete(const Batch& b) override {
            std::lock_guard lock(s_.mutex);
            const auto newest = newest_messages(s_, b.tenant);
            std::int64_t rows = 0;
            for (const std::string& id : b.ids) {
                auto it = s_.contacts.find({b.tenant.value(), id});
                if (it == s_.contacts.end()) continue;
                Contact& c = it->second;
                if (c.deleted_at || c.legal_hold || last_activity(c, newest) > b.cutoff) continue;
                c.deleted_at = b.at;
                ++rows;
            }
            return saved(s_, b, rows, 0);
        }

        Result<Change> hard_delete(const Batch& b) override {
            std::lock_guard lock(s_.mutex);
            const auto newest = b.selection == Selection::expired ? newest_messages(s_, b.tenant)
                                                                   : std::map<std::string, Timestamp>{};
            std::int64_t rows = 0;
            std::int64_t dependents = 0;
            for (const std::string& id : b.ids) {
                auto it = s_.contacts.find({b.tenant.value(), id});
                if (it == s_.contacts.end() || !candidate(it->second, b.selection, b.cutoff, newest)) continue;
                const Contact& c = it->second;
                if (c.legal_hold) continue;
                const std::string source = source_of(c);
                dependents += remove_messages(s_, source, counted(c), [&](const MessageRecord& m) {
                    return m.tenant == c.tenant && m.contact == c.id;
                });
                if (counted(c)) fold(s_, c.tenant.value(), c.created_at, "lead", source);
                s_.contacts.erase(it);
                ++rows;
            }
            return saved(s_, b, rows, dependents);
        }

    private:
        std::optional<Candidate> candidate(const Contact& c, Selection sel, Timestamp cutoff,
                                           const std::map<std::string, Timestamp>& newest) const {
            switch (sel) {
                case Selection::expired: {
                    if (c.deleted_at) return std::nullopt;
                    const Timestamp since = last_activity(c, newest);
                    if (since > cutoff) return std::nullopt;
                    return Candidate{c.id.value(), since, c.legal_hold, 0};
                }
                case Selection::soft_deleted:
                    if (!c.deleted_at || *c.deleted_at > cutoff) return std::nullopt;
                    return Candidate{c.id.value(), *c.deleted_at, c.legal_hold, message_count(s_, c.tenant, c.id)};
                case Selection::all:
                    return Candidate{c.id.value(), c.created_at, c.legal_hold, message_count(s_, c.tenant, c.id)};
            }
            return std::nullopt;
        }

        State& s_;
    };

    /// Messages: the tenant's shorter message retention, for messages of live leads.
    class Messages final : public retention::Target {
    public:
        explicit Messages(State& s) : s_(s) {}
        std::string_view name() const noexcept override { return "messages"; }

        Result<CandidatePage> candidates(const TenantId& tenant, Selection sel, Timestamp cutoff, std::string_view after,
                                         std::size_t limit) const override {
            std::lock_guard lock(s_.mutex);
            std::vector<Candidate> rows;
            if (sel != Selection::soft_deleted)
                for (const MessageRecord& m : s_.messages) {
                    if (m.tenant != tenant || m.id.value() <= after) continue;
                    auto c = s_.contacts.find({tenant.value(), m.contact.value()});
                    if (c == s_.contacts.end()) continue;
                    if (sel == Selection::expired && (c->second.deleted_at || m.created_at > cutoff)) continue;
                    rows.push_back(Candidate{m.id.value(), m.created_at, c->second.legal_hold, 0});
                }
            std::sort(rows.begin(), rows.end(), [](const Candidate& a, const Candidate& b) { return a.id < b.id; });
            CandidatePage page;
            page.more = rows.size() > limit;
            if (page.more) rows.resize(limit);
            page.next = rows.empty() ? std::string(after) : rows.back().id;
            page.rows = std::move(rows);
            return page;
        }

        Result<std::int64_t> count(const TenantId& tenant, Selection sel, Timestamp cutoff) const override {
            return count_pages(*this, tenant, sel, cutoff);
        }

        Result<Change> soft_delete(const Batch& b) override {  // messages are never soft-deleted
            std::lock_guard lock(s_.mutex);
            return saved(s_, b, 0, 0);
        }

        Result<Change> hard_delete(const Batch& b) override {
            std::lock_guard lock(s_.mutex);
            const std::set<std::string, std::less<>> ids(b.ids.begin(), b.ids.end());
            std::int64_t rows = 0;
            for (auto it = s_.messages.begin(); it != s_.messages.end();) {
                const MessageRecord& m = *it;
                auto c = s_.contacts.find({m.tenant.value(), m.contact.value()});
                const bool qualifies = m.tenant == b.tenant && ids.count(m.id.value()) != 0 && c != s_.contacts.end() &&
                                       !c->second.legal_hold &&
                                       (b.selection == Selection::all ||
                                        (!c->second.deleted_at && m.created_at <= b.cutoff));
                if (!qualifies) {
                    ++it;
                    continue;
                }
                if (counted(c->second))
                    fold(s_, m.tenant.value(), m.created_at, message_event(m), source_of(c->second));
                s_.message_ids.erase({m.tenant.value(), m.id.value()});
                it = s_.messages.erase(it);
                ++rows;
            }
            return saved(s_, b, rows, 0);
        }

    private:
        State& s_;
    };

    /// Consent records: deleted at account termination, except those of a held lead's number.
    class Consents final : public retention::Target {
    public:
        explicit Consents(State& s) : s_(s) {}
        std::string_view name() const noexcept override { return "consent_records"; }

        Result<CandidatePage> candidates(const TenantId& tenant, Selection sel, Timestamp, std::string_view after,
                                         std::size_t limit) const override {
            const auto from = numeric_cursor(after);
            if (!from) return Error(StorageErrc::invalid_argument, "a consent record cursor is a sequence number");
            std::lock_guard lock(s_.mutex);
            CandidatePage page;
            page.next = std::string(after);
            if (sel != Selection::all) return page;
            const auto held = held_phones(s_, tenant);
            for (std::size_t i = 0; i < s_.consents.size(); ++i) {
                const ConsentRecord& r = s_.consents[i];
                if (r.tenant != tenant || s_.consent_sequences[i] <= *from) continue;
                if (page.rows.size() == limit) {
                    page.more = true;
                    break;
                }
                page.next = std::to_string(s_.consent_sequences[i]);
                page.rows.push_back(Candidate{page.next, r.at, held.count(r.phone.key()) != 0, 0});
            }
            return page;
        }

        Result<std::int64_t> count(const TenantId& tenant, Selection sel, Timestamp cutoff) const override {
            return count_pages(*this, tenant, sel, cutoff);
        }

        Result<Change> soft_delete(const Batch& b) override {  // not asked of account data
            std::lock_guard lock(s_.mutex);
            return saved(s_, b, 0, 0);
        }

        Result<Change> hard_delete(const Batch& b) override {
            std::lock_guard lock(s_.mutex);
            const std::set<std::string, std::less<>> ids(b.ids.begin(), b.ids.end());
            const auto held = held_phones(s_, b.tenant);
            std::int64_t rows = 0;
            for (std::size_t i = 0; i < s_.consents.size();) {
                const ConsentRecord& r = s_.consents[i];
                if (b.selection == Selection::all && r.tenant == b.tenant && held.count(r.phone.key()) == 0 &&
                    ids.count(std::to_string(s_.consent_sequences[i])) != 0) {
                    s_.consents.erase(s_.consents.begin() + static_cast<std::ptrdiff_t>(i));
                    s_.consent_sequences.erase(s_.consent_sequences.begin() + static_cast<std::ptrdiff_t>(i));
                    ++rows;
                } else {
                    ++i;
                }
            }
            return saved(s_, b, rows, 0);
        }

    private:
        State& s_;
    };

    /// Inbound activity (last inbound time per number): deleted at account termination, except a
    /// held lead's.
    class Activity final : public retention::Target {
    public:
        explicit Activity(State& s) : s_(s) {}
        std::string_view name() const noexcept override { return "inbound_activity"; }

        Result<CandidatePage> candidates(const TenantId& tenant, Selection sel, Timestamp, std::string_view after,
                                         std::size_t limit) const override {
            const auto from = numeric_cursor(after);
            if (!from) return Error(StorageErrc::invalid_argument, "an inbound activity cursor is a phone key");
            std::lock_guard lock(s_.mutex);
            CandidatePage page;
            page.next = std::string(after);
            if (sel != Selection::all) return page;
            const auto held = held_phones(s_, tenant);
            const std::uint64_t start = *from < 0 ? 0 : static_cast<std::uint64_t>(*from) + 1;
            for (auto it = s_.last_inbound.lower_bound({tenant.value(), start});
                 it != s_.last_inbound.end() && it->first.first == tenant.value(); ++it) {
                if (page.rows.size() == limit) {
                    page.more = true;
                    break;
                }
                page.next = std::to_string(it->first.second);
                page.rows.push_back(Candidate{page.next, it->second, held.count(it->first.second) != 0, 0});
            }
            return page;
        }

        Result<std::int64_t> count(const TenantId& tenant, Selection sel, Timestamp cutoff) const override {
            return count_pages(*this, tenant, sel, cutoff);
        }

        Result<Change> soft_delete(const Batch& b) override {  // not asked of account data
            std::lock_guard lock(s_.mutex);
            return saved(s_, b, 0, 0);
        }

        Result<Change> hard_delete(const Batch& b) override {
            std::lock_guard lock(s_.mutex);
            const auto held = held_phones(s_, b.tenant);
            std::int64_t rows = 0;
            for (const std::string& id : b.ids) {
                const auto key = numeric_cursor(id);
                if (!key || *key <= 0 || b.selection != Selection::all) continue;
                const auto phone = static_cast<std::uint64_t>(*key);
                if (held.count(phone) == 0) rows += static_cast<std::int64_t>(s_.last_inbound.erase({b.tenant.value(), phone}));
            }
            return saved(s_, b, rows, 0);
        }

    private:
        State& s_;
    };

    /// The data-subject request register: it names its subjects (a contact id, a phone pseudonym),
    /// so its rows are account data, deleted at termination (Selection::all), open or not.
    class Requests final : public retention::Target {
    public:
        explicit Requests(State& s) : s_(s) {}
        std::string_view name() const noexcept override { return "subject_requests"; }

        Result<CandidatePage> candidates(const TenantId& tenant, Selection sel, Timestamp, std::string_view after,
                                         std::size_t limit) const override {
            std::lock_guard lock(s_.mutex);
            CandidatePage page;
            page.next = std::string(after);
            if (sel != Selection::all) return page;
            for (auto it = s_.requests.upper_bound({tenant.value(), std::string(after)});
                 it != s_.requests.end() && it->first.first == tenant.value(); ++it) {
                if (page.rows.size() == limit) {
                    page.more = true;
                    break;
                }
                page.next = it->first.second;
                page.rows.push_back(Candidate{it->first.second, it->second.received_at, false, 0});
            }
            return page;
        }

        Result<std::int64_t> count(const TenantId& tenant, Selection sel, Timestamp cutoff) const override {
            return count_pages(*this, tenant, sel, cutoff);
        }

        Result<Change> soft_delete(const Batch& b) override {  // not asked of account data
            std::lock_guard lock(s_.mutex);
            return saved(s_, b, 0, 0);
        }

        Result<Change> hard_delete(const Batch& b) override {
            std::lock_guard lock(s_.mutex);
            std::int64_t rows = 0;
            if (b.selection == Selection::all)
                for (const std::string& id : b.ids) rows += static_cast<std::int64_t>(s_.requests.erase({b.tenant.value(), id}));
            return saved(s_, b, rows, 0);
        }

    private:
        State& s_;
    };

    /// Webhook de-duplication keys: deleted 30 days after they were seen (Selection::expired) and at
    /// account termination (all). They hold no personal data and are never under a hold.
    class WebhookKeys final : public retention::Target {
    public:
        explicit WebhookKeys(State& s) : s_(s) {}
        std::string_view name() const noexcept override { return "webhook_keys"; }

        Result<CandidatePage> candidates(const TenantId& tenant, Selection sel, Timestamp cutoff,
                                         std::string_view after, std::size_t limit) const override {
            std::lock_guard lock(s_.mutex);
            CandidatePage page;
            page.next = std::string(after);
            if (sel == Selection::soft_deleted) return page;
            for (auto it = s_.dedup_keys.upper_bound({tenant.value(), std::string(after)});
                 it != s_.dedup_keys.end() && it->first.first == tenant.value(); ++it) {
                if (!qualifies(sel, cutoff, it->second)) continue;
                if (page.rows.size() == limit) {
                    page.more = true;
                    break;
                }
                page.next = it->first.second;
                page.rows.push_back(Candidate{it->first.second, it->second, false, 0});
            }
            return page;
        }

        Result<std::int64_t> count(const TenantId& tenant, Selection sel, Timestamp cutoff) const override {
            return count_pages(*this, tenant, sel, cutoff);
        }

        Result<Change> soft_delete(const Batch& b) override {  // not asked of account data
            std::lock_guard lock(s_.mutex);
            return saved(s_, b, 0, 0);
        }

        Result<Change> hard_delete(const Batch& b) override {
            std::lock_guard lock(s_.mutex);
            std::int64_t rows = 0;
            for (const std::string& id : b.ids) {
                auto it = s_.dedup_keys.find({b.tenant.value(), id});
                if (it == s_.dedup_keys.end() || !qualifies(b.selection, b.cutoff, it->second)) continue;
                s_.dedup_keys.erase(it);
                ++rows;
            }
            return saved(s_, b, rows, 0);
        }

    private:
        static bool qualifies(Selection sel, Timestamp cutoff, Timestamp seen) {
            return sel == Selection::all || (sel == Selection::expired && seen <= cutoff);
        }

        State& s_;
    };

    // AccountStore
    Result<void> put(const Account& a) override {
        if (a.tenant.empty()) return {StorageErrc::invalid_argument, "an account needs a tenant id"};
        std::lock_guard lock(s_.mutex);
        s_.accounts.insert_or_assign(a.tenant.value(), a);
        return {};
    }
    Result<std::optional<Account>> get(const TenantId& tenant) const override {
        std::lock_guard lock(s_.mutex);
        auto it = s_.accounts.find(tenant.value());
        if (it == s_.accounts.end()) return std::optional<Account>{};
        return std::optional<Account>{it->second};
    }
    Result<std::vector<Account>> list(const Page& page) const override {
        std::lock_guard lock(s_.mutex);
        std::set<std::string> tenants;
        const auto after = [&](const std::string& t) { return t > page.after; };
        for (const auto& [tenant, account] : s_.accounts)
            if (after(tenant)) tenants.insert(tenant);
        for (const auto& [key, contact] : s_.contacts)
            if (after(key.first)) tenants.insert(key.first);
        for (const auto& r : s_.consents)
            if (after(r.tenant.value())) tenants.insert(r.tenant.value());
        for (const auto& [key, at] : s_.last_inbound)
            if (after(key.first)) tenants.insert(key.first);
        for (const auto& [key, seen] : s_.dedup_keys)
            if (after(key.first)) tenants.insert(key.first);
        for (const auto& [tenant, trail] : s_.audit)
            if (after(tenant) && trail.chain.head.sequence > 0) tenants.insert(tenant);
        std::vector<Account> out;
        for (const std::string& t : tenants) {
            if (out.size() == page.limit) break;
            auto it = s_.accounts.find(t);
            out.push_back(it != s_.accounts.end() ? it->second : Account{TenantId{t}});
        }
        return out;
    }

    // SweepJournal
    Result<std::optional<std::string>> load(std::string_view sweeper) const override {
        std::lock_guard lock(s_.mutex);
        auto it = s_.journal.find(sweeper);
        if (it == s_.journal.end()) return std::optional<std::string>{};
        return std::optional<std::string>{it->second};
    }
    Result<void> save(std::string_view sweeper, std::string_view state) override {
        std::lock_guard lock(s_.mutex);
        s_.journal.insert_or_assign(std::string(sweeper), std::string(state));
        return {};
    }
    Result<void> clear(std::string_view sweeper) override {
        std::lock_guard lock(s_.mutex);
        if (auto it = s_.journal.find(sweeper); it != s_.journal.end()) s_.journal.erase(it);
        return {};
    }

    // AggregateStore
    Result<void> add(std::span<const retention::DailyAggregate> counts) override {
        if (auto ok = retention::check_aggregates(counts); !ok) return ok;
        std::lock_guard lock(s_.mutex);
        for (const auto& a : counts)
            s_.aggregates[{a.tenant.value(), a.day.time_since_epoch().count(), a.event_type, a.source}] += a.count;
        return {};
    }
    Result<std::vector<retention::DailyAggregate>> list(const TenantId& tenant, std::chrono::sys_days from,
                                                        std::chrono::sys_days until) const override {
        std::lock_guard lock(s_.mutex);
        std::vector<retention::DailyAggregate> out;
        for (auto it = s_.aggregates.lower_bound({tenant.value(), from.time_since_epoch().count(), "", ""});
             it != s_.aggregates.end() && std::get<0>(it->first) == tenant.value() &&
             std::get<1>(it->first) < until.time_since_epoch().count();
             ++it)
            out.push_back({tenant, std::chrono::sys_days{std::chrono::days{std::get<1>(it->first)}}, std::get<2>(it->first),
                           std::get<3>(it->first), it->second});
        return out;
    }

    State& s_;
    StoreSet& owner_;
    Contacts contacts_;
    Messages messages_;
    Consents consents_;
    Activity activity_;
    Requests requests_;
    WebhookKeys webhook_keys_;
};

MemoryStore::MemoryStore() : state_(std::make_unique<State>()), retention_(std::make_unique<Retention>(*state_, *this)) {}
MemoryStore::~MemoryStore() = default;

retention::RetentionStores& MemoryStore::retention() noexcept { return *retention_; }
AccountStore* MemoryStore::accounts() noexcept { return &retention_->accounts(); }
// RequestStore

Result<void> MemoryStore::put(const privacy::SubjectRequest& r) {
    if (auto ok = require(!r.tenant.empty() && !r.id.empty(), "a request needs a tenant and an id"); !ok) return ok;
    std::lock_guard lock(state_->mutex);
    state_->requests.insert_or_assign({r.tenant.value(), r.id}, r);
    return {};
}

Result<std::optional<privacy::SubjectRequest>> MemoryStore::get(const TenantId& tenant, std::string_view id) const {
    std::lock_guard lock(state_->mutex);
    auto it = state_->requests.find({tenant.value(), std::string(id)});
    if (it == state_->requests.end()) return std::optional<privacy::SubjectRequest>{};
    return std::optional<privacy::SubjectRequest>{it->second};
}

Result<std::vector<privacy::SubjectRequest>> MemoryStore::list(const TenantId& tenant, const Page& page,
                                                               bool open_only) const {
    std::lock_guard lock(state_->mutex);
    std::vector<privacy::SubjectRequest> out;
    for (auto it = state_->requests.upper_bound({tenant.value(), page.after});
         it != state_->requests.end() && it->first.first == tenant.value() && out.size() < page.limit; ++it)
        if (!open_only || it->second.open()) out.push_back(it->second);
    return out;
}

}  // namespace heroshhi::storage
