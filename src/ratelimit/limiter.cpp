#include <heroshhi/core/errors.hpp>
#include <heroshhi/ratelimit/limiter.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <limits>
#include <mutex>
#include <unordered_map>

namespace heroshhi::ratelimit {
namespace {

constexpr std::size_t shard_count = 16;

struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

struct Shard {
    std::mutex mutex;
    // key -> theoretical arrival time, Unix ns; looked up by string_view without a copy.
    std::unordered_map<std::string, std::int64_t, KeyHash, std::equal_to<>> tat;
};

struct Class {
    explicit Class(Quota q) : quota(std::move(q)) {
        window_ns = std::chrono::nanoseconds(quota.window).count();
        interval_ns = std::max<std::int64_t>(1, window_ns / quota.limit);
        per_shard_cap = std::max<std::size_t>(1, quota.max_keys / shard_count);
    }
    Quota quota;
    // In nanoseconds, so that one request's share of the window is exact enough for any limit a
    // minute could hold (a share counted in whole milliseconds capped every class at 1,000 a second).
    std::int64_t window_ns;
    std::int64_t interval_ns;  // T: one request's share of the window
    std::size_t per_shard_cap;
    std::array<Shard, shard_count> shards;
};

std::uint32_t ceil_seconds(std::int64_t ns) {
    constexpr std::int64_t second = 1'000'000'000;
    return ns <= 0 ? 0 : std::uint32_t((ns + second - 1) / second);
}

}  // namespace

struct Limiter::Impl {
    const Clock* clock;
    std::vector<std::unique_ptr<Class>> classes;

    Class* find(std::string_view name) const {
        for (const auto& c : classes)
            if (c->quota.name == name) return c.get();
        return nullptr;
    }
};

Limiter::Limiter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Limiter::Limiter(Limiter&&) noexcept = default;
Limiter& Limiter::operator=(Limiter&&) noexcept = default;
Limiter::~Limiter() = default;

Result<Limiter> Limiter::create(std::vector<Quota> quotas, const Clock& clock) {
    auto impl = std::make_unique<Impl>();
    impl->clock = &clock;
    for (Quota& q : quotas) {
        if (q.name.empty()) return {ConfigErrc::invalid_value, "a rate-limit class needs a name"};
        if (impl->find(q.name)) return {ConfigErrc::invalid_value, "rate-limit class '" + q.name + "' is defined twice"};
        if (q.limit == 0) return {ConfigErrc::invalid_value, "rate-limit class '" + q.name + "' has a limit of 0"};
        if (q.window.count() < 1) return {ConfigErrc::invalid_value, "rate-limit class '" + q.name + "' has no window"};
        if (q.window > std::chrono::hours(24 * 366))
            return {ConfigErrc::invalid_value, "rate-limit class '" + q.name + "' has a window longer than a year"};
        if (q.max_keys == 0) return {ConfigErrc::invalid_value, "rate-limit class '" + q.name + "' tracks no keys"};
        impl->classes.push_back(std::make_unique<Class>(std::move(q)));
    }
    return Limiter(std::move(impl));
}

Verdict Limiter::check(std::string_view quota, std::string_view key) {
    Verdict v;
    Class* c = impl_->find(quota);
    if (c == nullptr) {
        v.retry_after_seconds = 60;
        return v;  // an unknown class cannot be metered: refuse
    }
    v.quota = &c->quota;
    // In ns: a clock beyond years 1677-2262 would overflow, so it is held at those bounds.
    constexpr std::int64_t edge_ms = std::numeric_limits<std::int64_t>::max() / 1'000'000 - 1;
    const std::int64_t now = std::clamp<std::int64_t>(to_unix_ms(impl_->clock->now()), -edge_ms, edge_ms) * 1'000'000;
    const std::int64_t window = c->window_ns;
    const std::int64_t t = c->interval_ns;
    Shard& shard = c->shards[std::hash<std::string_view>{}(key) % shard_count];

    std::lock_guard lock(shard.mutex);
    auto it = shard.tat.find(key);
    if (it == shard.tat.end()) {
        if (shard.tat.size() >= c->per_shard_cap) {
            // Forget keys whose bucket has fully drained: they are the same as unseen keys.
            std::erase_if(shard.tat, [&](const auto& kv) { return kv.second <= now; });
            if (shard.tat.size() >= c->per_shard_cap) {
                v.retry_after_seconds = ceil_seconds(t);
                if (v.retry_after_seconds == 0) v.retry_after_seconds = 1;
                v.reset_seconds = ceil_seconds(window);
                return v;
            }
        }
        it = shard.tat.emplace(std::string(key), now).first;
    }
    const std::int64_t tat = std::max(it->second, now);
    const std::int64_t new_tat = tat + t;
    if (new_tat - now > window) {
        // Refused: the earliest time one more request fits is when tat + t - window is reached.
        v.retry_after_seconds = std::max<std::uint32_t>(1, ceil_seconds(new_tat - window - now));
        v.reset_seconds = ceil_seconds(tat - now);
        v.remaining = 0;
        return v;
    }
    it->second = new_tat;
    v.allowed = true;
    v.remaining = std::uint32_t(std::min<std::int64_t>((window - (new_tat - now)) / t, c->quota.limit));
    v.reset_seconds = ceil_seconds(new_tat - now);
    return v;
}

std::size_t Limiter::tracked(std::string_view quota) const {
    Class* c = impl_->find(quota);
    if (c == nullptr) return 0;
    std::size_t n = 0;
    for (Shard& s : c->shards) {
        std::lock_guard lock(s.mutex);
        n += s.tat.size();
    }
    return n;
}

std::string Verdict::policy_header() const {
    if (quota == nullptr) return {};
    return "\"" + quota->name + "\";q=" + std::to_string(quota->limit) +
           ";w=" + std::to_string(std::max<std::int64_t>(1, quota->window.count() / 1000));
}

std::string Verdict::state_header() const {
    if (quota == nullptr) return {};
    return "\"" + quota->name + "\";r=" + std::to_string(remaining) + ";t=" + std::to_string(reset_seconds);
}

std::string client_key(std::string_view address) {
    std::string text(address);
    in_addr v4{};
    if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return text;
    in6_addr v6{};
    if (inet_pton(AF_INET6, text.c_str(), &v6) != 1) return text;
    const unsigned char* b = v6.s6_addr;
    const bool mapped = std::all_of(b, b + 10, [](unsigned char x) { return x == 0; }) && b[10] == 0xFF && b[11] == 0xFF;
    if (mapped) {
        char out[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, b + 12, out, sizeof out);
        return out;
    }
    in6_addr prefix{};
    std::copy(b, b + 7, prefix.s6_addr);  // 56 bits
    char out[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &prefix, out, sizeof out);
    return std::string(out) + "/56";
}

}  // namespace heroshhi::ratelimit
