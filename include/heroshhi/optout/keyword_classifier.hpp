// heroshhi — KeywordClassifier: is an inbound message an opt-out, an opt-in, a help request, or none?
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <heroshhi/core/result.hpp>

namespace heroshhi::optout {

/// What an inbound message asks for.
enum class Intent {
    none,     ///< an ordinary message (also: invalid UTF-8, longer than the limit)
    opt_out,  ///< stop messaging me (STOP, UNSUBSCRIBE, PARAR, ...)
    opt_in,   ///< resume messaging me (START, UNSTOP, VOLVER, ...)
    help,     ///< tell me what this is and how to stop it (HELP, INFO, AYUDA, ...)
};

/// "none", "opt-out", "opt-in", "help".
std::string_view to_string(Intent i) noexcept;
/// The inverse of to_string; nullopt for any other text.
std::optional<Intent> intent_from_string(std::string_view s) noexcept;

/// The verdict on one message.
struct Classification {
    Intent intent = Intent::none;
    /// The matched keyword in canonical form ("STOP", "OPT OUT", "ARRET", "बंद करो"); empty for none.
    /// For a request phrase, the phrase without "please" ("STOP MESSAGING ME").
    std::string keyword;
    /// Language of the keyword ("en", "es", "pt", "fr", "de", "it", "hi"); empty for none, and for a
    /// tenant keyword configured without a language.
    std::string language;
    /// A YES-like word: it re-subscribes only a contact who is currently opted out. The classifier
    /// does not know the contact's status; the caller (the engine) decides.
    bool conditional = false;
    /// Matched an explicit request phrase ("please stop messaging me") rather than a keyword.
    bool request_phrase = false;
    /// The input was not valid UTF-8 (overlong form, surrogate, stray continuation byte, truncated
    /// sequence, ...). The intent is then none.
    bool invalid_utf8 = false;
    /// The input was longer than KeywordClassifier::max_message_bytes and was not examined.
    bool too_long = false;

    bool matched() const noexcept { return intent != Intent::none; }
};

/// One keyword a tenant adds.
struct KeywordAddition {
    Intent intent = Intent::opt_out;  ///< opt_out, opt_in or help (none is rejected)
    std::string keyword;              ///< as a contact would type it; matched like the built-in ones
    std::string language;             ///< "it", "pt-BR", ...; may be empty (reported as empty)
    bool conditional = false;         ///< only for opt_in: a YES-like word (see Classification)
};

/// A tenant's changes to the default keyword set. A default-constructed config means the defaults.
struct KeywordConfig {
    /// Keywords added on top of the defaults. Adding one that is already there with the same intent
    /// changes nothing; with another intent it is an error (remove it first).
    std::vector<KeywordAddition> add;
    /// Keywords (or request phrases) taken out of the defaults. A text removes every built-in
    /// spelling that normalises to it and every spelling whose canonical keyword normalises to it:
    /// "OPT OUT" removes OPT OUT, OPT-OUT and OPTOUT; "OPTOUT" removes that spelling only; "ARRET"
    /// removes ARRET and ARRÊT; "stop texting me" removes the phrase with and without "please".
    /// STOP and START cannot be removed (carriers and Twilio keep them fixed too).
    std::vector<std::string> remove;
    /// Optional language sets to switch on. Only "hi" (Hindi, Devanagari and romanised) is optional
    /// today; naming a language that is on by default (en, es, pt, fr, de, it) is accepted and
    /// changes nothing.
    std::vector<std::string> languages;
    /// Whether explicit English request phrases ("please stop messaging me", "unsubscribe me",
    /// "remove me from your list") count as opt-out. On by default.
    bool request_phrases = true;

