// heroshhi — ConsentStore: the port for consent grants and withdrawals.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <vector>

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

    // ---- data-subject rights (privacy::) ----

    /// Every record of (tenant, phone), every purpose, in the order appended (for an access export).
    virtual Result<std::vector<ConsentRecord>> records(const TenantId& tenant, const PhoneNumber& phone) const = 0;
    /// Erasure: deletes every record of (tenant, phone). Returns how many were deleted (0 when
    /// none). All or nothing.
    virtual Result<std::size_t> erase_number(const TenantId& tenant, const PhoneNumber& phone) = 0;
};

}  // namespace heroshhi::storage
