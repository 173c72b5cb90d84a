// heroshhi — ConsentStore: the port for consent grants and withdrawals.
#pragma once

#include <functional>
#include <optional>

#include <heroshhi/core/result.hpp>
#include <heroshhi/storage/records.hpp>

namespace heroshhi::storage {

/// Keeps consent records, append-only. Thread-safe; blocks on I/O; fails with a StorageErrc.
class ConsentStore {
public:
    virtual ~ConsentStore() = default;

    /// Appends a grant or withdrawal.
    virtual Result<void> append(const ConsentRecord& record) = 0;

    /// The record in force for (tenant, phone, purpose): the latest appended; nullopt if none.
    virtual Result<std::optional<ConsentRecord>> latest(const TenantId& tenant, const PhoneNumber& phone,
                                                        Purpose purpose) const = 0;

    /// Calls `visit` for every record of the tenant in the order appended.
    virtual Result<void> scan(const TenantId& tenant, const std::function<void(const ConsentRecord&)>& visit) const = 0;
};

}  // namespace heroshhi::storage
