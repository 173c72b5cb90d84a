// heroshhi — TextRules: what a free-text field (a name, a note, a custom field) may contain.
#pragma once

#include <cstddef>
#include <string_view>

#include <heroshhi/core/result.hpp>

namespace heroshhi::sanitize {

/// Rules for one text field. Lengths count Unicode code points, not bytes ("José" is 4).
struct TextRules {
    std::size_t min_code_points = 0;     ///< 1 makes the field required (the empty text is refused)
    std::size_t max_code_points = 1000;  ///< longer text is refused, not cut
    /// Allow tab, line feed and carriage return (multi-line notes). Every other control character
    /// (C0, DEL, C1 U+0080..U+009F) is always refused: they never belong in CRM text and some of
    /// them (NUL, ESC) confuse logs, terminals and C APIs.
    bool allow_line_breaks = false;
    /// Allow the bidirectional embedding/override/isolate controls U+202A..U+202E and
    /// U+2066..U+2069. Off by default: they make text display in another order than it is stored
    /// ("Trojan Source"); right-to-left names do not need them. LRM/RLM marks are always allowed.
    bool allow_bidi_controls = false;
};

/// Checks `text` against `rules`, in this order: well-formed UTF-8 (SanitizeErrc::invalid_utf8),
/// control characters (control_character, the detail names the code point as U+XXXX and its byte
/// offset), length (too_short / too_long, the detail names the limit). `field` names the input in
/// the detail ("name: longer than 200 characters"); the text itself is never repeated.
/// Throws only std::bad_alloc; thread-safe.
Result<void> validate_text(std::string_view text, const TextRules& rules, std::string_view field = "text");

}  // namespace heroshhi::sanitize
