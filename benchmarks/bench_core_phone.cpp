// Phone parsing: heroshhi::PhoneNumber::parse (character check, wa_id handling, libphonenumber,
// E.164 packing) beside the baseline of libphonenumber's Parse + Format(E164) alone on the same
// inputs, in the same run: over 8 formats, and over canonical input only (E.164 and wa_ids of
// several countries, what webhooks carry), which PhoneNumber::parse mostly reads by its fast path.
#include <benchmark/benchmark.h>

#include <heroshhi/core/phone_number.hpp>

#include <phonenumbers/phonenumberutil.h>

#include <string>
#include <vector>

namespace {

struct Input {
    std::string raw;
    std::string region;  // what PhoneNumber::parse gets
    std::string baseline_raw;  // the same number as libphonenumber alone needs it
    std::string baseline_region;
};

const std::vector<Input>& inputs() {
    static const std::vector<Input> v = {
        {"+14155552671", "", "+14155552671", "ZZ"},
        {"14155552671", "", "+14155552671", "ZZ"},
        {"(415) 555-2671", "US", "(415) 555-2671", "US"},
        {"+44 (0)20 7946 0958", "", "+44 (0)20 7946 0958", "ZZ"},
        {"020 7946 0958", "GB", "020 7946 0958", "GB"},
        {"5511987654321", "", "+5511987654321", "ZZ"},
        {"+91 98765 43210", "", "+91 98765 43210", "ZZ"},
        {"06 1234 5678", "IT", "06 1234 5678", "IT"},
    };
    return v;
}

// E.164 numbers and wa_ids as WhatsApp sends them: US, UK, India, Brazil (Sao Paulo and Belem),
// Mexico, Germany, Nigeria, Argentina, Indonesia.
const std::vector<Input>& canonical_inputs() {
    static const std::vector<Input> v = {
        {"14155552671", "", "+14155552671", "ZZ"},
        {"+447911123456", "", "+447911123456", "ZZ"},
        {"919876543210", "", "+919876543210", "ZZ"},
        {"5511987654321", "", "+5511987654321", "ZZ"},
        {"5591987654321", "", "+5591987654321", "ZZ"},
        {"+5215512345678", "", "+5215512345678", "ZZ"},
        {"4915112345678", "", "+4915112345678", "ZZ"},
        {"2348031234567", "", "+2348031234567", "ZZ"},
        {"5491123456789", "", "+5491123456789", "ZZ"},
        {"6281234567890", "", "+6281234567890", "ZZ"},
    };
    return v;
}

const std::vector<Input>& chosen(benchmark::State& state) { return state.range(0) == 0 ? inputs() : canonical_inputs(); }

void BM_heroshhi_parse(benchmark::State& state) {
    const auto& in = chosen(state);
    std::size_t i = 0;
    for (auto _ : state) {
        const Input& x = in[i++ % in.size()];
        auto p = heroshhi::PhoneNumber::parse(x.raw, x.region);
        benchmark::DoNotOptimize(p);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_heroshhi_parse)->ArgName("canonical")->Arg(0)->Arg(1);

void BM_baseline_libphonenumber_parse_format(benchmark::State& state) {
    namespace pn = i18n::phonenumbers;
    const pn::PhoneNumberUtil& util = *pn::PhoneNumberUtil::GetInstance();
    const auto& in = chosen(state);
    std::size_t i = 0;
    for (auto _ : state) {
        const Input& x = in[i++ % in.size()];
        pn::PhoneNumber n;
        auto err = util.Parse(x.baseline_raw, x.baseline_region, &n);
        std::string out;
        util.Format(n, pn::PhoneNumberUtil::E164, &out);
        benchmark::DoNotOptimize(err);
        benchmark::DoNotOptimize(out);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_baseline_libphonenumber_parse_format)->ArgName("canonical")->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
