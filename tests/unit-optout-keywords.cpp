// Unit tests of optout::KeywordClassifier: what counts as an opt-out, opt-in or help keyword.
#include <heroshhi/optout/keyword_classifier.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <heroshhi/core/errors.hpp>

using heroshhi::ConfigErrc;
using heroshhi::optout::Classification;
using heroshhi::optout::Intent;
using heroshhi::optout::KeywordAddition;
using heroshhi::optout::KeywordClassifier;
using heroshhi::optout::KeywordConfig;

namespace {

constexpr Intent out = Intent::opt_out;
constexpr Intent in = Intent::opt_in;
constexpr Intent help = Intent::help;
constexpr Intent none = Intent::none;

struct Row {
    std::string_view text;
    Intent intent;
    std::string_view keyword = {};
    std::string_view language = {};
};

// Shows control and non-ASCII bytes as \xNN so a failing row can be read in the log.
std::string escaped(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string o;
    for (unsigned char c : s) {
        if (c >= 0x20 && c < 0x7f) {
            o += static_cast<char>(c);
        } else {
            o += "\\x";
            o += hex[c >> 4];
            o += hex[c & 0xf];
        }
    }
    return o;
}

void check_rows(const KeywordClassifier& kc, const std::vector<Row>& rows) {
    for (const Row& row : rows) {
        INFO("message: \"" << escaped(row.text) << "\"");
        Classification c = kc.classify(row.text);
        CHECK(c.intent == row.intent);
        CHECK(c.keyword == row.keyword);
        CHECK(c.language == row.language);
        CHECK_FALSE(c.invalid_utf8);
        CHECK_FALSE(c.too_long);
        if (row.intent == none) CHECK_FALSE(c.matched());
    }
}

KeywordClassifier make(const KeywordConfig& config) {
    auto r = KeywordClassifier::create(config);
    REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().message()));
    return std::move(r).value();
}

// Messages for the default classifier, by theme.
const std::vector<Row> english_rows = {
    {"STOP", out, "STOP", "en"},
    {"stop", out, "STOP", "en"},
    {"Stop", out, "STOP", "en"},
    {"sToP", out, "STOP", "en"},
    {"STOPALL", out, "STOPALL", "en"},
    {"StopAll", out, "STOPALL", "en"},
    {"STOP ALL", out, "STOP ALL", "en"},
    {"stop   all", out, "STOP ALL", "en"},
    {"Stop-all", out, "STOP ALL", "en"},
    {"UNSUBSCRIBE", out, "UNSUBSCRIBE", "en"},
    {"Unsubscribe.", out, "UNSUBSCRIBE", "en"},
    {"cancel", out, "CANCEL", "en"},
    {"END", out, "END", "en"},
    {"end", out, "END", "en"},
    {"Quit", out, "QUIT", "en"},
    {"REVOKE", out, "REVOKE", "en"},
    {"revoke!", out, "REVOKE", "en"},
    {"OPT OUT", out, "OPT OUT", "en"},
    {"opt-out", out, "OPT OUT", "en"},
    {"OptOut", out, "OPT OUT", "en"},
    {"optout", out, "OPT OUT", "en"},
    {"Opt  Out", out, "OPT OUT", "en"},
    {"opt - out", out, "OPT OUT", "en"},
    {"START", in, "START", "en"},
    {"Start.", in, "START", "en"},
    {"unstop", in, "UNSTOP", "en"},
    {"Subscribe", in, "SUBSCRIBE", "en"},
    {"YES", in, "YES", "en"},
    {"Yes!", in, "YES", "en"},
    {"HELP", help, "HELP", "en"},
    {"help?", help, "HELP", "en"},
    {"Info", help, "INFO", "en"},
};

