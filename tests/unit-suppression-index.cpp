// The suppression index under concurrent readers, writers and reloads.
#include <doctest/doctest.h>

#include <heroshhi/messaging/suppression_index.hpp>

#include <atomic>
#include <thread>
#include <vector>

using namespace heroshhi;

namespace {

const TenantId acme{"acme"};
constexpr std::uint64_t base = 14'150'000'000ULL;

PhoneNumber number(std::uint64_t i) { return PhoneNumber::from_key(base + i).value(); }

optout::OptOutEvent stop(std::uint64_t i) {
    optout::OptOutEvent e{acme, number(i)};
    e.trigger = "STOP";
    return e;
}

}  // namespace

TEST_CASE("readers never see an opt-out disappear while writers add more and tables grow") {
    messaging::SuppressionIndex index;
    index.mark_ready(acme, true);
    constexpr std::uint64_t total = 40'000;
    std::atomic<std::uint64_t> published{0};  // every key below this was applied before it was raised
    std::atomic<bool> done{false};
    std::atomic<long> lost{0}, reads{0};

    std::vector<std::thread> readers;
    for (int r = 0; r < 2; ++r)
        readers.emplace_back([&, r] {
            std::uint64_t i = std::uint64_t(r) * 7919;
            while (!done.load()) {
                const std::uint64_t limit = published.load(std::memory_order_acquire);
                if (limit == 0) continue;
                i = (i + 104729) % limit;
                auto l = index.find(acme, number(i));
                if (!l.tenant_ready || !l.facts.opted_out()) ++lost;
                ++reads;
            }
        });
    for (std::uint64_t i = 0; i < total; ++i) {
        index.apply(stop(i));
        if (i % 64 == 63) published.store(i + 1, std::memory_order_release);
    }
    published.store(total, std::memory_order_release);
    while (reads.load() < 200'000) std::this_thread::yield();
    done = true;
    for (auto& t : readers) t.join();
    CHECK(lost == 0);
    CHECK(index.size(acme) == total);
}

TEST_CASE("a reload never lets a reader see the tenant ready with an opt-out missing") {
    messaging::SuppressionIndex index;
    constexpr std::uint64_t total = 256;
    for (std::uint64_t i = 0; i < total; ++i) index.apply(stop(i));
    index.mark_ready(acme, true);

    std::atomic<bool> done{false};
    std::atomic<long> open_fail{0}, checks{0}, not_ready{0};
    std::thread reader([&] {
        std::uint64_t i = 0;
        while (!done.load()) {
            i = (i + 7) % total;
            auto l = index.find(acme, number(i));
            if (!l.tenant_ready) ++not_ready;             // fails closed: fine
            else if (!l.facts.opted_out()) ++open_fail;   // would allow a send: never
            ++checks;
        }
    });
    for (int round = 0; round < 1000; ++round) {  // what Engine::warm does: clear, replay, mark ready
        index.clear(acme);
        for (std::uint64_t i = 0; i < total; ++i) index.apply(stop(i));
        index.mark_ready(acme, true);
    }
    while (checks.load() < 100'000) std::this_thread::yield();
    done = true;
    reader.join();
    CHECK(open_fail == 0);
    CHECK(index.size(acme) == total);
}

TEST_CASE("clearing a tenant that was never ready reuses its memory") {
    messaging::SuppressionIndex index;
    for (std::uint64_t i = 0; i < 1'000; ++i) index.apply(stop(i));
    const std::size_t before = index.memory_bytes(acme);
    for (int round = 0; round < 50; ++round) {  // a store that keeps failing halfway through a load
        index.clear(acme);
        for (std::uint64_t i = 0; i < 1'000; ++i) index.apply(stop(i));
    }
    CHECK(index.memory_bytes(acme) <= before);
    CHECK_FALSE(index.ready(acme));
    CHECK_FALSE(index.find(acme, number(1)).tenant_ready);
    index.mark_ready(acme, true);
    CHECK(index.find(acme, number(1)).facts.opted_out());
}

TEST_CASE("the tenant table grows without losing tenants and unknown tenants are not ready") {
    messaging::SuppressionIndex index;
    for (int t = 0; t < 300; ++t) index.mark_ready(TenantId{"t" + std::to_string(t)}, true);
    for (int t = 0; t < 300; ++t) CHECK(index.ready(TenantId{"t" + std::to_string(t)}));
    CHECK_FALSE(index.ready(TenantId{"never-seen"}));
    CHECK_FALSE(index.find(TenantId{"never-seen"}, number(1)).tenant_ready);
}
