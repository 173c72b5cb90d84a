// heroshhi — KeywordClassifier: the keyword tables, the normalisation and the tenant configuration.
#include <heroshhi/optout/keyword_classifier.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <new>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>
#include <utf8proc.h>

#include <heroshhi/core/errors.hpp>

namespace heroshhi::optout {
namespace {

// ---------------------------------------------------------------------------------------------
// The built-in keywords. Data, not code: each row says where the word was published.
// Sources (full addresses in docs reference/optout.md):
//   [Twilio]  Twilio Messaging defaults (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE,
//             OPTOUT; START, UNSTOP, YES; HELP, INFO) and Twilio Proxy (ARRET, ARRETE).
//   [FCC]     FCC 24-24, 47 CFR 64.1200(a)(10): "stop", "quit", "end", "revoke", "opt out",
//             "cancel", "unsubscribe" are per se reasonable revocations.
//   [AWS]     AWS End User Messaging: ARRET, OPT-OUT, OPTOUT among the defaults.
//   [Bird]    Bird/MessageBird: fr arret, de halt, es detener, pt parar, it ferma; fr opt-in
//             nonarret; help aide, hilfe, ayuda, ajuda, aiuto.
//   [Sinch]   Sinch Conversation API consent keywords: en SUBSCRIBE; es DETENER, SALIR / VOLVER,
//             RECIBIR; pt PARAR, CANCELAR / VOLTAR, RECEBER.
//   [Telnyx]  Telnyx: "stop all" as well as stopall.
// Published words deliberately left out of the defaults (a tenant can add them): REMOVE and TD
// (AWS), UNSUB, RESUME, GO (older Plivo page), BEGIN, RESUME, REVERT (Bird), JOIN (Vonage), ARRETT
// (Twilio Proxy; a misspelling), and the ru/pl/nl words of Bird (languages we do not ship).
//
// False-positive risk (a whole-message reply that is not meant as an opt-out): END, QUIT and
// CANCEL are ordinary answers in a booking conversation ("Cancel" = cancel my appointment), and
// Resgrid removed them for that reason; they are kept because the FCC names them as per se
// revocations, and failing to honour one is the costlier mistake. SALIR (es), CANCELAR (pt) and
// HALT (de) carry the same risk. YES is only conditional (see Classification::conditional).
// ---------------------------------------------------------------------------------------------

struct BuiltinKeyword {
    std::string_view spelling;  // as a contact types it; normalised when the table is built
    std::string_view keyword;   // canonical form reported on a match
    Intent intent;
    std::string_view language;
    bool conditional = false;
    bool optional = false;  // part of an optional language set, off unless a tenant enables it
};

constexpr Intent kOut = Intent::opt_out;
constexpr Intent kIn = Intent::opt_in;
constexpr Intent kHelp = Intent::help;

// clang-format off
constexpr BuiltinKeyword kBuiltins[] = {
    // English opt-out.
    {"STOP",        "STOP",        kOut, "en"},  // Twilio, FCC, Bird, Sinch, Telnyx
    {"STOPALL",     "STOPALL",     kOut, "en"},  // Twilio, Bird, Telnyx
    {"STOP ALL",    "STOP ALL",    kOut, "en"},  // Telnyx, Plivo (older page)
    {"UNSUBSCRIBE", "UNSUBSCRIBE", kOut, "en"},  // Twilio, FCC, Sinch
    {"CANCEL",      "CANCEL",      kOut, "en"},  // Twilio, FCC — false-positive risk, see above
    {"END",         "END",         kOut, "en"},  // Twilio, FCC — false-positive risk
    {"QUIT",        "QUIT",        kOut, "en"},  // Twilio, FCC — false-positive risk
    {"REVOKE",      "REVOKE",      kOut, "en"},  // Twilio, FCC
    {"OPT OUT",     "OPT OUT",     kOut, "en"},  // FCC; "OPT-OUT" normalises to this too (AWS, Sinch)
    {"OPTOUT",      "OPT OUT",     kOut, "en"},  // Twilio, AWS — one keyword with OPT OUT
    // English opt-in.
    {"START",       "START",       kIn,  "en"},  // Twilio, Bird, Sinch, Telnyx
    {"UNSTOP",      "UNSTOP",      kIn,  "en"},  // Twilio, Bird, Telnyx
    {"SUBSCRIBE",   "SUBSCRIBE",   kIn,  "en"},  // Sinch
    {"YES",         "YES",         kIn,  "en", true},  // Twilio, Braze — only for an opted-out contact
    // English help.
    {"HELP",        "HELP",        kHelp, "en"},  // Twilio, Bird
    {"INFO",        "INFO",        kHelp, "en"},  // Twilio, Bird
    // Spanish.
    {"DETENER",     "DETENER",     kOut, "es"},  // Bird, Sinch
    {"SALIR",       "SALIR",       kOut, "es"},  // Sinch — false-positive risk ("salir" = leave)
    {"VOLVER",      "VOLVER",      kIn,  "es"},  // Sinch
    {"RECIBIR",     "RECIBIR",     kIn,  "es"},  // Sinch
    {"AYUDA",       "AYUDA",       kHelp, "es"},  // Bird
    // Portuguese.
    {"PARAR",       "PARAR",       kOut, "pt"},  // Bird, Sinch
    {"CANCELAR",    "CANCELAR",    kOut, "pt"},  // Sinch — false-positive risk (cancel a booking)
    {"VOLTAR",      "VOLTAR",      kIn,  "pt"},  // Sinch
    {"RECEBER",     "RECEBER",     kIn,  "pt"},  // Sinch
    {"AJUDA",       "AJUDA",       kHelp, "pt"},  // Bird
    // French. Phones often drop the accent, so both spellings are listed as one keyword.
    {"ARRET",       "ARRET",       kOut, "fr"},  // AWS, Bird, Twilio Proxy
    {"ARRÊT",       "ARRET",       kOut, "fr"},  // accented spelling of ARRET
    {"ARRETE",      "ARRETE",      kOut, "fr"},  // Twilio Proxy
    {"ARRÊTE",      "ARRETE",      kOut, "fr"},  // accented spelling of ARRETE
    {"NONARRET",    "NONARRET",    kIn,  "fr"},  // Bird
    {"AIDE",        "AIDE",        kHelp, "fr"},  // Bird
    // German.
    {"HALT",        "HALT",        kOut, "de"},  // Bird — false-positive risk (English "halt")
    {"HILFE",       "HILFE",       kHelp, "de"},  // Bird
    // Italian.
    {"FERMA",       "FERMA",       kOut, "it"},  // Bird
    {"AIUTO",       "AIUTO",       kHelp, "it"},  // Bird

    // Hindi — OPTIONAL, off by default. No provider publishes Hindi keywords (reference/optout.md
    // §4: "Hindi — not found in any provider default list"); this set is ours: common imperatives
    // for "stop" / "start" / "help" in Devanagari and in the romanised (Hinglish) spelling people
    // type on Latin keyboards. False-positive risk: ROKO is also a given name; BAND alone is not
    // listed because it is an English word. Note that India's DND registry (1909) uses START and
    // STOP the other way round; that is a different service and does not concern these replies.
    {"बंद करो",       "बंद करो",       kOut, "hi", false, true},  // band karo: stop (it)
    {"बंद करें",       "बंद करें",       kOut, "hi", false, true},  // band karen: please stop
    {"बंद कीजिए",      "बंद कीजिए",      kOut, "hi", false, true},  // band kijiye: please stop (formal)
    {"बंद करिए",       "बंद करिए",       kOut, "hi", false, true},  // band kariye
    {"बंद कीजिये",     "बंद कीजिए",      kOut, "hi", false, true},  // common spelling of कीजिए
    {"बंद करिये",      "बंद करिए",       kOut, "hi", false, true},  // common spelling of करिए
    {"रोको",          "रोको",          kOut, "hi", false, true},  // roko: stop
    {"रोकें",          "रोकें",          kOut, "hi", false, true},  // roken
    {"रोकिए",         "रोकिए",         kOut, "hi", false, true},  // rokiye
    {"रोकिये",        "रोकिए",         kOut, "hi", false, true},  // common spelling of रोकिए
    {"रोक दो",        "रोक दो",        kOut, "hi", false, true},  // rok do
    {"मैसेज बंद करो",   "मैसेज बंद करो",   kOut, "hi", false, true},  // message band karo
    {"BAND KARO",   "BAND KARO",   kOut, "hi", false, true},
    {"BAND KAREN",  "BAND KAREN",  kOut, "hi", false, true},
    {"BAND KAREIN", "BAND KAREN",  kOut, "hi", false, true},  // spelling variant of BAND KAREN
    {"BAND KIJIYE", "BAND KIJIYE", kOut, "hi", false, true},
    {"BAND KARIYE", "BAND KARIYE", kOut, "hi", false, true},
    {"ROKO",        "ROKO",        kOut, "hi", false, true},  // false-positive risk: a given name
    {"ROKIYE",      "ROKIYE",      kOut, "hi", false, true},
    {"ROK DO",      "ROK DO",      kOut, "hi", false, true},
    {"MESSAGE BAND KARO", "MESSAGE BAND KARO", kOut, "hi", false, true},
    {"MSG BAND KARO", "MESSAGE BAND KARO", kOut, "hi", false, true},
    {"शुरू करो",      "शुरू करो",      kIn,  "hi", false, true},  // shuru karo: start
    {"शुरू करें",      "शुरू करें",      kIn,  "hi", false, true},  // shuru karen
    {"चालू करो",      "चालू करो",      kIn,  "hi", false, true},  // chalu karo: switch on
    {"चालू करें",      "चालू करें",      kIn,  "hi", false, true},  // chalu karen
    {"SHURU KARO",  "SHURU KARO",  kIn,  "hi", false, true},
    {"SHURU KAREN", "SHURU KAREN", kIn,  "hi", false, true},
    {"CHALU KARO",  "CHALU KARO",  kIn,  "hi", false, true},
    {"CHALU KAREN", "CHALU KAREN", kIn,  "hi", false, true},
    {"मदद",          "मदद",          kHelp, "hi", false, true},  // madad: help
    {"सहायता",        "सहायता",        kHelp, "hi", false, true},  // sahayata: assistance
    {"MADAD",       "MADAD",       kHelp, "hi", false, true},
    {"SAHAYATA",    "SAHAYATA",    kHelp, "hi", false, true},
};

// Explicit English requests, matched on the whole normalised message like keywords; each is also
// accepted with "please " before it or " please" after it. Kept small on purpose: every phrase
// here asks to stop messages and cannot mean anything else as a complete message. (Spoke's
// auto-optout uses similar phrases, reference/optout.md §5; we do not match them inside longer text.)
// Spanish and Portuguese phrases are not shipped: the DeskcommCRM reports show how easily
// complaints ("não me mande mais boletos") read as opt-outs; a tenant can add exact phrases.
constexpr std::string_view kRequestPhrases[] = {
    "stop messaging me",
    "stop texting me",
    "stop sending me messages",
    "stop sending me texts",
    "stop contacting me",
    "unsubscribe me",
    "remove me",
    "remove me from your list",
    "remove me from this list",
    "remove me from your mailing list",
    "take me off your list",
    "take me off this list",
    "i want to unsubscribe",
    "i opt out",
    "i want to opt out",
    "do not text me",
    "don't text me",
    "do not message me",
    "don't message me",
    "do not contact me",
    "don't contact me",
};
// clang-format on

// Languages of the built-in table that are on by default, and the optional sets.
constexpr std::string_view kDefaultLanguages[] = {"en", "es", "pt", "fr", "de", "it"};
constexpr std::string_view kOptionalLanguages[] = {"hi"};

// ---------------------------------------------------------------------------------------------
// Normalisation.
// ---------------------------------------------------------------------------------------------

constexpr utf8proc_option_t kMapOptions = static_cast<utf8proc_option_t>(
    UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_IGNORE);

// Writes into a fixed buffer; anything longer than the capacity cannot equal a keyword, so the
// caller stops as soon as `full` is set.
class BoundedWriter {
public:
    explicit BoundedWriter(std::size_t capacity) noexcept
        : capacity_(std::min(capacity, buffer_.size())) {}
    // Once full, further characters are dropped and full() stays true.
    void put(char c) noexcept {
        if (size_ < capacity_) buffer_[size_] = c;
        ++size_;
    }
    bool full() const noexcept { return size_ > capacity_; }
    std::string_view view() const noexcept { return {buffer_.data(), std::min(size_, capacity_)}; }

private:
    std::array<char, KeywordClassifier::max_message_bytes> buffer_;
    std::size_t capacity_;
    std::size_t size_ = 0;
};

class StringWriter {
public:
    explicit StringWriter(std::string& out) : out_(out) {}
    void put(char c) { out_.push_back(c); }
    static constexpr bool full() noexcept { return false; }

private:
    std::string& out_;
};

constexpr bool is_ascii_alnum(unsigned char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// What the ASCII path does with each byte: 0 for a separator inside the message (whitespace,
// controls, the hyphen), otherwise the byte lower-cased. Every ASCII character other than a letter
// or digit is in P*, S*, Z* or Cc, hence trimmed at the ends.
constexpr std::array<char, 128> kAsciiFold = [] {
    std::array<char, 128> t{};
    for (int c = 0; c < 128; ++c) {
        if (c <= 0x20 || c == 0x7f || c == '-') t[static_cast<std::size_t>(c)] = 0;
        else if (c >= 'A' && c <= 'Z') t[static_cast<std::size_t>(c)] = static_cast<char>(c - 'A' + 'a');
        else t[static_cast<std::size_t>(c)] = static_cast<char>(c);
    }
    return t;
}();

bool is_all_ascii(std::string_view s) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    std::size_t n = s.size();
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ULL) return false;
    }
    for (; i < n; ++i)
        if (p[i] & 0x80) return false;
    return true;
}

