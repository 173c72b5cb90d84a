// heroshhi — UTF-8 validation: every text that enters heroshhi (lead fields, message bodies, tenant
// configuration) is checked once at the boundary, so the rest of the code can rely on it.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include <heroshhi/core/result.hpp>

namespace heroshhi::sanitize {

/// What is wrong with a byte sequence, by the Unicode Standard's table of well-formed UTF-8 (3-7).
enum class Utf8FaultKind {
    invalid_byte,             ///< a byte that never occurs in UTF-8 (0xF5..0xFF)
    unexpected_continuation,  ///< a continuation byte (0x80..0xBF) where a character should start
    overlong,                 ///< a character encoded with more bytes than needed (C0 80 for NUL, E0 80 AF, ...)
    surrogate,                ///< an encoded UTF-16 surrogate, U+D800..U+DFFF (ED A0..BF ..)
    beyond_max,               ///< a code point above U+10FFFF (F4 90.. and up)
    truncated,                ///< a multi-byte sequence cut short, by the end of the text or another byte
};

/// "invalid byte", "unexpected continuation byte", "overlong encoding", "encoded surrogate",
/// "code point above U+10FFFF", "truncated sequence".
std::string_view to_string(Utf8FaultKind kind) noexcept;

/// The first fault in `text`.
struct Utf8Fault {
    std::size_t offset = 0;  ///< byte offset of the first byte of the faulty sequence
    Utf8FaultKind kind = Utf8FaultKind::invalid_byte;
};

/// The first fault in `text`, or nullopt when it is well-formed UTF-8 (the empty text is).
/// ASCII runs are checked eight bytes at a time. Never throws; thread-safe.
std::optional<Utf8Fault> find_utf8_fault(std::string_view text) noexcept;

/// Success when `text` is well-formed UTF-8; otherwise SanitizeErrc::invalid_utf8 with a detail
/// such as "name: overlong encoding at byte 3" (`field` names the input; it may be empty).
/// Throws only std::bad_alloc.
Result<void> validate_utf8(std::string_view text, std::string_view field = {});

/// The number of code points in `text`, which must be well-formed UTF-8 (for other input it is
/// the number of bytes that are not continuation bytes). Never throws.
std::size_t count_code_points(std::string_view text) noexcept;

}  // namespace heroshhi::sanitize
