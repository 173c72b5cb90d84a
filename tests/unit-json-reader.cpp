// detail::JsonReader, the strict pull reader under the webhook parser: it accepts exactly the texts
// RFC 8259 accepts (checked against nlohmann's parser on a catalogue of edge cases), decodes
// strings as nlohmann does, and says where a text goes wrong.
#include <doctest/doctest.h>

#include "detail/json_reader.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

using heroshhi::detail::JsonReader;
using Kind = JsonReader::Kind;

namespace {

/// Walks the whole text, skipping the top-level value. True when it is one valid JSON text.
bool accepts(std::string_view text, std::size_t depth = 64) {
    JsonReader r(text, depth);
    r.skip();
    return r.finish();
}

/// Reads every string in the text (keys and values) through the decoding path, in order.
void collect(JsonReader& r, std::vector<std::string>& out) {
    switch (r.peek()) {
        case Kind::object:
            if (!r.begin_object()) return;
            for (std::string_view key; r.member(key);) {
                out.emplace_back(key);
                collect(r, out);
            }
            return;
        case Kind::array:
            if (!r.begin_array()) return;
            while (r.item()) collect(r, out);
            return;
        case Kind::string: {
            std::string s;
            if (r.string(s)) out.push_back(s);
            return;
        }
        default: r.skip(); return;
    }
}

void collect(const nlohmann::ordered_json& j, std::vector<std::string>& out) {
    if (j.is_object()) {
        for (const auto& [key, value] : j.items()) {
            out.push_back(key);
            collect(value, out);
        }
    } else if (j.is_array()) {
        for (const auto& v : j) collect(v, out);
    } else if (j.is_string()) {
        out.push_back(j.get<std::string>());
    }
}

}  // namespace

TEST_CASE("the reader accepts and refuses exactly what a conforming JSON parser does") {
    const std::vector<std::string> texts = {
        // accepted
        "{}", "[]", " \t\r\n{ } ", "0", "-0", "1.5e+10", "-1E-3", "1e308", "1e-400", "\"\"", "true", "false", "null",
        R"({"a":[1,{"b":null}],"c":"\u00e9\ud83d\ude00\/"})", "[\"\\b\\f\\n\\r\\t\\\"\\\\\"]", "\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"",
        R"({"a":1,"a":2})", "[[[[[]]]]]", "123456789012345678901234567890",
        // refused
        "", " ", "{", "}", "[", "[1,]", "{\"a\":1,}", "{,}", "[,1]", "{\"a\" 1}", "{\"a\":}", "{a:1}", "{'a':1}", "[1 2]",
        "01", "1.", ".5", "-", "+1", "1e", "1e+", "0x10", "NaN", "Infinity", "tru", "nul", "truex", "[true false]",
        "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
        "\"\t\"", "\"\n\"", std::string("\"\0\"", 3), "\"\xC0\xAF\"", "\"\xE0\x80\xAF\"", "\"\xED\xA0\x80\"",
        "\"\xF4\x90\x80\x80\"", "\"\xF8\x88\x80\x80\x80\"", "\"\x80\"", "\"\xC3\"", "\xEF\xBB\xBF{}", "{} {}", "[1]x",
        "1e400", "-1e400", "1" + std::string(400, '0'), "[1}", "{\"a\":1]",
        // Long digit strings against large exponents: the range check must add them exactly.
        "1" + std::string(100'400, '0') + "e-100400", "0." + std::string(100'400, '0') + "1e100800",
        "0." + std::string(100'400, '0') + "1e100300", "1e99999999999999999999", "1e-99999999999999999999",
    };
    for (const std::string& text : texts) {
        const std::string shown = text.substr(0, 80);
        CAPTURE(shown);
        CHECK(accepts(text) == nlohmann::json::accept(text));
    }
}

TEST_CASE("strings and member names decode as a conforming parser decodes them") {
    const std::string text =
        R"({"plain":"Hallo","esc\"aped":"line\nbreak \u0041\u00e9\u20ac\ud83d\ude00 \\ \/","utf8":"Grüße 😀",)"
        R"("empty":"","nested":[{"k\u0065y":["x","y"]}]})";
    JsonReader r(text, 8);
    std::vector<std::string> ours;
    collect(r, ours);
    CHECK(r.finish());
    std::vector<std::string> theirs;
    collect(nlohmann::ordered_json::parse(text), theirs);  // members in the text's order
    CHECK(ours == theirs);
}

TEST_CASE("a refusal says what was wrong and at which byte") {
    struct Row {
        std::string text;
        std::size_t byte;
        const char* what;
    };
    const Row rows[] = {
        {"{\"a\" 1}", 6, "expected ':'"},
        {"[1 2]", 4, "expected ',' or ']'"},
        {"{\"a\":1 \"b\":2}", 8, "expected ',' or '}'"},
        {"{\"a\":\"x", 8, "closing quote"},
        {"[\"\\q\"]", 3, "invalid escape"},
        {"[\"\xC0\xAF\"]", 3, "UTF-8"},
        {"[\"\\udc00\"]", 3, "surrogate"},
        {"[1e999]", 2, "out of range"},
        {"{} x", 4, "after the JSON value"},
        {"", 1, "ends where a value should be"},
        {"[01]", 3, "expected ',' or ']'"},
    };
    for (const Row& row : rows) {
        CAPTURE(row.text);
        JsonReader r(row.text, 8);
        r.skip();
        CHECK_FALSE(r.finish());
        REQUIRE(r.failure().has_value());
        CHECK(r.failure()->byte == row.byte);
        CHECK(std::string(r.failure()->what).find(row.what) != std::string::npos);
        CHECK_FALSE(r.failure()->too_deep);
    }
}

TEST_CASE("nesting is bounded: the limit counts open arrays and objects, the root included") {
    CHECK(accepts("[[[]]]", 3));
    JsonReader r("[[[[]]]]", 3);
    r.skip();
    CHECK_FALSE(r.finish());
    REQUIRE(r.failure().has_value());
    CHECK(r.failure()->too_deep);
    CHECK(r.failure()->byte == 4);
    // Far deeper than any stack would take, refused at the limit without recursing.
    const std::string deep = std::string(1'000'000, '[') + std::string(1'000'000, ']');
    JsonReader d(deep, 32);
    d.skip();
    CHECK_FALSE(d.finish());
    CHECK(d.failure()->too_deep);
}

TEST_CASE("finish() is true only when one whole value was read") {
    JsonReader early("{\"a\":1", 8);
    REQUIRE(early.begin_object());
    std::string_view key;
    REQUIRE(early.member(key));
    early.skip();
    CHECK_FALSE(early.finish());  // the object was never closed
    JsonReader nothing("  ", 8);
    CHECK_FALSE(nothing.finish());
    REQUIRE(nothing.failure().has_value());
    CHECK(std::string(nothing.failure()->what).find("ends where a value should be") != std::string::npos);
}

TEST_CASE("integers are read only when written as integers in int64's range") {
    const auto integer = [](std::string_view text) {
        JsonReader r(text, 4);
        auto v = r.integer();
        CHECK(r.finish());
        return v;
    };
    CHECK(integer("1767225600") == 1767225600);
    CHECK(integer("-42") == -42);
    CHECK(integer("9223372036854775807") == INT64_MAX);
    CHECK_FALSE(integer("9223372036854775808").has_value());
    CHECK_FALSE(integer("1.0").has_value());
    CHECK_FALSE(integer("1e3").has_value());
    JsonReader r("\"12\"", 4);
    CHECK_FALSE(r.integer().has_value());
    CHECK(r.failed());  // not a number at all: the caller was told by peek() and did not look
}
