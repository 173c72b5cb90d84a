#include <heroshhi/sanitize/utf8.hpp>

#include <heroshhi/sanitize/errors.hpp>

#include <cstdint>
#include <cstring>
#include <string>

namespace heroshhi::sanitize {

std::string_view to_string(Utf8FaultKind kind) noexcept {
    switch (kind) {
        case Utf8FaultKind::invalid_byte: return "invalid byte";
        case Utf8FaultKind::unexpected_continuation: return "unexpected continuation byte";
        case Utf8FaultKind::overlong: return "overlong encoding";
        case Utf8FaultKind::surrogate: return "encoded surrogate";
        case Utf8FaultKind::beyond_max: return "code point above U+10FFFF";
        case Utf8FaultKind::truncated: return "truncated sequence";
    }
    return "invalid UTF-8";
}

std::optional<Utf8Fault> find_utf8_fault(std::string_view text) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    std::size_t i = 0;
    auto fault = [&](Utf8FaultKind kind) { return std::optional<Utf8Fault>(Utf8Fault{i, kind}); };
    auto is_cont = [&](std::size_t at) { return at < n && (p[at] & 0xC0) == 0x80; };
    while (i < n) {
        // ASCII runs, a word at a time.
        while (i + 8 <= n) {
            std::uint64_t w;
            std::memcpy(&w, p + i, 8);
            if ((w & 0x8080808080808080ULL) != 0) break;
            i += 8;
        }
        if (i >= n) break;
        const unsigned char c = p[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        if (c < 0xC0) return fault(Utf8FaultKind::unexpected_continuation);
        if (c < 0xC2) return fault(Utf8FaultKind::overlong);
        if (c >= 0xF5) return fault(Utf8FaultKind::invalid_byte);
        const std::size_t length = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        // The second byte's range depends on the lead byte (Unicode table 3-7).
        if (!is_cont(i + 1)) return fault(Utf8FaultKind::truncated);
        const unsigned char d = p[i + 1];
        if (c == 0xE0 && d < 0xA0) return fault(Utf8FaultKind::overlong);
        if (c == 0xED && d > 0x9F) return fault(Utf8FaultKind::surrogate);
        if (c == 0xF0 && d < 0x90) return fault(Utf8FaultKind::overlong);
        if (c == 0xF4 && d > 0x8F) return fault(Utf8FaultKind::beyond_max);
        for (std::size_t k = 2; k < length; ++k)
            if (!is_cont(i + k)) return fault(Utf8FaultKind::truncated);
        i += length;
    }
    return std::nullopt;
}

Result<void> validate_utf8(std::string_view text, std::string_view field) {
    const auto fault = find_utf8_fault(text);
    if (!fault) return {};
    std::string detail;
    if (!field.empty()) {
        detail += field;
        detail += ": ";
    }
    detail += to_string(fault->kind);
    detail += " at byte ";
    detail += std::to_string(fault->offset);
    return Error(SanitizeErrc::invalid_utf8, std::move(detail));
}

std::size_t count_code_points(std::string_view text) noexcept {
    std::size_t count = 0;
    for (const char ch : text) count += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
    return count;
}

}  // namespace heroshhi::sanitize
