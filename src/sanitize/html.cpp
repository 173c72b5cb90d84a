#include <heroshhi/sanitize/html.hpp>

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace heroshhi::sanitize {
namespace {

// What one byte becomes. `size` 0 means "copied as is".
struct Replacement {
    char text[8];
    std::uint8_t size;
};

constexpr Replacement entity(const char* s) {
    Replacement r{};
    std::uint8_t n = 0;
    while (s[n] != '\0') {
        r.text[n] = s[n];
        ++n;
    }
    r.size = n;
    return r;
}

constexpr char hex_digit(unsigned v) { return static_cast<char>(v < 10 ? '0' + v : 'A' + (v - 10)); }

constexpr std::array<Replacement, 256> content_table() {
    std::array<Replacement, 256> t{};
    t['&'] = entity("&amp;");
    t['<'] = entity("&lt;");
    t['>'] = entity("&gt;");
    t['"'] = entity("&quot;");
    t['\''] = entity("&#x27;");
    return t;
}

constexpr bool attribute_safe(unsigned c) {
    return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == ',' ||
           c == '.' || c == '-' || c == '_';
}

constexpr std::array<Replacement, 256> attribute_table() {
    std::array<Replacement, 256> t{};
    for (unsigned c = 0; c < 0x80; ++c) {
        if (attribute_safe(c)) continue;
        Replacement r{};
        r.text[0] = '&';
        r.text[1] = '#';
        r.text[2] = 'x';
        r.text[3] = hex_digit(c >> 4);
        r.text[4] = hex_digit(c & 0xF);
        r.text[5] = ';';
        r.size = 6;
        t[c] = r;
    }
    t['&'] = entity("&amp;");
    t['<'] = entity("&lt;");
    t['>'] = entity("&gt;");
    t['"'] = entity("&quot;");
    t[0] = entity("&#xFFFD;");
    return t;
}

constexpr std::array<Replacement, 256> kContent = content_table();
constexpr std::array<Replacement, 256> kAttribute = attribute_table();

// Scanners: the offset of the first byte in p[0, n) that needs a replacement, or n.

#if defined(__SSE2__)

inline __m128i content_mask(__m128i v) noexcept {
    // '&' 0x26 and '\'' 0x27 are the bytes with (v | 1) == 0x27; '<' 0x3C and '>' 0x3E those with
    // (v | 2) == 0x3E; '"' is compared directly. Three compares cover the five characters.
    const __m128i quote = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
    const __m128i amp_apos = _mm_cmpeq_epi8(_mm_or_si128(v, _mm_set1_epi8(1)), _mm_set1_epi8(0x27));
    const __m128i angle = _mm_cmpeq_epi8(_mm_or_si128(v, _mm_set1_epi8(2)), _mm_set1_epi8(0x3E));
    return _mm_or_si128(quote, _mm_or_si128(amp_apos, angle));
}

inline __m128i attribute_mask(__m128i v) noexcept {
    // Safe: bytes >= 0x80 (negative as signed), digits, letters (v | 0x20 in 'a'..'z'), ',' '-' '.'
    // (0x2C..0x2E) and '_'. The mask is the complement.
    const __m128i non_ascii = _mm_cmplt_epi8(v, _mm_setzero_si128());
    const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)), _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
    const __m128i lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
    const __m128i letter =
        _mm_and_si128(_mm_cmpgt_epi8(lower, _mm_set1_epi8('a' - 1)), _mm_cmplt_epi8(lower, _mm_set1_epi8('z' + 1)));
    const __m128i punct = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(0x2B)), _mm_cmplt_epi8(v, _mm_set1_epi8(0x2F)));
    const __m128i underscore = _mm_cmpeq_epi8(v, _mm_set1_epi8('_'));
    const __m128i safe = _mm_or_si128(_mm_or_si128(non_ascii, digit), _mm_or_si128(_mm_or_si128(letter, punct), underscore));
    return _mm_xor_si128(safe, _mm_set1_epi8(-1));
}

