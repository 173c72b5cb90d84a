// The gateway's reply queue (examples/gateway/reply_queue.hpp): replies go out after their
// delivery is answered, each recipient's in order, at the pace the attempt asks for, within a
// bound, and stop in bounded time. Built in every tree, the ThreadSanitizer one included.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <chrono>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <heroshhi/core/phone_number.hpp>

#include "reply_queue.hpp"

using namespace heroshhi;
using namespace std::chrono_literals;
using gateway::ReplyQueue;

namespace {

whatsapp::PendingReply reply(const std::string& text, const std::string& to = "+14155550100") {
    return {TenantId("acme"), PhoneNumber::parse(to).value(), text, messaging::MessageKind::optout_confirmation};
}

// What the attempts saw, in order.
class Log {
public:
    void add(const std::string& text) {
        std::lock_guard lock(mutex_);
        texts_.push_back(text);
    }
    std::vector<std::string> texts() const {
        std::lock_guard lock(mutex_);
        return texts_;
    }

private:
    mutable std::mutex mutex_;
    std::vector<std::string> texts_;
};

}  // namespace

TEST_CASE("replies go out once each, in the order they were queued") {
    Log log;
    ReplyQueue queue([&](const whatsapp::PendingReply& r) -> std::optional<std::chrono::milliseconds> {
        log.add(r.text);
        return std::nullopt;
    }, {});
    for (int i = 0; i < 50; ++i) REQUIRE(queue.push(reply(std::to_string(i))));
    REQUIRE(queue.wait_idle(10s));
    const auto texts = log.texts();
    REQUIRE(texts.size() == 50);
    for (int i = 0; i < 50; ++i) CHECK(texts[std::size_t(i)] == std::to_string(i));
    CHECK(queue.dropped() == 0);
}

TEST_CASE("a paced reply is tried again after the wait it asks for, and the replies behind it wait") {
    Log log;
    std::atomic<int> paced_left{2};
    std::vector<std::chrono::steady_clock::time_point> tries;  // of "first"; the worker's alone
    ReplyQueue::Options options;
    options.workers = 1;
    ReplyQueue queue([&](const whatsapp::PendingReply& r) -> std::optional<std::chrono::milliseconds> {
        log.add(r.text);
        if (r.text != "first") return std::nullopt;
        tries.push_back(std::chrono::steady_clock::now());
        if (paced_left.fetch_sub(1) > 0) return 20ms;
        return std::nullopt;
    }, options);
    REQUIRE(queue.push(reply("first")));
    REQUIRE(queue.push(reply("second")));
    REQUIRE(queue.wait_idle(10s));
    CHECK(log.texts() == std::vector<std::string>{"first", "first", "first", "second"});
    REQUIRE(tries.size() == 3);
    CHECK(tries[1] - tries[0] >= 20ms);  // not sooner than asked
    CHECK(tries[2] - tries[1] >= 20ms);
}