// The ASCII fast path: the same result as the utf8proc path for ASCII input (NFKC is the identity,
// case folding is lower-casing, no ASCII character is default-ignorable). `s` must be ASCII.
template <class Writer>
void normalize_ascii(std::string_view s, Writer& out) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    std::size_t b = 0;
    std::size_t e = s.size();
    while (b < e && !is_ascii_alnum(p[b])) ++b;
    while (e > b && !is_ascii_alnum(p[e - 1])) --e;
    bool gap = false;
    for (std::size_t i = b; i < e; ++i) {
        const char c = kAsciiFold[p[i]];
        if (c == 0) {
            gap = true;
            continue;
        }
        if (gap) {
            out.put(' ');
            gap = false;
        }
        out.put(c);
        if (out.full()) return;
    }
}

bool is_variation_selector(utf8proc_int32_t cp) noexcept {
    return (cp >= 0xFE00 && cp <= 0xFE0F) || (cp >= 0xE0100 && cp <= 0xE01EF) || (cp >= 0x180B && cp <= 0x180D);
}

// Trimmed at either end: whitespace, punctuation, symbols (emoji, skin tones), controls, format
// characters, unassigned and private-use code points (emoji newer than our tables), the combining
// keycap, variation selectors.
bool is_trim(utf8proc_int32_t cp) noexcept {
    switch (utf8proc_category(cp)) {
        case UTF8PROC_CATEGORY_CN:
        case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
        case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
        case UTF8PROC_CATEGORY_PO:
        case UTF8PROC_CATEGORY_SM: case UTF8PROC_CATEGORY_SC: case UTF8PROC_CATEGORY_SK:
        case UTF8PROC_CATEGORY_SO:
        case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
        case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS:
        case UTF8PROC_CATEGORY_CO:
            return true;
        default:
            return cp == 0x20E3 || is_variation_selector(cp);
    }
}

