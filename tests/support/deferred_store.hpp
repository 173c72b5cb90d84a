// A StoreSet for tests of asynchronous inbound writes: a MemoryStore whose activity and opt-out
// ports queue record_inbound_async and append_async writes until the test completes or fails them.
#pragma once

#include <doctest/doctest.h>

#include <heroshhi/storage/memory_store.hpp>

#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <variant>

#include "forwarding_store.hpp"

namespace heroshhi::test_support {

/// A MemoryStore whose activity and opt-out ports take writes asynchronously and keep them, in
/// one queue in the order taken, until the test completes them (commit) or fails them; or refuse
/// them (`offers`, `offers_appends` false), as a store without an asynchronous path does.
class DeferredStore final : public MemoryBackedStore, private storage::ActivityStore, private storage::OptOutStore {
public:
    storage::ActivityStore& activity() override { return *this; }
    storage::OptOutStore& optouts() override { return *this; }

    /// Completes the oldest queued write: stored, or failed with `error`.
    void complete_one(std::optional<Error> error = std::nullopt) {
        Queued q;
        {
            std::lock_guard lock(mutex);
            REQUIRE_FALSE(queued.empty());
            q = std::move(queued.front());
            queued.pop_front();
        }
        if (auto* time = std::get_if<QueuedTime>(&q)) {
            if (error) return time->done(*error);
            return time->done(inner.activity().record_inbound(time->tenant, time->phone, time->at));
        }
        auto& event = std::get<QueuedEvent>(q);
        if (error) return event.done(*error);
        auto stored = inner.optouts().append(event.event);
        if (!stored) return event.done(stored.error());
        event.done(*stored ? event.event.sequence : std::int64_t{0});
    }
    std::size_t waiting() {
        std::lock_guard lock(mutex);
        return queued.size();
    }
    /// Whether the oldest queued write is an opt-out event (else an inbound time).
    bool next_is_event() {
        std::lock_guard lock(mutex);
        REQUIRE_FALSE(queued.empty());
        return std::holds_alternative<QueuedEvent>(queued.front());
    }

    bool offers = true;          ///< record_inbound_async takes writes
    bool offers_appends = true;  ///< append_async takes writes

private:
    struct QueuedTime {
        TenantId tenant{"x"};
        PhoneNumber phone = PhoneNumber::parse("+14155550100").value();
        Timestamp at;
        WriteDone done;
    };
    struct QueuedEvent {
        optout::OptOutEvent event{TenantId{"x"}, PhoneNumber::parse("+14155550100").value()};
        AppendDone done;
    };
    using Queued = std::variant<QueuedTime, QueuedEvent>;

    Result<bool> append(optout::OptOutEvent& e) override { return inner.optouts().append(e); }
    bool append_async(const optout::OptOutEvent& e, AppendDone&& done) override {
        if (!offers_appends) return false;
        std::lock_guard lock(mutex);
        queued.push_back(QueuedEvent{e, std::move(done)});
        return true;
    }
    Result<std::vector<optout::OptOutEvent>> history(const TenantId& t, const PhoneNumber& p) const override {
        return inner.optouts().history(t, p);
    }
    Result<void> scan(const TenantId& t, const std::function<void(const optout::OptOutEvent&)>& visit) const override {
        return inner.optouts().scan(t, visit);
    }
    Result<void> scan_since(const TenantId& t, std::int64_t after, const std::function<void(const optout::OptOutEvent&)>& visit,
                            const std::function<void(const optout::ErasedOptOutEvent&)>& visit_erased) const override {
        return inner.optouts().scan_since(t, after, visit, visit_erased);
    }
    Result<std::size_t> erase_number(const TenantId& t, const PhoneNumber& p, const optout::NumberTag& tag) override {
        return inner.optouts().erase_number(t, p, tag);
    }
    Result<void> scan_erased(const TenantId& t, const std::function<void(const optout::ErasedOptOutEvent&)>& visit) const override {
        return inner.optouts().scan_erased(t, visit);
    }

    Result<void> record_inbound(const TenantId& t, const PhoneNumber& p, Timestamp at) override {
        return inner.activity().record_inbound(t, p, at);
    }
    bool record_inbound_async(const TenantId& t, const PhoneNumber& p, Timestamp at, WriteDone&& done) override {
        if (!offers) return false;
        std::lock_guard lock(mutex);
        queued.push_back(QueuedTime{t, p, at, std::move(done)});
        return true;
    }
    Result<std::optional<Timestamp>> last_inbound(const TenantId& t, const PhoneNumber& p) const override {
        return inner.activity().last_inbound(t, p);
    }
    Result<void> scan(const TenantId& t, const std::function<void(const PhoneNumber&, Timestamp)>& visit) const override {
        return inner.activity().scan(t, visit);
    }
    Result<bool> forget(const TenantId& t, const PhoneNumber& p) override { return inner.activity().forget(t, p); }

    std::mutex mutex;
    std::deque<Queued> queued;
};

}  // namespace heroshhi::test_support
