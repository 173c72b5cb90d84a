// heroshhi — AuditStore: the port for the tenants' audit trails.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include <heroshhi/audit/chain.hpp>
#include <heroshhi/audit/entry.hpp>
#include <heroshhi/audit/query.hpp>
#include <heroshhi/core/result.hpp>

namespace heroshhi::storage {

/// Keeps audit entries and, per tenant, the chain's head and purge checkpoint. The store keeps
/// what it is given; audit::Log computes sequences and hashes and verifies them. There is no
/// update and no delete other than purging a prefix. Thread-safe; blocks on I/O; fails with a
/// StorageErrc; every method is scoped by a tenant.
class AuditStore {
public:
    virtual ~AuditStore() = default;

    /// Stores `entries` (all of `tenant`, sequences expected.sequence + 1, + 2, ... in order) and
    /// moves the tenant's head to the last of them, in one transaction: all or nothing. Fails with
    /// conflict, storing nothing, if the tenant's head is not `expected` (another writer appended
    /// first); with invalid_argument on an empty tenant, an entry of another tenant or a sequence
    /// out of line. An empty `entries` stores nothing and succeeds.
    virtual Result<void> append(const TenantId& tenant, std::span<const audit::Entry> entries,
                                const audit::ChainHead& expected) = 0;

    /// The tenant's head and purge checkpoint; a tenant with no trail has head {0, zeros} and no
    /// checkpoint.
    virtual Result<audit::ChainState> chain(const TenantId& tenant) const = 0;

    /// The entries matching `query` with sequence > query.after_sequence, in sequence order, at
    /// most query.limit, every field as stored.
    virtual Result<std::vector<audit::Entry>> query(const audit::Query& query) const = 0;

    /// Hands the tenant's entries with sequence > `after_sequence` to `visit`, in sequence order,
    /// at most `limit` of them, every field as stored; stops early when `visit` returns false.
    /// Returns how many entries were handed over (counting the one `visit` stopped at). The views
    /// are valid only during each call of `visit`, which may run with the store's lock held: it
    /// must not call back into the store, and should be quick. This is what verification and
    /// purging read: a store can hand out its rows without building an Entry (and its strings)
    /// for each. The default pages through query() and hands out views of the entries it returns;
    /// a store overrides it to skip those copies.
    virtual Result<std::size_t> scan(const TenantId& tenant, std::int64_t after_sequence, std::size_t limit,
                                     const std::function<bool(const audit::EntryView&)>& visit) const;

    /// Deletes the tenant's entries with sequence <= `through` and, in the same transaction, makes
    /// the checkpoint {through, the stored hash and time of entry `through`, purged + the number
    /// deleted}. Returns the number deleted. Fails with not_found, deleting nothing, if entry
    /// `through` is not stored.
    virtual Result<std::int64_t> purge_through(const TenantId& tenant, std::int64_t through) = 0;
};

}  // namespace heroshhi::storage