const std::vector<Row> default_languages_rows = {
    // Spanish
    {"DETENER", out, "DETENER", "es"},
    {"detener", out, "DETENER", "es"},
    {"¡Detener!", out, "DETENER", "es"},
    {"SALIR", out, "SALIR", "es"},
    {"salir.", out, "SALIR", "es"},
    {"Volver", in, "VOLVER", "es"},
    {"RECIBIR", in, "RECIBIR", "es"},
    {"Ayuda", help, "AYUDA", "es"},
    {"¿ayuda?", help, "AYUDA", "es"},
    // Portuguese
    {"PARAR", out, "PARAR", "pt"},
    {"Parar!", out, "PARAR", "pt"},
    {"cancelar", out, "CANCELAR", "pt"},
    {"Voltar", in, "VOLTAR", "pt"},
    {"receber", in, "RECEBER", "pt"},
    {"AJUDA", help, "AJUDA", "pt"},
    // French: with and without the accent, composed or decomposed
    {"ARRET", out, "ARRET", "fr"},
    {"arrêt", out, "ARRET", "fr"},
    {"ARRÊT", out, "ARRET", "fr"},
    {"ARRE\xCC\x82T", out, "ARRET", "fr"},  // E + COMBINING CIRCUMFLEX
    {"«ARRÊT»", out, "ARRET", "fr"},
    {"Arrête", out, "ARRETE", "fr"},
    {"arrete", out, "ARRETE", "fr"},
    {"NONARRET", in, "NONARRET", "fr"},
    {"Aide", help, "AIDE", "fr"},
    // German
    {"HALT", out, "HALT", "de"},
    {"Halt!", out, "HALT", "de"},
    {"hilfe", help, "HILFE", "de"},
    // Italian
    {"FERMA", out, "FERMA", "it"},
    {"Ferma.", out, "FERMA", "it"},
    {"aiuto!", help, "AIUTO", "it"},
};

const std::vector<Row> trimmed_rows = {
    {"Stop.", out, "STOP", "en"},
    {" stop!!\n", out, "STOP", "en"},
    {"STOP\r\n", out, "STOP", "en"},
    {"\tstop\t", out, "STOP", "en"},
    {"...stop...", out, "STOP", "en"},
    {"\"STOP\"", out, "STOP", "en"},
    {"(stop)", out, "STOP", "en"},
    {"STOP?", out, "STOP", "en"},
    {"*STOP*", out, "STOP", "en"},
    {"Stop 🛑", out, "STOP", "en"},
    {"🛑 STOP 🛑", out, "STOP", "en"},
    {"STOP 🙏🏽", out, "STOP", "en"},
    {"✋ Stop", out, "STOP", "en"},
    {"STOP ❤️", out, "STOP", "en"},                 // heart + variation selector 16
    {"STOP 👍🏻", out, "STOP", "en"},                 // skin-tone modifier
    {"STOP 🏳️‍🌈", out, "STOP", "en"},                // ZWJ sequence
    {"STOP 🇧🇷", out, "STOP", "en"},                 // regional indicators
    {"STOP ‼️", out, "STOP", "en"},
    {"stop\xC2\xA0", out, "STOP", "en"},            // trailing NBSP
    {"\xC2\xA0STOP\xC2\xA0\xC2\xA0", out, "STOP", "en"},
    {"\xE3\x80\x80STOP\xE3\x80\x80", out, "STOP", "en"},  // ideographic space
    {"\xEF\xBB\xBFSTOP", out, "STOP", "en"},        // byte-order mark
    {"STOP\xE2\x80\x8B", out, "STOP", "en"},        // zero-width space
    {"STOP\xE2\x80\xA8", out, "STOP", "en"},        // line separator
    {std::string_view("STOP\0", 5), out, "STOP", "en"},  // NUL is a control character
    {"Parar 🙏", out, "PARAR", "pt"},
    {"¡¡Volver!!", in, "VOLVER", "es"},
    {"HELP 🆘", help, "HELP", "en"},
};

