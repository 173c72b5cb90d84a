#include <heroshhi/storage/contact_store.hpp>

namespace heroshhi::storage {

Result<std::vector<Contact>> ContactStore::list_held(const TenantId& tenant, const Page& page) const {
    std::vector<Contact> out;
    Page next{page.after, page.limit == 0 ? 1 : page.limit};
    while (out.size() < page.limit) {
        auto contacts = list(tenant, next);
        if (!contacts) return contacts.error();
        for (Contact& c : *contacts)
            if (c.legal_hold && out.size() < page.limit) out.push_back(std::move(c));
        if (contacts->size() < next.limit) break;
        next.after = contacts->back().id.value();
    }
    return out;
}

}  // namespace heroshhi::storage
