#include <heroshhi/core/errors.hpp>
#include <heroshhi/core/phone_number.hpp>

#include <phonenumbers/phonenumberutil.h>
#if HEROSHHI_HAVE_PHONENUMBER_METADATA
#include <phonenumbers/phonemetadata.pb.h>

namespace i18n::phonenumbers {
// libphonenumber's compiled-in metadata (a serialised PhoneMetadataCollection), exported by the
// library but declared in a header it does not install (metadata.h).
int metadata_size();
const void* metadata_get();
}  // namespace i18n::phonenumbers
#endif

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <optional>

namespace heroshhi {
namespace {

namespace pn = i18n::phonenumbers;

// Shortest and longest E.164 numbers, in digits including the country code. Saint Helena and
// Niue have 4-digit subscriber numbers behind 3-digit country codes, hence 7.
constexpr std::size_t min_e164_digits = 7;
constexpr std::size_t max_e164_digits = 15;

// Decodes one UTF-8 code point at s[i]; returns its length, or 0 if the bytes are not valid UTF-8.
std::size_t decode_utf8(std::string_view s, std::size_t i, char32_t& cp) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const unsigned char c = b(0);
    std::size_t len;
    if (c < 0x80) { cp = c; return 1; }
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else return 0;
    if (i + len > s.size()) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        if ((b(k) & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (b(k) & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

bool is_digit_like(char32_t cp) {
    return (cp >= '0' && cp <= '9') || (cp >= 0xFF10 && cp <= 0xFF19) ||  // ASCII, full-width
           (cp >= 0x0660 && cp <= 0x0669) || (cp >= 0x06F0 && cp <= 0x06F9);  // Arabic-Indic
}

bool is_separator(char32_t cp) {
    switch (cp) {
        case ' ': case '\t': case '(': case ')': case '-': case '.': case '/':
        case 0x00A0: case 0x3000:                    // no-break and ideographic space
        case 0xFF08: case 0xFF09: case 0xFF0D: case 0xFF0E: case 0xFF0F:  // full-width ( ) - . /
        case 0x2010: case 0x2011: case 0x2012: case 0x2013: case 0x2014: case 0x2015: case 0x2212:
            return true;
        default:
            return false;
    }
}

std::string describe(char32_t cp) {
    char buf[32];
    if (cp >= 0x21 && cp < 0x7F)
        std::snprintf(buf, sizeof buf, "'%c'", static_cast<char>(cp));
    else
        std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(cp));
    return buf;
}

// Letters are allowed only in an extension marker ("ext", "ext.", "extn", "extension", "x", "#")
// that follows at least one digit; everything after it must be digits and separators.
Result<void> check_characters(std::string_view s, bool& leading_plus, std::size_t& digits) {
    bool seen_digit = false, in_extension = false;
    digits = 0;
    leading_plus = false;
    for (std::size_t i = 0; i < s.size();) {
        char32_t cp;
        const std::size_t len = decode_utf8(s, i, cp);
        if (len == 0) return {PhoneErrc::invalid_character, "not valid UTF-8 at byte " + std::to_string(i)};
        if (is_digit_like(cp) || is_separator(cp)) {
            seen_digit |= is_digit_like(cp);
            if (is_digit_like(cp) && !in_extension) ++digits;
            i += len;
            continue;
        }
        if (cp == '+' || cp == 0xFF0B) {
            if (seen_digit || leading_plus)
                return {PhoneErrc::invalid_character, "'+' may only stand before the first digit"};
            leading_plus = true;
            i += len;
            continue;
        }
        if (!in_extension && seen_digit && (cp == 'e' || cp == 'E' || cp == 'x' || cp == 'X' || cp == '#')) {
            std::size_t j = i;
            while (j < s.size() && ((s[j] | 0x20) >= 'a' && (s[j] | 0x20) <= 'z')) ++j;
            std::string word(s.substr(i, j - i));
            for (char& c : word) c = static_cast<char>(c | 0x20);
            if (cp == '#' || word == "x" || word == "ext" || word == "extn" || word == "extension") {
                in_extension = true;
                i = (cp == '#') ? i + 1 : j;
                continue;
            }
        }
        return {PhoneErrc::invalid_character,
                describe(cp) + " at byte " + std::to_string(i) + " is not part of a phone number"};
    }
    if (!seen_digit) return {PhoneErrc::not_a_number, "no digits"};
    return {};
}

// --- The fast path for canonical input ----------------------------------------------------------
//
// For "+" followed by ASCII digits (or ASCII digits alone, read as international), libphonenumber's
// Parse does this, in order: the country calling code is the first 1 to 3 digits that name one
// (none if the first digit is 0); the rest is the national number, from which the national
// prefix for parsing of the code's main region (a regular expression, anchored at the start) is
// stripped or transformed when it matches a non-empty prefix and the result has a possible length;
// leading zeros are kept as the "Italian leading zero". When the rest starts with a digit other
// than 0 that no non-empty match of that expression can start with, nothing is stripped, and the
// result is exactly {code, rest}. Everything else Parse runs (viability, extensions, '+' and digit
// normalisation) changes nothing for such input. So: a table of the digits that may start a
// national number of each code untouched, computed once from libphonenumber's own metadata.

constexpr std::uint16_t all_digits = 0x3FF;  // bit d: the digit d
constexpr std::uint16_t digit_bit(char c) { return std::uint16_t(1u << (c - '0')); }
constexpr bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

/// What a regular expression can match first, over the ASCII digits.
struct FirstDigits {
    std::uint16_t digits = 0;  ///< bit d: a non-empty match may start with d
    bool nullable = false;     ///< it may match the empty string
};

/// Reads the ICU regular expressions of libphonenumber's national prefixes for parsing ("0",
/// "1|([2-9]\d{6})$", "0?(?:(11|2(?:2(?:02?|...))15)?", ...) for the digits a match may start
/// with. It over-approximates (a class like \w counts as every digit) and gives up (nullopt) on
/// a construct it does not know (lookaround, backreferences, nested sets), so an answer is never
/// too small.
class FirstDigitReader {
public:
    explicit FirstDigitReader(std::string_view pattern) : p_(pattern) {}

    std::optional<FirstDigits> read() {
        auto r = alternation();
        if (!r || i_ != p_.size()) return std::nullopt;
        return r;
    }

private:
    bool more() const { return i_ < p_.size(); }

    std::optional<FirstDigits> alternation() {
        auto r = sequence();
        while (r && more() && p_[i_] == '|') {
            ++i_;
            const auto next = sequence();
            if (!next) return std::nullopt;
            r->digits |= next->digits;
            r->nullable = r->nullable || next->nullable;
        }
        return r;
    }

    std::optional<FirstDigits> sequence() {
        FirstDigits r{0, true};
        while (more() && p_[i_] != '|' && p_[i_] != ')') {
            auto a = atom();
            if (!a || !quantifier(*a)) return std::nullopt;
            if (r.nullable) r.digits |= a->digits;  // reachable first only while all before may be empty
            r.nullable = r.nullable && a->nullable;
        }
        return r;
    }

    std::optional<FirstDigits> atom() {
        const char c = p_[i_++];
        switch (c) {
            case '(': {
                if (more() && p_[i_] == '?') {
                    if (i_ + 1 >= p_.size() || p_[i_ + 1] != ':') return std::nullopt;  // lookaround, flags, names
                    i_ += 2;
                }
                auto r = alternation();
                if (!r || !more() || p_[i_] != ')') return std::nullopt;
                ++i_;
                return r;
            }
            case '[': return char_class();
            case '\\': {
                if (!more()) return std::nullopt;
                const char e = p_[i_++];
                if (is_ascii_digit(e)) return std::nullopt;  // a backreference
                if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z')) return FirstDigits{all_digits, false};
                return FirstDigits{0, false};  // an escaped punctuation character
            }
            case '.': return FirstDigits{all_digits, false};
            case '^':
            case '$': return FirstDigits{0, true};
            case '*':
            case '+':
            case '?':
            case '{': return std::nullopt;  // a quantifier with nothing to repeat
            default: return FirstDigits{is_ascii_digit(c) ? digit_bit(c) : std::uint16_t{0}, false};
        }
    }

    std::optional<FirstDigits> char_class() {
        bool negated = false;
        if (more() && p_[i_] == '^') {
            negated = true;
            ++i_;
        }
        std::uint16_t set = 0;
        while (more() && p_[i_] != ']') {
            char lo = p_[i_++];
            if (lo == '[') return std::nullopt;  // nested sets, POSIX classes
            if (lo == '\\') {
                if (!more()) return std::nullopt;
                lo = p_[i_++];
                if ((lo >= 'a' && lo <= 'z') || (lo >= 'A' && lo <= 'Z') || is_ascii_digit(lo)) {
                    set = all_digits;  // \d, \w, ...: may be any digit
                    continue;
                }
            }
            if (i_ + 1 < p_.size() && p_[i_] == '-' && p_[i_ + 1] != ']') {
                const char hi = p_[i_ + 1];
                if (hi == '\\' || hi == '[') return std::nullopt;
                i_ += 2;
                for (int ch = lo; ch <= hi; ++ch)
                    if (is_ascii_digit(char(ch))) set |= digit_bit(char(ch));
            } else if (is_ascii_digit(lo)) {
                set |= digit_bit(lo);
            }
        }
        if (!more()) return std::nullopt;
        ++i_;  // ']'
        return FirstDigits{negated ? all_digits : set, false};
    }

    bool quantifier(FirstDigits& a) {
        if (!more()) return true;
        const char c = p_[i_];
        if (c == '?' || c == '*') {
            a.nullable = true;
            ++i_;
        } else if (c == '+') {
            ++i_;
        } else if (c == '{') {
            const std::size_t close = p_.find('}', i_);
            if (close == std::string_view::npos || close == i_ + 1 || !is_ascii_digit(p_[i_ + 1])) return false;
            if (p_[i_ + 1] == '0' && (p_[i_ + 2] == ',' || p_[i_ + 2] == '}')) a.nullable = true;
            i_ = close + 1;
        } else {
            return true;
        }
        if (more() && (p_[i_] == '?' || p_[i_] == '+')) ++i_;  // lazy or possessive
        return true;
    }

    std::string_view p_;
    std::size_t i_ = 0;
};

/// Per calling code (1 to 999): whether libphonenumber knows it, and the first digits of a
/// national number it reads untouched (bit d). All zero when the metadata cannot be read: then
/// every input takes the regular path.
struct CanonicalTable {
    std::array<bool, 1000> known{};
    std::array<std::uint16_t, 1000> untouched_first{};
};

CanonicalTable build_canonical_table() {
    CanonicalTable t;
    const pn::PhoneNumberUtil& util = *pn::PhoneNumberUtil::GetInstance();
    for (int code = 1; code < 1000; ++code) {
        std::string region;
        util.GetRegionCodeForCountryCode(code, &region);
        t.known[std::size_t(code)] = region != "ZZ";
    }
#if HEROSHHI_HAVE_PHONENUMBER_METADATA
    pn::PhoneMetadataCollection collection;
    if (!collection.ParseFromArray(pn::metadata_get(), pn::metadata_size())) return t;
    for (const pn::PhoneMetadata& m : collection.metadata()) {
        const int code = m.country_code();
        if (code <= 0 || code >= 1000 || !t.known[std::size_t(code)]) continue;
        // Parse reads a number with the metadata of its code's main region ("001" for the
        // non-geographic codes), whatever region the caller gave.
        std::string main_region;
        util.GetRegionCodeForCountryCode(code, &main_region);
        if (m.id() != main_region) continue;
        std::uint16_t may_be_stripped = 0;
        if (!m.national_prefix_for_parsing().empty()) {
            const auto first = FirstDigitReader(m.national_prefix_for_parsing()).read();
            may_be_stripped = first ? first->digits : all_digits;
        }
        t.untouched_first[std::size_t(code)] = all_digits & ~may_be_stripped & ~digit_bit('0');
    }
#endif
    return t;
}

const CanonicalTable& canonical_table() {
    static const CanonicalTable table = build_canonical_table();
    return table;
}

/// libphonenumber's Parse of canonical input when it is certain without running it (see above):
/// `text` is '+' and ASCII digits, or ASCII digits alone when there is no region.
std::optional<pn::PhoneNumber> read_canonical(std::string_view text, bool has_region) {
    const bool plus = !text.empty() && text.front() == '+';
    if (!plus && has_region) return std::nullopt;  // national or wa_id: the regular path decides
    const std::string_view digits = plus ? text.substr(1) : text;
    if (digits.size() < min_e164_digits || digits.size() > max_e164_digits || digits.front() == '0') return std::nullopt;
    for (const char c : digits)
        if (!is_ascii_digit(c)) return std::nullopt;
    const CanonicalTable& table = canonical_table();
    int code = 0;
    std::size_t code_length = 0;
    for (std::size_t n = 1; n <= 3 && code_length == 0; ++n) {
        code = code * 10 + (digits[n - 1] - '0');
        if (table.known[std::size_t(code)]) code_length = n;
    }
    if (code_length == 0) return std::nullopt;
    const std::string_view national = digits.substr(code_length);
    if ((table.untouched_first[std::size_t(code)] & digit_bit(national.front())) == 0) return std::nullopt;
    std::uint64_t number = 0;
    for (const char c : national) number = number * 10 + std::uint64_t(c - '0');
    pn::PhoneNumber parsed;
    parsed.set_country_code(code);
    parsed.set_national_number(number);
    return parsed;
}

/// libphonenumber's reading of written input (and of canonical input the fast path declines).
Result<void> parse_written(const pn::PhoneNumberUtil& util, std::string_view text, const std::string& region,
                           std::string_view default_region, bool leading_plus, std::size_t digit_count,
                           pn::PhoneNumber& parsed) {
    // A WhatsApp wa_id is the international number as bare ASCII digits, no '+': with no region
    // to read a national number against, such input is taken as international. Anything with
    // separators ("415 555 2671") is a written number and needs a '+' or a region.
    const bool bare_digits = text.find_first_not_of("0123456789") == std::string_view::npos;
    std::string input;
    input.reserve(text.size() + 1);
    if (!leading_plus && default_region.empty() && bare_digits) input += '+';
    input += text;
    if ((leading_plus || input.front() == '+') && digit_count < min_e164_digits)
        return {PhoneErrc::too_short, std::to_string(digit_count) + " digits, at least 7 are needed"};

    switch (util.Parse(input, region, &parsed)) {
        case pn::PhoneNumberUtil::NO_PARSING_ERROR: break;
        case pn::PhoneNumberUtil::INVALID_COUNTRY_CODE_ERROR:
            return {PhoneErrc::invalid_country_code,
                    default_region.empty() && !leading_plus && !bare_digits
                        ? "a national number needs a default region (or write it with '+' and the country code)"
                        : "no known country calling code"};
        case pn::PhoneNumberUtil::TOO_SHORT_AFTER_IDD:
        case pn::PhoneNumberUtil::TOO_SHORT_NSN:
            return {PhoneErrc::too_short, "too few digits after the country code"};
        case pn::PhoneNumberUtil::TOO_LONG_NSN:
            return {PhoneErrc::too_long, "too many digits"};
        default:
            return {PhoneErrc::not_a_number, "libphonenumber found no number"};
    }

    // Bare digits with a region may be a wa_id (international without '+') rather than a national
    // number: "447911123456" with region US. When only the international reading has a possible
    // length, take it; when both do, the region the caller gave wins.
    if (bare_digits && !default_region.empty() && !util.IsPossibleNumber(parsed)) {
        pn::PhoneNumber international;
        std::string with_plus(1, '+');  // not "+" + ...: a false -Wrestrict in g++ 12 at -O2
        with_plus += text;
        if (util.Parse(with_plus, "ZZ", &international) == pn::PhoneNumberUtil::NO_PARSING_ERROR &&
            util.IsPossibleNumber(international))
            parsed = international;
    }
    return {};
}

bool is_blank(std::string_view s) {
    for (char c : s)
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return false;
    return true;
}

}  // namespace

namespace {

std::size_t code_length(int code) { return code < 10 ? 1 : code < 100 ? 2 : 3; }

/// libphonenumber's IsPossibleNumberWithReason for a number read by the fast path, remembered per
/// calling code and national length: for a number without leading zeros it looks at nothing else
/// (the code's metadata and the length of the national significant number), and it cost more than
/// the rest of a webhook's parse.
pn::PhoneNumberUtil::ValidationResult possible_by_length(const pn::PhoneNumberUtil& util, const pn::PhoneNumber& n,
                                                         std::size_t national_length) {
    constexpr std::size_t max_national = max_e164_digits;  // the fast path reads at most 15 digits
    static std::array<std::array<std::atomic<int>, max_national + 1>, 1000> known{};  // 0: not yet
    const auto code = std::size_t(n.country_code());
    if (code >= known.size() || national_length > max_national || n.italian_leading_zero())
        return util.IsPossibleNumberWithReason(n);
    std::atomic<int>& slot = known[code][national_length];
    if (const int v = slot.load(std::memory_order_relaxed); v != 0)
        return static_cast<pn::PhoneNumberUtil::ValidationResult>(v - 1);
    const auto verdict = util.IsPossibleNumberWithReason(n);
    slot.store(int(verdict) + 1, std::memory_order_relaxed);
    return verdict;
}

}  // namespace

Result<PhoneNumber> PhoneNumber::parse(std::string_view raw, std::string_view default_region) {
    return parse(raw, default_region, true, nullptr);
}

Result<PhoneNumber> PhoneNumber::parse(std::string_view raw, std::string_view default_region, bool allow_fast,
                                       bool* fast) {
    if (fast != nullptr) *fast = false;
    if (raw.size() > max_input_length)
        return {PhoneErrc::too_long_input, "input is " + std::to_string(raw.size()) + " bytes, at most " +
                                               std::to_string(max_input_length) + " are accepted"};
    if (is_blank(raw)) return {PhoneErrc::empty, "no number given"};

    std::string_view text = raw;
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.front() == '\r' || text.front() == '\n'))
        text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' || text.back() == '\n'))
        text.remove_suffix(1);

