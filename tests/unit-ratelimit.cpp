// GCRA rate limits by class, the RateLimit headers, client keys, and the security headers.
#include <doctest/doctest.h>

#include <heroshhi/core/errors.hpp>
#include <heroshhi/http/security_headers.hpp>
#include <heroshhi/ratelimit/limiter.hpp>

#include <atomic>
#include <map>
#include <string>
#include <thread>

using namespace heroshhi;
using namespace std::chrono_literals;
using ratelimit::Limiter;
using ratelimit::Quota;

namespace {

Limiter make(ManualClock& clock, std::vector<Quota> quotas) { return Limiter::create(std::move(quotas), clock).value(); }

}  // namespace

TEST_CASE("a class allows its whole quota at once, then refuses with Retry-After until it refills") {
    ManualClock clock(from_unix_ms(1'000'000));
    auto limiter = make(clock, {{"auth", 5, 60s, 1000}});
    for (std::uint32_t i = 0; i < 5; ++i) {
        auto v = limiter.check("auth", "203.0.113.7");
        REQUIRE(v.allowed);
        CHECK(v.remaining == 4 - i);
    }
    auto refused = limiter.check("auth", "203.0.113.7");
    CHECK_FALSE(refused.allowed);
    CHECK(refused.remaining == 0);
    CHECK(refused.retry_after_seconds == 12);  // one request's share of the window: 60 s / 5
    clock.advance(11s);
    CHECK_FALSE(limiter.check("auth", "203.0.113.7").allowed);
    clock.advance(1s);
    auto again = limiter.check("auth", "203.0.113.7");
    CHECK(again.allowed);
    CHECK(again.remaining == 0);
    clock.advance(60s);
    CHECK(limiter.check("auth", "203.0.113.7").remaining == 4);  // whole again
}

