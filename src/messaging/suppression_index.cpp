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

constexpr std::int64_t none_ms = ContactFacts::no_time;

// A contact's facts in two 64-bit words, so that every read is a pair of atomic loads: the word
// laid out as ContactFacts documents, and the time of the last opt-out in Unix ms.
enum Flag : std::uint64_t {
    opted_out = ContactFacts::opted_out_bit,
    marketing_opted_out = ContactFacts::marketing_bit,
    consent = ContactFacts::consent_bit,
    restricted = ContactFacts::restricted_bit,
    confirmation_sent = ContactFacts::confirmation_bit,
    window_closed = ContactFacts::window_closed_bit,
};
constexpr std::uint64_t flag_mask = 0xFF;

struct Packed {
    std::uint64_t word = 0;
    std::int64_t optout_ms = none_ms;

    std::uint64_t flags() const { return word & flag_mask; }
    void set_flag(std::uint64_t f, bool on) { word = on ? (word | f) : (word & ~f); }
    void set_optout(optout::Method m, optout::Scope s, std::uint16_t trigger) {
        word = (word & ~std::uint64_t{0xFFFFFF00}) | (std::uint64_t(m) & 0xF) << 8 | (std::uint64_t(s) & 1) << 12 |
               std::uint64_t(trigger) << 16;
    }
    std::uint32_t inbound_s() const { return std::uint32_t(word >> 32); }
    void set_inbound_s(std::uint32_t s) { word = (word & 0xFFFFFFFFULL) | std::uint64_t(s) << 32; }
};

struct Slot {
    std::atomic<std::uint64_t> key{0};  // 0: empty (phone keys are never 0)
    std::atomic<std::uint64_t> word{0};
    std::atomic<std::int64_t> optout_ms{none_ms};
};

// An open-addressing array of atomic slots. Readers probe it without locks; the one writer at a
// time (the shard's mutex) fills a slot's words before publishing its key (release), so a reader
// that sees the key (acquire) sees the words too. Slots are never emptied.
//
// Beside the slots, a one-hash Bloom filter of 4 bits a slot (at most 8 a contact) lets bulk
// lookups (audiences, where most contacts never opted out) answer "not here" with one load and no
// probing. Single lookups skip it: for them it would be one more cache miss. Its bit is set before
// the key is published.
struct SlotArray {
    explicit SlotArray(std::size_t capacity)
        : slots(capacity), mask(capacity - 1), filter(capacity / 16 < 1 ? 1 : capacity / 16), filter_mask(capacity * 4 - 1) {}
    std::vector<Slot> slots;
    std::size_t mask;
    std::vector<std::atomic<std::uint64_t>> filter;
    std::size_t filter_mask;  // in bits

    std::size_t filter_bit(std::uint64_t hash) const noexcept { return (hash >> 24) & filter_mask; }
    bool may_contain(std::uint64_t hash) const noexcept {
        const std::size_t b = filter_bit(hash);
        return (filter[b / 64].load(std::memory_order_acquire) >> (b % 64)) & 1;
    }
    void add_to_filter(std::uint64_t hash) noexcept {
        const std::size_t b = filter_bit(hash);
        filter[b / 64].fetch_or(std::uint64_t{1} << (b % 64), std::memory_order_release);
    }

    const Slot* find(std::uint64_t key, std::uint64_t hash, bool use_filter = false) const noexcept {
        if (use_filter && !may_contain(hash)) return nullptr;
        for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
            const std::uint64_t k = slots[i].key.load(std::memory_order_acquire);
            if (k == key) return &slots[i];
            if (k == 0) return nullptr;
        }
    }
};

struct alignas(64) Shard {
    std::mutex write_mutex;
    std::atomic<SlotArray*> table{nullptr};
    std::size_t size = 0;                            // guarded by write_mutex
    std::vector<std::unique_ptr<SlotArray>> arrays;  // current and retired; guarded by write_mutex