    /// Parses a tenant configuration of this form (every key optional):
    ///
    ///     {
    ///       "add": {
    ///         "opt-out": ["BASTA", {"keyword": "SMETTI", "language": "it"}],
    ///         "opt-in":  [{"keyword": "SI", "language": "es", "conditional": true}],
    ///         "help":    []
    ///       },
    ///       "remove": ["CANCEL"],
    ///       "languages": ["hi"],
    ///       "request_phrases": true
    ///     }
    ///
    /// A keyword given as a plain string has no language and is not conditional.
    /// Fails with ConfigErrc::malformed when the text is not JSON, a key is unknown (the detail names
    /// it, e.g. "unknown key 'add.optout'") or a value has the wrong type. Values are checked by
    /// KeywordClassifier::create, not here. Throws only std::bad_alloc.
    static Result<KeywordConfig> from_json(std::string_view json);
};

/// Describes one spelling the classifier recognises (see KeywordClassifier::keywords()).
struct KeywordInfo {
    std::string spelling;  ///< the normalised form a message must equal, e.g. "opt out"
    std::string keyword;   ///< canonical form reported on a match, e.g. "OPT OUT"
    Intent intent = Intent::none;
    std::string language;
    bool conditional = false;
    bool request_phrase = false;
};

/// Decides whether an inbound text is an opt-out, opt-in or help keyword.
///
/// Matching rule: the WHOLE message must be the keyword, after
///   1. Unicode NFKC and case folding (full-width "ＳＴＯＰ" is "stop"; "Stop" is "stop"), with
///      default-ignorable code points (zero-width space, soft hyphen, ZWJ, variation selectors)
///      removed;
///   2. trimming of leading and trailing whitespace, punctuation, symbols and emoji (Unicode
///      categories Z*, P*, S*, Cc, Cf, unassigned and private use, plus the combining keycap):
///      "Stop.", " stop!!\n", "STOP 🙏🏽" are STOP;
///   3. collapsing each inner run of whitespace, control characters and dashes (category Pd) to one
///      space: "opt-out", "opt  out" and "OPT\tOUT" are the same; curly apostrophes become '.
/// Accents are kept ("ARRET" and "ARRÊT" are both listed). A keyword inside a sentence is not a
/// match: "stop by tomorrow", "Stop it!", "STOP PLEASE", and also "Stop. Thank you" (a deliberate
/// choice: Twilio, Telnyx and Braze behave the same, and sentence-level guessing opted out people who
/// were talking about something else, see reference/optout.md §5).
///
/// Messages longer than max_message_bytes are none without being examined (too_long is set): a
/// keyword message is short, and the bound keeps the cost per message fixed. ASCII messages are
/// normalised without utf8proc; others go through utf8proc (NFKC_Casefold-like mapping).
///
/// Immutable after creation; copies share the same tables. classify() is safe to call from many
/// threads at once and never blocks.
class KeywordClassifier {
public:
    /// Longest message, in bytes, that can be a keyword.
    static constexpr std::size_t max_message_bytes = 256;

    /// The default keyword set (every default language, English request phrases on). Cheap: all
    /// default-constructed classifiers share one table built on first use.
    KeywordClassifier();

    /// Same as the default constructor.
    static KeywordClassifier defaults() { return KeywordClassifier(); }

    /// Builds a classifier for a tenant's configuration. Fails with ConfigErrc::invalid_value (the
    /// detail names the keyword) when a keyword is empty after normalisation or longer than
    /// max_message_bytes, STOP or START is removed, a removed text is not a keyword, a keyword
    /// would belong to two intents, an addition's intent is none, conditional is set outside opt_in,
    /// a language code is not of the form "xx" / "xxx" / "xx-YY", or an optional language is unknown.
    static Result<KeywordClassifier> create(const KeywordConfig& config);

    /// Classifies one inbound message (UTF-8, any bytes). Never throws; on invalid UTF-8, an
    /// oversized message or memory exhaustion the intent is none.
    Classification classify(std::string_view text) const noexcept;

    /// The normalised form of `text` as classify() compares it (see the class comment), or nullopt
    /// when `text` is not valid UTF-8 or longer than max_message_bytes. Useful to show a tenant how
    /// a keyword will be matched. Throws std::bad_alloc only.
    static std::optional<std::string> normalize(std::string_view text);

    /// Every spelling this classifier recognises, ordered by intent, then language, then spelling.
    std::vector<KeywordInfo> keywords() const;

private:
    struct Impl;
    explicit KeywordClassifier(std::shared_ptr<const Impl> impl) noexcept : impl_(std::move(impl)) {}

    std::shared_ptr<const Impl> impl_;
};

}  // namespace heroshhi::optout
