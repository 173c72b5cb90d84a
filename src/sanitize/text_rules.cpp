#include <heroshhi/sanitize/text_rules.hpp>

#include <heroshhi/sanitize/errors.hpp>
#include <heroshhi/sanitize/utf8.hpp>

#include <cstdio>
#include <string>

namespace heroshhi::sanitize {
namespace {

std::string prefix(std::string_view field) {
    std::string s(field);
    if (!s.empty()) s += ": ";
    return s;
}

std::string code_point_name(unsigned cp) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "U+%04X", cp);
    return buf;
}

}  // namespace

Result<void> validate_text(std::string_view text, const TextRules& rules, std::string_view field) {
    // Cheap refusal before any scan: a code point takes at most four bytes.
    if (rules.max_code_points < text.size() / 4)
        return Error(SanitizeErrc::too_long,
                     prefix(field) + "longer than " + std::to_string(rules.max_code_points) + " characters");
    if (auto ok = validate_utf8(text, field); !ok) return ok;

    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    std::size_t code_points = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const unsigned char c = p[i];
        if ((c & 0xC0) != 0x80) ++code_points;
        unsigned control = 0x110000;  // none
        if (c < 0x20 || c == 0x7F) {
            if (!(rules.allow_line_breaks && (c == '\t' || c == '\n' || c == '\r'))) control = c;
        } else if (c == 0xC2 && i + 1 < n && p[i + 1] <= 0x9F) {
            control = p[i + 1];  // C1: U+0080..U+009F
        } else if (c == 0xE2 && i + 2 < n && !rules.allow_bidi_controls) {
            const unsigned cp = 0x2000u | ((p[i + 1] & 0x3Fu) << 6) | (p[i + 2] & 0x3Fu);
            if ((cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069)) control = cp;
        }
        if (control != 0x110000)
            return Error(SanitizeErrc::control_character, prefix(field) + "control character " +
                                                               code_point_name(control) + " at byte " +
                                                               std::to_string(i));
    }
    if (code_points < rules.min_code_points)
        return Error(SanitizeErrc::too_short, prefix(field) + (rules.min_code_points == 1 && code_points == 0
                                                                   ? std::string("empty")
                                                                   : "shorter than " +
                                                                         std::to_string(rules.min_code_points) +
                                                                         " characters"));
    if (code_points > rules.max_code_points)
        return Error(SanitizeErrc::too_long,
                     prefix(field) + "longer than " + std::to_string(rules.max_code_points) + " characters");
    return {};
}

}  // namespace heroshhi::sanitize