    // Writer side: the slot for `key`, created (and the array grown) if needed. Caller holds the mutex.
    Slot& upsert(std::uint64_t key, std::uint64_t hash) {
        SlotArray* t = table.load(std::memory_order_relaxed);
        if (t != nullptr)
            if (const Slot* s = t->find(key, hash)) return const_cast<Slot&>(*s);
        if (t == nullptr || (size + 1) * 2 > t->slots.size()) t = grow(t);  // load <= 1/2: misses stay short
        for (std::size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
            Slot& s = t->slots[i];
            if (s.key.load(std::memory_order_relaxed) == 0) {
                ++size;
                t->add_to_filter(hash);
                s.key.store(key, std::memory_order_release);  // words are at their defaults
                return s;
            }
        }
    }

    SlotArray* grow(SlotArray* old) {
        auto bigger = std::make_unique<SlotArray>(old == nullptr ? 16 : old->slots.size() * 2);
        if (old != nullptr)
            for (const Slot& s : old->slots) {
                const std::uint64_t k = s.key.load(std::memory_order_relaxed);
                if (k == 0) continue;
                bigger->add_to_filter(detail::mix64(k));
                for (std::size_t i = detail::mix64(k) & bigger->mask;; i = (i + 1) & bigger->mask) {
                    Slot& d = bigger->slots[i];
                    if (d.key.load(std::memory_order_relaxed) != 0) continue;
                    d.word.store(s.word.load(std::memory_order_relaxed), std::memory_order_relaxed);
                    d.optout_ms.store(s.optout_ms.load(std::memory_order_relaxed), std::memory_order_relaxed);
                    d.key.store(k, std::memory_order_relaxed);
                    break;
                }
            }
        SlotArray* published = bigger.get();
        arrays.push_back(std::move(bigger));
        table.store(published, std::memory_order_release);  // the old array stays alive for readers
        return published;
    }
};

constexpr std::size_t shard_bits = 8;
constexpr std::size_t shard_count = std::size_t{1} << shard_bits;
constexpr std::size_t max_triggers = 65536;  // id 0 means none

// Trigger texts ("STOP", "Stop promotions") are few; each is stored once per index and referred
// to by a 16-bit id that fits in a contact's word. Ids are read lock-free.
class TriggerTable {
public:
    TriggerTable() : by_id_(new std::atomic<const std::string*>[max_triggers]) {
        for (std::size_t i = 0; i < max_triggers; ++i) by_id_[i].store(nullptr, std::memory_order_relaxed);
    }

    std::uint16_t intern(const std::string& text) {
        if (text.empty()) return 0;
        std::lock_guard lock(mutex_);
        if (auto it = ids_.find(text); it != ids_.end()) return it->second;
        if (texts_.size() + 1 >= max_triggers) return 0;
        const std::string& stored = texts_.emplace_back(text);
        const auto id = static_cast<std::uint16_t>(texts_.size());
        by_id_[id].store(&stored, std::memory_order_release);
        ids_.emplace(stored, id);
        return id;
    }

    const std::string* text(std::uint16_t id) const noexcept {
        return id == 0 ? nullptr : by_id_[id].load(std::memory_order_acquire);
    }

private:
    std::unique_ptr<std::atomic<const std::string*>[]> by_id_;
    std::mutex mutex_;
    std::deque<std::string> texts_;
    std::unordered_map<std::string_view, std::uint16_t> ids_;
};

}  // namespace

// One complete set of a tenant's facts. A reload (clear) publishes a fresh generation instead of
// emptying the live one, so a reader that found the tenant ready always reads a complete set: the
// old one or, once marked ready, the new one.
struct Generation {
    std::atomic<bool> ready{false};
    bool ever_ready = false;  // guarded by TenantFacts::generation_mutex
    std::array<Shard, shard_count> shards;

    void reset_shards() {  // only for a generation no reader can be in (never ready)
        for (Shard& s : shards) {
            std::lock_guard lock(s.write_mutex);
            s.table.store(nullptr, std::memory_order_release);
            s.arrays.clear();
            s.size = 0;
        }
    }
};

struct SuppressionIndex::TenantFacts {
    TenantFacts(TenantId id, const TriggerTable& t) : tenant(std::move(id)), triggers(t) {
        generations.push_back(std::make_unique<Generation>());
        current.store(generations.back().get(), std::memory_order_release);
    }

