// heroshhi — StoreSet: one place that hands out every storage port the engine needs.
#pragma once

#include <heroshhi/storage/account_store.hpp>
#include <heroshhi/storage/activity_store.hpp>
#include <heroshhi/storage/audit_store.hpp>
#include <heroshhi/storage/consent_store.hpp>
#include <heroshhi/storage/contact_store.hpp>
#include <heroshhi/storage/dedup_store.hpp>
#include <heroshhi/storage/message_store.hpp>
#include <heroshhi/storage/optout_store.hpp>
#include <heroshhi/storage/request_store.hpp>

namespace heroshhi::storage {

/// The storage ports together. The engine and the conformance suite take a StoreSet; a host with
/// its own database implements each port over its own tables and returns them here. The returned
/// references stay valid as long as the StoreSet.
class StoreSet {
public:
    virtual ~StoreSet() = default;

    virtual ContactStore& contacts() = 0;
    virtual MessageStore& messages() = 0;
    virtual OptOutStore& optouts() = 0;
    virtual ConsentStore& consents() = 0;
    virtual ActivityStore& activity() = 0;
    virtual DedupStore& dedup() = 0;
    virtual AuditStore& audit() = 0;
    /// The register of data-subject requests (privacy::RequestRegister).
    virtual RequestStore& requests() = 0;

    /// The customer accounts, where a legal hold on a whole tenant is kept (retention reads it,
    /// and privacy:: checks it before an erasure, a bulk delete or a rectification). nullptr: this
    /// store set keeps no accounts, so a tenant hold cannot be checked, and those operations are
    /// refused (fail closed). The memory and SQLite stores return their retention accounts.
    virtual AccountStore* accounts() noexcept { return nullptr; }

    /// Makes values that were deleted or overwritten unrecoverable from the store's own files
    /// (privacy:: calls it after an erasure or a rectification). A store that keeps no residue
    /// (memory, or a database that overwrites in place) has nothing to do: the default succeeds.
    /// The SQLite store zeroes freed space as it goes (secure_delete) and here checkpoints and
    /// truncates its write-ahead log. Blocks on I/O; fails with a StorageErrc.
    virtual Result<void> scrub() { return {}; }
};

}  // namespace heroshhi::storage
