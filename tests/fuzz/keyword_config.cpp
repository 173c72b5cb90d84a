// Fuzz target: a tenant's keyword configuration (optout::KeywordConfig::from_json, then
// KeywordClassifier::create). Properties: text that does not parse is ConfigErrc::malformed, a
// configuration that is refused is ConfigErrc::invalid_value; a classifier built from one always
// knows STOP and START; every keyword it lists classifies as listed; every keyword added classifies
// with the intent it was added with; a keyword removed (and not added back) no longer matches; and
// with request phrases off no request phrase matches.
#include <heroshhi/core/errors.hpp>
#include <heroshhi/optout/keyword_classifier.hpp>

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace heroshhi;
    using namespace heroshhi::optout;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto config = KeywordConfig::from_json(text);
    if (!config) {
        FUZZ_CHECK(config.error().code() == ConfigErrc::malformed);
        return 0;
    }
    auto classifier = KeywordClassifier::create(*config);
    if (!classifier) {
        FUZZ_CHECK(classifier.error().code() == ConfigErrc::invalid_value);
        return 0;
    }
    FUZZ_CHECK(classifier->classify("STOP").intent == Intent::opt_out);
    FUZZ_CHECK(classifier->classify("Start.").intent == Intent::opt_in);

    for (const KeywordInfo& info : classifier->keywords()) {
        const Classification c = classifier->classify(info.spelling);
        FUZZ_CHECK(c.intent == info.intent && c.keyword == info.keyword);
        FUZZ_CHECK(c.request_phrase == info.request_phrase && c.conditional == info.conditional);
        if (!config->request_phrases) FUZZ_CHECK(!info.request_phrase);
    }
    for (const KeywordAddition& a : config->add) {
        if (a.keyword.size() > KeywordClassifier::max_message_bytes) continue;
        FUZZ_CHECK(classifier->classify(a.keyword).intent == a.intent);
    }
    for (const std::string& removed : config->remove) {
        const auto target = KeywordClassifier::normalize(removed);
        if (!target) continue;
        bool added_back = false;
        for (const KeywordAddition& a : config->add) added_back = added_back || KeywordClassifier::normalize(a.keyword) == target;
        if (!added_back) FUZZ_CHECK(!classifier->classify(removed).matched());
    }
    return 0;
}
