// heroshhi gateway — ReplyQueue (see reply_queue.hpp).
#include "reply_queue.hpp"

#include <algorithm>
#include <utility>

namespace heroshhi::gateway {

ReplyQueue::ReplyQueue(Attempt attempt, Options options)
    : attempt_(std::move(attempt)), options_(options), worker_([this] { run(); }) {}

ReplyQueue::~ReplyQueue() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    worker_.join();
}

bool ReplyQueue::push(whatsapp::PendingReply reply) {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ || queue_.size() >= options_.capacity) {
            ++dropped_;
            return false;
        }
        queue_.push_back(std::move(reply));
    }
    wake_.notify_one();
    return true;
}

bool ReplyQueue::wait_idle(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return idle_.wait_for(lock, timeout, [this] { return queue_.empty() && !busy_; });
}

std::size_t ReplyQueue::dropped() const {
    std::lock_guard lock(mutex_);
    return dropped_;
}

void ReplyQueue::run() {
    std::unique_lock lock(mutex_);
    std::optional<std::chrono::steady_clock::time_point> deadline;  // set once stopping
    for (;;) {
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (stopping_ && !deadline) deadline = std::chrono::steady_clock::now() + options_.drain_on_stop;
        if (queue_.empty() || (deadline && std::chrono::steady_clock::now() >= *deadline)) break;
        const whatsapp::PendingReply reply = std::move(queue_.front());
        queue_.pop_front();
        busy_ = true;
        // Tried until done with, in order: the replies behind a paced one wait for it.
        for (;;) {
            lock.unlock();
            std::optional<std::chrono::milliseconds> again;
            try {
                again = attempt_(reply);
            } catch (...) {  // a reply that cannot be sent must not end the thread that sends the rest
            }
            lock.lock();
            if (!again) break;
            const auto wait = std::clamp(*again, std::chrono::milliseconds(1), options_.max_retry_wait);
            auto until = std::chrono::steady_clock::now() + wait;
            if (deadline) until = std::min(until, *deadline);
            // A stop cuts the wait short, to the drain's deadline.
            while (std::chrono::steady_clock::now() < until) {
                wake_.wait_until(lock, until);
                if (stopping_ && !deadline) {
                    deadline = std::chrono::steady_clock::now() + options_.drain_on_stop;
                    until = std::min(until, *deadline);
                }
            }
            if (deadline && std::chrono::steady_clock::now() >= *deadline) {
                ++dropped_;  // the paced reply itself
                break;
            }
        }
        busy_ = false;
        if (queue_.empty()) idle_.notify_all();
    }
    dropped_ += queue_.size();
    queue_.clear();
    busy_ = false;
    idle_.notify_all();
}

}  // namespace heroshhi::gateway