    const TenantId tenant;
    const TriggerTable& triggers;
    std::atomic<Generation*> current{nullptr};
    // Per tenant, not per generation: a reload does not make facts current, a catch-up does.
    std::atomic<bool> current_flag{true};
    // Writers hold it shared, clear() exclusively, so no write lands in a retired generation.
    mutable std::shared_mutex generation_mutex;
    // Every generation that was ever published ready stays alive with the index: lock-free readers
    // may still be in it. Reloads are rare (start, after a store outage), so this is bounded by
    // their number; a generation that was never ready is reused instead.
    std::vector<std::unique_ptr<Generation>> generations;

    static std::size_t shard_of(std::uint64_t hash) noexcept { return hash >> (64 - shard_bits); }

    bool ready() const noexcept { return current.load(std::memory_order_acquire)->ready.load(std::memory_order_acquire); }

    Lookup find(const PhoneNumber& phone) const noexcept { return find_key(phone.key()); }

    Lookup find_key(std::uint64_t key, bool use_filter = false) const noexcept {
        Lookup out;
        const Generation* g = current.load(std::memory_order_acquire);
        if (!g->ready.load(std::memory_order_acquire)) return out;
        out.tenant_ready = true;
        out.tenant_current = current_flag.load(std::memory_order_acquire);
        const std::uint64_t h = detail::mix64(key);
        const SlotArray* t = g->shards[shard_of(h)].table.load(std::memory_order_acquire);
        if (t == nullptr) return out;
        if (const Slot* s = t->find(key, h, use_filter))
            out.facts = ContactFacts(s->word.load(std::memory_order_acquire),
                                     s->optout_ms.load(std::memory_order_acquire), &triggers);
        return out;
    }

    // Applies `fn` to the contact's facts under its shard's lock and stores the result.
    template <class Fn>
    void update(const PhoneNumber& phone, Fn&& fn) {
        std::shared_lock generation_lock(generation_mutex);
        Generation& g = *current.load(std::memory_order_acquire);
        const std::uint64_t h = detail::mix64(phone.key());
        Shard& shard = g.shards[shard_of(h)];
        std::lock_guard lock(shard.write_mutex);
        Slot& s = shard.upsert(phone.key(), h);
        Packed p{s.word.load(std::memory_order_relaxed), s.optout_ms.load(std::memory_order_relaxed)};
        fn(p);
        s.optout_ms.store(p.optout_ms, std::memory_order_release);
        s.word.store(p.word, std::memory_order_release);
    }

    void set_ready(bool on) {
        std::unique_lock lock(generation_mutex);
        Generation& g = *current.load(std::memory_order_acquire);
        g.ever_ready = g.ever_ready || on;
        g.ready.store(on, std::memory_order_release);
    }

    void clear() {
        std::unique_lock lock(generation_mutex);
        Generation* g = current.load(std::memory_order_acquire);
        if (!g->ever_ready) {
            g->reset_shards();  // no reader ever looked inside: reuse it
            return;
        }
        generations.push_back(std::make_unique<Generation>());
        current.store(generations.back().get(), std::memory_order_release);
    }
};

namespace {

// Tenants in an open-addressing table of atomic pointers: readers probe without locking; inserts
// take a mutex and, when the table fills, publish a bigger copy. Old tables and tenant facts live
// as long as the SuppressionIndex, so a reader never sees freed memory.
struct TenantTable {
    explicit TenantTable(std::size_t capacity) : slots(capacity), mask(capacity - 1) {}
    std::vector<std::atomic<SuppressionIndex::TenantFacts*>> slots;
    std::size_t mask;
    std::size_t used = 0;
};

}  // namespace

struct SuppressionIndex::Impl {
    TriggerTable triggers;
    std::atomic<TenantTable*> current{nullptr};
    std::mutex insert_mutex;
    std::vector<std::unique_ptr<TenantTable>> tables;
    std::vector<std::unique_ptr<TenantFacts>> tenants;

    Impl() {
        tables.push_back(std::make_unique<TenantTable>(64));
        current.store(tables.back().get(), std::memory_order_release);
    }

