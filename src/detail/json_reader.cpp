#include "json_reader.hpp"

#include <heroshhi/sanitize/utf8.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace heroshhi::detail {
namespace {

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// Whether a number (valid JSON grammar) is too large for a double: such a value cannot be held
// by any JSON library that reads numbers as doubles, so it is refused rather than turned into an
// infinity. Tiny numbers round to zero and are accepted.
bool beyond_double(std::string_view number) noexcept {
    std::size_t i = number[0] == '-' ? 1 : 0;
    bool significant = false;  // a non-zero digit was seen
    long magnitude = 0;        // the decimal exponent of the first non-zero digit, before the exponent part
    for (; i < number.size() && is_digit(number[i]); ++i) {
        if (!significant && number[i] != '0') significant = true, magnitude = -1;
        if (significant) ++magnitude;
    }
    if (i < number.size() && number[i] == '.') {
        long place = 0;
        for (++i; i < number.size() && is_digit(number[i]); ++i) {
            --place;
            if (!significant && number[i] != '0') significant = true, magnitude = place;
        }
    }
    if (!significant) return false;  // zero
    // The exponent saturates far beyond anything the digits before it could offset (a body is at
    // most a few megabytes long), so the sign of the sum stays right.
    constexpr long long saturated = 1'000'000'000'000'000LL;
    long long exponent = 0;
    if (i < number.size() && (number[i] == 'e' || number[i] == 'E')) {
        ++i;
        const bool negative = number[i] == '-';
        if (number[i] == '+' || number[i] == '-') ++i;
        for (; i < number.size(); ++i) exponent = std::min(exponent * 10 + (number[i] - '0'), saturated);
        if (negative) exponent = -exponent;
    }
    const long long total = magnitude + exponent;
    if (total != 308) return total > 308;
    double value = 0;  // at the edge of the range: let the conversion decide
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    return ec == std::errc::result_out_of_range || std::isinf(value);
}

}  // namespace

JsonReader::JsonReader(std::string_view text, std::size_t max_depth) noexcept : text_(text), max_depth_(max_depth) {
    // RFC 8259 section 8.1: a parser may ignore a leading byte order mark.
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
}

void JsonReader::fail(std::size_t at, const char* what, bool too_deep) noexcept {
    if (!failure_) failure_ = Failure{at + 1, what, too_deep};
}

void JsonReader::skip_blank() noexcept {
    while (pos_ < text_.size()) {
        const char c = text_[pos_];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return;
        ++pos_;
    }
}

JsonReader::Kind JsonReader::peek() noexcept {
    if (failed()) return Kind::bad;
    skip_blank();
    if (pos_ >= text_.size()) return Kind::bad;
    switch (text_[pos_]) {
        case '{': return Kind::object;
        case '[': return Kind::array;
        case '"': return Kind::string;
        case 't':
        case 'f':
        case 'n': return Kind::literal;
        default: return text_[pos_] == '-' || is_digit(text_[pos_]) ? Kind::number : Kind::bad;
    }
}

bool JsonReader::open(char bracket) noexcept {
    if (failed()) return false;
    skip_blank();
    if (pos_ >= text_.size() || text_[pos_] != bracket) {
        fail(pos_, bracket == '{' ? "expected an object" : "expected an array");
        return false;
    }
    if (depth_ >= max_depth_) {
        fail(pos_, "arrays and objects nested deeper than the limit", true);
        return false;
    }
    ++pos_;
    ++depth_;
    fresh_ = true;
    started_ = true;
    return true;
}

bool JsonReader::begin_object() noexcept { return open('{'); }
bool JsonReader::begin_array() noexcept { return open('['); }

// Past the value before, or just inside the container: true before the next element, false once
// the container closed.
bool JsonReader::next(char close, const char* expected) noexcept {
    if (failed()) return false;
    skip_blank();
    const bool first = fresh_;
    fresh_ = false;
    if (pos_ < text_.size() && text_[pos_] == close) {
        ++pos_;
        --depth_;
        return false;
    }
    if (first) return true;
    if (pos_ >= text_.size() || text_[pos_] != ',') {
        fail(pos_, expected);
        return false;
    }
    ++pos_;
    skip_blank();
    return true;
}

bool JsonReader::member(std::string_view& key) {
    if (!next('}', "expected ',' or '}' after a member")) return false;
    if (pos_ >= text_.size() || text_[pos_] != '"') {
        fail(pos_, "expected a member name (a string)");
        return false;
    }
    const std::size_t start = pos_ + 1;
    if (!scan_string(nullptr)) return false;
    key = text_.substr(start, pos_ - 1 - start);
    if (escaped_) {  // rare: decode it
        pos_ = start - 1;
        key_.clear();
        scan_string(&key_);
        key = key_;
    }
    skip_blank();
    if (pos_ >= text_.size() || text_[pos_] != ':') {
        fail(pos_, "expected ':' after a member name");
        return false;
    }
    ++pos_;
    return true;
}

bool JsonReader::item() noexcept { return next(']', "expected ',' or ']' after an array element"); }

