#include <heroshhi/storage/audit_store.hpp>

#include <algorithm>

namespace heroshhi::storage {

Result<std::size_t> AuditStore::scan(const TenantId& tenant, std::int64_t after_sequence, std::size_t limit,
                                     const std::function<bool(const audit::EntryView&)>& visit) const {
    constexpr std::size_t page_size = 1024;
    audit::Query page(tenant);
    page.after_sequence = after_sequence;
    std::size_t handed = 0;
    while (handed < limit) {
        page.limit = std::min(page_size, limit - handed);
        auto entries = query(page);
        if (!entries) return entries.error();
        for (const audit::Entry& e : *entries) {
            ++handed;
            if (!visit(audit::view_of(e))) return handed;
        }
        if (entries->size() < page.limit) break;
        page.after_sequence = entries->back().sequence;
    }
    return handed;
}

}  // namespace heroshhi::storage