// Between words: whitespace, line and paragraph separators, controls and dashes become one space.
bool is_separator(utf8proc_int32_t cp) noexcept {
    switch (utf8proc_category(cp)) {
        case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
        case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_PD:
            return true;
        default:
            return false;
    }
}

// Apostrophes that keyboards substitute for ' ("don’t"): NFKC leaves them alone.
utf8proc_int32_t fold_apostrophe(utf8proc_int32_t cp) noexcept {
    return (cp == 0x2019 || cp == 0x2018 || cp == 0x02BC) ? utf8proc_int32_t{'\''} : cp;
}

enum class NormStatus { ok, invalid_utf8, failed };

// The utf8proc path: decompose (NFKD + case fold + drop default-ignorables) into code points,
// recompose (NFKC), then trim and collapse as the ASCII path does.
template <class Writer>
NormStatus normalize_unicode(std::string_view s, Writer& out) {
    // 256 input bytes decompose into far fewer than 2048 code points except in contrived input
    // (U+FDFA expands to 18); that case takes the heap.
    std::array<utf8proc_int32_t, 2048> stack;
    std::vector<utf8proc_int32_t> heap;
    utf8proc_int32_t* cps = stack.data();
    const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
    const auto len = static_cast<utf8proc_ssize_t>(s.size());
    utf8proc_ssize_t n = utf8proc_decompose(bytes, len, cps, static_cast<utf8proc_ssize_t>(stack.size()), kMapOptions);
    if (n == UTF8PROC_ERROR_INVALIDUTF8) return NormStatus::invalid_utf8;
    if (n < 0) return NormStatus::failed;
    if (static_cast<std::size_t>(n) > stack.size()) {
        heap.resize(static_cast<std::size_t>(n));
        cps = heap.data();
        n = utf8proc_decompose(bytes, len, cps, n, kMapOptions);
        if (n == UTF8PROC_ERROR_INVALIDUTF8) return NormStatus::invalid_utf8;
        if (n < 0 || static_cast<std::size_t>(n) > heap.size()) return NormStatus::failed;
    }
    n = utf8proc_normalize_utf32(cps, n, kMapOptions);
    if (n < 0) return NormStatus::failed;

    std::size_t b = 0;
    auto e = static_cast<std::size_t>(n);
    while (b < e && is_trim(cps[b])) ++b;
    while (e > b && is_trim(cps[e - 1])) --e;
    bool gap = false;
    for (std::size_t i = b; i < e; ++i) {
        if (is_separator(cps[i])) {
            gap = true;
            continue;
        }
        if (gap) {
            out.put(' ');
            gap = false;
        }
        utf8proc_uint8_t enc[4];
        utf8proc_ssize_t k = utf8proc_encode_char(fold_apostrophe(cps[i]), enc);
        for (utf8proc_ssize_t j = 0; j < k; ++j) out.put(static_cast<char>(enc[j]));
        if (out.full()) return NormStatus::ok;
    }
    return NormStatus::ok;
}

