// Benchmark: optout::KeywordClassifier messages per second on a realistic inbound mix, beside an RE2
// baseline that does only the exact-keyword part (one anchored, case-insensitive alternation of the
// default keywords with optional surrounding whitespace, punctuation and symbols) on the same mix.
//
// The RE2 baseline does less work than the classifier: no NFKC (full-width "ＳＴＯＰ" does not match),
// no request phrases, no intent or language lookup (the capture variant at least finds the keyword).
//
// Mixes (the benchmark argument): 0 = realistic mix (about 70% ordinary ASCII conversation, 15%
// ordinary non-ASCII: Portuguese, Spanish, Hindi, emoji; 15% keywords and variants); 1 = the ASCII
// messages of the mix only; 2 = the non-ASCII messages only.
#include <benchmark/benchmark.h>
#include <re2/re2.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include <heroshhi/optout/keyword_classifier.hpp>

namespace {

using heroshhi::optout::Intent;
using heroshhi::optout::KeywordClassifier;

const std::vector<std::string> ordinary_ascii = {
    "Hi, is the apartment on Elm Street still available?",
    "What's the price?",
    "ok",
    "Thanks!",
    "Can we meet on Friday at 3pm?",
    "I'll be there in 10 minutes",
    "Could you send me the brochure again? I lost the link",
    "yes I'm interested, what are the next steps",
    "How much is the deposit and when do I need to pay it?",
    "Sorry, I was driving. Call me after 6",
    "We have got to STOP this terrible bill from passing!!",
    "stop by tomorrow and we can sign",
    "Is parking included?",
    "My email is not working, can you text the contract here",
    "Great, see you then",
    "no",
    "Hello",
    "Do you have anything with 3 bedrooms near the school? Budget is around 2500 a month, flexible if the place is good.",
    "kya aap kal free ho? mujhe flat dekhna hai",
    "Stop. Thank you",
};

const std::vector<std::string> ordinary_non_ascii = {
    "Olá, tudo bem? Ainda está disponível?",
    "vou sair de férias, falamos em março",
    "¿Cuánto cuesta el envío a Bogotá?",
    "Merci, à demain 😊",
    "नमस्ते, कीमत क्या है?",
    "ठीक है, मैं कल आऊँगा",
    "👍",
    "Perfect 🙏🏽🙏🏽",
    "stop, o Zé não vem",
    "não me mande mais boletos duplicados, já paguei",
    "Wir kommen um 15 Uhr – passt das?",
    "🏠❤️ love it!!",
};

const std::vector<std::string> keywords = {
    "STOP", "Stop", "stop", "Stop.", " STOP\n", "Stop 🛑", "STOP 🙏🏽", "ＳＴＯＰ", "PARAR", "parar!", "ARRÊT",
    "UNSUBSCRIBE", "START", "yes", "HELP", "opt-out", "Detener", "please stop messaging me", "Cancel", "info",
};

bool is_ascii(const std::string& s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// A fixed, shuffled mix of 2000 messages; then filtered by the benchmark argument.
std::vector<std::string> corpus(int which) {
    std::mt19937 rng(42);
    std::vector<std::string> all;
    for (int i = 0; i < 2000; ++i) {
        int r = static_cast<int>(rng() % 100);
        const auto& pool = r < 70 ? ordinary_ascii : r < 85 ? ordinary_non_ascii : keywords;
        all.push_back(pool[rng() % pool.size()]);
    }
    if (which == 0) return all;
    std::vector<std::string> out;
    for (auto& s : all)
        if (is_ascii(s) == (which == 1)) out.push_back(s);
    return out;
}

const char* label(int which) { return which == 0 ? "mix" : which == 1 ? "ascii" : "non-ascii"; }

// The default keyword spellings as one alternation; a space inside a keyword accepts spaces or a hyphen.
std::string keyword_pattern() {
    std::string alternation;
    for (const auto& k : KeywordClassifier::defaults().keywords()) {
        if (k.request_phrase) continue;
        if (!alternation.empty()) alternation += '|';
        std::string quoted;
        for (char c : k.spelling) {
            if (c == ' ') quoted += "[\\s-]+";
            else quoted += RE2::QuoteMeta(std::string(1, c));
        }
        alternation += quoted;
    }
    // Leading and trailing whitespace, punctuation, symbols (emoji), format characters, VS16.
    const std::string edge = "[\\s\\p{P}\\p{S}\\p{Cf}\\x{FE0F}]*";
    return edge + "(" + alternation + ")" + edge;
}

void BM_KeywordClassifier(benchmark::State& state) {
    const int which = static_cast<int>(state.range(0));
    const auto messages = corpus(which);
    const KeywordClassifier kc = KeywordClassifier::defaults();
    std::size_t i = 0;
    std::int64_t matched = 0;
    for (auto _ : state) {
        auto c = kc.classify(messages[i]);
        matched += c.intent != Intent::none;
        benchmark::DoNotOptimize(c);
        if (++i == messages.size()) i = 0;
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["match_rate"] = benchmark::Counter(static_cast<double>(matched) / static_cast<double>(state.iterations()));
    state.SetLabel(label(which));
}

void BM_RE2_FullMatch(benchmark::State& state) {
    const int which = static_cast<int>(state.range(0));
    const auto messages = corpus(which);
    RE2::Options options;
    options.set_case_sensitive(false);
    options.set_never_capture(true);
    const RE2 re(keyword_pattern(), options);
    if (!re.ok()) {
        state.SkipWithError(re.error().c_str());
        return;
    }
    std::size_t i = 0;
    std::int64_t matched = 0;
    for (auto _ : state) {
        bool m = RE2::FullMatch(messages[i], re);
        matched += m;
        benchmark::DoNotOptimize(m);
        if (++i == messages.size()) i = 0;
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["match_rate"] = benchmark::Counter(static_cast<double>(matched) / static_cast<double>(state.iterations()));
    state.SetLabel(label(which));
}

void BM_RE2_FullMatchCapture(benchmark::State& state) {
    const int which = static_cast<int>(state.range(0));
    const auto messages = corpus(which);
    RE2::Options options;
    options.set_case_sensitive(false);
    const RE2 re(keyword_pattern(), options);
    if (!re.ok()) {
        state.SkipWithError(re.error().c_str());
        return;
    }
    std::size_t i = 0;
    std::int64_t matched = 0;
    re2::StringPiece keyword;
    for (auto _ : state) {
        bool m = RE2::FullMatch(messages[i], re, &keyword);
        matched += m;
        benchmark::DoNotOptimize(m);
        benchmark::DoNotOptimize(keyword);
        if (++i == messages.size()) i = 0;
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["match_rate"] = benchmark::Counter(static_cast<double>(matched) / static_cast<double>(state.iterations()));
    state.SetLabel(label(which));
}

}  // namespace

BENCHMARK(BM_KeywordClassifier)->Arg(0)->Arg(1)->Arg(2);
BENCHMARK(BM_RE2_FullMatch)->Arg(0)->Arg(1)->Arg(2);
BENCHMARK(BM_RE2_FullMatchCapture)->Arg(0)->Arg(1)->Arg(2);

BENCHMARK_MAIN();