const std::vector<Row> compatibility_rows = {
    {"ＳＴＯＰ", out, "STOP", "en"},                 // full-width
    {"ｓｔｏｐ", out, "STOP", "en"},
    {"Ｓtop", out, "STOP", "en"},
    {"ＳＴＯＰ！", out, "STOP", "en"},               // full-width exclamation mark
    {"𝐒𝐓𝐎𝐏", out, "STOP", "en"},                   // mathematical bold
    {"ⓢⓣⓞⓟ", out, "STOP", "en"},                   // circled letters
    {"S\xE2\x80\x8BTOP", out, "STOP", "en"},        // zero-width space inside (default-ignorable)
    {"S\xC2\xADTOP", out, "STOP", "en"},            // soft hyphen inside
    {"opt\xE2\x80\x93out", out, "OPT OUT", "en"},   // en dash
    {"OPT\xE2\x80\x94OUT", out, "OPT OUT", "en"},   // em dash
    {"opt\xE2\x80\x90out", out, "OPT OUT", "en"},   // Unicode hyphen
    {"OPT\xC2\xA0OUT", out, "OPT OUT", "en"},       // NBSP between the words
    {"OPT\tOUT", out, "OPT OUT", "en"},
    {"OPT\nOUT", out, "OPT OUT", "en"},
    {"ｏｐｔ－ｏｕｔ", out, "OPT OUT", "en"},          // full-width hyphen-minus
    {"UNSUBSCRİBE", none},                          // dotted capital I folds to i + dot: not the keyword
};

const std::vector<Row> sentences_rows = {
    {"stop by tomorrow", none},
    {"we have to stop this bill", none},
    {"We have got to STOP this terrible bill from passing!!", none},
    {"don't stop", none},
    {"Don't stop me now", none},
    {"Stop it!", none},
    {"STOP PLEASE", none},
    {"please stop", none},
    {"PLEASE CANCEL", none},
    {"Hey, can you stop texting me?", none},
    // Whole-message rule, deliberately: "Stop. Thank you" is missed, as with Twilio and Braze.
    {"Stop. Thank you", none},
    {"STOP\n\nThanks", none},
    {"STOP STOP", none},
    {"STOP 12345", none},
    {"STOP 1️⃣", none},
    {"STOP2", none},
    {"stop, o Zé não vem", none},
    {"Responde STOP para deixar de receber", none},
    {"vou sair de férias", none},
    {"sair da sala", none},
    {"parar a dor", none},
    {"cancelar agendamento", none},
    {"não me mande mais boletos", none},
    {"no me manden más cobros duplicados", none},
    {"Quiero salir del grupo", none},
    {"Cancel my appointment", none},
    {"The End", none},
    {"I quit", none},
    {"yes please", none},
    {"Yes, I'll be there at 5", none},
    {"start over", none},
    {"Help me find a flat", none},
    {"More info", none},
    {"info please", none},
    {"arret de bus", none},
    {"Halt die Klappe", none},
    {"ferma qui", none},
    {"NON ARRET", none},
    {"un-subscribe", none},
    {"opt_out", none},
    {"O P T O U T", none},
    {"STO P", none},
    {"STOṔ", none},  // a combining acute on P makes it a different word
};

const std::vector<Row> ordinary_rows = {
    {"", none},
    {"   ", none},
    {"...", none},
    {"🛑", none},
    {"👍", none},
    {"\n\t\r", none},
    {"ok", none},
    {"Thanks!", none},
    {"Hi, is the apartment still available?", none},
    {"What's the price?", none},
    {"Can we meet on Friday at 3pm?", none},
    {"Olá, tudo bem?", none},
    {"¿Cuánto cuesta?", none},
    {"Merci beaucoup", none},
    {"नमस्ते, कीमत क्या है?", none},
    {"STOPP", none},   // Norwegian at one provider, not German (Bird uses HALT)
    {"SAIR", none},    // not in any provider list
    {"BAJA", none},
    {"PARE", none},
    {"REMOVE", none},  // AWS only; not in our defaults
    {"UNSUB", none},
    {"JOIN", none},
    {"NO", none},
    {"N", none},
    {"ST0P", none},    // digit zero
    {"stahp", none},
};