bool is_hangul(utf8proc_int32_t cp) noexcept {
    return (cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0x3130 && cp <= 0x318F) || (cp >= 0xA960 && cp <= 0xA97F) ||
           (cp >= 0xAC00 && cp <= 0xD7FF) || (cp >= 0xFFA0 && cp <= 0xFFDC);
}

// A cheap lower bound on the bytes of the normalised message, computed on the raw code points, so
// that a long ordinary message is rejected without running utf8proc's normalisation over it. Every
// letter (except modifier letters) and number outside Hangul leaves at least one letter or number
// in the output that no neighbour absorbs: compositions only absorb marks and Hangul jamo, and no
// such character normalises to marks, punctuation, symbols or spaces alone. (Modifier letters are
// left out: half-width ﾞ becomes a combining mark that merges with the kana before it.) Checked
// over every code point against the full normalisation when this was written.
// Also validates the UTF-8; returns invalid_utf8 for a bad sequence.
NormStatus count_solid_characters(std::string_view s, std::size_t& solid) noexcept {
    const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
    auto left = static_cast<utf8proc_ssize_t>(s.size());
    solid = 0;
    while (left > 0) {
        utf8proc_int32_t cp = 0;
        utf8proc_ssize_t k = utf8proc_iterate(p, left, &cp);
        if (k <= 0) return NormStatus::invalid_utf8;
        p += k;
        left -= k;
        if (cp < 0x80) {
            solid += is_ascii_alnum(static_cast<unsigned char>(cp));
            continue;
        }
        if (is_hangul(cp)) continue;
        const utf8proc_property_t* prop = utf8proc_get_property(cp);
        if (prop->ignorable) continue;
        switch (prop->category) {
            case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
            case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL:
            case UTF8PROC_CATEGORY_NO:
                ++solid;
                break;
            default:
                break;
        }
    }
    return NormStatus::ok;
}