    static std::size_t hash(const TenantId& t) noexcept { return std::hash<std::string>{}(t.value()); }

    TenantFacts* find(const TenantId& tenant) const noexcept {
        const TenantTable* table = current.load(std::memory_order_acquire);
        for (std::size_t i = hash(tenant) & table->mask;; i = (i + 1) & table->mask) {
            TenantFacts* p = table->slots[i].load(std::memory_order_acquire);
            if (p == nullptr) return nullptr;
            if (p->tenant == tenant) return p;
        }
    }

    static void place(TenantTable& table, TenantFacts* p) {
        for (std::size_t i = hash(p->tenant) & table.mask;; i = (i + 1) & table.mask)
            if (table.slots[i].load(std::memory_order_relaxed) == nullptr) {
                table.slots[i].store(p, std::memory_order_release);
                ++table.used;
                return;
            }
    }

    TenantFacts& get_or_create(const TenantId& tenant) {
        if (TenantFacts* p = find(tenant)) return *p;
        std::lock_guard lock(insert_mutex);
        if (TenantFacts* p = find(tenant)) return *p;
        TenantTable* table = current.load(std::memory_order_relaxed);
        if ((table->used + 1) * 2 > table->slots.size()) {
            tables.push_back(std::make_unique<TenantTable>(table->slots.size() * 2));
            TenantTable* bigger = tables.back().get();
            for (auto& owned : tenants) place(*bigger, owned.get());
            current.store(bigger, std::memory_order_release);
            table = bigger;
        }
        tenants.push_back(std::make_unique<TenantFacts>(tenant, triggers));
        place(*table, tenants.back().get());
        return *tenants.back();
    }
};

const std::string* ContactFacts::last_optout_trigger() const noexcept {
    if (triggers_ == nullptr) return nullptr;
    return static_cast<const TriggerTable*>(triggers_)->text(static_cast<std::uint16_t>(word_ >> 16));
}

SuppressionIndex::SuppressionIndex() : impl_(std::make_unique<Impl>()) {}
SuppressionIndex::~SuppressionIndex() = default;

bool SuppressionIndex::TenantView::ready() const noexcept { return t_ != nullptr && t_->ready(); }

bool SuppressionIndex::TenantView::current() const noexcept {
    return ready() && t_->current_flag.load(std::memory_order_acquire);
}

SuppressionIndex::Lookup SuppressionIndex::TenantView::find(const PhoneNumber& phone) const noexcept {
    return t_ == nullptr ? Lookup{} : t_->find(phone);
}

SuppressionIndex::Lookup SuppressionIndex::TenantView::find_key(std::uint64_t phone_key) const noexcept {
    return t_ == nullptr ? Lookup{} : t_->find_key(phone_key);
}

void SuppressionIndex::TenantView::find_many(std::span<const std::uint64_t> keys, Lookup* out) const noexcept {
    for (std::size_t i = 0; i < keys.size(); ++i) out[i] = t_ == nullptr ? Lookup{} : t_->find_key(keys[i], true);
}

SuppressionIndex::TenantView SuppressionIndex::view(const TenantId& tenant) const noexcept {
    return TenantView(impl_->find(tenant));
}

SuppressionIndex::Lookup SuppressionIndex::find(const TenantId& tenant, const PhoneNumber& phone) const noexcept {
    const TenantFacts* t = impl_->find(tenant);
    return t == nullptr ? Lookup{} : t->find(phone);
}

void SuppressionIndex::apply(const optout::OptOutEvent& event) {
    TenantFacts& t = impl_->get_or_create(event.tenant);
    const std::uint16_t trigger = event.kind == optout::EventKind::opt_out ? impl_->triggers.intern(event.trigger) : 0;
    t.update(event.phone, [&](Packed& p) {
        const bool all = event.scope == optout::Scope::all;
        if (event.kind == optout::EventKind::opt_out) {
            p.set_flag(all ? opted_out : marketing_opted_out, true);
            p.set_flag(confirmation_sent, false);  // each opt-out may be confirmed once
            p.set_optout(event.method, event.scope, trigger);
            p.optout_ms = to_unix_ms(event.at);
        } else if (all) {
            p.set_flag(opted_out | marketing_opted_out, false);  // START clears every opt-out
        } else {
            p.set_flag(marketing_opted_out, false);
        }
    });
}