const std::vector<Row> request_rows = {
    {"Please stop messaging me", out, "STOP MESSAGING ME", "en"},
    {"stop texting me!", out, "STOP TEXTING ME", "en"},
    {"Stop texting me please", out, "STOP TEXTING ME", "en"},
    {"PLEASE STOP SENDING ME MESSAGES", out, "STOP SENDING ME MESSAGES", "en"},
    {"Unsubscribe me.", out, "UNSUBSCRIBE ME", "en"},
    {"remove me", out, "REMOVE ME", "en"},
    {"Remove me from your list", out, "REMOVE ME FROM YOUR LIST", "en"},
    {"Take me off your list please", out, "TAKE ME OFF YOUR LIST", "en"},
    {"I want to opt-out", out, "I WANT TO OPT OUT", "en"},
    {"I opt out", out, "I OPT OUT", "en"},
    {"Don’t text me", out, "DON'T TEXT ME", "en"},  // curly apostrophe
    {"don't text me!!", out, "DON'T TEXT ME", "en"},
    {"do not contact me", out, "DO NOT CONTACT ME", "en"},
    {"Please remove me from your mailing list 🙏", out, "REMOVE ME FROM YOUR MAILING LIST", "en"},  // the longest
    {"Por favor, não me mandem mais mensagens sobre o apartamento 🙏", none},
};

const std::vector<Row> hindi_rows = {
    {"बंद करो", out, "बंद करो", "hi"},
    {"बंद करो 🙏", out, "बंद करो", "hi"},
    {"बंद  करें।", out, "बंद करें", "hi"},  // danda is punctuation
    {"रोकिये", out, "रोकिए", "hi"},
    {"band karo", out, "BAND KARO", "hi"},
    {"Band Karo!", out, "BAND KARO", "hi"},
    {"band karein", out, "BAND KAREN", "hi"},
    {"rokiye", out, "ROKIYE", "hi"},
    {"msg band karo", out, "MESSAGE BAND KARO", "hi"},
    {"शुरू करो", in, "शुरू करो", "hi"},
    {"chalu karo", in, "CHALU KARO", "hi"},
    {"मदद", help, "मदद", "hi"},
    {"madad?", help, "MADAD", "hi"},
    {"ये बंद करो मत", none},
    {"band", none},
    {"STOP", out, "STOP", "en"},
};

const std::vector<Row> tenant_rows = {
    {"BASTA!", out, "BASTA", "it"},
    {"sí", in, "SÍ", "es"},
    {"socorro", help, "SOCORRO", "pt"},
    {"No  more.", out, "NO MORE", ""},
    {"STOP", out, "STOP", "en"},
};

}  // namespace

TEST_CASE("intents have stable names") {
    CHECK(to_string(Intent::none) == "none");
    CHECK(to_string(Intent::opt_out) == "opt-out");
    CHECK(to_string(Intent::opt_in) == "opt-in");
    CHECK(to_string(Intent::help) == "help");
    for (Intent i : {none, out, in, help}) CHECK(heroshhi::optout::intent_from_string(to_string(i)) == i);
    CHECK_FALSE(heroshhi::optout::intent_from_string("opt_out").has_value());
}

TEST_CASE("a message that is exactly an English keyword is classified with that keyword") {
    check_rows(KeywordClassifier::defaults(), english_rows);
}

TEST_CASE("a message that is exactly a keyword of a default language is classified with its language") {
    check_rows(KeywordClassifier::defaults(), default_languages_rows);
}

TEST_CASE("whitespace, punctuation and emoji around a keyword are trimmed") {
    check_rows(KeywordClassifier::defaults(), trimmed_rows);
}

TEST_CASE("compatibility forms and case variants normalise to the keyword") {
    check_rows(KeywordClassifier::defaults(), compatibility_rows);
}

TEST_CASE("a keyword inside a sentence is not an opt-out") {
    check_rows(KeywordClassifier::defaults(), sentences_rows);
}

TEST_CASE("ordinary conversation and words no provider publishes are none") {
    check_rows(KeywordClassifier::defaults(), ordinary_rows);
}

TEST_CASE("explicit request phrases count as opt-out by default") {
    KeywordClassifier kc;
    check_rows(kc, request_rows);
    auto c = kc.classify("please stop messaging me");
    CHECK(c.request_phrase);
    CHECK_FALSE(kc.classify("STOP").request_phrase);
    // a phrase inside a longer message is not one
    CHECK(kc.classify("can you please stop messaging me after 6pm").intent == none);
}

