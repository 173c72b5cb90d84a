// heroshhi — time. Every time-dependent rule reads an injected Clock; nothing in the policy code
// calls now() on its own.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace heroshhi {

/// A point in time: UTC, millisecond precision.
using Timestamp = std::chrono::sys_time<std::chrono::milliseconds>;

/// Milliseconds since the Unix epoch, the form stores keep.
inline std::int64_t to_unix_ms(Timestamp t) noexcept { return t.time_since_epoch().count(); }
inline Timestamp from_unix_ms(std::int64_t ms) noexcept { return Timestamp{std::chrono::milliseconds{ms}}; }

/// "2026-11-02T14:03:07.123Z".
std::string to_iso8601(Timestamp t);
/// "2026-11-02 14:03 UTC", the form used in notices shown to people.
std::string to_display(Timestamp t);
/// Parses "YYYY-MM-DDTHH:MM:SS[.mmm]Z"; nullopt on anything else.
std::optional<Timestamp> parse_iso8601(std::string_view text);

/// Source of the current time. Implementations must be thread-safe; now() never blocks.
class Clock {
public:
    virtual ~Clock() = default;
    virtual Timestamp now() const = 0;
};

/// The real wall clock (std::chrono::system_clock), truncated to milliseconds.
class SystemClock final : public Clock {
public:
    Timestamp now() const override {
        return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    }
};

/// A clock that moves only when told to: for tests and for replaying history. Thread-safe.
class ManualClock final : public Clock {
public:
    explicit ManualClock(Timestamp start = Timestamp{}) : ms_(to_unix_ms(start)) {}

    Timestamp now() const override { return from_unix_ms(ms_.load(std::memory_order_acquire)); }
    void set(Timestamp t) noexcept { ms_.store(to_unix_ms(t), std::memory_order_release); }
    void advance(std::chrono::milliseconds d) noexcept { ms_.fetch_add(d.count(), std::memory_order_acq_rel); }

private:
    std::atomic<std::int64_t> ms_;
};

}  // namespace heroshhi
