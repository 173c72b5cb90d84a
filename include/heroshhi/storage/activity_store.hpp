// heroshhi — ActivityStore: when each contact last wrote to us (the WhatsApp 24-hour window).
#pragma once

#include <functional>
#include <optional>

#include <heroshhi/core/result.hpp>
#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/ids.hpp>
#include <heroshhi/core/phone_number.hpp>

namespace heroshhi::storage {

/// Keeps the last inbound time per (tenant, phone). Thread-safe; blocks on I/O; fails with a
/// StorageErrc.
class ActivityStore {
public:
    virtual ~ActivityStore() = default;

    /// Records an inbound message at `at`; the stored time only moves forward (a late, out-of-order
    /// webhook does not move it back).
    virtual Result<void> record_inbound(const TenantId& tenant, const PhoneNumber& phone, Timestamp at) = 0;

    /// Called once with the outcome of record_inbound_async.
    using WriteDone = std::function<void(Result<void>)>;

    /// record_inbound for a caller whose thread must not wait for the store (a server's I/O
    /// thread). Returns false when the store has no such path (the default): nothing is written,
    /// `done` is left as it was, and the caller calls record_inbound from a thread that may block.
    /// Returns true when the write was taken: `done` (moved from) is then called exactly once with
    /// what record_inbound would have returned, after the time is as durable as record_inbound
    /// makes it, on a thread of the store's (which may be another caller's thread that committed
    /// this write with its own) or on this one before the call returns. A failure the store finds
    /// at once (read-only, invalid argument) may be delivered that way. `done` must not block or
    /// call back into the store; what it throws is dropped. Completions still queued when the
    /// store is destroyed are run by its destructor.
    virtual bool record_inbound_async(const TenantId& tenant, const PhoneNumber& phone, Timestamp at, WriteDone&& done) {
        (void)tenant, (void)phone, (void)at, (void)done;
        return false;
    }

    /// The last inbound time; nullopt if the contact never wrote.
    virtual Result<std::optional<Timestamp>> last_inbound(const TenantId& tenant, const PhoneNumber& phone) const = 0;

    /// Calls `visit` for every (phone, last inbound) of the tenant, in no particular order.
    virtual Result<void> scan(const TenantId& tenant,
                              const std::function<void(const PhoneNumber&, Timestamp)>& visit) const = 0;
    /// Erasure (privacy::): forgets the number's last inbound time. Returns whether there was one.
    virtual Result<bool> forget(const TenantId& tenant, const PhoneNumber& phone) = 0;
};

}  // namespace heroshhi::storage
