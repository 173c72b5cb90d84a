// Test support: the completions of ActivityStore::record_inbound_async writes, by index — how
// many times each ran, with what outcome, on which thread — and a wait for all of them.
#pragma once

#include <heroshhi/storage/activity_store.hpp>
#include <heroshhi/storage/errors.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace heroshhi::test_support {

class Completions {
public:
    explicit Completions(std::size_t writes)
        : calls_(writes, 0),
          outcomes_(writes, Result<void>(Error(storage::StorageErrc::unavailable))),
          threads_(writes) {}
    Completions(const Completions&) = delete;
    Completions& operator=(const Completions&) = delete;

    /// The completion of write `i`; if `throws`, it throws after recording its call.
    storage::ActivityStore::WriteDone done(std::size_t i, bool throws = false) {
        return [this, i, throws](Result<void> outcome) {
            {
                // Notified under the lock: the waiter may destroy this object as soon as it sees the count.
                std::lock_guard lock(mutex_);
                ++calls_[i];
                outcomes_[i] = std::move(outcome);
                threads_[i] = std::this_thread::get_id();
                order_.push_back(i);
                ++finished_;
                changed_.notify_all();
            }
            if (throws) throw std::runtime_error("a completion that throws");
        };
    }
    /// Waits until `n` completions have run (a generous limit: a stuck store fails the test
    /// instead of hanging it).
    bool wait_for(std::size_t n, std::chrono::seconds limit = std::chrono::seconds(120)) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, limit, [&] { return finished_ >= n; });
    }
    bool wait_all() { return wait_for(calls_.size()); }

    std::size_t finished() const {
        std::lock_guard lock(mutex_);
        return finished_;
    }
    int calls(std::size_t i) const {
        std::lock_guard lock(mutex_);
        return calls_[i];
    }
    Result<void> outcome(std::size_t i) const {
        std::lock_guard lock(mutex_);
        return outcomes_[i];
    }
    /// The writes' indices in the order their completions ran.
    std::vector<std::size_t> order() const {
        std::lock_guard lock(mutex_);
        return order_;
    }
    std::thread::id thread(std::size_t i) const {
        std::lock_guard lock(mutex_);
        return threads_[i];
    }

private:
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<int> calls_;
    std::vector<Result<void>> outcomes_;
    std::vector<std::thread::id> threads_;
    std::vector<std::size_t> order_;
    std::size_t finished_ = 0;
};

}  // namespace heroshhi::test_support
