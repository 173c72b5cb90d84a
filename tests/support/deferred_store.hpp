// A StoreSet for tests of asynchronous inbound writes: a MemoryStore whose activity port queues
// record_inbound_async writes until the test completes or fails them.
#pragma once

#include <doctest/doctest.h>

#include <heroshhi/storage/memory_store.hpp>

#include <deque>
#include <functional>
#include <mutex>
#include <optional>

#include "forwarding_store.hpp"

namespace heroshhi::test_support {

/// A MemoryStore whose activity port takes writes asynchronously and keeps them until the test
/// completes them (commit) or fails them; or refuses them (`offers` false), as a store without
/// an asynchronous path does.
class DeferredStore final : public MemoryBackedStore, private storage::ActivityStore {
public:
    storage::ActivityStore& activity() override { return *this; }

    /// Completes the oldest queued write: stored, or failed with `error`.
    void complete_one(std::optional<Error> error = std::nullopt) {
        Queued q;
        {
            std::lock_guard lock(mutex);
            REQUIRE_FALSE(queued.empty());
            q = std::move(queued.front());
            queued.pop_front();
        }
        if (error) return q.done(*error);
        q.done(inner.activity().record_inbound(q.tenant, q.phone, q.at));
    }
    std::size_t waiting() {
        std::lock_guard lock(mutex);
        return queued.size();
    }

    bool offers = true;

private:
    struct Queued {
        TenantId tenant{"x"};
        PhoneNumber phone = PhoneNumber::parse("+14155550100").value();
        Timestamp at;
        WriteDone done;
    };

    Result<void> record_inbound(const TenantId& t, const PhoneNumber& p, Timestamp at) override {
        return inner.activity().record_inbound(t, p, at);
    }
    bool record_inbound_async(const TenantId& t, const PhoneNumber& p, Timestamp at, WriteDone&& done) override {
        if (!offers) return false;
        std::lock_guard lock(mutex);
        queued.push_back({t, p, at, std::move(done)});
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
