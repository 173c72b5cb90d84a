#include <heroshhi/messaging/suppression_index.hpp>

#include "../detail/flat_table.hpp"

#include <array>
#include <atomic>
#include <climits>
#include <deque>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

namespace heroshhi::messaging {
namespace {

constexpr std::int64_t none_ms = INT64_MIN;

// One contact's facts as stored: 40 bytes, no owning members.
struct Entry {
    std::int64_t last_inbound_ms = none_ms;
    std::int64_t last_optout_ms = none_ms;
    const std::string* trigger = nullptr;
    std::uint8_t flags = 0;
    std::uint8_t method = 0;
    std::uint8_t scope = 0;
};

enum Flag : std::uint8_t {
    opted_out = 1,
    marketing_opted_out = 2,
    consent = 4,
    restricted = 8,
    confirmation_sent = 16,
};

ContactFacts to_facts(const Entry& e) noexcept {
    ContactFacts f;
    f.opted_out = e.flags & opted_out;
    f.marketing_opted_out = e.flags & (opted_out | marketing_opted_out);
    f.marketing_consent = e.flags & consent;
    f.restricted = e.flags & restricted;
    f.confirmation_sent = e.flags & confirmation_sent;
    if (e.last_inbound_ms != none_ms) f.last_inbound = from_unix_ms(e.last_inbound_ms);
    if (e.last_optout_ms != none_ms) f.last_optout_at = from_unix_ms(e.last_optout_ms);
    f.last_optout_method = static_cast<optout::Method>(e.method);
    f.last_optout_scope = static_cast<optout::Scope>(e.scope);
    f.last_optout_trigger = e.trigger;
    return f;
}

constexpr std::size_t shard_bits = 6;
constexpr std::size_t shard_count = std::size_t{1} << shard_bits;

struct alignas(64) Shard {
    mutable std::shared_mutex mutex;
    detail::FlatTable<Entry> table;
};

struct TenantIndex {
    explicit TenantIndex(TenantId id) : tenant(std::move(id)) {}

    const TenantId tenant;
    std::atomic<bool> ready{false};
    std::array<Shard, shard_count> shards;

    // Triggers are few distinct strings ("STOP", "Stop promotions"); entries point at one copy.
    std::mutex triggers_mutex;
    std::deque<std::string> triggers;
    std::unordered_map<std::string_view, const std::string*> trigger_lookup;

    const std::string* intern(const std::string& text) {
        if (text.empty()) return nullptr;
        std::lock_guard lock(triggers_mutex);
        if (auto it = trigger_lookup.find(text); it != trigger_lookup.end()) return it->second;
        const std::string* stored = &triggers.emplace_back(text);
        trigger_lookup.emplace(*stored, stored);
        return stored;
    }

    Shard& shard_for(std::uint64_t hash) noexcept { return shards[hash >> (64 - shard_bits)]; }
    const Shard& shard_for(std::uint64_t hash) const noexcept { return shards[hash >> (64 - shard_bits)]; }

    template <class Fn>
    void update(const PhoneNumber& phone, Fn&& fn) {
        const std::uint64_t h = detail::mix64(phone.key());
        Shard& s = shard_for(h);
        std::unique_lock lock(s.mutex);
        fn(s.table.upsert(phone.key(), h));
    }
};

// Tenants in an open-addressing table of atomic pointers: readers probe without locking; inserts
// take a mutex and, when the table fills, publish a bigger copy. Old tables and tenant indexes live
// as long as the SuppressionIndex, so a reader never sees freed memory.
struct TenantTable {
    explicit TenantTable(std::size_t capacity) : slots(capacity), mask(capacity - 1) {}
    std::vector<std::atomic<TenantIndex*>> slots;
    std::size_t mask;
    std::size_t used = 0;
};

}  // namespace

struct SuppressionIndex::Impl {
    std::atomic<TenantTable*> current{nullptr};
    std::mutex insert_mutex;
    std::vector<std::unique_ptr<TenantTable>> tables;
    std::vector<std::unique_ptr<TenantIndex>> tenants;

    Impl() {
        tables.push_back(std::make_unique<TenantTable>(64));
        current.store(tables.back().get(), std::memory_order_release);
    }

    static std::size_t hash(const TenantId& t) noexcept { return std::hash<std::string>{}(t.value()); }

    TenantIndex* find(const TenantId& tenant) const noexcept {
        const TenantTable* table = current.load(std::memory_order_acquire);
        for (std::size_t i = hash(tenant) & table->mask;; i = (i + 1) & table->mask) {
            TenantIndex* p = table->slots[i].load(std::memory_order_acquire);
            if (p == nullptr) return nullptr;
            if (p->tenant == tenant) return p;
        }
    }

    static void place(TenantTable& table, TenantIndex* p) {
        for (std::size_t i = hash(p->tenant) & table.mask;; i = (i + 1) & table.mask)
            if (table.slots[i].load(std::memory_order_relaxed) == nullptr) {
                table.slots[i].store(p, std::memory_order_release);
                ++table.used;
                return;
            }
    }

