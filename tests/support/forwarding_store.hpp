// Store sets for tests that fake one port: every other port is another store set's.
#pragma once

#include <heroshhi/storage/memory_store.hpp>
#include <heroshhi/storage/store_set.hpp>

namespace heroshhi::test_support {

/// Hands out the ports of `inner`, except accounts() (it keeps none: the StoreSet default). A test
/// store derives from it and overrides the port it fakes.
class ForwardingStoreSet : public storage::StoreSet {
public:
    explicit ForwardingStoreSet(storage::StoreSet& inner) : inner_(inner) {}

    storage::ContactStore& contacts() override { return inner_.contacts(); }
    storage::MessageStore& messages() override { return inner_.messages(); }
    storage::OptOutStore& optouts() override { return inner_.optouts(); }
    storage::ConsentStore& consents() override { return inner_.consents(); }
    storage::ActivityStore& activity() override { return inner_.activity(); }
    storage::DedupStore& dedup() override { return inner_.dedup(); }
    storage::AuditStore& audit() override { return inner_.audit(); }
    storage::RequestStore& requests() override { return inner_.requests(); }

private:
    storage::StoreSet& inner_;
};

/// The MemoryStore a MemoryBackedStore forwards to, as a base so that it exists before the
/// forwarding does.
struct OwnMemoryStore {
    mutable storage::MemoryStore inner;
};

/// A ForwardingStoreSet over a MemoryStore of its own (`inner`, for the test to seed and read).
class MemoryBackedStore : public OwnMemoryStore, public ForwardingStoreSet {
public:
    MemoryBackedStore() : ForwardingStoreSet(OwnMemoryStore::inner) {}
};

}  // namespace heroshhi::test_support
