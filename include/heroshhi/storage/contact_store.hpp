// heroshhi — ContactStore: the port for leads and contacts.
#pragma once

#include <optional>
#include <vector>

#include <heroshhi/core/result.hpp>
#include <heroshhi/storage/records.hpp>

namespace heroshhi::storage {

/// Keeps a tenant's contacts. Implementations are thread-safe; every method blocks on I/O and
/// fails with a StorageErrc (never throws). Every method is scoped by a tenant: a contact of
/// tenant A is invisible through tenant B.
class ContactStore {
public:
    virtual ~ContactStore() = default;

    /// Inserts or replaces the contact (tenant, id). Fails with invalid_argument on an empty id.
    virtual Result<void> put(const Contact& contact) = 0;

    /// The contact, soft-deleted or not; nullopt if absent.
    virtual Result<std::optional<Contact>> get(const TenantId& tenant, const ContactId& id) const = 0;

    /// The live (not soft-deleted) contact with this number; nullopt if none. If several share the
    /// number, the one with the smallest id.
    virtual Result<std::optional<Contact>> find_by_phone(const TenantId& tenant, const PhoneNumber& phone) const = 0;

    /// Live and soft-deleted contacts with id > page.after, ordered by id, at most page.limit.
    virtual Result<std::vector<Contact>> list(const TenantId& tenant, const Page& page) const = 0;

    /// As list(), only the contacts under legal hold (the retention sweep reads them to keep what
    /// a hold names). The default pages through list() and filters; the shipped stores read an
    /// index of held contacts instead, so the cost follows the (few) held ones.
    virtual Result<std::vector<Contact>> list_held(const TenantId& tenant, const Page& page) const;

    /// Sets deleted_at = at if the contact is live. Returns whether anything changed.
    virtual Result<bool> soft_delete(const TenantId& tenant, const ContactId& id, Timestamp at) = 0;

    /// Removes the contact and, in the same transaction, its message history. Returns whether
    /// the contact existed. Opt-out events are keyed by number, not contact, and are kept.
    virtual Result<bool> hard_delete(const TenantId& tenant, const ContactId& id) = 0;
};

}  // namespace heroshhi::storage
