// heroshhi — SuppressionIndex: the in-memory facts the send gate reads before every send.
#pragma once

#include <cstddef>
#include <climits>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/ids.hpp>
#include <heroshhi/core/phone_number.hpp>
#include <heroshhi/optout/event.hpp>

namespace heroshhi::messaging {

/// What the gate knows about one contact of one tenant: a copy of two packed words, decoded on
/// demand so that a lookup costs a few loads. Default-constructed: nothing known (never opted
/// out, no consent, never wrote).
class ContactFacts {
public:
    ContactFacts() = default;

    bool opted_out() const noexcept { return word_ & opted_out_bit; }  ///< from every message
    /// From marketing (also true whenever opted_out()).
    bool marketing_opted_out() const noexcept { return word_ & (opted_out_bit | marketing_bit); }
    bool marketing_consent() const noexcept { return word_ & consent_bit; }  ///< latest consent is a grant
    bool restricted() const noexcept { return word_ & restricted_bit; }     ///< processing restricted
    /// The single confirmation of the last opt-out was already claimed.
    bool confirmation_sent() const noexcept { return word_ & confirmation_bit; }
    /// WhatsApp answered that the 24-hour window is closed (error 131047) and the contact has not
    /// written since: free-form messages are refused whatever last_inbound() says.
    bool window_closed() const noexcept { return word_ & window_closed_bit; }

    /// The contact's last message to us, floored to the second; nullopt if they never wrote.
    std::optional<Timestamp> last_inbound() const noexcept {
        const auto s = static_cast<std::int64_t>(word_ >> 32);
        if (s == 0) return std::nullopt;
        return from_unix_ms(s * 1000);
    }
    /// The last opt-out event (any scope): when, how, what scope, and its keyword or button text.
    std::optional<Timestamp> last_optout_at() const noexcept {
        if (optout_ms_ == no_time) return std::nullopt;
        return from_unix_ms(optout_ms_);
    }
    optout::Method last_optout_method() const noexcept { return static_cast<optout::Method>((word_ >> 8) & 0xF); }
    optout::Scope last_optout_scope() const noexcept { return static_cast<optout::Scope>((word_ >> 12) & 1); }
    /// Valid as long as the index; nullptr if none (or if more than 65,535 distinct texts were
    /// seen by the index: the notice then names the method only; the registry keeps the exact text).
    const std::string* last_optout_trigger() const noexcept;

    // Layout of the packed word: bits 0-7 flags, 8-11 method, 12 scope, 16-31 trigger id,
    // 32-63 last inbound time in Unix seconds (0: never).
    static constexpr std::uint64_t opted_out_bit = 1, marketing_bit = 2, consent_bit = 4, restricted_bit = 8,
                                   confirmation_bit = 16, window_closed_bit = 32;
    static constexpr std::int64_t no_time = INT64_MIN;

private:
    friend class SuppressionIndex;
    ContactFacts(std::uint64_t word, std::int64_t optout_ms, const void* triggers) noexcept
        : word_(word), optout_ms_(optout_ms), triggers_(triggers) {}

    std::uint64_t word_ = 0;
    std::int64_t optout_ms_ = no_time;
    const void* triggers_ = nullptr;  // the index's trigger table
};

/// Per-tenant hash tables of ContactFacts keyed by the packed E.164 number.
///
/// Reads take no lock at all: tenants are found in a lock-free table, and each tenant's contacts
/// sit in open-addressing shards whose slots are atomic words, so a read is a hash, a few loads and
/// no writes to shared memory. Writers lock one shard. Memory that lock-free readers might still be
/// in is never freed while the index lives: arrays replaced by growth (at most as much again as the
/// live ones) and whole fact sets replaced by a reload (`clear` after the tenant was ready; reloads
/// are rare: at start and after a store outage). memory_bytes() counts all of it.
///
/// A tenant is usable only after `mark_ready`: until then lookups answer "not ready" and the gate
/// fails closed. It must also be current (`mark_current`; the default), or the gate fails closed
/// as well. `clear` starts a fresh, not-ready set of facts for the tenant; a reader never sees
/// a half-cleared one.
class SuppressionIndex {
public:
    SuppressionIndex();
    ~SuppressionIndex();
    SuppressionIndex(const SuppressionIndex&) = delete;
    SuppressionIndex& operator=(const SuppressionIndex&) = delete;