template <class Writer>
NormStatus normalize_any(std::string_view s, Writer& out) {
    if (is_all_ascii(s)) {
        normalize_ascii(s, out);
        return NormStatus::ok;
    }
    return normalize_unicode(s, out);
}

// Upper-cases a normalised text code point by code point: the canonical form of a tenant keyword.
std::string to_upper(std::string_view normalised) {
    std::string out;
    const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(normalised.data());
    auto left = static_cast<utf8proc_ssize_t>(normalised.size());
    while (left > 0) {
        utf8proc_int32_t cp = 0;
        utf8proc_ssize_t k = utf8proc_iterate(p, left, &cp);
        if (k <= 0) break;  // cannot happen: the input came out of the normaliser
        utf8proc_uint8_t enc[4];
        utf8proc_ssize_t m = utf8proc_encode_char(utf8proc_toupper(cp), enc);
        out.append(reinterpret_cast<const char*>(enc), static_cast<std::size_t>(m));
        p += k;
        left -= k;
    }
    return out;
}

// "xx", "xxx", optionally followed by "-" subtags of 1–8 letters or digits; or empty.
bool is_language_code(std::string_view s) noexcept {
    if (s.empty()) return true;
    std::size_t i = 0;
    while (i < s.size() && s[i] >= 'a' && s[i] <= 'z') ++i;
    if (i < 2 || i > 3) return false;
    while (i < s.size()) {
        if (s[i] != '-') return false;
        std::size_t start = ++i;
        while (i < s.size() && is_ascii_alnum(static_cast<unsigned char>(s[i]))) ++i;
        if (i - start < 1 || i - start > 8) return false;
    }
    return true;
}

