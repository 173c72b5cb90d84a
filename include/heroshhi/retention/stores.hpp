// heroshhi — RetentionStores: what a retention sweep needs from one database.
#pragma once

#include <vector>

#include <heroshhi/retention/aggregates.hpp>
#include <heroshhi/retention/journal.hpp>
#include <heroshhi/retention/target.hpp>
#include <heroshhi/storage/account_store.hpp>

namespace heroshhi::storage {
class StoreSet;
}

namespace heroshhi::retention {

/// The tenants to walk, the journal that makes a sweep resumable, the analytics aggregates, and the
/// targets over the database's own tables. MemoryStore and SqliteStore provide one
/// (`store.retention()`); their targets are, in order:
///   "contacts" (Category::lead: soft delete by last activity, hard delete 30 days later with the
///   lead's messages, everything at termination), "messages" (Category::message: the tenant's
///   shorter setting), "consent_records" and "inbound_activity" (Category::account: at termination)
///   "subject_requests" (Category::account: the data-subject request register names its subjects,
///   so it goes at termination) and "webhook_keys" (Category::webhook_key: 30 days after they were
///   seen, all at termination).
///   Opt-out events have no target: they are never auto-deleted. At termination the sweeper reduces
///   them to their keyed hashes through store_set() (see Sweeper). Analytics aggregates are kept
///   indefinitely, terminated tenant or not: they hold no personal data (the policy's table).
/// References stay valid as long as the object that returned them.
class RetentionStores {
public:
    virtual ~RetentionStores() = default;

    virtual storage::AccountStore& accounts() = 0;
    virtual SweepJournal& journal() = 0;
    virtual AggregateStore& aggregates() = 0;
    virtual std::vector<TargetBinding> targets() = 0;

    /// The storage ports over the same database, if it keeps the library's opt-out events and
    /// contacts: at account termination the sweeper reduces the tenant's opt-out events to keyed
    /// hashes there (OptOutStore::erase_number) and reads its held leads (ContactStore). nullptr
    /// (the default, for a host's own RetentionStores): this database keeps no opt-out events.
    /// The shipped stores return themselves.
    virtual storage::StoreSet* store_set() noexcept { return nullptr; }
};

}  // namespace heroshhi::retention
