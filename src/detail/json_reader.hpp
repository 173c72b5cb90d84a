// heroshhi (internal) — a strict, pull-style JSON reader over a byte buffer: no document tree, no
// allocation except for the strings a caller asks to decode. The caller walks the text in order,
// reading the values it wants and skipping the others; skipped values are checked as thoroughly as
// read ones, so a walk that reaches finish() has validated the whole text against RFC 8259 (UTF-8
// in strings included). Used where a fixed shape is read on a hot path (the WhatsApp webhook).
//
// Errors are sticky: after the first one every call returns false or Kind::bad, loops end, and
// error() says what was wrong and at which byte (1-based, as editors count).
//
//     JsonReader r(text, 32);
//     if (r.peek() == JsonReader::Kind::object && r.begin_object())
//         for (std::string_view key; r.member(key);)
//             if (key == "name") r.string(name); else r.skip();
//     r.finish();
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace heroshhi::detail {

class JsonReader {
public:
    /// What value starts at the next non-blank byte. `bad` after an error, or when no value can
    /// start there (the next call that reads reports it).
    enum class Kind : unsigned char { object, array, string, number, literal, bad };

    struct Failure {
        std::size_t byte = 0;    ///< 1-based position of the offending byte (size + 1: the end)
        const char* what = "";   ///< e.g. "expected ':' after a member name"
        bool too_deep = false;   ///< arrays and objects nested deeper than the limit
    };

    /// `max_depth`: how many arrays and objects may be open at once (the root one counts).
    JsonReader(std::string_view text, std::size_t max_depth) noexcept;

    Kind peek() noexcept;

    /// Opens the object or array that peek() announced. False on error (nesting too deep).
    bool begin_object() noexcept;
    bool begin_array() noexcept;

    /// Moves to the next member of the innermost open object: true with its name in `key`, the
    /// reader before its value, which the caller must read or skip; false when the object closed
    /// (or on error). `key` may point into the reader (a name written with escapes): use it
    /// before reading the value, which may overwrite it.
    bool member(std::string_view& key);
    /// Moves to the next element of the innermost open array; false when it closed (or on error).
    bool item() noexcept;

    /// Reads the string that peek() announced into `out` (escapes decoded). False on error.
    bool string(std::string& out);
    /// Reads the number that peek() announced: its text as written.
    std::string_view number() noexcept;
    /// Reads the number that peek() announced when it is an integer in int64's range written without
    /// fraction or exponent; otherwise nullopt (the number is still consumed).
    std::optional<std::int64_t> integer() noexcept;
    /// Reads and checks whatever value comes next, nested ones included.
    void skip();

    /// After the top-level value: only whitespace may follow. True when the whole text was valid
    /// and read to its end (false, with an error, if the caller stopped inside the value).
    bool finish() noexcept;

    bool failed() const noexcept { return failure_.has_value(); }
    const std::optional<Failure>& failure() const noexcept { return failure_; }

private:
    void fail(std::size_t at, const char* what, bool too_deep = false) noexcept;
    void skip_blank() noexcept;
    bool open(char bracket) noexcept;
    bool next(char close, const char* expected) noexcept;
    bool scan_string(std::string* out);
    bool scan_number() noexcept;
    bool scan_literal() noexcept;

    std::string_view text_;
    std::size_t pos_ = 0;
    std::size_t depth_ = 0;
    std::size_t max_depth_;
    bool fresh_ = false;         ///< just after '{' or '[': no ',' expected before the next member
    bool started_ = false;       ///< a value was begun
    bool escaped_ = false;       ///< the last string scanned held an escape
    bool integral_ = false;      ///< the last number scanned had no fraction or exponent
    std::string_view last_number_;
    std::string key_;            ///< a member name that held escapes, decoded
    std::optional<Failure> failure_;
};

}  // namespace heroshhi::detail
