// heroshhi — analytics aggregates: what deleted rows contributed to the tenant's analytics, as
// daily counts with no personal data. The policy keeps these indefinitely.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <heroshhi/core/ids.hpp>
#include <heroshhi/core/result.hpp>

namespace heroshhi::retention {

/// One count: how many events of a type, from a source, a tenant had on a day (UTC). Before a
/// lead or message is hard-deleted, the store adds it here: event "lead" on the lead's creation
/// day, "message.inbound" or "message.outbound" on the message's day; the source is the lead's
/// when it is one of the policy's tags ("direct", "integration", "webhook", "whatsapp"), "unknown"
/// if none, and "other" for anything else: a source is free text to a host that writes contacts
/// itself, and what aggregates keep (indefinitely) must not be able to hold a name or a number.
/// Host analytics add the live rows to these to get totals that survive deletion.
struct DailyAggregate {
    TenantId tenant;
    std::chrono::sys_days day{};
    std::string event_type;
    std::string source;
    std::int64_t count = 0;

    friend bool operator==(const DailyAggregate&, const DailyAggregate&) = default;
};

/// Thread-safe; blocks on I/O; fails with a StorageErrc.
class AggregateStore {
public:
    virtual ~AggregateStore() = default;

    /// Adds each count to its (tenant, day, event type, source) total, in one transaction. For a
    /// host target that folds its own rows; the shipped targets fold theirs inside their batches.
    virtual Result<void> add(std::span<const DailyAggregate> counts) = 0;

    /// The tenant's totals for days in [from, until), ordered by day, event type and source.
    virtual Result<std::vector<DailyAggregate>> list(const TenantId& tenant, std::chrono::sys_days from,
                                                     std::chrono::sys_days until) const = 0;
};

}  // namespace heroshhi::retention
