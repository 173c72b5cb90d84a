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

// What one byte becomes: itself (size 1) or an entity. Every byte has an entry, so the writer
// can copy 8 bytes and advance by `size` without a branch.
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

constexpr std::array<Replacement, 256> identity_table() {
    std::array<Replacement, 256> t{};
    for (unsigned c = 0; c < 256; ++c) {
        t[c].text[0] = static_cast<char>(c);
        t[c].size = 1;
    }
    return t;
}

constexpr std::array<Replacement, 256> content_table() {
    std::array<Replacement, 256> t = identity_table();
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
    std::array<Replacement, 256> t = identity_table();
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
        if (table[static_cast<unsigned char>(p[i])].size != 1) return i;
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
        if (kContent[static_cast<unsigned char>(p[i])].size != 1) return i;
    return n;
}

std::size_t scan_attribute(const char* p, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i)
        if (kAttribute[static_cast<unsigned char>(p[i])].size != 1) return i;
    return n;
}

#endif

using Table = std::array<Replacement, 256>;

/// Writes the replacement of one byte at `w` (8 bytes are stored, `size` of them count; the
/// output has slack at its end for that) and returns the new write position.
inline char* put(char* w, char c, const Table& table) noexcept {
    const Replacement& r = table[static_cast<unsigned char>(c)];
    std::memcpy(w, r.text, 8);
    return w + r.size;
}

#if defined(__SSE2__)

// Appends `text` encoded by `table` when p[first] is the first byte that needs work. Works in
// 16-byte blocks: the exact size comes from the blocks' masks (one resize), then clean blocks are
// stored whole and blocks with work are written run by run (see the loop); the last, partial
// blocks byte by byte.
template <__m128i (*Mask)(__m128i)>
void append_from(std::string& out, std::string_view text, std::size_t first, const Table& table) {
    const char* p = text.data();
    const std::size_t n = text.size();
    std::size_t size = n;
    std::size_t i = first;
    for (; i + 16 <= n; i += 16) {
        unsigned bits = static_cast<unsigned>(_mm_movemask_epi8(Mask(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)))));
        while (bits != 0) {
            size += table[static_cast<unsigned char>(p[i + static_cast<std::size_t>(std::countr_zero(bits))])].size - 1u;
            bits &= bits - 1;
        }
    }
    for (; i < n; ++i) size += table[static_cast<unsigned char>(p[i])].size - 1u;

    const std::size_t old = out.size();
    out.resize(old + size + 16);  // slack: 16-byte stores that run past the end are cut back below
    char* w = out.data() + old;
    std::memcpy(w, p, first);
    w += first;
    // Each block: store 16 input bytes, keep as many as are clean, write the entity, and go on
    // from the byte after it with another 16-byte store. Reading 16 bytes from any offset in the
    // block stays inside the text while the next block is whole too.
    for (i = first; i + 32 <= n; i += 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
        unsigned bits = static_cast<unsigned>(_mm_movemask_epi8(Mask(v)));
        if (bits == 0) {
            _mm_storeu_si128(reinterpret_cast<__m128i*>(w), v);
            w += 16;
            continue;
        }
        std::size_t k = 0;  // next input byte of the block to write
        while (bits != 0) {
            const std::size_t at = static_cast<std::size_t>(std::countr_zero(bits));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(w), _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + k)));
            w += at - k;
            w = put(w, p[i + at], table);
            k = at + 1;
            bits &= bits - 1;
        }
        _mm_storeu_si128(reinterpret_cast<__m128i*>(w), _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + k)));
        w += 16 - k;
    }
    for (; i < n; ++i) w = put(w, p[i], table);
    out.resize(old + size);
}

void append_html_content_impl(std::string& out, std::string_view text) {
    const std::size_t first = scan_content(text.data(), text.size());
    if (first == text.size()) out.append(text);
    else append_from<content_mask>(out, text, first, kContent);
}

void append_html_attribute_impl(std::string& out, std::string_view text) {
    const std::size_t first = scan_attribute(text.data(), text.size());
    if (first == text.size()) out.append(text);
    else append_from<attribute_mask>(out, text, first, kAttribute);
}

#else

// Appends `text` encoded by `table`: clean runs found with `scan_fn` are copied in one piece.
void append_encoded(std::string& out, std::string_view text, const Table& table,
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
    out.resize(old + size + 8);
    char* w = out.data() + old;
    std::memcpy(w, p, first);
    w += first;
    for (std::size_t i = first; i < n;) {
        w = put(w, p[i], table);
        ++i;
        const std::size_t run = scan_fn(p + i, n - i);
        std::memcpy(w, p + i, run);
        w += run;
        i += run;
    }
    out.resize(old + size);
}

void append_html_content_impl(std::string& out, std::string_view text) { append_encoded(out, text, kContent, scan_content); }
void append_html_attribute_impl(std::string& out, std::string_view text) {
    append_encoded(out, text, kAttribute, scan_attribute);
}

#endif

}  // namespace

void append_html_content(std::string& out, std::string_view text) { append_html_content_impl(out, text); }

void append_html_attribute(std::string& out, std::string_view text) { append_html_attribute_impl(out, text); }

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
