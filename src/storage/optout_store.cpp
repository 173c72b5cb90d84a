#include <heroshhi/storage/optout_store.hpp>

#include <cstddef>
#include <utility>

namespace heroshhi::storage {

// The fallback for a host's store: both full scans, filtered and merged by sequence. Correct, and
// as slow as a warm-up; the shipped stores answer from an index on (tenant, sequence).
Result<void> OptOutStore::scan_since(const TenantId& tenant, std::int64_t after_sequence,
                                     const std::function<void(const optout::OptOutEvent&)>& visit,
                                     const std::function<void(const optout::ErasedOptOutEvent&)>& visit_erased) const {
    std::vector<optout::OptOutEvent> events;
    std::vector<optout::ErasedOptOutEvent> erased;
    if (auto r = scan_erased(tenant,
                             [&](const optout::ErasedOptOutEvent& e) {
                                 if (e.sequence > after_sequence) erased.push_back(e);
                             });
        !r)
        return r;
    if (auto r = scan(tenant,
                      [&](const optout::OptOutEvent& e) {
                          if (e.sequence > after_sequence) events.push_back(e);
                      });
        !r)
        return r;
    std::size_t i = 0, j = 0;
    while (i < events.size() || j < erased.size()) {
        if (j == erased.size() || (i < events.size() && events[i].sequence < erased[j].sequence)) visit(events[i++]);
        else visit_erased(erased[j++]);
    }
    return {};
}

}  // namespace heroshhi::storage