    bool leading_plus = false;
    std::size_t digit_count = 0;
    if (auto ok = check_characters(text, leading_plus, digit_count); !ok) return ok.error();

    const pn::PhoneNumberUtil& util = *pn::PhoneNumberUtil::GetInstance();
    std::string region = "ZZ";
    if (!default_region.empty()) {
        if (default_region.size() != 2)
            return {PhoneErrc::unknown_region, "region must be a two-letter ISO 3166 code, got '" +
                                                   std::string(default_region.substr(0, 8)) + "'"};
        region.assign(default_region);
        for (char& c : region) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
        if (util.GetCountryCodeForRegion(region) == 0)
            return {PhoneErrc::unknown_region, "'" + region + "' is not a region libphonenumber knows"};
    }

    pn::PhoneNumber parsed;
    std::string_view canonical_digits;  // set when the fast path read `text`: its digits, code first
    if (auto canonical = allow_fast ? read_canonical(text, !default_region.empty()) : std::nullopt) {
        parsed = std::move(*canonical);
        canonical_digits = text.front() == '+' ? text.substr(1) : text;
        if (fast != nullptr) *fast = true;
    } else if (auto read = parse_written(util, text, region, default_region, leading_plus, digit_count, parsed); !read) {
        return read.error();
    }

    // Possible length (how many digits numbers of that country have) is checked; validity
    // (IsValidNumber: which ranges are assigned) deliberately is not, as it ages with the metadata.
    // The fast path's national number is the digits after the code, with no leading zero.
    const auto possible = canonical_digits.empty()
                              ? util.IsPossibleNumberWithReason(parsed)
                              : possible_by_length(util, parsed, canonical_digits.size() - code_length(parsed.country_code()));
    switch (possible) {
        case pn::PhoneNumberUtil::IS_POSSIBLE: break;
        case pn::PhoneNumberUtil::TOO_SHORT:
        case pn::PhoneNumberUtil::IS_POSSIBLE_LOCAL_ONLY:
            return {PhoneErrc::too_short, "too few digits for a number of country code +" +
                                              std::to_string(parsed.country_code())};
        case pn::PhoneNumberUtil::TOO_LONG:
            return {PhoneErrc::too_long, "too many digits for a number of country code +" +
                                             std::to_string(parsed.country_code())};
        case pn::PhoneNumberUtil::INVALID_COUNTRY_CODE:
            return {PhoneErrc::invalid_country_code, "no known country calling code"};
        default:
            return {PhoneErrc::not_a_number, "no number of country code +" + std::to_string(parsed.country_code()) +
                                                 " has this many digits"};
    }