bool JsonReader::scan_string(std::string* out) {
    started_ = true;
    escaped_ = false;
    ++pos_;  // the opening quote
    const std::size_t first = pos_;
    std::size_t run = pos_;
    bool beyond_ascii = false;
    const auto flush = [&] {
        if (out != nullptr) out->append(text_.data() + run, pos_ - run);
    };
    while (pos_ < text_.size()) {
        const auto c = static_cast<unsigned char>(text_[pos_]);
        if (c == '"') {
            // Escapes are ASCII and a multi-byte sequence holds no quote or backslash, so the raw
            // bytes are well-formed UTF-8 exactly when the string is.
            if (beyond_ascii)
                if (auto fault = sanitize::find_utf8_fault(text_.substr(first, pos_ - first))) {
                    fail(first + fault->offset, "a string that is not valid UTF-8");
                    return false;
                }
            flush();
            ++pos_;
            return true;
        }
        if (c < 0x20) {
            fail(pos_, "a control character in a string (it must be escaped)");
            return false;
        }
        if (c != '\\') {
            beyond_ascii |= c >= 0x80;
            ++pos_;
            continue;
        }
        escaped_ = true;
        flush();
        const std::size_t escape = pos_;
        const char e = pos_ + 1 < text_.size() ? text_[pos_ + 1] : '\0';
        pos_ += 2;
        char simple = 0;
        switch (e) {
            case '"': simple = '"'; break;
            case '\\': simple = '\\'; break;
            case '/': simple = '/'; break;
            case 'b': simple = '\b'; break;
            case 'f': simple = '\f'; break;
            case 'n': simple = '\n'; break;
            case 'r': simple = '\r'; break;
            case 't': simple = '\t'; break;
            case 'u': break;
            default: fail(escape, "an invalid escape in a string"); return false;
        }
        if (simple != 0) {
            if (out != nullptr) *out += simple;
            run = pos_;
            continue;
        }
        const auto hex4 = [&](std::size_t at) -> long {
            if (at + 4 > text_.size()) return -1;
            long v = 0;
            for (std::size_t k = 0; k < 4; ++k) {
                const int h = hex_value(text_[at + k]);
                if (h < 0) return -1;
                v = v * 16 + h;
            }
            return v;
        };
        long cp = hex4(pos_);
        if (cp < 0) {
            fail(escape, "\\u must be followed by four hex digits");
            return false;
        }
        pos_ += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail(escape, "a lone UTF-16 surrogate in a \\u escape");
            return false;
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            const long low = pos_ + 1 < text_.size() && text_[pos_] == '\\' && text_[pos_ + 1] == 'u' ? hex4(pos_ + 2) : -1;
            if (low < 0xDC00 || low > 0xDFFF) {
                fail(escape, "a lone UTF-16 surrogate in a \\u escape");
                return false;
            }
            pos_ += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        }
        if (out != nullptr) append_utf8(*out, static_cast<std::uint32_t>(cp));
        run = pos_;
    }
    fail(text_.size(), "a string without its closing quote");
    return false;
}

bool JsonReader::string(std::string& out) {
    out.clear();
    if (peek() != Kind::string) {
        if (!failed()) fail(pos_, "expected a string");
        return false;
    }
    return scan_string(&out);
}

bool JsonReader::scan_number() noexcept {
    started_ = true;
    integral_ = true;
    const std::size_t start = pos_;
    const auto digits = [&] {
        const std::size_t from = pos_;
        while (pos_ < text_.size() && is_digit(text_[pos_])) ++pos_;
        return pos_ > from;
    };
    if (text_[pos_] == '-') ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '0') {
        ++pos_;
    } else if (!digits()) {
        fail(pos_, "a number without digits");
        return false;
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
        integral_ = false;
        ++pos_;
        if (!digits()) {
            fail(pos_, "a number without digits after its '.'");
            return false;
        }
    }
    bool exponent = false;
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
        integral_ = false;
        exponent = true;
        ++pos_;
        if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
        if (!digits()) {
            fail(pos_, "a number without digits in its exponent");
            return false;
        }
    }
    last_number_ = text_.substr(start, pos_ - start);
    if (exponent || last_number_.size() > 300) {
        if (beyond_double(last_number_)) {
            fail(start, "a number out of range (too large for a double)");
            return false;
        }
    }
    return true;
}

std::string_view JsonReader::number() noexcept {
    if (peek() != Kind::number) {
        if (!failed()) fail(pos_, "expected a number");
        return {};
    }
    return scan_number() ? last_number_ : std::string_view();
}

std::optional<std::int64_t> JsonReader::integer() noexcept {
    const std::string_view n = number();
    if (n.empty() || !integral_) return std::nullopt;
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), value);
    if (ec != std::errc{} || end != n.data() + n.size()) return std::nullopt;
    return value;
}

bool JsonReader::scan_literal() noexcept {
    started_ = true;
    for (std::string_view word : {std::string_view("true"), std::string_view("false"), std::string_view("null")}) {
        if (text_.substr(pos_, word.size()) == word) {
            pos_ += word.size();
            return true;
        }
    }
    fail(pos_, "expected a value");
    return false;
}

void JsonReader::skip() {
    // Containers opened by this skip, innermost last: '{' or '['. Short in practice (the depth
    // limit bounds it).
    std::string open;
    for (;;) {
        switch (peek()) {
            case Kind::object:
                if (!begin_object()) return;
                open += '{';
                break;
            case Kind::array:
                if (!begin_array()) return;
                open += '[';
                break;
            case Kind::string: scan_string(nullptr); break;
            case Kind::number: scan_number(); break;
            case Kind::literal: scan_literal(); break;
            case Kind::bad:
                if (!failed()) fail(pos_, pos_ >= text_.size() ? "the text ends where a value should be" : "expected a value");
                return;
        }
        for (;;) {  // up to the next value to check, closing the containers that end
            if (failed() || open.empty()) return;
            std::string_view key;
            if (open.back() == '{' ? member(key) : item()) break;
            open.pop_back();
        }
    }
}

bool JsonReader::finish() noexcept {
    if (failed()) return false;
    skip_blank();
    if (depth_ != 0 || !started_)  // the caller stopped inside the value, or read none
        fail(pos_, pos_ >= text_.size() ? "the text ends where a value should be" : "the JSON value was not read to its end");
    else if (pos_ < text_.size())
        fail(pos_, "unexpected data after the JSON value");
    return !failed();
}

}  // namespace heroshhi::detail