template <__m128i (*Mask)(__m128i)>
inline std::size_t scan(const char* p, std::size_t n, const std::array<Replacement, 256>& table) noexcept {
    std::size_t i = 0;
    while (i + 32 <= n) {
        const __m128i a = Mask(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)));
        const __m128i b = Mask(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + 16)));
        const unsigned bits = static_cast<unsigned>(_mm_movemask_epi8(a)) |
                              (static_cast<unsigned>(_mm_movemask_epi8(b)) << 16);
        if (bits != 0) return i + static_cast<std::size_t>(std::countr_zero(bits));
        i += 32;
    }
    if (i + 16 <= n) {
        const unsigned bits =
            static_cast<unsigned>(_mm_movemask_epi8(Mask(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)))));
        if (bits != 0) return i + static_cast<std::size_t>(std::countr_zero(bits));
        i += 16;
    }
    for (; i < n; ++i)
        if (table[static_cast<unsigned char>(p[i])].size != 0) return i;
    return n;
}

std::size_t scan_content(const char* p, std::size_t n) noexcept { return scan<content_mask>(p, n, kContent); }
std::size_t scan_attribute(const char* p, std::size_t n) noexcept { return scan<attribute_mask>(p, n, kAttribute); }

#else  // portable: 64-bit words ("SIMD within a register")

constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
constexpr std::uint64_t kHighs = 0x8080808080808080ULL;

// High bit set in each byte of `w` equal to `c`; exact for the lowest such byte (borrows only
// propagate upwards), which is all the scanner uses.
inline std::uint64_t bytes_equal(std::uint64_t w, unsigned char c) noexcept {
    const std::uint64_t x = w ^ (kOnes * c);
    return (x - kOnes) & ~x & kHighs;
}

inline std::uint64_t load64(const char* p) noexcept {
    std::uint64_t w;
    std::memcpy(&w, p, sizeof w);
    if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
    return w;
}

std::size_t scan_content(const char* p, std::size_t n) noexcept {
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const std::uint64_t w = load64(p + i);
        const std::uint64_t hit = bytes_equal(w, '"') | bytes_equal(w | kOnes, 0x27) | bytes_equal(w | (kOnes * 2), 0x3E);
        if (hit != 0) return i + static_cast<std::size_t>(std::countr_zero(hit)) / 8;
    }
    for (; i < n; ++i)
        if (kContent[static_cast<unsigned char>(p[i])].size != 0) return i;
    return n;
}

std::size_t scan_attribute(const char* p, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i)
        if (kAttribute[static_cast<unsigned char>(p[i])].size != 0) return i;
    return n;
}

#endif

// Appends `text` encoded by `table`, finding clean runs with `scan`. The output size is computed
// first, so the string grows once and is written through a pointer.
void append_encoded(std::string& out, std::string_view text, const std::array<Replacement, 256>& table,
                    std::size_t (*scan_fn)(const char*, std::size_t) noexcept) {
    const char* p = text.data();
    const std::size_t n = text.size();
    const std::size_t first = scan_fn(p, n);
    if (first == n) {
        out.append(text);
        return;
    }
    std::size_t size = n;
    for (std::size_t i = first; i < n;) {
        size += table[static_cast<unsigned char>(p[i])].size - 1u;
        ++i;
        i += scan_fn(p + i, n - i);
    }
    const std::size_t old = out.size();
    out.resize(old + size);
    char* w = out.data() + old;
    std::memcpy(w, p, first);
    w += first;
    std::size_t i = first;
    while (i < n) {
        const Replacement& r = table[static_cast<unsigned char>(p[i])];
        std::memcpy(w, r.text, r.size);
        w += r.size;
        ++i;
        const std::size_t run = scan_fn(p + i, n - i);
        std::memcpy(w, p + i, run);
        w += run;
        i += run;
    }
}

}  // namespace

void append_html_content(std::string& out, std::string_view text) { append_encoded(out, text, kContent, scan_content); }

void append_html_attribute(std::string& out, std::string_view text) {
    append_encoded(out, text, kAttribute, scan_attribute);
}

std::string encode_html_content(std::string_view text) {
    std::string out;
    append_html_content(out, text);
    return out;
}

std::string encode_html_attribute(std::string_view text) {
    std::string out;
    append_html_attribute(out, text);
    return out;
}

}  // namespace heroshhi::sanitize
