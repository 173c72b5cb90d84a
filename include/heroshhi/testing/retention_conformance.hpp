// heroshhi — the retention conformance suite: the behaviour every implementation of the retention
// ports (retention/*.hpp: AccountStore, SweepJournal, AggregateStore and the targets over the
// library's own tables) must show. The shipped stores run it in ctest; a host that stores the
// library's data in its own database runs it against its adapter from any test framework.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <heroshhi/retention/stores.hpp>
#include <heroshhi/storage/store_set.hpp>

namespace heroshhi::testing {

/// What one case works on: the storage ports through which it writes rows, and the retention
/// ports over the same database. `owner` keeps both alive for the case.
struct RetentionSubject {
    std::shared_ptr<void> owner;
    storage::StoreSet* stores = nullptr;
    retention::RetentionStores* retention = nullptr;
};

/// Makes a fresh, empty database for one case. Called once per case.
using RetentionStoreFactory = std::function<RetentionSubject()>;

/// The subject of a store that is both a StoreSet and has `retention()` (MemoryStore,
/// SqliteStore, or a host's store shaped the same way).
template <class Store>
RetentionSubject retention_subject(std::unique_ptr<Store> store) {
    RetentionSubject s;
    s.stores = store.get();
    s.retention = &store->retention();
    s.owner = std::shared_ptr<Store>(std::move(store));
    return s;
}

/// The names of every case, in a stable order.
std::vector<std::string> retention_conformance_case_names();

/// Runs one case against a database made by `make`. Returns what went wrong, one sentence per
/// failed expectation; empty means the ports conform. An unknown name is reported as a failure.
///
/// The target cases look the library's targets up by name ("contacts", "messages",
/// "consent_records", "inbound_activity", "webhook_keys", see retention/stores.hpp): an adapter
/// of the library's schema must provide them; a host's targets over its own tables are checked
/// by its own tests against the contract in retention/target.hpp.
std::vector<std::string> run_retention_conformance_case(std::string_view name, const RetentionStoreFactory& make);

}  // namespace heroshhi::testing
