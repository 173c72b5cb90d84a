// heroshhi gateway — ReplyQueue: the replies inbound messages ask for (an opt-out confirmation,
// the START and HELP answers), sent by a thread of their own.
//
// A webhook delivery is answered once its events are stored; the reply it asks for goes out after,
// at the pace the business number allows (the Messenger waits for its pacing slot). Sent inline, a
// burst of STOPs above the number's throughput (80 a second) kept each delivery's answer, and a
// handler thread, waiting up to a second for its slot, and answers past that were dropped as
// "paced"; a slow Graph API held the deliveries as long as its timeouts.
//
// Replies wait in memory, in the order asked for, up to `capacity`; one asked for beyond that is
// dropped and counted. Replies are not durable: a reply still queued when the process ends is not
// sent, as a reply in flight was not before (the opt-out itself is stored before the delivery is
// answered, and a redelivery of it is a duplicate that asks for no reply).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include <heroshhi/whatsapp/webhook.hpp>

namespace heroshhi::gateway {

class ReplyQueue {
public:
    /// Sends one reply: nullopt when done with it (sent, refused, failed), or how long to wait
    /// before trying it again (paced). Called on the queue's thread, one reply at a time.
    using Attempt = std::function<std::optional<std::chrono::milliseconds>(const whatsapp::PendingReply&)>;

    struct Options {
        std::size_t capacity = 10'000;  ///< replies waiting at most; more are dropped
        /// On destruction, how long the replies still queued may take to go out; the rest are
        /// dropped.
        std::chrono::milliseconds drain_on_stop = std::chrono::seconds(2);
        /// The longest wait between tries of a paced reply (whatever the attempt asks for).
        std::chrono::milliseconds max_retry_wait = std::chrono::seconds(10);
    };

    ReplyQueue(Attempt attempt, Options options);
    /// Sends what it can of the queue within `drain_on_stop`, drops the rest, and joins its thread.
    ~ReplyQueue();
    ReplyQueue(const ReplyQueue&) = delete;
    ReplyQueue& operator=(const ReplyQueue&) = delete;

    /// Queues `reply`; false (it is dropped) when `capacity` replies are already waiting or the
    /// queue is stopping.
    bool push(whatsapp::PendingReply reply);
    /// Waits until every reply queued so far has been attempted to the end, or `timeout` passes
    /// (for tests and the demo, which look at what was sent). True if the queue is idle.
    bool wait_idle(std::chrono::milliseconds timeout);
    /// Replies dropped so far (queue full, stopping).
    std::size_t dropped() const;

private:
    void run();

    Attempt attempt_;
    Options options_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;  // the worker: a reply queued, or stopping
    std::condition_variable idle_;  // wait_idle: the queue emptied
    std::deque<whatsapp::PendingReply> queue_;
    bool busy_ = false;      // the worker holds a reply taken off the queue
    bool stopping_ = false;
    std::size_t dropped_ = 0;
    std::thread worker_;  // last: started once everything above exists
};

}  // namespace heroshhi::gateway