template <class Range>
bool contains(const Range& r, std::string_view v) {
    return std::find(std::begin(r), std::end(r), v) != std::end(r);
}

// A text short enough to quote in an error detail.
std::string quote(std::string_view s) {
    constexpr std::size_t limit = 64;
    std::string out = "'";
    out += s.substr(0, limit);
    if (s.size() > limit) out += "...";
    out += "'";
    return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::string_view to_string(Intent i) noexcept {
    switch (i) {
        case Intent::none: return "none";
        case Intent::opt_out: return "opt-out";
        case Intent::opt_in: return "opt-in";
        case Intent::help: return "help";
    }
    return "none";
}

std::optional<Intent> intent_from_string(std::string_view s) noexcept {
    for (Intent i : {Intent::none, Intent::opt_out, Intent::opt_in, Intent::help})
        if (to_string(i) == s) return i;
    return std::nullopt;
}

namespace {

// What a match reports.
struct Entry {
    std::string keyword;
    std::string language;
    Intent intent = Intent::none;
    bool conditional = false;
    bool request_phrase = false;
};

}  // namespace

struct KeywordClassifier::Impl {
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, Entry, Hash, std::equal_to<>> by_spelling;
    std::size_t longest = 0;  // bytes of the longest normalised spelling
};

namespace {

struct Candidate {
    std::string spelling;
    Entry entry;
};

// Normalises a configured keyword; nullopt with a reason in `why` when it cannot be one.
std::optional<std::string> normalise_keyword(std::string_view text, std::string& why) {
    if (text.size() > KeywordClassifier::max_message_bytes) {
        why = "is longer than " + std::to_string(KeywordClassifier::max_message_bytes) + " bytes";
        return std::nullopt;
    }
    std::string out;
    StringWriter w(out);
    switch (normalize_any(text, w)) {
        case NormStatus::ok: break;
        case NormStatus::invalid_utf8: why = "is not valid UTF-8"; return std::nullopt;
        case NormStatus::failed: why = "could not be normalised"; return std::nullopt;
    }
    if (out.empty()) {
        why = "is empty once whitespace, punctuation and symbols are trimmed";
        return std::nullopt;
    }
    if (out.size() > KeywordClassifier::max_message_bytes) {
        why = "is longer than " + std::to_string(KeywordClassifier::max_message_bytes) + " bytes once normalised";
        return std::nullopt;
    }
    return out;
}

}  // namespace

Result<KeywordClassifier> KeywordClassifier::create(const KeywordConfig& config) {
    // Languages.
    std::unordered_set<std::string_view> enabled_optional;
    for (const std::string& lang : config.languages) {
        if (contains(kOptionalLanguages, lang)) {
            enabled_optional.insert(lang);
        } else if (!contains(kDefaultLanguages, lang)) {
            return {ConfigErrc::invalid_value,
                    "no keyword set for language " + quote(lang) + "; optional sets: hi; on by default: en, es, pt, fr, de, it"};
        }
    }

    // Built-ins and request phrases.
    std::vector<Candidate> candidates;
    std::string why;
    for (const BuiltinKeyword& b : kBuiltins) {
        if (b.optional && !enabled_optional.count(b.language)) continue;
        auto spelling = normalise_keyword(b.spelling, why);
        if (!spelling) return {ConfigErrc::invalid_value, "built-in keyword " + quote(b.spelling) + " " + why};
        candidates.push_back({std::move(*spelling), Entry{std::string(b.keyword), std::string(b.language), b.intent,
                                                          b.conditional, false}});
    }
    if (config.request_phrases) {
        for (std::string_view phrase : kRequestPhrases) {
            std::string canonical = to_upper(phrase);
            for (const std::string& variant :
                 {std::string(phrase), "please " + std::string(phrase), std::string(phrase) + " please"}) {
                auto spelling = normalise_keyword(variant, why);
                if (!spelling) return {ConfigErrc::invalid_value, "built-in phrase " + quote(variant) + " " + why};
                candidates.push_back({std::move(*spelling), Entry{canonical, "en", Intent::opt_out, false, true}});
            }
        }
    }

    // Removals.
    std::unordered_set<std::string> removed;
    for (const std::string& text : config.remove) {
        auto target = normalise_keyword(text, why);
        if (!target) return {ConfigErrc::invalid_value, "cannot remove keyword " + quote(text) + ": it " + why};
        if (*target == "stop" || *target == "start")
            return {ConfigErrc::invalid_value,
                    "keyword " + quote(text) + " cannot be removed: STOP and START are always recognised"};
        if (removed.count(*target)) continue;
        auto before = candidates.size();
        std::erase_if(candidates, [&](const Candidate& c) {
            if (c.spelling == *target) return true;
            std::string ignored;
            auto canonical = normalise_keyword(c.entry.keyword, ignored);
            return canonical && *canonical == *target;
        });
        if (candidates.size() == before)
            return {ConfigErrc::invalid_value,
                    "cannot remove " + quote(text) + ": it is not a keyword of this configuration"};
        removed.insert(*target);
    }

    auto impl = std::make_shared<Impl>();
    for (Candidate& c : candidates) {
        auto [it, inserted] = impl->by_spelling.try_emplace(c.spelling, std::move(c.entry));
        if (!inserted) return {ConfigErrc::invalid_value, "built-in keyword " + quote(c.spelling) + " is listed twice"};
    }

    // Additions.
    for (const KeywordAddition& a : config.add) {
        if (a.intent == Intent::none)
            return {ConfigErrc::invalid_value, "keyword " + quote(a.keyword) + " has no intent (opt-out, opt-in or help)"};
        if (a.conditional && a.intent != Intent::opt_in)
            return {ConfigErrc::invalid_value,
                    "keyword " + quote(a.keyword) + " is marked conditional, which only opt-in keywords can be"};
        if (!is_language_code(a.language))
            return {ConfigErrc::invalid_value,
                    "keyword " + quote(a.keyword) + " has language " + quote(a.language) +
                        "; expected a code such as \"it\" or \"pt-BR\""};
        auto spelling = normalise_keyword(a.keyword, why);
        if (!spelling) return {ConfigErrc::invalid_value, "keyword " + quote(a.keyword) + " " + why};
        auto it = impl->by_spelling.find(*spelling);
        if (it != impl->by_spelling.end()) {
            if (it->second.intent != a.intent)
                return {ConfigErrc::invalid_value,
                        "keyword " + quote(a.keyword) + " cannot be " + std::string(to_string(a.intent)) +
                            ": it is already " + std::string(to_string(it->second.intent)) + " (" +
                            it->second.keyword + "); a keyword belongs to one intent only"};
            continue;  // already there with this intent: nothing changes
        }
        impl->by_spelling.emplace(*spelling, Entry{to_upper(*spelling), a.language, a.intent, a.conditional, false});
    }

    for (const auto& [spelling, entry] : impl->by_spelling) impl->longest = std::max(impl->longest, spelling.size());
    return KeywordClassifier(std::shared_ptr<const Impl>(std::move(impl)));
}

KeywordClassifier::KeywordClassifier() {
    static const std::shared_ptr<const Impl> defaults = [] {
        auto r = create(KeywordConfig{});
        if (!r) std::terminate();  // the built-in table is inconsistent: a bug caught by the unit tests
        return std::move(r.value().impl_);
    }();
    impl_ = defaults;
}

Classification KeywordClassifier::classify(std::string_view text) const noexcept {
    Classification out;
    if (text.size() > max_message_bytes) {
        out.too_long = true;
        return out;
    }
    try {
        BoundedWriter w(impl_->longest);
        if (is_all_ascii(text)) {
            normalize_ascii(text, w);
        } else {
            std::size_t solid = 0;
            if (count_solid_characters(text, solid) == NormStatus::invalid_utf8) {
                out.invalid_utf8 = true;
                return out;
            }
            if (solid > impl_->longest) return out;  // longer than every keyword, see above
            if (normalize_unicode(text, w) == NormStatus::invalid_utf8) {  // cannot happen: validated
                out.invalid_utf8 = true;
                return out;
            }
        }
        if (w.full()) return out;  // longer than every keyword
        auto it = impl_->by_spelling.find(w.view());
        if (it == impl_->by_spelling.end()) return out;
        const Entry& e = it->second;
        out.keyword = e.keyword;
        out.language = e.language;
        out.conditional = e.conditional;
        out.request_phrase = e.request_phrase;
        out.intent = e.intent;
        return out;
    } catch (...) {
        // Only std::bad_alloc can get here (the heap fallback or a long keyword copy).
        return Classification{};
    }
}

std::optional<std::string> KeywordClassifier::normalize(std::string_view text) {
    if (text.size() > max_message_bytes) return std::nullopt;
    std::string out;
    StringWriter w(out);
    if (normalize_any(text, w) != NormStatus::ok) return std::nullopt;
    return out;
}

std::vector<KeywordInfo> KeywordClassifier::keywords() const {
    std::vector<KeywordInfo> out;
    out.reserve(impl_->by_spelling.size());
    for (const auto& [spelling, e] : impl_->by_spelling)
        out.push_back({spelling, e.keyword, e.intent, e.language, e.conditional, e.request_phrase});
    std::sort(out.begin(), out.end(), [](const KeywordInfo& a, const KeywordInfo& b) {
        if (a.intent != b.intent) return a.intent < b.intent;
        if (a.language != b.language) return a.language < b.language;
        return a.spelling < b.spelling;
    });
    return out;
}

// ---------------------------------------------------------------------------------------------
// KeywordConfig::from_json
// ---------------------------------------------------------------------------------------------

namespace {

using json = nlohmann::ordered_json;  // keeps the document order, so errors point at the first problem

Error malformed(std::string detail) { return Error(ConfigErrc::malformed, std::move(detail)); }

std::optional<Error> read_string_array(const json& v, std::string_view key, std::vector<std::string>& out) {
    if (!v.is_array()) return malformed("'" + std::string(key) + "' must be an array of strings");
    for (const json& item : v) {
        if (!item.is_string()) return malformed("'" + std::string(key) + "' must be an array of strings");
        out.push_back(item.get<std::string>());
    }
    return std::nullopt;
}

std::optional<Error> read_additions(const json& v, Intent intent, const std::string& path,
                                    std::vector<KeywordAddition>& out) {
    if (!v.is_array()) return malformed("'" + path + "' must be an array");
    std::size_t index = 0;
    for (const json& item : v) {
        std::string where = path + "[" + std::to_string(index++) + "]";
        KeywordAddition a;
        a.intent = intent;
        if (item.is_string()) {
            a.keyword = item.get<std::string>();
        } else if (item.is_object()) {
            bool has_keyword = false;
            for (const auto& [key, value] : item.items()) {
                if (key == "keyword") {
                    if (!value.is_string()) return malformed("'" + where + ".keyword' must be a string");
                    a.keyword = value.get<std::string>();
                    has_keyword = true;
                } else if (key == "language") {
                    if (!value.is_string()) return malformed("'" + where + ".language' must be a string");
                    a.language = value.get<std::string>();
                } else if (key == "conditional") {
                    if (!value.is_boolean()) return malformed("'" + where + ".conditional' must be true or false");
                    a.conditional = value.get<bool>();
                } else {
                    return malformed("unknown key " + quote(where + "." + key) +
                                     " (expected keyword, language, conditional)");
                }
            }
            if (!has_keyword) return malformed("'" + where + "' has no \"keyword\"");
        } else {
            return malformed("'" + where + "' must be a string or an object");
        }
        out.push_back(std::move(a));
    }
    return std::nullopt;
}

}  // namespace

Result<KeywordConfig> KeywordConfig::from_json(std::string_view text) {
    json doc;
    try {
        doc = json::parse(text.begin(), text.end());
    } catch (const json::parse_error& e) {
        return malformed("not valid JSON (error at byte " + std::to_string(e.byte) + ")");
    } catch (const json::out_of_range&) {  // a number literal beyond double's range, e.g. 1e999 (found by fuzzing)
        return malformed("not valid JSON (a number is out of range)");
    }
    if (!doc.is_object()) return malformed("the keyword configuration must be a JSON object");

    KeywordConfig config;
    for (const auto& [key, value] : doc.items()) {
        std::optional<Error> err;
        if (key == "add") {
            if (!value.is_object()) return malformed("'add' must be an object keyed by opt-out, opt-in, help");
            for (const auto& [intent_name, list] : value.items()) {
                auto intent = intent_from_string(intent_name);
                if (!intent || *intent == Intent::none)
                    return malformed("unknown key " + quote("add." + intent_name) + " (expected opt-out, opt-in, help)");
                if ((err = read_additions(list, *intent, "add." + intent_name, config.add))) return *err;
            }
        } else if (key == "remove") {
            if ((err = read_string_array(value, "remove", config.remove))) return *err;
        } else if (key == "languages") {
            if ((err = read_string_array(value, "languages", config.languages))) return *err;
        } else if (key == "request_phrases") {
            if (!value.is_boolean()) return malformed("'request_phrases' must be true or false");
            config.request_phrases = value.get<bool>();
        } else {
            return malformed("unknown key " + quote(key) + " (expected add, remove, languages, request_phrases)");
        }
    }
    return config;
}

}  // namespace heroshhi::optout