    std::string e164;
    if (!canonical_digits.empty() && !parsed.italian_leading_zero()) {
        // E.164 is '+', the code, then the national significant number: the digits as read.
        e164.reserve(canonical_digits.size() + 1);
        e164.append(1, '+').append(canonical_digits);
    } else {
        util.Format(parsed, pn::PhoneNumberUtil::E164, &e164);
    }
    // The E.164 text must read back as the same number, or one contact could get two keys.
    // libphonenumber's reading of a number written nationally can drift: a national number kept
    // with leading zeros comes back with its trunk prefix stripped, a Brazilian carrier selection
    // code ("90...") or a Mexican legacy mobile "1" is stripped once per parse (each found by the
    // phone_number fuzz target). So a number read by libphonenumber, or one with an Italian
    // leading zero or of Mexico, is read back until its text settles; one that never settles is
    // refused. The fast path (digits already in E.164, as WhatsApp sends them) is stable and is
    // not read again: Parse is the costly part.
    const bool may_drift = canonical_digits.empty() || parsed.italian_leading_zero() || parsed.country_code() == 52;
    for (int round = 0; may_drift; ++round) {
        pn::PhoneNumber again;
        std::string settled;
        if (util.Parse(e164, "ZZ", &again) == pn::PhoneNumberUtil::NO_PARSING_ERROR && util.IsPossibleNumber(again))
            util.Format(again, pn::PhoneNumberUtil::E164, &settled);
        if (settled == e164) break;
        if (settled.empty() || round == 2)
            return {PhoneErrc::not_a_number, "the number does not normalise to a stable E.164 form"};
        e164 = std::move(settled);
    }
    const std::size_t n = e164.size() - 1;  // without '+'
    if (n > max_e164_digits)
        return {PhoneErrc::too_long, std::to_string(n) + " digits, E.164 allows at most 15"};
    if (n < min_e164_digits)
        return {PhoneErrc::too_short, std::to_string(n) + " digits, at least 7 are needed"};

