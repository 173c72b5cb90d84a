// heroshhi — AccountStore: the tenants (customer accounts) a store knows, with their legal hold
// and account termination. The retention sweep walks every tenant through it.
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/ids.hpp>
#include <heroshhi/core/result.hpp>
#include <heroshhi/storage/records.hpp>

namespace heroshhi::storage {

/// A customer account (a tenant). Holds no personal data.
struct Account {
    explicit Account(TenantId tenant_) : tenant(std::move(tenant_)) {}

    TenantId tenant;
    Timestamp opened_at{};
    /// When the customer terminated the account. The policy keeps account data for the account's
    /// lifetime + 30 days: the sweep deletes the tenant's data (except what a legal hold keeps)
    /// once closed_at + 30 days has passed; its opt-out records stay only as keyed hashes (the
    /// suppression hashes), its analytics aggregates and a year of audit trail stay too.
    std::optional<Timestamp> closed_at;
    /// A legal hold on the whole tenant: beats every deletion rule, termination included.
    bool legal_hold = false;

    friend bool operator==(const Account&, const Account&) = default;
};

/// Thread-safe; blocks on I/O; fails with a StorageErrc.
class AccountStore {
public:
    virtual ~AccountStore() = default;

    /// Inserts or replaces the account. Fails with invalid_argument on an empty tenant id.
    virtual Result<void> put(const Account& account) = 0;

    /// The registered account; nullopt if the tenant was never registered.
    virtual Result<std::optional<Account>> get(const TenantId& tenant) const = 0;

    /// Every tenant with id > page.after, ordered by id, at most page.limit: the registered ones
    /// and every tenant the store holds sweepable data for (contacts, consent records, inbound
    /// activity, webhook keys, an audit trail) even if never registered, which come back as
    /// Account{tenant} (open, no hold). A tenant whose only data is opt-out records is not listed:
    /// a sweep has nothing to do there.
    virtual Result<std::vector<Account>> list(const Page& page) const = 0;
};

}  // namespace heroshhi::storage
