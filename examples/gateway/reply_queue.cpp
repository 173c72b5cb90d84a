// heroshhi gateway — ReplyQueue (see reply_queue.hpp).
#include "reply_queue.hpp"

#include <algorithm>
#include <utility>

namespace heroshhi::gateway {

namespace {
using Clock = std::chrono::steady_clock;
}

ReplyQueue::ReplyQueue(Attempt attempt, Options options) : attempt_(std::move(attempt)), options_(options) {
    options_.workers = std::max<std::size_t>(1, options_.workers);
    options_.max_retry_wait = std::max(options_.max_retry_wait, std::chrono::milliseconds(1));
    for (std::size_t i = 0; i < options_.workers; ++i) shards_.push_back(std::make_unique<Shard>());
    for (auto& shard : shards_) workers_.emplace_back([this, s = shard.get()] { run(*s); });
}

ReplyQueue::~ReplyQueue() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        stop_deadline_ = Clock::now() + options_.drain_on_stop;
    }
    for (auto& shard : shards_) shard->wake.notify_all();
    for (auto& worker : workers_) worker.join();
}

bool ReplyQueue::push(whatsapp::PendingReply reply) {
    Shard& shard = *shards_[std::hash<std::uint64_t>{}(reply.to.key()) % shards_.size()];
    bool waiting = false;
    {
        std::lock_guard lock(mutex_);
        if (stopping_ || queued_ >= options_.capacity) {
            drop(1);
            return false;
        }
        // Only a worker with nothing to do waits for this: one busy (sending, or waiting out a
        // paced reply) takes the queue's next reply when it is done. Waking it would cost a
        // context switch a reply, for nothing, when a burst of STOPs meets the number's pace.
        waiting = shard.queue.empty() && !shard.busy;
        shard.queue.push_back({std::move(reply), Clock::now()});
        ++queued_;
    }
    if (waiting) shard.wake.notify_one();
    return true;
}

bool ReplyQueue::wait_idle(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return idle_.wait_for(lock, timeout, [this] { return idle(); });
}

std::size_t ReplyQueue::dropped() const {
    std::lock_guard lock(mutex_);
    return dropped_;
}

void ReplyQueue::drop(std::size_t count) {
    dropped_ += count;
    if (options_.on_drop) {
        try {
            options_.on_drop(count);
        } catch (...) {  // a counter that failed must not end the thread that sends the rest
        }
    }
}

bool ReplyQueue::past_stop_deadline() const { return stopping_ && Clock::now() >= stop_deadline_; }

bool ReplyQueue::idle() const {
    return queued_ == 0 && std::none_of(shards_.begin(), shards_.end(), [](const auto& s) { return s->busy; });
}

void ReplyQueue::run(Shard& shard) {
    std::unique_lock lock(mutex_);
    for (;;) {
        shard.wake.wait(lock, [&] { return stopping_ || !shard.queue.empty(); });
        if (shard.queue.empty() || past_stop_deadline()) break;
        const Queued next = std::move(shard.queue.front());
        shard.queue.pop_front();
        --queued_;
        shard.busy = true;
        // Tried until done with: the replies behind a paced one (in this shard) wait for it.
        for (;;) {
            lock.unlock();
            std::optional<std::chrono::milliseconds> again;
            bool threw = false;
            try {
                again = attempt_(next.reply);
            } catch (...) {  // a reply that cannot be sent must not end the thread that sends the rest
                threw = true;
            }
            lock.lock();
            if (threw) drop(1);
            if (!again) break;
            const auto until = std::min(Clock::now() + std::clamp(*again, std::chrono::milliseconds(1), options_.max_retry_wait),
                                        next.queued_at + options_.give_up_after);
            // Until the retry is due; a stop (seen under the lock, so never missed) ends the wait
            // at the drain's deadline.
            auto end = [&] { return stopping_ ? std::min(until, stop_deadline_) : until; };
            while (Clock::now() < end()) {
                const bool was_stopping = stopping_;
                shard.wake.wait_until(lock, end(), [&] { return stopping_ != was_stopping; });
            }
            if (past_stop_deadline() || Clock::now() >= next.queued_at + options_.give_up_after) {
                drop(1);  // paced past the drain, or for too long
                break;
            }
        }
        shard.busy = false;
        if (idle()) idle_.notify_all();
    }
    if (!shard.queue.empty()) drop(shard.queue.size());
    queued_ -= shard.queue.size();
    shard.queue.clear();
    shard.busy = false;
    idle_.notify_all();
}

}  // namespace heroshhi::gateway