TEST_CASE("the message tables hold at least 150 messages") {
    std::size_t n = 0;
    for (const auto* t : {&english_rows, &default_languages_rows, &trimmed_rows, &compatibility_rows, &sentences_rows,
                          &ordinary_rows, &request_rows, &hindi_rows, &tenant_rows})
        n += t->size();
    CHECK(n >= 150);
}

TEST_CASE("YES is a conditional opt-in and STOP is not conditional") {
    KeywordClassifier kc;
    CHECK(kc.classify("yes").conditional);
    CHECK(kc.classify("yes").intent == in);
    CHECK_FALSE(kc.classify("START").conditional);
    CHECK_FALSE(kc.classify("STOP").conditional);
}

TEST_CASE("invalid UTF-8 is none with the invalid_utf8 flag and never crashes") {
    KeywordClassifier kc;
    const std::string_view bad[] = {
        "\xC0\xAF",                 // overlong '/'
        "\xC1\xBF",                 // overlong
        "\xE0\x80\xAF",             // overlong, 3 bytes
        "\xF0\x80\x80\xAF",         // overlong, 4 bytes
        "\x80",                     // lone continuation byte
        "STOP\x80",                 // keyword followed by a stray continuation byte
        "\xBFSTOP",
        "\xED\xA0\x80",             // UTF-16 surrogate D800
        "\xED\xBF\xBF",             // surrogate DFFF
        "\xED\xA0\xBD\xED\xB8\x80", // CESU-8 surrogate pair
        "\xE2\x82",                 // truncated 3-byte sequence
        "STOP \xF0\x9F\x9B",        // truncated emoji
        "\xC3",                     // truncated 2-byte sequence at the end
        "\xF4\x90\x80\x80",         // above U+10FFFF
        "\xF5\x80\x80\x80",
        "\xF8\x88\x80\x80\x80",     // 5-byte form
        "\xFE",
        "\xFF\xFE",
        "ARR\xCAT",                 // lead byte followed by ASCII
    };
    for (std::string_view s : bad) {
        INFO("message: \"" << escaped(s) << "\"");
        Classification c = kc.classify(s);
        CHECK(c.intent == none);
        CHECK(c.invalid_utf8);
        CHECK(c.keyword.empty());
        CHECK_FALSE(KeywordClassifier::normalize(s).has_value());
    }
}

TEST_CASE("random bytes never crash the classifier") {
    KeywordClassifier kc;
    std::mt19937 rng(12345);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<int> length(0, 40);
    const std::string seeds[] = {"STOP", "stop", "\xE2\x80\x8B", "\xF0\x9F\x9B\x91", "\xCC\x82", "-", " "};
    std::uniform_int_distribution<std::size_t> pick(0, std::size(seeds) - 1);
    int matched = 0;
    int invalid = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string s;
        int n = length(rng);
        for (int j = 0; j < n; ++j) {
            if (byte(rng) < 40) s += seeds[pick(rng)];
            else s += static_cast<char>(byte(rng));
        }
        Classification c = kc.classify(s);
        if (c.matched()) {
            ++matched;
            CHECK_FALSE(c.invalid_utf8);
        }
        if (c.invalid_utf8) ++invalid;
        CHECK(c.invalid_utf8 == !KeywordClassifier::normalize(s).has_value());
    }
    // the generator reaches both sides: keywords among the noise, and plenty of invalid input
    CHECK(matched > 0);
    CHECK(invalid > 1000);
}

TEST_CASE("the ASCII fast path and the Unicode path normalise ASCII alike") {
    // Appending a no-break space (trimmed) sends the same text through utf8proc.
    const std::string nbsp = "\xC2\xA0";
    for (int ch = 0; ch < 128; ++ch) {
        const char c = static_cast<char>(ch);
        for (const std::string& s : {std::string("x") + c + "y", std::string(1, c) + "Stop", std::string("Opt") + c + "OUT",
                                     std::string(1, c), std::string("A") + c + c + "b" + c}) {
            INFO("text: \"" << escaped(s) << "\"");
            auto fast = KeywordClassifier::normalize(s);
            auto slow = KeywordClassifier::normalize(s + nbsp);
            REQUIRE(fast.has_value());
            REQUIRE(slow.has_value());
            CHECK(*fast == *slow);
        }
    }
    CHECK(KeywordClassifier::normalize(" Opt-Out!! ") == std::optional<std::string>("opt out"));
    CHECK(KeywordClassifier::normalize("ＳＴＯＰ 🛑") == std::optional<std::string>("stop"));
}