void SuppressionIndex::set_consent(const TenantId& tenant, const PhoneNumber& phone, bool granted) {
    impl_->get_or_create(tenant).update(phone, [&](Packed& p) { p.set_flag(consent, granted); });
}

void SuppressionIndex::set_restricted(const TenantId& tenant, const PhoneNumber& phone, bool on) {
    impl_->get_or_create(tenant).update(phone, [&](Packed& p) { p.set_flag(restricted, on); });
}

void SuppressionIndex::touch_inbound(const TenantId& tenant, const PhoneNumber& phone, Timestamp at) {
    // Floored to the second: the 24-hour window may close up to a second early, never late.
    const std::int64_t s = to_unix_ms(at) / 1000;
    if (s <= 0 || s > INT64_C(0xFFFFFFFF)) return;
    impl_->get_or_create(tenant).update(phone, [&](Packed& p) {
        if (p.inbound_s() < std::uint32_t(s)) {
            p.set_inbound_s(std::uint32_t(s));
            p.set_flag(window_closed, false);
        }
    });
}

void SuppressionIndex::close_window(const TenantId& tenant, const PhoneNumber& phone, Timestamp at) {
    impl_->get_or_create(tenant).update(phone, [&](Packed& p) {
        // Inbound times are floored to the second: a message in the same second as the report
        // does not count as newer (the window stays closed rather than wrongly open).
        if (std::int64_t(p.inbound_s()) * 1000 <= to_unix_ms(at)) p.set_flag(window_closed, true);
    });
}

bool SuppressionIndex::claim_confirmation(const TenantId& tenant, const PhoneNumber& phone, Timestamp not_before) {
    bool claimed = false;
    impl_->get_or_create(tenant).update(phone, [&](Packed& p) {
        if ((p.flags() & (opted_out | marketing_opted_out)) && !(p.flags() & confirmation_sent) &&
            p.optout_ms != none_ms && p.optout_ms >= to_unix_ms(not_before)) {
            p.set_flag(confirmation_sent, true);
            claimed = true;
        }
    });
    return claimed;
}

bool SuppressionIndex::ready(const TenantId& tenant) const noexcept { return view(tenant).ready(); }

void SuppressionIndex::mark_ready(const TenantId& tenant, bool ready) { impl_->get_or_create(tenant).set_ready(ready); }

void SuppressionIndex::clear(const TenantId& tenant) { impl_->get_or_create(tenant).clear(); }

bool SuppressionIndex::current(const TenantId& tenant) const noexcept { return view(tenant).current(); }

void SuppressionIndex::mark_current(const TenantId& tenant, bool current) {
    impl_->get_or_create(tenant).current_flag.store(current, std::memory_order_release);
}

std::size_t SuppressionIndex::size(const TenantId& tenant) const {
    TenantFacts* t = impl_->find(tenant);
    if (t == nullptr) return 0;
    std::shared_lock generation_lock(t->generation_mutex);
    std::size_t n = 0;
    for (Shard& s : t->current.load(std::memory_order_acquire)->shards) {
        std::lock_guard lock(s.write_mutex);
        n += s.size;
    }
    return n;
}

std::size_t SuppressionIndex::memory_bytes(const TenantId& tenant) const {
    TenantFacts* t = impl_->find(tenant);
    if (t == nullptr) return 0;
    std::shared_lock generation_lock(t->generation_mutex);
    std::size_t n = sizeof(TenantFacts);
    for (const auto& g : t->generations) {
        n += sizeof(Generation);
        for (Shard& s : g->shards) {
            std::lock_guard lock(s.write_mutex);
            for (const auto& a : s.arrays)
                n += sizeof(SlotArray) + a->slots.capacity() * sizeof(Slot) +
                     a->filter.capacity() * sizeof(std::uint64_t);
        }
    }
    return n;
}

}  // namespace heroshhi::messaging
