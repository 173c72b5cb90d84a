// Fuzz target: HTML encoders. Properties: a browser-style decoder gets the input back (NUL as
// U+FFFD in attributes) and finds no markup character outside a character reference; appending
// equals encoding.
#include <heroshhi/sanitize/html.hpp>

#include "../support/text_decoders.hpp"
#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace heroshhi;
    const std::string text(reinterpret_cast<const char*>(data), size);

    const std::string content = sanitize::encode_html_content(text);
    const auto decoded = test_support::decode_html(content);
    FUZZ_CHECK(decoded.has_value());
    FUZZ_CHECK(*decoded == text);

    const std::string attribute = sanitize::encode_html_attribute(text);
    const auto decoded_attribute = test_support::decode_html(attribute, /*attribute_strict=*/true);
    FUZZ_CHECK(decoded_attribute.has_value());
    std::string expected;
    for (const char c : text) expected += c == '\0' ? std::string("\xEF\xBF\xBD") : std::string(1, c);
    FUZZ_CHECK(*decoded_attribute == expected);

    std::string appended = "prefix";
    sanitize::append_html_content(appended, text);
    FUZZ_CHECK(appended == "prefix" + content);
    return 0;
}
