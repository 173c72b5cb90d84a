// HTML encoding: heroshhi::sanitize::append_html_content (SSE2 scan for the five characters,
// clean runs copied in one piece) on clean text and on markup-heavy text, beside two baselines
// measured in the same run: memcpy of the same bytes (the ceiling for clean text) and a naive
// encoder that switches on every character.
#include <benchmark/benchmark.h>

#include <heroshhi/sanitize/html.hpp>

#include <cstring>
#include <string>
#include <string_view>

namespace {

/// CRM-like text without any character that needs encoding: names, notes, some UTF-8.
std::string clean_text(std::size_t size) {
    static const std::string_view pieces[] = {
        "Ada Lovelace called about the renewal; send the quote by Friday. ",
        "Jos\xC3\xA9 Mar\xC3\xAD" "a asked for the price in \xE2\x82\xAC, not USD. ",
        "Follow up next week (after 10:00) - budget approved, 3 seats. ",
        "Lead came from the web form: interested in the premium plan! ",
    };
    std::string s;
    for (std::size_t i = 0; s.size() < size; ++i) s += pieces[i % 4];
    s.resize(size);
    return s;
}

/// Text a user pasted with markup in it: about one byte in six needs encoding.
std::string markup_text(std::size_t size) {
    static const std::string_view piece =
        "<p class=\"note\">Tom & Jerry's <b>deal</b> > 5 seats</p><a href='x?a=1&b=2'>link</a>\n";
    std::string s;
    while (s.size() < size) s += piece;
    s.resize(size);
    return s;
}

/// The baseline encoder: one switch and one append per character.
void naive_encode(std::string& out, std::string_view in) {
    for (const char c : in) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#x27;"; break;
            default: out += c;
        }
    }
}

void BM_memcpy_baseline(benchmark::State& state) {
    const std::string in = clean_text(static_cast<std::size_t>(state.range(0)));
    std::string out(in.size(), '\0');
    for (auto _ : state) {
        std::memcpy(out.data(), in.data(), in.size());
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * in.size()));
}

template <std::string (*Make)(std::size_t)>
void BM_heroshhi_encode(benchmark::State& state) {
    const std::string in = Make(static_cast<std::size_t>(state.range(0)));
    std::string out;
    for (auto _ : state) {
        out.clear();  // keeps the capacity, as a server reusing a buffer would
        heroshhi::sanitize::append_html_content(out, in);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * in.size()));
    state.counters["output_ratio"] = static_cast<double>(out.size()) / static_cast<double>(in.size());
}

template <std::string (*Make)(std::size_t)>
void BM_naive_encode(benchmark::State& state) {
    const std::string in = Make(static_cast<std::size_t>(state.range(0)));
    std::string out;
    for (auto _ : state) {
        out.clear();
        naive_encode(out, in);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * in.size()));
}

template <std::string (*Make)(std::size_t)>
void BM_heroshhi_encode_attribute(benchmark::State& state) {
    const std::string in = Make(static_cast<std::size_t>(state.range(0)));
    std::string out;
    for (auto _ : state) {
        out.clear();
        heroshhi::sanitize::append_html_attribute(out, in);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * in.size()));
}

constexpr std::int64_t kSmall = 256;        // a typical field
constexpr std::int64_t kLarge = 64 * 1024;  // a long note or message thread (fits L2)

BENCHMARK(BM_memcpy_baseline)->Arg(kSmall)->Arg(kLarge);
BENCHMARK_TEMPLATE(BM_heroshhi_encode, clean_text)->Name("BM_heroshhi_encode/clean")->Arg(kSmall)->Arg(kLarge);
BENCHMARK_TEMPLATE(BM_naive_encode, clean_text)->Name("BM_naive_encode/clean")->Arg(kSmall)->Arg(kLarge);
BENCHMARK_TEMPLATE(BM_heroshhi_encode, markup_text)->Name("BM_heroshhi_encode/markup")->Arg(kSmall)->Arg(kLarge);
BENCHMARK_TEMPLATE(BM_naive_encode, markup_text)->Name("BM_naive_encode/markup")->Arg(kSmall)->Arg(kLarge);
BENCHMARK_TEMPLATE(BM_heroshhi_encode_attribute, clean_text)->Name("BM_heroshhi_encode_attribute/clean")->Arg(kLarge);

}  // namespace

BENCHMARK_MAIN();