TEST_CASE("messages longer than the limit are none without being examined") {
    KeywordClassifier kc;
    std::string at_limit = "STOP" + std::string(KeywordClassifier::max_message_bytes - 4, ' ');
    REQUIRE(at_limit.size() == KeywordClassifier::max_message_bytes);
    CHECK(kc.classify(at_limit).intent == out);
    Classification c = kc.classify(at_limit + " ");
    CHECK(c.intent == none);
    CHECK(c.too_long);
    CHECK_FALSE(c.invalid_utf8);
    CHECK(kc.classify(std::string(100000, 'a')).too_long);
    // A long non-ASCII message within the limit is examined, and is none.
    std::string emoji;
    while (emoji.size() + 4 <= KeywordClassifier::max_message_bytes) emoji += "\xF0\x9F\x9B\x91";
    CHECK(kc.classify(emoji).intent == none);
    CHECK_FALSE(kc.classify(emoji).too_long);
    // Heavy compatibility expansion (U+FDFA is 18 code points) does not overflow anything.
    std::string arabic;
    while (arabic.size() + 3 <= KeywordClassifier::max_message_bytes) arabic += "\xEF\xB7\xBA";
    CHECK(kc.classify(arabic).intent == none);
}

TEST_CASE("every built-in spelling classifies as itself") {
    KeywordConfig config;
    config.languages = {"hi"};
    KeywordClassifier kc = make(config);
    auto all = kc.keywords();
    CHECK(all.size() > 60);
    for (const auto& k : all) {
        INFO("spelling: " << k.spelling);
        Classification c = kc.classify(k.spelling);
        CHECK(c.intent == k.intent);
        CHECK(c.keyword == k.keyword);
        CHECK(c.language == k.language);
        CHECK(c.request_phrase == k.request_phrase);
        CHECK(KeywordClassifier::normalize(k.spelling) == std::optional<std::string>(k.spelling));  // a fixed point
    }
}

TEST_CASE("Hindi keywords are off by default and on when a tenant enables them") {
    const std::vector<std::string_view> hindi = {"बंद करो", "band karo", "Band Karo!", "रोको", "रोकिये", "BAND KAREIN"};
    KeywordClassifier defaults;
    for (auto s : hindi) CHECK(defaults.classify(s).intent == none);
    for (const auto& k : defaults.keywords()) CHECK(k.language != "hi");

    KeywordConfig config;
    config.languages = {"hi"};
    KeywordClassifier kc = make(config);
    check_rows(kc, hindi_rows);
}

TEST_CASE("request phrases can be switched off") {
    KeywordConfig config;
    config.request_phrases = false;
    KeywordClassifier kc = make(config);
    CHECK(kc.classify("please stop messaging me").intent == none);
    CHECK(kc.classify("unsubscribe me").intent == none);
    CHECK(kc.classify("UNSUBSCRIBE").intent == out);
    for (const auto& k : kc.keywords()) CHECK_FALSE(k.request_phrase);
}

TEST_CASE("a tenant adds keywords per intent with a language") {
    KeywordConfig config;
    config.add = {
        {Intent::opt_out, "basta", "it", false},
        {Intent::opt_in, "Sí", "es", true},
        {Intent::help, "Socorro", "pt", false},
        {Intent::opt_out, "no more", "", false},
    };
    KeywordClassifier kc = make(config);
    check_rows(kc, tenant_rows);
    CHECK(kc.classify("SÍ").conditional);
    // the defaults are not changed by a tenant's classifier
    CHECK(KeywordClassifier::defaults().classify("basta").intent == none);
}

