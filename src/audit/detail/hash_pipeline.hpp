// heroshhi (internal) — checks audit entries' hashes on a second thread while the caller reads
// and links the next entries (verification reads rows about as fast as it hashes them, so doing
// both at once nearly doubles its rate).
#pragma once

#include "chain_hasher.hpp"

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace heroshhi::audit::detail {

/// The first entry whose stored hash did not match its content.
struct Mismatch {
    std::size_t index = 0;      ///< how many entries were added before it
    std::int64_t sequence = 0;  ///< its sequence
};

/// Collects hash checks in batches and runs them on a worker thread, in the order added. The
/// worker starts with the first full batch, so a short chain is hashed on the caller's thread
/// without starting one. One producer: add() and finish() are called from one thread.
class HashPipeline {
public:
    explicit HashPipeline(std::size_t batch_entries = 512);
    ~HashPipeline();
    HashPipeline(const HashPipeline&) = delete;
    HashPipeline& operator=(const HashPipeline&) = delete;

    /// Queues the check chain_hash(previous, e) == e.hash, copying what it needs from `e` (the
    /// view may end when this returns). Blocks while the worker is two batches behind.
    void add(const Hash& previous, const EntryView& e);

    /// True once a mismatch was found: the caller may stop adding, nothing after it matters.
    bool failed() const noexcept { return failed_.load(std::memory_order_relaxed); }

    /// Checks whatever is still queued, waits for the worker, and returns the first mismatch.
    /// Rethrows an exception the worker met (std::bad_alloc).
    std::optional<Mismatch> finish();

private:
    struct Item {
        std::size_t offset = 0;  // of its hash input in Batch::input
        std::size_t size = 0;
        std::int64_t sequence = 0;
        Hash stored{};
        bool stored_ok = false;  // the stored hash had 32 bytes
    };
    struct Batch {
        std::string input;
        std::vector<Item> items;
        std::size_t first_index = 0;
    };

    std::optional<Mismatch> check(Batch& batch, Sha256& sha) const;
    void submit();  // hands the current batch over and takes a free one
    void work() noexcept;
    void stop() noexcept;

    const std::size_t batch_entries_;
    std::size_t added_ = 0;
    Sha256 caller_sha_;  // hashes on the caller's thread when no worker runs

    std::vector<Batch> batches_;  // the pool: one filling, one or two queued or being hashed
    Batch* current_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<Batch*> ready_;
    std::vector<Batch*> free_;
    bool closing_ = false;
    std::optional<Mismatch> mismatch_;
    std::exception_ptr error_;
    std::atomic<bool> failed_{false};
    std::thread worker_;
    bool inline_ = false;  // no worker could be started: hash on the caller's thread
};

}  // namespace heroshhi::audit::detail
