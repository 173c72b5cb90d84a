// heroshhi — the cursor text of a retention target paging by a numeric key (private to storage).
#pragma once

#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

namespace heroshhi::storage::detail {

/// A cursor over a numeric key: "" is before every key; anything but a whole number is nullopt.
inline std::optional<std::int64_t> numeric_cursor(std::string_view after) {
    if (after.empty()) return std::numeric_limits<std::int64_t>::min();
    std::int64_t n = 0;
    auto [end, ec] = std::from_chars(after.data(), after.data() + after.size(), n);
    if (ec != std::errc{} || end != after.data() + after.size()) return std::nullopt;
    return n;
}

}  // namespace heroshhi::storage::detail
