// heroshhi — ratelimit::Limiter: GCRA rate limits by named class (auth, API, webhooks).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/result.hpp>

namespace heroshhi::ratelimit {

/// One class of limits: `limit` requests per `window` for each key, all of which may come at once
/// (burst = limit). Keys are whatever the class counts by: a client address, an API key id.
struct Quota {
    std::string name;                 ///< e.g. "auth", "api", "webhook": shown in RateLimit headers
    std::uint32_t limit = 60;         ///< requests per window, at least 1
    std::chrono::milliseconds window = std::chrono::minutes(1);
    std::size_t max_keys = 100'000;   ///< keys tracked at once; see Limiter::check
};

/// The answer for one request, with what the IETF RateLimit headers need.
struct Verdict {
    bool allowed = false;
    std::uint32_t remaining = 0;        ///< requests left right now
    std::uint32_t reset_seconds = 0;    ///< until the quota is whole again
    std::uint32_t retry_after_seconds = 0;  ///< when refused: until one request is allowed (>= 1)
    const Quota* quota = nullptr;

    /// `"api";q=100;w=60` (RateLimit-Policy) and `"api";r=50;t=30` (RateLimit), per
    /// draft-ietf-httpapi-ratelimit-headers-11.
    std::string policy_header() const;
    std::string state_header() const;
};

/// GCRA (the generic cell rate algorithm: a leaky bucket kept as one "theoretical arrival time"
/// per key, no background refill). Thread-safe: keys are spread over shards with a mutex each.
/// Reads the injected clock; does no I/O.
class Limiter {
public:
    /// Fails with ConfigErrc::invalid_value for a quota with no name, a duplicate name, a limit of
    /// 0, a window under 1 ms or over a year, or max_keys of 0.
    static Result<Limiter> create(std::vector<Quota> quotas, const Clock& clock);

    /// Counts one request of `key` against the named class. An unknown class is refused (fail
    /// closed), as is a new key when the class already tracks max_keys keys that are all still
    /// limited: memory stays bounded and nobody gets through unmetered.
    Verdict check(std::string_view quota, std::string_view key);

    /// Keys currently tracked by a class (for tests and metrics).
    std::size_t tracked(std::string_view quota) const;

    Limiter(Limiter&&) noexcept;
    Limiter& operator=(Limiter&&) noexcept;
    ~Limiter();

private:
    struct Impl;
    explicit Limiter(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

/// The key for a client address: an IPv4 address as is, an IPv6 address reduced to its /56
/// prefix ("2001:db8:aa:bb00::/56") so that one subscriber cannot rotate through its addresses,
/// an IPv4-mapped IPv6 address as the IPv4 address. Text that is not an address is returned as is.
std::string client_key(std::string_view address);

}  // namespace heroshhi::ratelimit
