#include <heroshhi/retention/aggregates.hpp>

#include <heroshhi/storage/errors.hpp>

#include <algorithm>

namespace heroshhi::retention {

std::string_view aggregate_source(std::string_view lead_source) noexcept {
    for (std::string_view tag : {"direct", "integration", "webhook", "whatsapp"})
        if (lead_source == tag) return tag;
    return lead_source.empty() ? "unknown" : "other";
}

Result<void> check_aggregates(std::span<const DailyAggregate> counts) {
    auto event_char = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    };
    for (std::size_t i = 0; i < counts.size(); ++i) {
        const DailyAggregate& a = counts[i];
        const auto refuse = [&](std::string_view why) {
            return Error(storage::StorageErrc::invalid_argument,
                         "aggregate " + std::to_string(i) + ": " + std::string(why) + "; nothing was added");
        };
        if (a.tenant.empty()) return refuse("no tenant");
        if (a.count < 0) return refuse("a negative count");
        if (a.event_type.empty() || a.event_type.size() > 64 || !std::all_of(a.event_type.begin(), a.event_type.end(), event_char))
            return refuse("the event type is not 1 to 64 of a-z, 0-9, '.', '_', '-'");
        if (std::find(std::begin(aggregate_sources), std::end(aggregate_sources), a.source) == std::end(aggregate_sources))
            return refuse("the source is not one of direct, integration, webhook, whatsapp, unknown, other "
                          "(aggregates are kept forever and must hold nothing personal)");
    }
    return {};
}

}  // namespace heroshhi::retention
