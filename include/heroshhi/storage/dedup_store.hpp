// heroshhi — DedupStore: remembers which webhook deliveries were already processed.
#pragma once

#include <string_view>

#include <heroshhi/core/result.hpp>
#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/ids.hpp>

namespace heroshhi::storage {

/// WhatsApp delivers webhooks at least once and retries for days. Thread-safe; blocks on I/O;
/// fails with a StorageErrc.
class DedupStore {
public:
    virtual ~DedupStore() = default;

    /// Records `key` (e.g. a provider message id) as seen at `at`. Returns true the first time,
    /// false for every later call with the same (tenant, key). Atomic: of two concurrent callers
    /// with the same key, exactly one gets true.
    virtual Result<bool> remember(const TenantId& tenant, std::string_view key, Timestamp at) = 0;
};

}  // namespace heroshhi::storage
