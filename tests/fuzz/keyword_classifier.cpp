// Fuzz target: the opt-out keyword classifier. The first byte picks: classify a message with the
// default classifier, or build a tenant classifier from a JSON configuration and classify with it.
// Properties: no crash; invalid UTF-8 and oversized messages are never a match; classification is
// deterministic; a matched message's normalised form is non-empty.
#include <heroshhi/optout/keyword_classifier.hpp>

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace heroshhi::optout;
    if (size == 0) return 0;
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    static const KeywordClassifier defaults;
    if (data[0] % 2 == 0) {
        const Classification c = defaults.classify(text);
        if (c.invalid_utf8 || c.too_long) FUZZ_CHECK(c.intent == Intent::none);
        if (text.size() > KeywordClassifier::max_message_bytes) FUZZ_CHECK(c.too_long);
        if (c.matched()) {
            FUZZ_CHECK(!c.keyword.empty());
            const auto normalized = KeywordClassifier::normalize(text);
            FUZZ_CHECK(normalized.has_value() && !normalized->empty());
        }
        const Classification again = defaults.classify(text);
        FUZZ_CHECK(again.intent == c.intent && again.keyword == c.keyword);
        return 0;
    }
    auto config = KeywordConfig::from_json(text);
    if (!config) return 0;
    auto classifier = KeywordClassifier::create(*config);
    if (!classifier) return 0;
    // STOP and START can never be removed.
    FUZZ_CHECK(classifier->classify("STOP").intent == Intent::opt_out);
    FUZZ_CHECK(classifier->classify("start").intent == Intent::opt_in);
    for (const auto& info : classifier->keywords()) {
        const Classification c = classifier->classify(info.spelling);
        FUZZ_CHECK(c.matched());
    }
    return 0;
}
