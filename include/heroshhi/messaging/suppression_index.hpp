// heroshhi — SuppressionIndex: the in-memory facts the send gate reads before every send.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/ids.hpp>
#include <heroshhi/core/phone_number.hpp>
#include <heroshhi/optout/event.hpp>

namespace heroshhi::messaging {

/// What the gate knows about one contact of one tenant. A plain value: no allocation to copy.
struct ContactFacts {
    bool opted_out = false;             ///< opted out of every message
    bool marketing_opted_out = false;   ///< opted out of marketing (implied by opted_out)
    bool marketing_consent = false;     ///< the latest consent record for marketing is a grant
    bool restricted = false;            ///< processing restricted by a data-subject request
    bool confirmation_sent = false;     ///< the confirmation of the last opt-out was already claimed
    std::optional<Timestamp> last_inbound;   ///< the contact's last message to us
    std::optional<Timestamp> last_optout_at; ///< the last opt-out event (any scope), for the notice
    optout::Method last_optout_method = optout::Method::keyword;
    optout::Scope last_optout_scope = optout::Scope::all;
    /// The keyword or button text of the last opt-out. Points into the index's interned strings,
    /// valid as long as the index; nullptr if none.
    const std::string* last_optout_trigger = nullptr;
};

/// Per-tenant hash tables of ContactFacts keyed by the packed E.164 number.
///
/// Reads (`find`) take no global lock: tenants are found in a lock-free table, and each tenant's
/// contacts are split over shards with a reader-writer lock each, so concurrent readers never wait
/// for each other and a writer blocks only readers of its own shard. A tenant is usable only after
/// `mark_ready`: until then `find` answers "not ready" and the gate fails closed.
///
/// The index holds facts, not policy: it never decides. It does no I/O; the engine warms it from
/// storage and updates it on every write.
class SuppressionIndex {
public:
    SuppressionIndex();
    ~SuppressionIndex();
    SuppressionIndex(const SuppressionIndex&) = delete;
    SuppressionIndex& operator=(const SuppressionIndex&) = delete;

    /// The answer of a lookup.
    struct Lookup {
        bool tenant_ready = false;  ///< false: the tenant was never loaded or was invalidated
        ContactFacts facts;         ///< defaults (nothing known) when the contact has no entry
    };

    /// Thread-safe, never blocks on writers of other shards, never allocates.
    Lookup find(const TenantId& tenant, const PhoneNumber& phone) const noexcept;

    // ---- writers (thread-safe) ----

    /// Applies one opt-out/opt-in event: updates the flags, the last opt-out and re-opens the
    /// single confirmation for an opt-out.
    void apply(const optout::OptOutEvent& event);
    void set_consent(const TenantId& tenant, const PhoneNumber& phone, bool granted);
    void set_restricted(const TenantId& tenant, const PhoneNumber& phone, bool restricted);
    /// Moves the last inbound time forward (never back).
    void touch_inbound(const TenantId& tenant, const PhoneNumber& phone, Timestamp at);
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

    /// Contacts with an entry, and bytes used by the tenant's tables (slots, shards, interned
    /// triggers). For capacity planning and the memory figure in benchmarks/RESULTS.md.
    std::size_t size(const TenantId& tenant) const;
    std::size_t memory_bytes(const TenantId& tenant) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace heroshhi::messaging
