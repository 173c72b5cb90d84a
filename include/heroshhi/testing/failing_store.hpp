// heroshhi — FailingStore: a StoreSet decorator that starts failing after a countdown, to prove
// that callers fail closed when storage breaks.
#pragma once

#include <atomic>
#include <memory>

#include <heroshhi/retention/stores.hpp>
#include <heroshhi/storage/store_set.hpp>

namespace heroshhi::testing {

/// Forwards every call to `inner` until `calls_before_failure` calls have been made; from then on
/// every call fails with StorageErrc::unavailable and touches nothing (an
/// ActivityStore::record_inbound_async or OptOutStore::append_async is then taken and its
/// completion called at once with that failure). `fail_now()` and `heal()` switch failure on and off directly. Thread-safe.
class FailingStore final : public storage::StoreSet {
public:
    explicit FailingStore(storage::StoreSet& inner, long calls_before_failure = -1);
    /// Also wraps a store's retention ports (e.g. `store.retention()`); their calls count down
    /// with the others (Target::name() does not count).
    FailingStore(storage::StoreSet& inner, retention::RetentionStores& retention, long calls_before_failure = -1);
    ~FailingStore() override;

    void fail_now() noexcept { remaining_.store(0); }
    void heal() noexcept { remaining_.store(-1); }
    /// How many calls were refused so far.
    long refused() const noexcept { return refused_.load(); }

    storage::ContactStore& contacts() override;
    storage::MessageStore& messages() override;
    storage::OptOutStore& optouts() override;
    storage::ConsentStore& consents() override;
    storage::ActivityStore& activity() override;
    storage::DedupStore& dedup() override;
    storage::AuditStore& audit() override;
    /// The wrapped retention ports. Only for a FailingStore constructed with them: calling it on
    /// one that was not is a programming error (std::terminate).
    retention::RetentionStores& retention();
    storage::RequestStore& requests() override;
    /// The wrapped retention accounts if constructed with them (counted like every call), else
    /// the inner store's accounts as they are (not counted).
    storage::AccountStore* accounts() noexcept override;
    Result<void> scrub() override;

    /// True if the next call may go through (and counts it). For the wrappers' use.
    bool admit() noexcept;

private:
    struct Wrappers;
    class RetentionWrappers;
    std::atomic<long> remaining_;  // -1: never fail
    std::atomic<long> refused_{0};
    std::unique_ptr<Wrappers> wrappers_;
    std::unique_ptr<RetentionWrappers> retention_;
    storage::StoreSet& inner_;
};

}  // namespace heroshhi::testing
