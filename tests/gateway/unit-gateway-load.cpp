// Load on loopback, bounded in count and time: two clients flood the API class far past its limit
// while two others keep sending signed webhooks. Webhooks are all answered 200; the API answers
// exactly its quota with 200 and the rest with 429 carrying Retry-After and the RateLimit /
// RateLimit-Policy headers (IETF draft-ietf-httpapi-ratelimit-headers); no other status and no
// transport error; resident memory, sampled from /proc at the start, middle and end, stays flat.
// Figures: tests/RELIABILITY.md.
#include <doctest/doctest.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "support.hpp"

using namespace heroshhi;
using namespace heroshhi::test_support;

namespace {

constexpr std::uint32_t api_quota = 40;
constexpr int api_clients = 2;
constexpr int api_requests_per_client = 800;
constexpr int webhook_clients = 2;
constexpr int webhooks_per_client = 150;
constexpr int numbers = 50;  // webhooks come from a fixed set of contacts, so stored state stays bounded

/// VmRSS of this process in kB.
long rss_kb() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
    return -1;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool sanitized = true;  // their allocators keep freed memory in quarantine: RSS only grows
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif
#else
constexpr bool sanitized = false;
#endif

struct Tally {
    std::mutex mutex;
    std::map<int, int> api;       // status -> count
    std::map<int, int> webhooks;  // status -> count
    int transport_errors = 0;
    int bad_headers = 0;
    std::string first_bad;
};

void check_api_headers(const gateway::ClientResponse& r, Tally& t) {
    const std::string policy = r.header("ratelimit-policy");
    const std::string state = r.header("ratelimit");
    bool ok = policy == "\"api\";q=" + std::to_string(api_quota) + ";w=60" && state.starts_with("\"api\";r=") &&
              state.find(";t=") != std::string::npos;
    if (r.status == 429) {
        const std::string retry = r.header("retry-after");
        ok = ok && state.starts_with("\"api\";r=0;") && !retry.empty() &&
             retry.find_first_not_of("0123456789") == std::string::npos && std::stol(retry) >= 1 &&
             std::stol(retry) <= 60 && r.body.find("\"rate_limited\"") != std::string::npos;
    }
    if (!ok) {
        std::lock_guard lock(t.mutex);
        if (t.bad_headers++ == 0) t.first_bad = std::to_string(r.status) + " policy=" + policy + " state=" + state;
    }
}

}  // namespace

TEST_CASE("an API flood past its limit gets 429 with RateLimit headers while webhooks flow unaffected") {
    // A fixed clock: the window does not roll over during the test, so exactly the quota passes.
    ManualClock clock(std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now()));
    RunningGateway gw([](gateway::Config& c) { c.api_per_minute = api_quota; }, &clock);
    const std::string key = gw.key("acme", rbac::Role::owner, "u-owner");
    Tally tally;
    std::atomic<int> done_requests{0};
    const int total_requests = api_clients * api_requests_per_client + webhook_clients * webhooks_per_client;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);  // a bound, far above the ~15 s it takes

    auto api_client = [&](int id) {
        gateway::LoopbackClient c(gw.port());
        for (int i = 0; i < api_requests_per_client && std::chrono::steady_clock::now() < deadline; ++i) {
            const std::string target = "/v1/contacts/+1415555" + std::to_string(1000 + (i + id) % numbers) + "/consent";
            auto r = c.request("GET", target, bearer(key));
            ++done_requests;
            if (!r) {
                std::lock_guard lock(tally.mutex);
                ++tally.transport_errors;
                continue;
            }
            check_api_headers(*r, tally);
            std::lock_guard lock(tally.mutex);
            ++tally.api[r->status];
        }
    };
    auto webhook_client = [&](int id) {
        gateway::LoopbackClient c(gw.port());
        for (int i = 0; i < webhooks_per_client && std::chrono::steady_clock::now() < deadline; ++i) {
            const std::string wa_id = "1415555" + std::to_string(1000 + i % numbers);
            // The first message of each contact is a STOP, the rest ordinary replies.
            const std::string body = inbound_text(wa_id, "wamid.load." + std::to_string(id) + "." + std::to_string(i),
                                                  i < numbers && id == 0 ? "STOP" : "thanks");
            auto r = c.request("POST", "/webhooks/whatsapp", signed_headers(body), body);
            ++done_requests;
            std::lock_guard lock(tally.mutex);
            if (!r) ++tally.transport_errors;
            else ++tally.webhooks[r->status];
        }
    };

    // Warm up (connections, the tenant's index, allocator pools), then sample.
    {
        gateway::LoopbackClient c(gw.port());
        for (int i = 0; i < numbers; ++i) {
            const std::string body = inbound_text("1415555" + std::to_string(1000 + i), "wamid.warm." + std::to_string(i), "hi");
            REQUIRE(c.request("POST", "/webhooks/whatsapp", signed_headers(body), body)->status == 200);
        }
    }
    const long rss_start = rss_kb();
    std::vector<std::thread> threads;
    for (int i = 0; i < api_clients; ++i) threads.emplace_back(api_client, i);
    for (int i = 0; i < webhook_clients; ++i) threads.emplace_back(webhook_client, i);
    long rss_middle = -1;
    while (done_requests.load() < total_requests / 2 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    rss_middle = rss_kb();
    for (auto& t : threads) t.join();
    const long rss_end = rss_kb();

    int api_total = 0, webhook_total = 0;
    for (const auto& [status, n] : tally.api) api_total += n;
    for (const auto& [status, n] : tally.webhooks) webhook_total += n;
    MESSAGE("load: " << api_total << " API requests (" << tally.api[200] << " x 200, " << tally.api[429] << " x 429), "
                     << webhook_total << " webhooks (" << tally.webhooks[200] << " x 200), " << tally.transport_errors
                     << " transport errors; RSS kB start " << rss_start << ", middle " << rss_middle << ", end "
                     << rss_end);
    // The deadline bounds the time on a slow machine (sanitizers, a busy CI runner): then fewer
    // requests were made, and the checks hold for those.
    if (std::chrono::steady_clock::now() >= deadline) MESSAGE("the deadline cut the run short");
    CHECK(api_total >= 10 * static_cast<int>(api_quota));
    CHECK(webhook_total >= 2 * numbers);
    CHECK(tally.transport_errors == 0);
    CHECK(tally.webhooks[200] == webhook_total);                  // webhooks unaffected
    CHECK(tally.api[200] == static_cast<int>(api_quota));          // exactly the quota passes
    CHECK(tally.api[429] == api_total - static_cast<int>(api_quota));  // and nothing but 429 otherwise
    CHECK_MESSAGE(tally.bad_headers == 0, tally.first_bad);
    // Every contact is opted out exactly once, whatever the flood did.
    gateway::LoopbackClient c(gw.port());
    auto consent = c.request("GET", "/v1/contacts/+14155551000/consent", bearer(gw.key("acme", rbac::Role::owner, "u-2")));
    REQUIRE(consent.has_value());
    CHECK(consent->body.find("\"events\":1") != std::string::npos);
    // Flat memory: the second half of the run adds no more than a small allowance (the stores'
    // caches settle in the first half). Sanitizer allocators quarantine freed memory, so there the
    // figures are only reported.
    if (!sanitized) {
        CHECK(rss_middle > 0);
        CHECK(rss_end - rss_middle <= 8 * 1024);
        CHECK(rss_end - rss_start <= 24 * 1024);
    }
}