TEST_CASE("a reply queued beyond the capacity is dropped and counted; the others go out") {
    std::mutex gate;
    std::unique_lock hold(gate);  // the first attempt waits here, so the queue fills up behind it
    std::atomic<bool> holding{false};
    Log log;
    ReplyQueue::Options options;
    options.capacity = 3;
    options.workers = 1;
    std::atomic<std::size_t> told{0};
    options.on_drop = [&](std::size_t n) { told += n; };
    ReplyQueue queue([&](const whatsapp::PendingReply& r) -> std::optional<std::chrono::milliseconds> {
        holding = true;
        std::lock_guard pass(gate);
        log.add(r.text);
        return std::nullopt;
    }, options);
    struct Release {  // before the queue goes (its destructor joins the worker held at the gate)
        std::unique_lock<std::mutex>& hold;
        ~Release() {
            if (hold.owns_lock()) hold.unlock();
        }
    } release{hold};
    REQUIRE(queue.push(reply("a")));
    // Once the worker holds "a" the queue is empty, so the capacity counts b, c and d.
    for (int i = 0; i < 10'000 && !holding.load(); ++i) std::this_thread::sleep_for(1ms);
    REQUIRE(holding.load());
    int taken = 0;
    for (const char* t : {"b", "c", "d", "e", "f"}) taken += queue.push(reply(t)) ? 1 : 0;
    CHECK(taken == 3);
    CHECK(queue.dropped() == 2);
    CHECK(told == 2);  // the host's counter is told of each
    hold.unlock();
    REQUIRE(queue.wait_idle(10s));
    CHECK(log.texts() == std::vector<std::string>{"a", "b", "c", "d"});
}

TEST_CASE("an attempt that throws does not stop the replies behind it") {
    Log log;
    ReplyQueue queue([&](const whatsapp::PendingReply& r) -> std::optional<std::chrono::milliseconds> {
        if (r.text == "bad") throw std::runtime_error("transport exploded");
        log.add(r.text);
        return std::nullopt;
    }, {});
    REQUIRE(queue.push(reply("bad")));
    REQUIRE(queue.push(reply("good")));
    REQUIRE(queue.wait_idle(10s));
    CHECK(log.texts() == std::vector<std::string>{"good"});
    CHECK(queue.dropped() == 1);  // the one that threw
}

TEST_CASE("destroying the queue sends what it can within the drain time and drops the rest") {
    std::atomic<int> attempts{0};
    {
        ReplyQueue::Options options;
        options.drain_on_stop = 100ms;
        ReplyQueue queue([&](const whatsapp::PendingReply&) -> std::optional<std::chrono::milliseconds> {
            ++attempts;
            std::this_thread::sleep_for(50ms);
            return std::nullopt;
        }, options);
        for (int i = 0; i < 100; ++i) REQUIRE(queue.push(reply(std::to_string(i))));
        for (int i = 0; i < 10'000 && attempts.load() == 0; ++i) std::this_thread::sleep_for(1ms);
        REQUIRE(attempts.load() >= 1);  // sending has begun
    }  // 100 replies of 50 ms each would take 5 s
    CHECK(attempts.load() < 100);
}

TEST_CASE("a reply paced past the drain time is dropped when the queue is destroyed") {
    std::atomic<int> attempts{0};
    {
        ReplyQueue::Options options;
        options.drain_on_stop = 50ms;
        options.max_retry_wait = std::chrono::hours(1);
        options.give_up_after = std::chrono::hours(2);
        ReplyQueue queue([&](const whatsapp::PendingReply&) -> std::optional<std::chrono::milliseconds> {
            ++attempts;
            return std::chrono::hours(1);  // always paced, for far longer than the drain
        }, options);
        REQUIRE(queue.push(reply("paced")));
        for (int i = 0; i < 10'000 && attempts.load() == 0; ++i) std::this_thread::sleep_for(1ms);
        REQUIRE(attempts.load() == 1);
    }  // returns at the drain's deadline: waiting out the hour would time the test out
    CHECK(attempts.load() == 1);  // not tried again after the stop
}

TEST_CASE("a reply waiting for its pacing slot holds up only its own recipients' share") {
    // Recipient A's reply stays paced; the replies to the others go out meanwhile, each
    // recipient's in order.
    Log log;
    std::atomic<bool> stop_pacing{false};
    ReplyQueue::Options options;
    options.workers = 4;
    ReplyQueue queue([&](const whatsapp::PendingReply& r) -> std::optional<std::chrono::milliseconds> {
        if (r.text == "A" && !stop_pacing.load()) return 5ms;
        log.add(r.text);
        return std::nullopt;
    }, options);
    REQUIRE(queue.push(reply("A", "+14155550100")));
    int others = 0;
    for (int i = 1; i <= 20; ++i) {
        const std::string to = "+141555501" + std::string(i < 10 ? "0" : "") + std::to_string(i);
        REQUIRE(queue.push(reply(to + "/1", to)));
        REQUIRE(queue.push(reply(to + "/2", to)));
        others += 2;
    }
    // With four workers some of the twenty recipients share no worker with A: their replies go out
    // while A's is still paced.
    for (int i = 0; i < 10'000 && log.texts().empty(); ++i) std::this_thread::sleep_for(1ms);
    CHECK_FALSE(log.texts().empty());
    stop_pacing = true;
    REQUIRE(queue.wait_idle(10s));
    const auto texts = log.texts();
    CHECK(texts.size() == std::size_t(others) + 1);
    for (std::size_t i = 0; i < texts.size(); ++i) {  // "<to>/2" never before "<to>/1"
        if (texts[i].ends_with("/2")) {
            const std::string first = texts[i].substr(0, texts[i].size() - 1) + "1";
            CHECK(std::find(texts.begin(), texts.begin() + std::ptrdiff_t(i), first) != texts.begin() + std::ptrdiff_t(i));
        }
    }
    CHECK(queue.dropped() == 0);
}

TEST_CASE("a reply still paced after give_up_after is dropped and counted, and the next one goes") {
    Log log;
    ReplyQueue::Options options;
    options.workers = 1;
    options.give_up_after = 30ms;
    ReplyQueue queue([&](const whatsapp::PendingReply& r) -> std::optional<std::chrono::milliseconds> {
        if (r.text == "forever") return 5ms;
        log.add(r.text);
        return std::nullopt;
    }, options);
    REQUIRE(queue.push(reply("forever")));
    REQUIRE(queue.push(reply("next")));
    REQUIRE(queue.wait_idle(10s));
    CHECK(log.texts() == std::vector<std::string>{"next"});
    CHECK(queue.dropped() == 1);
}