TEST_CASE("a tenant removes keywords, and every spelling of a removed keyword goes") {
    KeywordConfig config;
    config.remove = {"CANCEL", "opt out", "arret", "Stop messaging me"};
    KeywordClassifier kc = make(config);
    CHECK(kc.classify("cancel").intent == none);
    CHECK(kc.classify("opt-out").intent == none);
    CHECK(kc.classify("OPTOUT").intent == none);
    CHECK(kc.classify("ARRET").intent == none);
    CHECK(kc.classify("ARRÊT").intent == none);
    CHECK(kc.classify("ARRETE").intent == out);
    CHECK(kc.classify("please stop messaging me").intent == none);
    CHECK(kc.classify("stop texting me").intent == out);
    CHECK(kc.classify("STOP").intent == out);
    CHECK(kc.classify("END").intent == out);

    KeywordConfig only_spelling;
    only_spelling.remove = {"OPTOUT"};
    KeywordClassifier kc2 = make(only_spelling);
    CHECK(kc2.classify("optout").intent == none);
    CHECK(kc2.classify("opt out").intent == out);
}

TEST_CASE("STOP and START cannot be removed") {
    for (const char* text : {"STOP", "stop", " Stop! ", "ＳＴＯＰ", "START", "start"}) {
        INFO("remove: " << text);
        KeywordConfig config;
        config.remove = {text};
        auto r = KeywordClassifier::create(config);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error() == ConfigErrc::invalid_value);
        CHECK(r.error().detail().find("cannot be removed") != std::string::npos);
    }
}

TEST_CASE("invalid tenant keyword configurations are rejected with a reason") {
    auto rejects = [](const KeywordConfig& config, std::string_view needle) {
        auto r = KeywordClassifier::create(config);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error() == ConfigErrc::invalid_value);
        INFO("detail: " << r.error().detail());
        CHECK(r.error().detail().find(needle) != std::string::npos);
    };
    SUBCASE("empty keyword") {
        KeywordConfig c;
        c.add = {{Intent::opt_out, "", "", false}};
        rejects(c, "empty");
    }
    SUBCASE("keyword made only of punctuation and emoji") {
        KeywordConfig c;
        c.add = {{Intent::opt_out, " !! 🛑 ", "", false}};
        rejects(c, "empty");
    }
    SUBCASE("keyword that is not UTF-8") {
        KeywordConfig c;
        c.add = {{Intent::opt_out, "\xC0\xAF", "", false}};
        rejects(c, "UTF-8");
    }
    SUBCASE("keyword added to two intents") {
        KeywordConfig c;
        c.add = {{Intent::opt_out, "BASTA", "it", false}, {Intent::opt_in, "basta!", "it", false}};
        rejects(c, "one intent");
    }
    SUBCASE("built-in keyword given another intent") {
        KeywordConfig c;
        c.add = {{Intent::help, "stop", "", false}};
        rejects(c, "already opt-out");
    }
    SUBCASE("no intent") {
        KeywordConfig c;
        c.add = {{Intent::none, "FOO", "", false}};
        rejects(c, "no intent");
    }
    SUBCASE("conditional outside opt-in") {
        KeywordConfig c;
        c.add = {{Intent::opt_out, "FOO", "", true}};
        rejects(c, "conditional");
    }
    SUBCASE("bad language code") {
        KeywordConfig c;
        c.add = {{Intent::opt_out, "FOO", "Italian", false}};
        rejects(c, "language");
    }
    SUBCASE("removing a word that is not a keyword") {
        KeywordConfig c;
        c.remove = {"CANCLE"};
        rejects(c, "not a keyword");
    }
    SUBCASE("unknown optional language") {
        KeywordConfig c;
        c.languages = {"xx"};
        rejects(c, "language");
    }
    SUBCASE("too long a keyword") {
        KeywordConfig c;
        c.add = {{Intent::opt_out, std::string(300, 'a'), "", false}};
        rejects(c, "longer than");
    }
}

TEST_CASE("a removed keyword can be given another intent, an existing one can be re-added") {
    KeywordConfig config;
    config.remove = {"YES"};
    config.add = {{Intent::help, "yes", "en", false}, {Intent::opt_out, "UNSUBSCRIBE", "en", false}};
    config.languages = {"es"};  // on by default: accepted, changes nothing
    KeywordClassifier kc = make(config);
    CHECK(kc.classify("yes").intent == help);
    CHECK(kc.classify("unsubscribe").intent == out);
    CHECK(kc.classify("parar").intent == out);
}

