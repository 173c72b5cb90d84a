// Fuzz target: the NoSQL guard on JSON text. Properties: parsing enforces the limits; strict and
// lenient modes agree (check passes exactly when nothing would be removed); the lenient copy
// always passes the strict check.
#include <heroshhi/sanitize/nosql_guard.hpp>

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

const heroshhi::sanitize::NoSqlGuard& guard() {
    static const heroshhi::sanitize::NoSqlGuard g = [] {
        heroshhi::sanitize::NoSqlGuardConfig config;
        config.limits.max_depth = 16;
        config.limits.max_bytes = 64 * 1024;
        config.limits.max_keys = 2000;
        config.limits.max_values = 5000;
        config.scalar_paths = {"/username", "/password", "/*/phone", "/a/*"};
        return heroshhi::sanitize::NoSqlGuard::create(config).value();
    }();
    return g;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace heroshhi::sanitize;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto doc = guard().parse(text);
    if (!doc) {
        const auto code = doc.error().code();
        FUZZ_CHECK(code == SanitizeErrc::malformed_json || code == SanitizeErrc::too_deep ||
                   code == SanitizeErrc::too_large || code == SanitizeErrc::too_many_keys);
        return 0;
    }
    auto strict = guard().check(*doc);  // limits hold: parse enforced them
    const auto violation = guard().find_violation(*doc);
    FUZZ_CHECK(strict.has_value() == !violation.has_value());
    auto cleaned = guard().clean(*doc);
    FUZZ_CHECK(cleaned.has_value());
    FUZZ_CHECK(cleaned->removed.empty() == strict.has_value());
    if (strict) FUZZ_CHECK(cleaned->document == *doc);
    FUZZ_CHECK(guard().check(cleaned->document).has_value());
    for (const auto& removed : cleaned->removed) FUZZ_CHECK(removed.path.empty() || removed.path[0] == '/');
    return 0;
}
