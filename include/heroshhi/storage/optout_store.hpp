// heroshhi — OptOutStore: the port for the append-only opt-out event log.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include <heroshhi/core/result.hpp>
#include <heroshhi/optout/event.hpp>

namespace heroshhi::storage {

/// Keeps opt-out and opt-in events, forever. There is no delete or update: re-subscription is a
/// new event. Thread-safe; blocks on I/O; fails with a StorageErrc.
class OptOutStore {
public:
    virtual ~OptOutStore() = default;

    /// Appends the event and assigns its sequence (increasing within the tenant). Idempotent on
    /// (tenant, provider_message_id) when that id is not empty: a redelivered webhook stores
    /// nothing and returns false, leaving `event.sequence` as given.
    ///
    /// Sequences of one tenant become visible in increasing order: once a reader has seen an event,
    /// no event of the same tenant with a lower sequence appears later (a store that several
    /// processes write serialises each tenant's appends up to their commit). scan_since relies
    /// on it: a process that shares the store reads only what follows its last sequence.
    virtual Result<bool> append(optout::OptOutEvent& event) = 0;

    /// Called once with the outcome of append_async: the sequence the event was given, or 0 for a
    /// redelivery that stored nothing (where append returns false).
    using AppendDone = std::function<void(Result<std::int64_t>)>;

    /// append for a caller whose thread must not wait for the store (a server's I/O thread), with
    /// the contract of ActivityStore::record_inbound_async: false when the store has no such path
    /// (the default), nothing written and `done` left as it was; true when the write was taken,
    /// and `done` (moved from) is then called exactly once, after the event is as durable as append
    /// makes it, on a thread of the store's or on this one before the call returns. `done` must not
    /// block or call back into the store; what it throws is dropped. It must not throw once it has
    /// taken the write (the caller would take it as not taken).
    virtual bool append_async(const optout::OptOutEvent& event, AppendDone&& done) {
        (void)event;
        (void)done;
        return false;
    }

    /// Every event for this number, oldest first.
    virtual Result<std::vector<optout::OptOutEvent>> history(const TenantId& tenant, const PhoneNumber& phone) const = 0;

    /// Calls `visit` for every event of the tenant in sequence order (to warm an index). A store
    /// fault stops the scan and is returned; the visitor may already have seen some events.
    virtual Result<void> scan(const TenantId& tenant, const std::function<void(const optout::OptOutEvent&)>& visit) const = 0;

    /// Calls `visit` for every event of the tenant with a sequence above `after_sequence`, and
    /// `visit_erased` for every such event that was erased (erase_number) before the scan reached
    /// it, both in one sequence order. For a process that shares the store with others
    /// (Engine::catch_up): it reads what they appended since its last sequence. A store fault
    /// stops the scan and is returned; the visitors may already have seen some events.
    ///
    /// The default merges scan() and scan_erased(), reading the tenant's whole log: stores
    /// override it with one indexed read from `after_sequence`.
    virtual Result<void> scan_since(const TenantId& tenant, std::int64_t after_sequence,
                                    const std::function<void(const optout::OptOutEvent&)>& visit,
                                    const std::function<void(const optout::ErasedOptOutEvent&)>& visit_erased) const;

    // ---- data-subject erasure (privacy::) ----

    /// Reduces every event of `phone` in `tenant` to its keyed hash `tag` (an ErasedOptOutEvent):
    /// the number, the actor, the provider message id and the free-text trigger of manual and API
    /// events are removed; kind, scope, method, time, keyword, channel and sequence stay. Those
    /// events then appear only in scan_erased(), no longer in history() or scan(). Returns how many
    /// events were reduced; 0 when there were none (so a repeated erasure changes nothing). All or
    /// nothing. The erased values must not be recoverable from the store afterwards (see
    /// StoreSet::scrub).
    virtual Result<std::size_t> erase_number(const TenantId& tenant, const PhoneNumber& phone,
                                             const optout::NumberTag& tag) = 0;
    /// Calls `visit` for every erased event of the tenant in sequence order (to keep erased numbers
    /// suppressed after a restart). A store fault stops the scan and is returned.
    virtual Result<void> scan_erased(const TenantId& tenant,
                                     const std::function<void(const optout::ErasedOptOutEvent&)>& visit) const = 0;
};

}  // namespace heroshhi::storage