TEST_CASE("a keyword configuration is read from JSON") {
    auto r = KeywordConfig::from_json(R"({
        "add": {"opt-out": ["BASTA", {"keyword": "SMETTI", "language": "it"}],
                "opt-in": [{"keyword": "SI", "language": "es", "conditional": true}],
                "help": []},
        "remove": ["CANCEL"],
        "languages": ["hi"],
        "request_phrases": false
    })");
    REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().message()));
    const KeywordConfig& config = *r;
    REQUIRE(config.add.size() == 3);
    CHECK(config.add[0].keyword == "BASTA");
    CHECK(config.add[0].intent == out);
    CHECK(config.add[0].language.empty());
    CHECK(config.add[1].language == "it");
    CHECK(config.add[2].intent == in);
    CHECK(config.add[2].conditional);
    CHECK(config.remove == std::vector<std::string>{"CANCEL"});
    CHECK(config.languages == std::vector<std::string>{"hi"});
    CHECK_FALSE(config.request_phrases);

    KeywordClassifier kc = make(config);
    CHECK(kc.classify("basta").intent == out);
    CHECK(kc.classify("Smetti").language == "it");
    CHECK(kc.classify("si").conditional);
    CHECK(kc.classify("cancel").intent == none);
    CHECK(kc.classify("band karo").intent == out);
    CHECK(kc.classify("remove me").intent == none);

    auto empty = KeywordConfig::from_json("{}");
    REQUIRE(empty.has_value());
    CHECK(empty->request_phrases);
    CHECK(empty->add.empty());
}

TEST_CASE("malformed JSON keyword configurations name the problem") {
    auto malformed = [](std::string_view json, std::string_view needle) {
        auto r = heroshhi::optout::KeywordConfig::from_json(json);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error() == ConfigErrc::malformed);
        INFO("detail: " << r.error().detail());
        CHECK(r.error().detail().find(needle) != std::string::npos);
    };
    malformed("", "not valid JSON");
    malformed("{\"add\": ", "not valid JSON");
    malformed(R"({"request_phrases": 7777e7777})", "out of range");  // once escaped as an exception (fuzzing)
    malformed("[]", "JSON object");
    malformed(R"({"remove": ["X"], "colour": "red"})", "'colour'");
    malformed(R"({"add": {"optout": ["X"]}})", "'add.optout'");
    malformed(R"({"add": {"none": ["X"]}})", "'add.none'");
    malformed(R"({"add": {"opt-out": [{"keyword": "X", "lang": "it"}]}})", "'add.opt-out[0].lang'");
    malformed(R"({"add": {"opt-out": [{"language": "it"}]}})", "no \"keyword\"");
    malformed(R"({"add": {"opt-out": [42]}})", "string or an object");
    malformed(R"({"add": {"opt-out": "X"}})", "must be an array");
    malformed(R"({"add": ["X"]})", "'add' must be an object");
    malformed(R"({"remove": "CANCEL"})", "'remove'");
    malformed(R"({"languages": [1]})", "'languages'");
    malformed(R"({"request_phrases": "yes"})", "'request_phrases'");
    malformed("{\"remove\": [\"\xC0\xAF\"]}", "not valid JSON");
}

TEST_CASE("classifiers are cheap to copy and safe to share between threads") {
    KeywordClassifier kc = KeywordClassifier::defaults();
    KeywordClassifier copy = kc;
    std::vector<std::thread> threads;
    std::vector<int> hits(4, 0);
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            const KeywordClassifier& mine = (t % 2) ? kc : copy;
            for (int i = 0; i < 2000; ++i) {
                if (mine.classify(i % 2 ? "Stop 🛑" : "hello there").intent == out) ++hits[static_cast<std::size_t>(t)];
            }
        });
    }
    for (auto& th : threads) th.join();
    for (int h : hits) CHECK(h == 1000);
}