TEST_CASE("limits above one request a millisecond are kept exactly") {
    // 120,000 a minute is 2 a millisecond: the whole quota passes at once, then 2 more for each
    // millisecond that passes (a share counted in whole milliseconds once capped this at 60,000).
    ManualClock clock(from_unix_ms(1'000'000));
    auto limiter = make(clock, {{"webhook", 120'000, 60s, 1000}});
    std::uint32_t allowed = 0;
    while (limiter.check("webhook", "203.0.113.7").allowed && allowed <= 120'000) ++allowed;
    CHECK(allowed == 120'000);
    clock.advance(1ms);
    CHECK(limiter.check("webhook", "203.0.113.7").allowed);
    CHECK(limiter.check("webhook", "203.0.113.7").allowed);
    CHECK_FALSE(limiter.check("webhook", "203.0.113.7").allowed);
    clock.advance(60s);
    CHECK(limiter.check("webhook", "203.0.113.7").remaining == 119'999);
}

TEST_CASE("keys and classes are limited independently") {
    ManualClock clock(from_unix_ms(1'000'000));
    auto limiter = make(clock, {{"auth", 2, 60s, 1000}, {"webhook", 1000, 60s, 1000}});
    CHECK(limiter.check("auth", "a").allowed);
    CHECK(limiter.check("auth", "a").allowed);
    CHECK_FALSE(limiter.check("auth", "a").allowed);
    CHECK(limiter.check("auth", "b").allowed);
    CHECK(limiter.check("webhook", "a").allowed);
    CHECK(limiter.check("webhook", "a").remaining == 998);
}

TEST_CASE("an unknown class is refused rather than let through unmetered") {
    ManualClock clock;
    auto limiter = make(clock, {{"api", 10, 60s, 1000}});
    auto v = limiter.check("apii", "k");
    CHECK_FALSE(v.allowed);
    CHECK(v.retry_after_seconds > 0);
}

TEST_CASE("a full class forgets drained keys and refuses new ones while all are still limited") {
    ManualClock clock(from_unix_ms(1'000'000));
    auto limiter = make(clock, {{"api", 1, 10s, 16}});  // one key per shard
    int allowed = 0;
    for (int i = 0; i < 200; ++i) allowed += limiter.check("api", "k" + std::to_string(i)).allowed;
    CHECK(allowed < 200);
    CHECK(limiter.tracked("api") <= 16);
    clock.advance(11s);  // every bucket drained
    CHECK(limiter.check("api", "fresh-key").allowed);
}

TEST_CASE("concurrent requests never exceed the quota") {
    ManualClock clock(from_unix_ms(1'000'000));
    auto limiter = make(clock, {{"api", 100, 60s, 1000}});
    std::atomic<int> allowed{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < 4; ++t)
        pool.emplace_back([&] {
            for (int i = 0; i < 100; ++i) allowed += limiter.check("api", "same-key").allowed;
        });
    for (auto& t : pool) t.join();
    CHECK(allowed == 100);
}

TEST_CASE("the RateLimit and RateLimit-Policy headers follow the IETF draft") {
    ManualClock clock(from_unix_ms(1'000'000));
    auto limiter = make(clock, {{"api", 100, 60s, 1000}});
    auto v = limiter.check("api", "k");
    CHECK(v.policy_header() == "\"api\";q=100;w=60");
    CHECK(v.state_header() == "\"api\";r=99;t=1");
}

TEST_CASE("invalid classes are configuration errors") {
    ManualClock clock;
    CHECK(Limiter::create({{"", 1, 1s, 1}}, clock).error() == ConfigErrc::invalid_value);
    CHECK(Limiter::create({{"a", 0, 1s, 1}}, clock).error() == ConfigErrc::invalid_value);
    CHECK(Limiter::create({{"a", 1, 0s, 1}}, clock).error() == ConfigErrc::invalid_value);
    CHECK(Limiter::create({{"a", 1, 1s, 0}}, clock).error() == ConfigErrc::invalid_value);
    CHECK(Limiter::create({{"a", 1, std::chrono::hours(24 * 367), 1}}, clock).error() == ConfigErrc::invalid_value);
    auto twice = Limiter::create({{"a", 1, 1s, 1}, {"a", 2, 1s, 1}}, clock);
    REQUIRE_FALSE(twice.has_value());
    CHECK(twice.error().message().find("'a' is defined twice") != std::string::npos);
}

TEST_CASE("IPv6 clients are grouped by /56 and IPv4-mapped addresses count as IPv4") {
    using ratelimit::client_key;
    CHECK(client_key("203.0.113.7") == "203.0.113.7");
    CHECK(client_key("2001:db8:aa:bb01::1") == "2001:db8:aa:bb00::/56");
    CHECK(client_key("2001:db8:aa:bbff:ffff::9") == "2001:db8:aa:bb00::/56");
    CHECK(client_key("2001:db8:aa:bc00::1") != client_key("2001:db8:aa:bb00::1"));
    CHECK(client_key("::ffff:203.0.113.7") == "203.0.113.7");
    CHECK(client_key("not an address") == "not an address");
}

TEST_CASE("every response carries Helmet's headers with DENY framing and the XSS filter off") {
    std::map<std::string, std::string> h;
    for (const auto& [name, value] : http::security_headers()) h.emplace(std::string(name), std::string(value));
    CHECK(h.at("X-Frame-Options") == "DENY");
    CHECK(h.at("X-Content-Type-Options") == "nosniff");
    CHECK(h.at("X-XSS-Protection") == "0");
    CHECK(h.at("Strict-Transport-Security") == "max-age=31536000; includeSubDomains");
    CHECK(h.at("Referrer-Policy") == "no-referrer");
    CHECK(h.at("Cross-Origin-Opener-Policy") == "same-origin");
    CHECK(h.at("Cross-Origin-Resource-Policy") == "same-origin");
    CHECK(h.at("Origin-Agent-Cluster") == "?1");
    CHECK(h.at("X-DNS-Prefetch-Control") == "off");
    CHECK(h.at("X-Download-Options") == "noopen");
    CHECK(h.at("X-Permitted-Cross-Domain-Policies") == "none");
    CHECK(h.at("Content-Security-Policy") ==
          "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';frame-ancestors 'none';"
          "img-src 'self' data:;object-src 'none';script-src 'self';script-src-attr 'none';"
          "style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests");
    for (std::string_view banned : http::forbidden_headers()) CHECK(h.count(std::string(banned)) == 0);
    REQUIRE(http::api_headers().size() == 1);
    CHECK(http::api_headers()[0].second == "no-store");
}