    /// The answer of a lookup.
    struct Lookup {
        bool tenant_ready = false;  ///< false: the tenant was never loaded or was invalidated
        /// false: the tenant's facts may miss events other processes recorded (see mark_current)
        bool tenant_current = false;
        ContactFacts facts;         ///< defaults (nothing known) when the contact has no entry
    };

    struct TenantFacts;

    /// One tenant's facts, resolved once: for looking up many contacts of the same tenant (an
    /// audience) without hashing the tenant id each time. Valid as long as the index.
    class TenantView {
    public:
        bool ready() const noexcept;
        /// ready() and confirmed current (see SuppressionIndex::mark_current).
        bool current() const noexcept;
        Lookup find(const PhoneNumber& phone) const noexcept;
        /// The same lookup by PhoneNumber::key(), for callers that hold packed keys.
        Lookup find_key(std::uint64_t phone_key) const noexcept;
        /// find_key for each of `phone_keys`, written to `out` (as many elements). For bulk work
        /// where most contacts have no entry: a Bloom filter answers those without probing.
        void find_many(std::span<const std::uint64_t> phone_keys, Lookup* out) const noexcept;

    private:
        friend class SuppressionIndex;
        explicit TenantView(const TenantFacts* t) noexcept : t_(t) {}
        const TenantFacts* t_;
    };

    /// Thread-safe, lock-free, never allocates.
    Lookup find(const TenantId& tenant, const PhoneNumber& phone) const noexcept;
    TenantView view(const TenantId& tenant) const noexcept;

    // ---- writers (thread-safe) ----

    /// Applies one opt-out/opt-in event: updates the flags, the last opt-out and re-opens the
    /// single confirmation for an opt-out.
    void apply(const optout::OptOutEvent& event);
    void set_consent(const TenantId& tenant, const PhoneNumber& phone, bool granted);
    void set_restricted(const TenantId& tenant, const PhoneNumber& phone, bool restricted);
    /// Moves the last inbound time forward (never back). Moving it forward re-opens a window
    /// closed by close_window: the contact wrote again.
    void touch_inbound(const TenantId& tenant, const PhoneNumber& phone, Timestamp at);
    /// Marks the contact's 24-hour window closed, as the provider reported at `at`, until the next
    /// inbound message that moves the last inbound time forward. Does nothing if the contact wrote
    /// after `at` (their new message re-opened the window before the report was handled).
    void close_window(const TenantId& tenant, const PhoneNumber& phone, Timestamp at);
    /// Atomically marks the confirmation of the last opt-out as sent if it was not, and the last
    /// opt-out happened at or after `not_before`. Returns whether this call claimed it.
    bool claim_confirmation(const TenantId& tenant, const PhoneNumber& phone, Timestamp not_before);

    /// Whether the tenant's facts are loaded and current (see mark_ready). Lock-free.
    bool ready(const TenantId& tenant) const noexcept;

    /// Declares the tenant's facts complete (after warming) or not (to force a reload: the gate
    /// then fails closed for the tenant). Writes to a tenant that is not ready are still kept.
    void mark_ready(const TenantId& tenant, bool ready);
    /// Drops every fact of the tenant and marks it not ready.
    void clear(const TenantId& tenant);

    /// Whether the tenant's facts are ready and current: nothing another process recorded in a
    /// shared store is known to be missing (see mark_current). Lock-free: one more atomic load.
    bool current(const TenantId& tenant) const noexcept;
    /// Declares whether the tenant's facts are current. A tenant is current unless marked
    /// otherwise: only an engine that shares its store with other processes marks a tenant not
    /// current (at start, or when its change feed was lost), and while it is not, lookups answer
    /// `tenant_current = false` and the gate refuses every send (suppression_not_current). Kept
    /// across clear(): the flag belongs to the tenant, not to one set of facts.
    void mark_current(const TenantId& tenant, bool current);

    /// Contacts with an entry, and bytes used by the tenant's tables (current and retired slot
    /// arrays, shard headers). For capacity planning and the memory figure in benchmarks/RESULTS.md.
    std::size_t size(const TenantId& tenant) const;
    std::size_t memory_bytes(const TenantId& tenant) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace heroshhi::messaging
