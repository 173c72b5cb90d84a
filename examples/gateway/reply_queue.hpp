// heroshhi gateway — ReplyQueue: the replies inbound messages ask for (an opt-out confirmation,
// the START and HELP answers), sent by threads of their own after the delivery is answered.
//
// Sent inline, a burst of STOPs above the business number's throughput (80 a second) kept each
// delivery's answer, and a handler thread, waiting up to a second for its pacing slot, and replies
// past that second were dropped as "paced"; a slow Graph API held the deliveries as long as its
// timeouts.
//
// Replies are sharded by recipient over `workers` threads: one recipient's replies go out one at a
// time in the order asked for, and a reply that must wait for its pacing slot holds up only the
// replies of its shard. Replies wait in memory, up to `capacity` in all; one asked for beyond that
// is dropped and counted. They are not durable: a reply still queued when the process ends is not
// sent, as a reply in flight was not before (the opt-out itself is stored before the delivery is
// answered, and a redelivery of it is a duplicate that asks for no reply).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <heroshhi/whatsapp/webhook.hpp>

namespace heroshhi::gateway {

class ReplyQueue {
public:
    /// Sends one reply: nullopt when done with it (sent, refused, failed), or how long to wait
    /// before trying it again (paced). Called on a worker thread; several workers call it at once,
    /// never two for one recipient.
    using Attempt = std::function<std::optional<std::chrono::milliseconds>(const whatsapp::PendingReply&)>;

    struct Options {
        std::size_t workers = 8;        ///< threads sending, each for its share of the recipients (>= 1)
        std::size_t capacity = 10'000;  ///< replies waiting at most, in all; more are dropped
        /// On destruction, how long the replies still queued may take to go out; the rest are
        /// dropped. A reply being sent at that moment is finished first (its transport's timeouts
        /// bound it).
        std::chrono::milliseconds drain_on_stop = std::chrono::seconds(2);
        /// The longest wait between tries of a paced reply, whatever the attempt asks for (>= 1 ms).
        std::chrono::milliseconds max_retry_wait = std::chrono::seconds(10);
        /// A reply still paced this long after it was queued is given up (dropped): an opt-out
        /// confirmation is allowed for five minutes only.
        std::chrono::milliseconds give_up_after = std::chrono::minutes(5);
        /// Told of each reply dropped (optional; the host's metrics). Called under the queue's
        /// lock: it must not call back into the queue.
        std::function<void(std::size_t count)> on_drop;
    };

    ReplyQueue(Attempt attempt, Options options);
    /// Sends what it can of the queue within `drain_on_stop`, drops the rest, and joins its threads.
    ~ReplyQueue();
    ReplyQueue(const ReplyQueue&) = delete;
    ReplyQueue& operator=(const ReplyQueue&) = delete;

    /// Queues `reply`; false (it is dropped) when `capacity` replies are already waiting or the
    /// queue is stopping.
    bool push(whatsapp::PendingReply reply);
    /// Waits until every reply queued so far has been attempted to the end, or `timeout` passes
    /// (for tests and the demo, which look at what was sent). True if the queue is idle.
    bool wait_idle(std::chrono::milliseconds timeout);
    /// Replies dropped so far: the queue full or stopping, paced past `give_up_after` or past the
    /// drain at stop, or an attempt that threw.
    std::size_t dropped() const;

private:
    struct Queued {
        whatsapp::PendingReply reply;
        std::chrono::steady_clock::time_point queued_at;
    };
    struct Shard {
        std::deque<Queued> queue;
        std::condition_variable wake;  // its worker: a reply queued, or stopping
        bool busy = false;             // its worker holds a reply taken off the queue
    };

    void run(Shard& shard);
    /// Under mutex_: stopping, and the drain's time is up.
    bool past_stop_deadline() const;
    /// Under mutex_: nothing queued, no reply being sent.
    bool idle() const;
    /// Under mutex_: counts `count` replies dropped, and tells on_drop.
    void drop(std::size_t count);

    Attempt attempt_;
    Options options_;
    mutable std::mutex mutex_;
    std::condition_variable idle_;  // wait_idle: every shard emptied
    std::vector<std::unique_ptr<Shard>> shards_;
    std::size_t queued_ = 0;  // in all shards
    bool stopping_ = false;
    std::chrono::steady_clock::time_point stop_deadline_;
    std::size_t dropped_ = 0;
    std::vector<std::thread> workers_;  // last: started once everything above exists
};

}  // namespace heroshhi::gateway
