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

    /// The last inbound time; nullopt if the contact never wrote.
    virtual Result<std::optional<Timestamp>> last_inbound(const TenantId& tenant, const PhoneNumber& phone) const = 0;

    /// Calls `visit` for every (phone, last inbound) of the tenant, in no particular order.
    virtual Result<void> scan(const TenantId& tenant,
                              const std::function<void(const PhoneNumber&, Timestamp)>& visit) const = 0;
    /// Erasure (privacy::): forgets the number's last inbound time. Returns whether there was one.
    virtual Result<bool> forget(const TenantId& tenant, const PhoneNumber& phone) = 0;
};

}  // namespace heroshhi::storage