    TenantIndex& get_or_create(const TenantId& tenant) {
        if (TenantIndex* p = find(tenant)) return *p;
        std::lock_guard lock(insert_mutex);
        if (TenantIndex* p = find(tenant)) return *p;
        TenantTable* table = current.load(std::memory_order_relaxed);
        if ((table->used + 1) * 2 > table->slots.size()) {
            tables.push_back(std::make_unique<TenantTable>(table->slots.size() * 2));
            TenantTable* bigger = tables.back().get();
            for (auto& owned : tenants) place(*bigger, owned.get());
            current.store(bigger, std::memory_order_release);
            table = bigger;
        }
        tenants.push_back(std::make_unique<TenantIndex>(tenant));
        place(*table, tenants.back().get());
        return *tenants.back();
    }
};

SuppressionIndex::SuppressionIndex() : impl_(std::make_unique<Impl>()) {}
SuppressionIndex::~SuppressionIndex() = default;

SuppressionIndex::Lookup SuppressionIndex::find(const TenantId& tenant, const PhoneNumber& phone) const noexcept {
    Lookup out;
    const TenantIndex* t = impl_->find(tenant);
    if (t == nullptr || !t->ready.load(std::memory_order_acquire)) return out;
    out.tenant_ready = true;
    const std::uint64_t h = detail::mix64(phone.key());
    const Shard& s = t->shard_for(h);
    std::shared_lock lock(s.mutex);
    if (const Entry* e = s.table.find(phone.key(), h)) out.facts = to_facts(*e);
    return out;
}

void SuppressionIndex::apply(const optout::OptOutEvent& event) {
    TenantIndex& t = impl_->get_or_create(event.tenant);
    const std::string* trigger = event.kind == optout::EventKind::opt_out ? t.intern(event.trigger) : nullptr;
    t.update(event.phone, [&](Entry& e) {
        const bool all = event.scope == optout::Scope::all;
        if (event.kind == optout::EventKind::opt_out) {
            e.flags |= all ? opted_out : marketing_opted_out;
            e.flags &= static_cast<std::uint8_t>(~confirmation_sent);
            e.last_optout_ms = to_unix_ms(event.at);
            e.trigger = trigger;
            e.method = static_cast<std::uint8_t>(event.method);
            e.scope = static_cast<std::uint8_t>(event.scope);
        } else if (all) {
            // Re-subscribing (START) clears every opt-out flag.
            e.flags &= static_cast<std::uint8_t>(~(opted_out | marketing_opted_out));
        } else {
            e.flags &= static_cast<std::uint8_t>(~marketing_opted_out);
        }
    });
}

void SuppressionIndex::set_consent(const TenantId& tenant, const PhoneNumber& phone, bool granted) {
    impl_->get_or_create(tenant).update(phone, [&](Entry& e) {
        e.flags = granted ? (e.flags | consent) : (e.flags & static_cast<std::uint8_t>(~consent));
    });
}

void SuppressionIndex::set_restricted(const TenantId& tenant, const PhoneNumber& phone, bool on) {
    impl_->get_or_create(tenant).update(phone, [&](Entry& e) {
        e.flags = on ? (e.flags | restricted) : (e.flags & static_cast<std::uint8_t>(~restricted));
    });
}

void SuppressionIndex::touch_inbound(const TenantId& tenant, const PhoneNumber& phone, Timestamp at) {
    impl_->get_or_create(tenant).update(phone, [&](Entry& e) {
        if (e.last_inbound_ms < to_unix_ms(at)) e.last_inbound_ms = to_unix_ms(at);
    });
}

bool SuppressionIndex::claim_confirmation(const TenantId& tenant, const PhoneNumber& phone, Timestamp not_before) {
    bool claimed = false;
    impl_->get_or_create(tenant).update(phone, [&](Entry& e) {
        if ((e.flags & (opted_out | marketing_opted_out)) && !(e.flags & confirmation_sent) &&
            e.last_optout_ms != none_ms && e.last_optout_ms >= to_unix_ms(not_before)) {
            e.flags |= confirmation_sent;
            claimed = true;
        }
    });
    return claimed;
}

bool SuppressionIndex::ready(const TenantId& tenant) const noexcept {
    const TenantIndex* t = impl_->find(tenant);
    return t != nullptr && t->ready.load(std::memory_order_acquire);
}

void SuppressionIndex::mark_ready(const TenantId& tenant, bool ready) {
    impl_->get_or_create(tenant).ready.store(ready, std::memory_order_release);
}

void SuppressionIndex::clear(const TenantId& tenant) {
    TenantIndex& t = impl_->get_or_create(tenant);
    t.ready.store(false, std::memory_order_release);
    for (Shard& s : t.shards) {
        std::unique_lock lock(s.mutex);
        s.table.clear();
    }
}

std::size_t SuppressionIndex::size(const TenantId& tenant) const {
    const TenantIndex* t = impl_->find(tenant);
    if (t == nullptr) return 0;
    std::size_t n = 0;
    for (const Shard& s : t->shards) {
        std::shared_lock lock(s.mutex);
        n += s.table.size();
    }
    return n;
}

std::size_t SuppressionIndex::memory_bytes(const TenantId& tenant) const {
    TenantIndex* t = impl_->find(tenant);
    if (t == nullptr) return 0;
    std::size_t n = sizeof(TenantIndex);
    for (const Shard& s : t->shards) {
        std::shared_lock lock(s.mutex);
        n += s.table.memory_bytes();
    }
    std::lock_guard lock(t->triggers_mutex);
    for (const std::string& s : t->triggers) n += sizeof(std::string) + s.capacity() + 32;
    return n;
}

}  // namespace heroshhi::messaging
