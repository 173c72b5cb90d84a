// Sanitisation and validation: HTML encoding, UTF-8 and text rules, email syntax, the NoSQL
// injection guard, lead schemas and CSV export.
#include <doctest/doctest.h>

#include <heroshhi/core/errors.hpp>
#include <heroshhi/sanitize/csv.hpp>
#include <heroshhi/sanitize/email_address.hpp>
#include <heroshhi/sanitize/errors.hpp>
#include <heroshhi/sanitize/html.hpp>
#include <heroshhi/sanitize/lead_schema.hpp>
#include <heroshhi/sanitize/nosql_guard.hpp>
#include <heroshhi/sanitize/text_rules.hpp>
#include <heroshhi/sanitize/utf8.hpp>

#include "support/text_decoders.hpp"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

using namespace heroshhi;
using namespace heroshhi::sanitize;
using nlohmann::json;
using test_support::decode_html;
using test_support::parse_csv;

namespace {

/// Random strings over an alphabet that mixes clean text, every character the encoders care about
/// and multi-byte UTF-8, with lengths that cross the 16- and 32-byte SIMD blocks.
std::vector<std::string> random_texts(std::size_t count, std::uint32_t seed) {
    static const std::vector<std::string> pieces = {
        "a", "Z", "0", " ", "&", "<", ">", "\"", "'", "`", "=", "\t", "\n", "\r", ",", ".", "-", "_", "/", "\\",
        "\x7f", std::string(1, '\0'), "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "&amp;", "<script>",
        "hello world ", "abcdefghijklmnop"};
    std::mt19937 rng(seed);
    std::vector<std::string> out;
    for (std::size_t i = 0; i < count; ++i) {
        std::string s;
        const std::size_t n = rng() % 40;
        for (std::size_t k = 0; k < n; ++k) s += pieces[rng() % pieces.size()];
        out.push_back(std::move(s));
    }
    return out;
}

std::string replace_nul(std::string s) {
    std::string out;
    for (const char c : s) {
        if (c == '\0') out += "\xEF\xBF\xBD";
        else out += c;
    }
    return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// HTML

TEST_CASE("HTML content encoding replaces the five OWASP characters and nothing else") {
    CHECK(encode_html_content("") == "");
    CHECK(encode_html_content("plain text, 100% clean.") == "plain text, 100% clean.");
    CHECK(encode_html_content("<script>alert('x')</script>") == "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;");
    CHECK(encode_html_content("Tom & Jerry \"cartoon\"") == "Tom &amp; Jerry &quot;cartoon&quot;");
    CHECK(encode_html_content("&amp;") == "&amp;amp;");  // already-encoded text is encoded again: it is text
    CHECK(encode_html_content("Jos\xC3\xA9 \xF0\x9F\x98\x80 =`") == "Jos\xC3\xA9 \xF0\x9F\x98\x80 =`");
}

TEST_CASE("HTML attribute encoding leaves only letters, digits, ',.-_' and non-ASCII unencoded") {
    CHECK(encode_html_attribute("Ada_Lovelace-1.0,x") == "Ada_Lovelace-1.0,x");
    CHECK(encode_html_attribute("a b") == "a&#x20;b");
    CHECK(encode_html_attribute("\" onmouseover=alert(1) x=\"") ==
          "&quot;&#x20;onmouseover&#x3D;alert&#x28;1&#x29;&#x20;x&#x3D;&quot;");
    CHECK(encode_html_attribute("'`<>&") == "&#x27;&#x60;&lt;&gt;&amp;");
    CHECK(encode_html_attribute(std::string_view("a\0b", 3)) == "a&#xFFFD;b");
    CHECK(encode_html_attribute("\t\n\r") == "&#x09;&#x0A;&#x0D;");
    CHECK(encode_html_attribute("Jos\xC3\xA9") == "Jos\xC3\xA9");
}

TEST_CASE("a browser decodes encoded HTML back to the original text and finds no markup in it") {
    // Specials at every offset across the 16/32-byte blocks of the fast path, then random mixes.
    std::vector<std::string> texts = random_texts(3000, 42);
    for (std::size_t len = 0; len < 70; ++len) {
        for (const char special : std::string("&<>\"'")) {
            for (std::size_t at = 0; at < len; at += 7) {
                std::string s(len, 'x');
                s[at] = special;
                texts.push_back(s);
            }
        }
        texts.push_back(std::string(len, 'x'));
    }
    for (const std::string& text : texts) {
        CAPTURE(text);
        const auto content = decode_html(encode_html_content(text));
        REQUIRE(content.has_value());
        CHECK(*content == text);
        const auto attribute = decode_html(encode_html_attribute(text), /*attribute_strict=*/true);
        REQUIRE(attribute.has_value());
        CHECK(*attribute == replace_nul(text));
    }
}

TEST_CASE("HTML appenders add to a buffer without disturbing what it holds") {
    std::string out = "<p>";
    append_html_content(out, "a<b");
    out += "</p><a title=\"";
    append_html_attribute(out, "x y");
    out += "\">";
    CHECK(out == "<p>a&lt;b</p><a title=\"x&#x20;y\">");
}

// ---------------------------------------------------------------------------------------------
// UTF-8 and text rules

TEST_CASE("UTF-8 faults are found with their kind and byte offset") {
    struct Row {
        std::string text;
        std::size_t offset;
        Utf8FaultKind kind;
    };
    const Row rows[] = {
        {"\xC0\x80", 0, Utf8FaultKind::overlong},                       // NUL in two bytes
        {"ab\xC1\xBF", 2, Utf8FaultKind::overlong},
        {"\xE0\x80\xAF", 0, Utf8FaultKind::overlong},                   // '/' in three bytes
        {"\xF0\x82\x82\xAC", 0, Utf8FaultKind::overlong},               // euro sign in four bytes
        {"x\xED\xA0\x80", 1, Utf8FaultKind::surrogate},                 // U+D800
        {"\xED\xBF\xBF", 0, Utf8FaultKind::surrogate},                  // U+DFFF
        {"\xF4\x90\x80\x80", 0, Utf8FaultKind::beyond_max},             // U+110000
        {"\xF5\x80\x80\x80", 0, Utf8FaultKind::invalid_byte},
        {"abc\xFF", 3, Utf8FaultKind::invalid_byte},
        {"\x80", 0, Utf8FaultKind::unexpected_continuation},
        {"\xC3\xA9\xA9", 2, Utf8FaultKind::unexpected_continuation},
        {"\xE2\x82", 0, Utf8FaultKind::truncated},                      // cut at the end
        {"\xE2\x28\xA1", 0, Utf8FaultKind::truncated},                  // cut by an ASCII byte
        {"\xF0\x9F\x98", 0, Utf8FaultKind::truncated},
        {"0123456789abcdef\xC3", 16, Utf8FaultKind::truncated},         // after the word-at-a-time run
    };
    for (const Row& r : rows) {
        CAPTURE(r.text);
        const auto fault = find_utf8_fault(r.text);
        REQUIRE(fault.has_value());
        CHECK(fault->offset == r.offset);
        CHECK(fault->kind == r.kind);
        const auto checked = validate_utf8(r.text, "note");
        REQUIRE_FALSE(checked);
        CHECK(checked.error() == SanitizeErrc::invalid_utf8);
        CHECK(checked.error().detail() == "note: " + std::string(to_string(r.kind)) + " at byte " + std::to_string(r.offset));
    }
    for (const char* ok : {"", "plain", "Jos\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\xED\x9F\xBF" /* U+D7FF */,
                           "\xEE\x80\x80" /* U+E000 */, "\xF4\x8F\xBF\xBF" /* U+10FFFF */}) {
        CAPTURE(ok);
        CHECK_FALSE(find_utf8_fault(ok).has_value());
        CHECK(validate_utf8(ok).has_value());
    }
}

namespace {

/// The reference: decode by the definition (scalar value from the bits, shortest form, range).
bool reference_valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = 0;
        std::uint32_t cp = 0;
        if (c < 0x80) { n = 1; cp = c; }
        else if ((c & 0xE0) == 0xC0) { n = 2; cp = c & 0x1F; }
        else if ((c & 0xF0) == 0xE0) { n = 3; cp = c & 0x0F; }
        else if ((c & 0xF8) == 0xF0) { n = 4; cp = c & 0x07; }
        else return false;
        if (i + n > s.size()) return false;
        for (std::size_t k = 1; k < n; ++k) {
            const auto d = static_cast<unsigned char>(s[i + k]);
            if ((d & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (d & 0x3F);
        }
        const std::uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += n;
    }
    return true;
}

}  // namespace

TEST_CASE("the UTF-8 check agrees with a decoder written from the definition on every 1-3 byte input") {
    std::string s;
    std::size_t disagreements = 0;
    for (unsigned a = 0; a < 256; ++a) {
        s.assign(1, static_cast<char>(a));
        disagreements += find_utf8_fault(s).has_value() == reference_valid_utf8(s);
        for (unsigned b = 0; b < 256; ++b) {
            s.assign({static_cast<char>(a), static_cast<char>(b)});
            disagreements += find_utf8_fault(s).has_value() == reference_valid_utf8(s);
            if (a < 0xE0 || a > 0xF4) continue;  // three-byte inputs: only where the lead byte matters
            for (unsigned c = 0; c < 256; c += (a >= 0xF0 ? 1 : 3)) {
                s.assign({static_cast<char>(a), static_cast<char>(b), static_cast<char>(c)});
                disagreements += find_utf8_fault(s).has_value() == reference_valid_utf8(s);
                if (a >= 0xF0) {
                    s += '\x80';
                    disagreements += find_utf8_fault(s).has_value() == reference_valid_utf8(s);
                }
            }
        }
    }
    CHECK(disagreements == 0);
}

TEST_CASE("text rules count code points and refuse control characters, naming the field but not the value") {
    const TextRules name{1, 4, false, false};
    CHECK(validate_text("Jos\xC3\xA9", name, "name").has_value());  // four code points, five bytes

    auto too_long = validate_text("Josef", name, "name");
    REQUIRE_FALSE(too_long);
    CHECK(too_long.error() == SanitizeErrc::too_long);
    CHECK(too_long.error().detail() == "name: longer than 4 characters");

    auto empty = validate_text("", name, "name");
    REQUIRE_FALSE(empty);
    CHECK(empty.error() == SanitizeErrc::too_short);
    CHECK(empty.error().detail() == "name: empty");

    SUBCASE("C0, DEL and C1 controls are refused; line breaks only when allowed") {
        TextRules note{0, 100, false, false};
        for (const char* bad : {"a\x01z", "a\x1bz", "a\x7fz", "a\xC2\x85z", "a\nz", "a\tz", "a\rz"}) {
            CAPTURE(bad);
            auto r = validate_text(bad, note, "note");
            REQUIRE_FALSE(r);
            CHECK(r.error() == SanitizeErrc::control_character);
            CHECK(r.error().detail().find("at byte 1") != std::string::npos);
            CHECK(r.error().detail().find("a\x01z") == std::string::npos);
        }
        auto c1 = validate_text("a\xC2\x85z", note, "note");
        CHECK(c1.error().detail() == "note: control character U+0085 at byte 1");
        note.allow_line_breaks = true;
        CHECK(validate_text("line one\r\nline two\tend", note, "note").has_value());
        CHECK_FALSE(validate_text("a\x01z", note, "note").has_value());
    }
    SUBCASE("bidirectional overrides are refused unless allowed; marks are fine") {
        TextRules note{0, 100, false, false};
        auto rlo = validate_text("invoice\xE2\x80\xAEgpj.exe", note, "file");
        REQUIRE_FALSE(rlo);
        CHECK(rlo.error().detail() == "file: control character U+202E at byte 7");
        CHECK_FALSE(validate_text("a\xE2\x81\xA6z", note, "x").has_value());  // U+2066 isolate
        CHECK(validate_text("a\xE2\x80\x8Fz", note, "x").has_value());        // U+200F RLM
        note.allow_bidi_controls = true;
        CHECK(validate_text("invoice\xE2\x80\xAEgpj.exe", note, "file").has_value());
    }
    SUBCASE("invalid UTF-8 is reported before anything else") {
        auto r = validate_text("\xC0\x80", name, "name");
        REQUIRE_FALSE(r);
        CHECK(r.error() == SanitizeErrc::invalid_utf8);
    }
}

// ---------------------------------------------------------------------------------------------
// Email

TEST_CASE("email addresses are accepted in their common forms and normalised for comparison") {
    for (const char* ok : {"ada@example.org", "Ada.Lovelace+crm@Example.ORG", "o'brien@mail.co.uk", "x@a-b.io",
                           "user_name-1@sub.domain.example", "  padded@example.com\n", "jos\xC3\xA9@exampl\xC3\xA9.fr",
                           "!#$%&'*+-/=?^_`{|}~@example.com"}) {
        CAPTURE(ok);
        auto e = EmailAddress::parse(ok);
        CHECK_MESSAGE(e.has_value(), (e ? "" : e.error().message()));
    }
    auto e = EmailAddress::parse("  Ada.Lovelace+CRM@Example.ORG ").value();
    CHECK(e.address() == "Ada.Lovelace+CRM@Example.ORG");
    CHECK(e.normalized() == "ada.lovelace+crm@example.org");
    CHECK(e.local_part() == "ada.lovelace+crm");
    CHECK(e.domain() == "example.org");
    CHECK(e == EmailAddress::parse("ada.lovelace+crm@example.org").value());
}

TEST_CASE("malformed email addresses are refused with the rule they break") {
    struct Row {
        std::string text;
        std::string detail;
    };
    const Row rows[] = {
        {"", "empty"},
        {"ada.example.org", "missing '@'"},
        {"@example.org", "empty local part"},
        {"ada@", "empty domain"},
        {".ada@example.org", "local part begins or ends with '.'"},
        {"ada.@example.org", "local part begins or ends with '.'"},
        {"a..da@example.org", "consecutive dots in the local part"},
        {"a@b@example.org", "more than one '@'"},
        {"ada lovelace@example.org", "character not allowed in the local part"},
        {"\"ada\"@example.org", "quoted local parts are not accepted"},
        {"ada@[192.0.2.1]", "IP-address domains are not accepted"},
        {"ada@localhost", "domain has no '.'"},
        {"ada@example..org", "empty label in the domain"},
        {"ada@example.org.", "empty label in the domain"},
        {"ada@-example.org", "domain label begins or ends with '-'"},
        {"ada@exa_mple.org", "character not allowed in the domain"},
        {"ada@example.123", "top-level domain is numeric"},
        {std::string(65, 'a') + "@example.org", "local part longer than 64 bytes"},
        {"ada@" + std::string(64, 'a') + ".org", "domain label longer than 63 bytes"},
        {"ada@" + std::string(250, 'a') + ".org", "longer than 254 bytes"},
    };
    for (const Row& r : rows) {
        CAPTURE(r.text);
        auto e = EmailAddress::parse(r.text);
        REQUIRE_FALSE(e);
        CHECK(e.error() == SanitizeErrc::invalid_email);
        CHECK(e.error().detail() == r.detail);
    }
    auto control = EmailAddress::parse("ada\x07@example.org");
    REQUIRE_FALSE(control);
    CHECK(control.error() == SanitizeErrc::control_character);
    auto bad_utf8 = EmailAddress::parse("ada\xC0\x80@example.org");
    REQUIRE_FALSE(bad_utf8);
    CHECK(bad_utf8.error() == SanitizeErrc::invalid_utf8);
}

// ---------------------------------------------------------------------------------------------
// NoSQL guard

TEST_CASE("the NoSQL guard refuses operator keys anywhere, naming the JSON Pointer") {
    const NoSqlGuard guard;
    struct Row {
        const char* body;
        SanitizeErrc reason;
        const char* path;
    };
    const Row rows[] = {
        {R"({"username": {"$ne": null}, "password": {"$ne": null}})", SanitizeErrc::operator_key, "/password/$ne"},
        {R"({"$where": "1 == 1"})", SanitizeErrc::operator_key, "/$where"},
        {R"({"filter": [{"name": "x"}, {"age": {"$gt": ""}}]})", SanitizeErrc::operator_key, "/filter/1/age/$gt"},
        {R"([[[{"$regex": "^m"}]]])", SanitizeErrc::operator_key, "/0/0/0/$regex"},
        {R"({"q": {"$in": ["a", "b"]}})", SanitizeErrc::operator_key, "/q/$in"},
        {R"({"__proto__": {"admin": true}})", SanitizeErrc::prototype_key, "/__proto__"},
        {R"({"a": [{"constructor": {"prototype": {"x": 1}}}]})", SanitizeErrc::prototype_key, "/a/0/constructor"},
        {R"({"profile": {"name.first": "x"}})", SanitizeErrc::dotted_key, "/profile/name.first"},
        {R"({"a/b": {"~c.d": 1}})", SanitizeErrc::dotted_key, "/a~1b/~0c.d"},
    };
    for (const Row& r : rows) {
        CAPTURE(r.body);
        const json doc = json::parse(r.body);
        const auto v = guard.find_violation(doc);
        REQUIRE(v.has_value());
        CHECK(v->reason == r.reason);
        CHECK(v->path == r.path);
        auto checked = guard.check(doc);
        REQUIRE_FALSE(checked);
        CHECK(checked.error() == r.reason);
        CHECK(checked.error().detail().find(std::string("at ") + r.path + ":") == 0);
    }
    // Values are data, however they look.
    CHECK(guard.check(json::parse(R"({"price": "$100", "note": "a.b", "tags": ["$ne", "__proto__"]})")).has_value());
}

TEST_CASE("the NoSQL guard refuses an object or array where the application expects a scalar") {
    NoSqlGuardConfig config;
    config.scalar_paths = {"/username", "/password", "/contacts/*/phone"};
    const NoSqlGuard guard = NoSqlGuard::create(config).value();

    auto v = guard.find_violation(json::parse(R"({"username": "ada", "password": {"ne": 1}})"));
    REQUIRE(v.has_value());
    CHECK(v->reason == SanitizeErrc::operator_object);
    CHECK(v->path == "/password");
    v = guard.find_violation(json::parse(R"({"username": ["ada", "root"]})"));
    REQUIRE(v.has_value());
    CHECK(v->path == "/username");
    v = guard.find_violation(json::parse(R"({"contacts": [{"phone": "+1"}, {"phone": {"gt": ""}}]})"));
    REQUIRE(v.has_value());
    CHECK(v->path == "/contacts/1/phone");
    CHECK(guard.check(json::parse(R"({"username": "ada", "password": null, "contacts": [{"phone": 1}], "other": {"x": 1}})"))
              .has_value());

    SUBCASE("an operator object keeps its own verdict when its keys are operators too") {
        auto r = guard.check(json::parse(R"({"password": {"$ne": null}})"));
        REQUIRE_FALSE(r);
        CHECK(r.error() == SanitizeErrc::operator_object);
    }
}

TEST_CASE("the NoSQL guard's lenient mode removes offending members and reports them") {
    NoSqlGuardConfig config;
    config.scalar_paths = {"/password"};
    const NoSqlGuard guard = NoSqlGuard::create(config).value();
    const json doc = json::parse(R"({
        "username": "ada",
        "password": {"$ne": null},
        "profile": {"$set": {"admin": true}, "city": "London", "__proto__": {"x": 1}, "a.b": 2},
        "list": [1, {"$gt": 3, "ok": true}, "$keep"]
    })");
    auto cleaned = guard.clean(doc);
    REQUIRE(cleaned.has_value());
    CHECK(cleaned->document == json::parse(R"({
        "username": "ada",
        "profile": {"city": "London"},
        "list": [1, {"ok": true}, "$keep"]
    })"));
    REQUIRE(cleaned->removed.size() == 5);
    CHECK(cleaned->removed[0].path == "/list/1/$gt");
    CHECK(cleaned->removed[0].reason == SanitizeErrc::operator_key);
    CHECK(cleaned->removed[1].path == "/password");
    CHECK(cleaned->removed[1].reason == SanitizeErrc::operator_object);
    CHECK(cleaned->removed[2].path == "/profile/$set");
    CHECK(cleaned->removed[3].path == "/profile/__proto__");
    CHECK(cleaned->removed[3].reason == SanitizeErrc::prototype_key);
    CHECK(cleaned->removed[4].path == "/profile/a.b");
    CHECK(cleaned->removed[4].reason == SanitizeErrc::dotted_key);
    CHECK(guard.check(cleaned->document).has_value());

    SUBCASE("a clean document comes back unchanged with nothing removed") {
        const json ok = json::parse(R"({"a": [1, {"b": "c"}], "d": null})");
        auto same = guard.clean(ok);
        REQUIRE(same.has_value());
        CHECK(same->document == ok);
        CHECK(same->removed.empty());
    }
}

TEST_CASE("the NoSQL guard refuses documents over the depth, size and key limits in both modes") {
    NoSqlGuardConfig config;
    config.limits.max_depth = 4;
    config.limits.max_keys = 3;
    config.limits.max_bytes = 20;
    config.limits.max_values = 10;
    const NoSqlGuard guard = NoSqlGuard::create(config).value();

    CHECK(guard.check(json::parse(R"([[[[1]]]])")).has_value());
    auto deep = guard.check(json::parse(R"([[[[[1]]]]])"));
    REQUIRE_FALSE(deep);
    CHECK(deep.error() == SanitizeErrc::too_deep);
    auto keys = guard.check(json::parse(R"({"a": 1, "b": 2, "c": {"d": 3}})"));
    REQUIRE_FALSE(keys);
    CHECK(keys.error() == SanitizeErrc::too_many_keys);
    auto bytes = guard.check(json::parse(R"(["0123456789", "0123456789!"])"));
    REQUIRE_FALSE(bytes);
    CHECK(bytes.error() == SanitizeErrc::too_large);
    auto values = guard.check(json::parse(R"([1,2,3,4,5,6,7,8,9,10])"));
    REQUIRE_FALSE(values);
    CHECK(values.error() == SanitizeErrc::too_large);
    auto lenient = guard.clean(json::parse(R"([[[[[1]]]]])"));
    REQUIRE_FALSE(lenient);
    CHECK(lenient.error() == SanitizeErrc::too_deep);
}

TEST_CASE("the NoSQL guard's parser enforces the limits before building a tree") {
    const NoSqlGuard guard;  // depth 32
    auto ok = guard.parse(R"({"a": [1, 2, {"b": null}]})");
    REQUIRE(ok.has_value());
    CHECK((*ok)["a"][2].contains("b"));

    const std::string hostile(200'000, '[');  // would be a 200,000-deep tree
    auto deep = guard.parse(hostile);
    REQUIRE_FALSE(deep);
    CHECK(deep.error() == SanitizeErrc::too_deep);

    auto malformed = guard.parse(R"({"a": )");
    REQUIRE_FALSE(malformed);
    CHECK(malformed.error() == SanitizeErrc::malformed_json);
    auto trailing = guard.parse(R"({} x)");
    REQUIRE_FALSE(trailing);
    CHECK(trailing.error() == SanitizeErrc::malformed_json);
    // Found by the hostile-input catalogue: nlohmann's reader stops at a raw NUL, so text after one
    // went unread; and a repeated key let two readers see two documents (the last value won).
    auto after_nul = guard.parse(std::string_view("{\"ids\":[\"a\"]}\0{\"ids\":[\"b\"]}", 27));
    REQUIRE_FALSE(after_nul);
    CHECK(after_nul.error() == SanitizeErrc::malformed_json);
    CHECK(after_nul.error().message().find("NUL") != std::string::npos);
    auto repeated = guard.parse(R"({"ids":["nope"],"ids":["c_1"]})");
    REQUIRE_FALSE(repeated);
    CHECK(repeated.error() == SanitizeErrc::malformed_json);
    auto nested_repeat = guard.parse(R"({"a":{"b":1,"b":{"$ne":null}}})");
    REQUIRE_FALSE(nested_repeat);
    CHECK(nested_repeat.error() == SanitizeErrc::malformed_json);
    // The same key in sibling objects, or in an object and its parent, is fine.
    CHECK(guard.parse(R"({"a":{"id":1},"b":{"id":2},"id":3,"l":[{"id":1},{"id":2}]})").has_value());

    NoSqlGuardConfig small;
    small.limits.max_bytes = 20;
    small.limits.max_keys = 2;
    const NoSqlGuard tight = NoSqlGuard::create(small).value();
    auto big = tight.parse(R"(["0123456789abcdefgh"])");
    REQUIRE_FALSE(big);
    CHECK(big.error() == SanitizeErrc::too_large);
    auto many = tight.parse(R"({"a":1,"b":2,"c":3})");
    REQUIRE_FALSE(many);
    CHECK(many.error() == SanitizeErrc::too_many_keys);
}

TEST_CASE("a NoSQL guard configuration with impossible limits or bad paths is refused") {
    NoSqlGuardConfig c;
    c.limits.max_depth = 0;
    CHECK(NoSqlGuard::create(c).error() == ConfigErrc::invalid_value);
    c.limits.max_depth = 513;
    CHECK(NoSqlGuard::create(c).error() == ConfigErrc::invalid_value);
    c = {};
    c.limits.max_keys = 0;
    CHECK(NoSqlGuard::create(c).error() == ConfigErrc::invalid_value);
    c = {};
    c.scalar_paths = {"password"};
    auto r = NoSqlGuard::create(c);
    REQUIRE_FALSE(r);
    CHECK(r.error().detail().find("'password' is not a JSON Pointer") != std::string::npos);
    c.scalar_paths = {"/a~2"};
    CHECK_FALSE(NoSqlGuard::create(c).has_value());
}

// ---------------------------------------------------------------------------------------------
// Lead schema

TEST_CASE("a valid lead is normalised") {
    LeadSchemaConfig config;
    config.default_region = "US";
    config.require = ContactRequirement::phone_or_email;
    config.custom_fields = {{"company", CustomFieldType::text, true, {1, 100, false, false}},
                            {"budget_eur", CustomFieldType::number, false, {}},
                            {"vip", CustomFieldType::boolean, false, {}},
                            {"assistant_email", CustomFieldType::email, false, {}},
                            {"office_phone", CustomFieldType::phone, false, {}}};
    const LeadSchema schema = LeadSchema::create(config).value();
    LeadInput in;
    in.name = "  Ada Lovelace ";
    in.email = "Ada@Example.org";
    in.phone = "(415) 555-0123";
    in.source = "WhatsApp";
    in.custom = {{"company", " Analytical Engines "}, {"budget_eur", "1200.50"}, {"vip", "YES"},
                 {"assistant_email", "Charles@Example.org"}, {"office_phone", "+44 20 7946 0958"}};
    auto lead = schema.validate(in);
    REQUIRE_MESSAGE(lead.has_value(), (lead ? "" : lead.error().message()));
    CHECK(lead->name == "Ada Lovelace");
    CHECK(lead->email->normalized() == "ada@example.org");
    CHECK(lead->phone->e164() == "+14155550123");
    CHECK(lead->source == "whatsapp");
    using Pair = std::pair<std::string, std::string>;
    CHECK(lead->custom == std::vector<Pair>{{"company", "Analytical Engines"}, {"budget_eur", "1200.50"}, {"vip", "true"},
                                            {"assistant_email", "charles@example.org"}, {"office_phone", "+442079460958"}});
    CHECK(schema.check(in).empty());
}

TEST_CASE("every problem with a lead is reported by field, without the values") {
    LeadSchemaConfig config;
    config.custom_fields = {{"company", CustomFieldType::text, true, {1, 5, false, false}},
                            {"budget_eur", CustomFieldType::number, false, {}}};
    const LeadSchema schema = LeadSchema::create(config).value();
    LeadInput in;
    in.name = "";
    in.email = "not-an-email";
    in.phone = "12";
    in.source = "carrier-pigeon";
    in.custom = {{"company", "Much too long"}, {"budget_eur", "12 EUR"}, {"favourite_colour", "red"}, {"Bad Name", "x"}};
    const auto errors = schema.check(in);
    std::vector<std::string> fields;
    for (const auto& e : errors) fields.push_back(e.field);
    CHECK(fields == std::vector<std::string>{"name", "email", "phone", "source", "custom.company", "custom.budget_eur",
                                             "custom.favourite_colour", "custom"});
    CHECK(errors[0].error == SanitizeErrc::too_short);
    CHECK(errors[1].error == SanitizeErrc::invalid_email);
    CHECK(errors[2].error.code().category() == phone_category());
    CHECK(errors[3].error == SanitizeErrc::invalid_value);
    CHECK(errors[3].error.detail() == "not one of: direct, integration, webhook, whatsapp");
    CHECK(errors[4].error == SanitizeErrc::too_long);
    CHECK(errors[5].error == SanitizeErrc::wrong_type);
    CHECK(errors[6].error == SanitizeErrc::unknown_field);
    CHECK(errors[7].error == SanitizeErrc::invalid_value);

    auto result = schema.validate(in);
    REQUIRE_FALSE(result);
    CHECK(result.error() == SanitizeErrc::too_short);
    const std::string& detail = result.error().detail();
    CHECK(detail.find("name: empty; email: ") == 0);
    for (const char* value : {"not-an-email", "carrier-pigeon", "Much too long", "12 EUR", "red"})
        CHECK(detail.find(value) == std::string::npos);

    SUBCASE("required fields and contact channels") {
        LeadInput empty;
        empty.name = "Ada";
        empty.source = "direct";
        const auto missing = schema.check(empty);
        REQUIRE(missing.size() == 2);
        CHECK(missing[0].field == "phone");
        CHECK(missing[0].error == SanitizeErrc::missing_field);
        CHECK(missing[1].field == "custom.company");
        CHECK(missing[1].error == SanitizeErrc::missing_field);
    }
    SUBCASE("a custom field given twice") {
        LeadInput twice;
        twice.name = "Ada";
        twice.phone = "+14155550123";
        twice.source = "direct";
        twice.custom = {{"company", "A"}, {"company", "B"}};
        const auto e = schema.check(twice);
        REQUIRE(e.size() == 1);
        CHECK(e[0].field == "custom.company");
        CHECK(e[0].error.detail() == "given twice");
    }
}

TEST_CASE("a lead read from JSON goes through the NoSQL guard with every field a scalar") {
    LeadSchemaConfig config;
    config.custom_fields = {{"budget_eur", CustomFieldType::number, false, {}}, {"vip", CustomFieldType::boolean, false, {}}};
    const LeadSchema schema = LeadSchema::create(config).value();

    auto lead = schema.validate_json(json::parse(
        R"({"name": "Ada", "phone": "+14155550123", "email": null, "source": "webhook", "custom": {"budget_eur": 1200, "vip": true}})"));
    REQUIRE_MESSAGE(lead.has_value(), (lead ? "" : lead.error().message()));
    CHECK(lead->phone->e164() == "+14155550123");
    CHECK_FALSE(lead->email.has_value());
    CHECK(lead->custom == std::vector<std::pair<std::string, std::string>>{{"budget_eur", "1200"}, {"vip", "true"}});

    struct Row {
        const char* body;
        SanitizeErrc code;
        const char* detail_start;
    };
    const Row rows[] = {
        {R"({"name": "Ada", "phone": {"$ne": null}, "source": "webhook"})", SanitizeErrc::operator_object, "at /phone:"},
        {R"({"name": "Ada", "phone": ["+1", "+2"], "source": "webhook"})", SanitizeErrc::operator_object, "at /phone:"},
        {R"({"name": "Ada", "phone": "+14155550123", "source": "webhook", "custom": {"vip": {"$gt": 0}}})",
         SanitizeErrc::operator_object, "at /custom/vip:"},
        {R"({"name": "Ada", "phone": "+14155550123", "source": "webhook", "$where": "1"})", SanitizeErrc::operator_key,
         "at /$where:"},
        {R"({"name": "Ada", "phone": "+14155550123", "source": "webhook", "nmae": "x"})", SanitizeErrc::unknown_field,
         "unknown field 'nmae'"},
        {R"({"name": 7, "phone": "+14155550123", "source": "webhook"})", SanitizeErrc::wrong_type, "name: not a string"},
        {R"(["Ada"])", SanitizeErrc::wrong_type, "the lead is not a JSON object"},
    };
    for (const Row& r : rows) {
        CAPTURE(r.body);
        auto result = schema.validate_json(json::parse(r.body));
        REQUIRE_FALSE(result);
        CHECK(result.error() == r.code);
        CHECK(result.error().detail().find(r.detail_start) == 0);
    }
}

TEST_CASE("a lead schema configuration is checked when it is created") {
    LeadSchemaConfig c;
    c.custom_fields = {{"Company", CustomFieldType::text, false, {}}};
    CHECK(LeadSchema::create(c).error() == ConfigErrc::invalid_value);
    c.custom_fields = {{"company", CustomFieldType::text, false, {}}, {"company", CustomFieldType::number, false, {}}};
    CHECK(LeadSchema::create(c).error() == ConfigErrc::invalid_value);
    c = {};
    c.default_region = "USA";
    CHECK(LeadSchema::create(c).error() == ConfigErrc::invalid_value);
    c = {};
    c.sources = {"Direct"};
    CHECK(LeadSchema::create(c).error() == ConfigErrc::invalid_value);
    c = {};
    c.name = {10, 5, false, false};
    CHECK(LeadSchema::create(c).error() == ConfigErrc::invalid_value);
}

// ---------------------------------------------------------------------------------------------
// CSV

TEST_CASE("CSV cells are quoted by RFC 4180 and formula-like cells are neutralised") {
    CHECK(csv_cell("plain") == "plain");
    CHECK(csv_cell("") == "");
    CHECK(csv_cell("a,b") == "\"a,b\"");
    CHECK(csv_cell("say \"hi\"") == "\"say \"\"hi\"\"\"");
    CHECK(csv_cell("two\nlines") == "\"two\nlines\"");
    CHECK(csv_cell("=HYPERLINK(\"http://x\",\"y\")") == "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
    CHECK(csv_cell("+14155550123") == "\"'+14155550123\"");
    CHECK(csv_cell("-2+3") == "\"'-2+3\"");
    CHECK(csv_cell("@SUM(A1)") == "\"'@SUM(A1)\"");
    CHECK(csv_cell("\t=1") == "\"'\t=1\"");
    CHECK(csv_cell("\r=1") == "\"'\r=1\"");
    CHECK(csv_cell("a=1") == "a=1");  // only the first character matters
    CHECK_FALSE(csv_cell_needs_neutralising(" =1"));
}

TEST_CASE("a CSV export reads back as the original cells, neutralised ones with a leading quote") {
    const std::vector<std::string> originals = {"Ada", "=cmd|' /C calc'!A0", "a,\"b\"\r\nc", "", "-5", "Jos\xC3\xA9", "@x", "\tx"};
    std::vector<std::string_view> header = {"c1", "c2"};
    CsvWriter csv(header);
    std::vector<std::string_view> row(2);
    for (std::size_t i = 0; i + 1 < originals.size(); i += 2) {
        row[0] = originals[i];
        row[1] = originals[i + 1];
        REQUIRE(csv.row(row).has_value());
    }
    CHECK(csv.rows() == 4);
    CHECK(csv.str().substr(0, 7) == "c1,c2\r\n");
    const auto parsed = parse_csv(csv.str());
    REQUIRE(parsed.has_value());
    REQUIRE(parsed->size() == 5);
    for (std::size_t i = 0; i < originals.size(); ++i) {
        const std::string& got = (*parsed)[1 + i / 2][i % 2];
        const std::string expected = csv_cell_needs_neutralising(originals[i]) ? "'" + originals[i] : originals[i];
        CHECK(got == expected);
    }
}

TEST_CASE("a CSV row of the wrong width or with invalid UTF-8 is refused and nothing is written") {
    CsvWriter csv({"name", "phone"}, /*byte_order_mark=*/true);
    CHECK(csv.str() == "\xEF\xBB\xBFname,phone\r\n");
    auto narrow = csv.row({"only one"});
    REQUIRE_FALSE(narrow);
    CHECK(narrow.error() == SanitizeErrc::column_count);
    auto bad = csv.row({"ok", "\xFF"});
    REQUIRE_FALSE(bad);
    CHECK(bad.error() == SanitizeErrc::invalid_utf8);
    CHECK(bad.error().detail() == "column 2: invalid byte at byte 0");
    CHECK(csv.rows() == 0);
    CHECK(csv.str() == "\xEF\xBB\xBFname,phone\r\n");

    CsvWriter single({"note"});
    REQUIRE(single.row({""}).has_value());
    CHECK(single.str() == "note\r\n\"\"\r\n");  // not an empty line, which readers skip
}
