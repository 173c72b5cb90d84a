// heroshhi — analytics aggregates: what deleted rows contributed to the tenant's analytics, as
// daily counts with no personal data. The policy keeps these indefinitely.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
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

/// The sources an aggregate may name: the policy's four, "unknown" and "other".
inline constexpr std::string_view aggregate_sources[] = {"direct", "integration", "webhook", "whatsapp",
                                                         "unknown", "other"};
/// A lead's source as an aggregate keeps it: itself if it is one of the policy's four tags,
/// "unknown" when empty, "other" for anything else.
std::string_view aggregate_source(std::string_view lead_source) noexcept;

/// What every AggregateStore::add accepts, so that nothing personal can be kept forever through
/// it: a tenant; an event type of 1 to 64 characters from a-z, 0-9, '.', '_' and '-'; a source of
/// aggregate_sources; a count of at least 0. Fails with StorageErrc::invalid_argument naming the
/// first aggregate that is not so. Stores call it before writing anything.
Result<void> check_aggregates(std::span<const DailyAggregate> counts);

/// Thread-safe; blocks on I/O; fails with a StorageErrc.
class AggregateStore {
public:
    virtual ~AggregateStore() = default;

    /// Adds each count to its (tenant, day, event type, source) total, in one transaction. For a
    /// host target that folds its own rows; the shipped targets fold theirs inside their batches.
    /// Nothing is written unless check_aggregates accepts every count.
    virtual Result<void> add(std::span<const DailyAggregate> counts) = 0;

    /// The tenant's totals for days in [from, until), ordered by day, event type and source.
    virtual Result<std::vector<DailyAggregate>> list(const TenantId& tenant, std::chrono::sys_days from,
                                                     std::chrono::sys_days until) const = 0;
};

}  // namespace heroshhi::retention