    std::uint64_t key = 0;
    for (std::size_t i = 1; i < e164.size(); ++i) key = key * 10 + std::uint64_t(e164[i] - '0');
    return PhoneNumber(key, std::string(raw));
}

Result<PhoneNumber> PhoneNumber::from_key(std::uint64_t key) {
    std::uint64_t lo = 1'000'000;               // 7 digits
    std::uint64_t hi = 999'999'999'999'999ULL;  // 15 digits
    if (key < lo || key > hi) return {PhoneErrc::not_a_number, "key is not a 7- to 15-digit number"};
    PhoneNumber p(key, {});
    p.raw_ = p.e164();
    return p;
}

std::string PhoneNumber::e164() const {
    // Appending rather than "+" + to_string(...) sidesteps a false -Wrestrict in g++ 12 at -O2.
    std::string out(1, '+');
    out += std::to_string(key_);
    return out;
}

std::string PhoneNumber::digits() const { return std::to_string(key_); }

}  // namespace heroshhi

namespace heroshhi::detail {

Result<PhoneNumber> parse_phone_by_libphonenumber(std::string_view raw, std::string_view default_region) {
    return PhoneNumber::parse(raw, default_region, false, nullptr);
}

bool phone_fast_path_applies(std::string_view raw, std::string_view default_region) {
    bool fast = false;
    (void)PhoneNumber::parse(raw, default_region, true, &fast);
    return fast;
}

}  // namespace heroshhi::detail
