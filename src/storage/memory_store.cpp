#include <heroshhi/storage/errors.hpp>
#include <heroshhi/storage/memory_store.hpp>

#include <algorithm>
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
    std::set<std::pair<std::string, std::string>> dedup_keys;
    struct AuditTrail {
        std::vector<audit::Entry> entries;  // in sequence order
        audit::ChainState chain;
    };
    std::map<std::string, AuditTrail> audit;  // by tenant
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

MemoryStore::MemoryStore() : state_(std::make_unique<State>()) {}
MemoryStore::~MemoryStore() = default;

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

Result<void> MemoryStore::append(const ConsentRecord& r) {
    if (auto ok = require(!r.tenant.empty(), "consent record needs a tenant"); !ok) return ok;
    std::lock_guard lock(state_->mutex);
    state_->consents.push_back(r);
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

Result<bool> MemoryStore::remember(const TenantId& tenant, std::string_view key, Timestamp) {
    if (auto ok = require(!tenant.empty() && !key.empty(), "dedup key needs a tenant and a key"); !ok) return ok.error();
    std::lock_guard lock(state_->mutex);
    return state_->dedup_keys.insert({tenant.value(), std::string(key)}).second;
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
