// Core types: ids, phone numbers, clocks, decisions, errors.
#include <doctest/doctest.h>

#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/decision.hpp>
#include <heroshhi/core/errors.hpp>
#include <heroshhi/core/ids.hpp>
#include <heroshhi/core/phone_number.hpp>

#include <cstring>
#include <random>
#include <string>
#include <type_traits>
#include <unordered_set>

using namespace heroshhi;
using namespace std::chrono_literals;

TEST_CASE("ids of different kinds are not interchangeable nor made implicitly from strings") {
    static_assert(!std::is_convertible_v<TenantId, ContactId>);
    static_assert(!std::is_convertible_v<ContactId, TenantId>);
    static_assert(!std::is_convertible_v<std::string, TenantId>);
    static_assert(!std::is_convertible_v<const char*, UserId>);
    static_assert(!std::is_convertible_v<UserId, MessageId>);
    static_assert(std::is_constructible_v<TenantId, std::string>);

    TenantId a{"acme"}, b{"acme"}, c{"other"};
    CHECK(a == b);
    CHECK(a != c);
    CHECK(a.value() == "acme");
    std::unordered_set<TenantId> set{a, b, c};
    CHECK(set.size() == 2);
}

TEST_CASE("phone numbers in every accepted format normalise to the same E.164") {
    struct Row {
        const char* raw;
        const char* region;
        const char* e164;
    };
    const Row rows[] = {
        {"+14155552671", "", "+14155552671"},
        {"+1 (415) 555-2671", "", "+14155552671"},
        {"14155552671", "", "+14155552671"},            // WhatsApp wa_id
        {"(415) 555-2671", "US", "+14155552671"},        // national with region
        {"415.555.2671", "us", "+14155552671"},          // region is case-insensitive
        {"  +1 415 555 2671\n", "", "+14155552671"},     // surrounding whitespace
        {"020 7946 0958", "GB", "+442079460958"},        // trunk 0 removed
        {"+44 (0)20 7946 0958", "", "+442079460958"},
        {"\xEF\xBC\x90\xEF\xBC\x92\xEF\xBC\x90 \xEF\xBC\x97\xEF\xBC\x99\xEF\xBC\x94\xEF\xBC\x96 "
         "\xEF\xBC\x90\xEF\xBC\x99\xEF\xBC\x95\xEF\xBC\x98", "GB", "+442079460958"},  // full-width digits
        {"\xEF\xBC\x8B" "1 415 555 2671", "", "+14155552671"},                    // full-width plus
        {"06 1234 5678", "IT", "+390612345678"},         // Italian leading zero kept
        {"+1 415 555 2671 ext. 12", "", "+14155552671"}, // extension dropped
        {"+1-415-555-2671 x12", "", "+14155552671"},
        {"5511987654321", "", "+5511987654321"},         // Brazilian wa_id
        {"+91 98765 43210", "", "+919876543210"},
        {"+1 415 555 0000", "", "+14155550000"},         // not "valid" by metadata, still accepted
        {"447911123456", "US", "+447911123456"},          // a wa_id given with a region
        {"4155552671", "US", "+14155552671"},             // bare national digits with a region
        {"2025550123", "US", "+12025550123"},             // both readings possible: the region wins
    };
    for (const Row& r : rows) {
        CAPTURE(r.raw);
        auto p = PhoneNumber::parse(r.raw, r.region);
        REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().message()));
        CHECK(p->e164() == r.e164);
        CHECK(p->raw() == r.raw);
        CHECK(p->digits() == std::string(r.e164).substr(1));
    }
}

TEST_CASE("a parsed number's E.164 text reads back as the same number") {
    // Found by the phone_number fuzz target: "+00" then a Nigerian number kept with two leading
    // zeros once gave +234004456767889, which reads back (trunk 0 stripped) as +23404456767889.
    const std::pair<const char*, const char*> inputs[] = {
        {"+00.23.40.00.4.45.67.-.67.889", "FR"}, {"06 1234 5678", "IT"}, {"+39 06 1234 5678", ""},
        {"020 7946 0958", "GB"}, {"+00 44 20 7946 0958", "FR"}, {"0803 123 4567", "NG"}};
    for (const auto& input : inputs) {
        CAPTURE(input.first);
        auto p = PhoneNumber::parse(input.first, input.second);
        REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().message()));
        auto again = PhoneNumber::parse(p->e164());
        REQUIRE(again.has_value());
        CHECK(again->e164() == p->e164());
        CHECK(*again == *p);
    }
}

TEST_CASE("garbage phone input is rejected with a reason") {
    struct Row {
        std::string raw;
        const char* region;
        PhoneErrc code;
    };
    const Row rows[] = {
        {"", "", PhoneErrc::empty},
        {"   \t", "", PhoneErrc::empty},
        {"call me maybe", "", PhoneErrc::invalid_character},
        {"+1 415 555 CALL", "", PhoneErrc::invalid_character},
        {"+1 415 <script>", "", PhoneErrc::invalid_character},
        {"415 555 2671", "", PhoneErrc::invalid_country_code},   // national form without a region
        {"+999 123 456 789", "", PhoneErrc::invalid_country_code},
        {"4155552671", "XX", PhoneErrc::unknown_region},
        {"4155552671", "USA", PhoneErrc::unknown_region},
        {"+1 2", "", PhoneErrc::too_short},
        {"+1 415 555 2671 555 2671 99", "", PhoneErrc::too_long},
        {std::string(200, '1'), "", PhoneErrc::too_long_input},
        {"+1 415\xFF 555 2671", "", PhoneErrc::invalid_character},  // invalid UTF-8
        {"1+4155552671", "", PhoneErrc::invalid_character},
        {"()--", "", PhoneErrc::not_a_number},
        {std::string("+1415\0" "5552671", 12), "", PhoneErrc::invalid_character},
        {"1234567", "", PhoneErrc::too_short},                   // +1 234567: no US number is that short
        {"0044 20 7946 0958", "US", PhoneErrc::too_long},        // 00 is not the US exit code
        {"+44 20 7946 0958 12345", "", PhoneErrc::too_long},
    };
    for (const Row& r : rows) {
        CAPTURE(r.raw);
        auto p = PhoneNumber::parse(r.raw, r.region);
        REQUIRE_FALSE(p.has_value());
        CHECK(p.error() == r.code);
        CHECK_FALSE(p.error().message().empty());
        CHECK(p.error().message().find("heroshhi.phone") == 0);
    }
}

namespace {

/// Parses `raw` both ways and checks that the answers are the same; returns whether the fast path
/// answered.
bool same_answer_both_ways(const std::string& raw, std::string_view region) {
    CAPTURE(raw);
    CAPTURE(region);
    const auto fast = PhoneNumber::parse(raw, region);
    const auto slow = detail::parse_phone_by_libphonenumber(raw, region);
    REQUIRE(fast.has_value() == slow.has_value());
    if (fast) {
        CHECK(fast->key() == slow->key());
        CHECK(fast->e164() == slow->e164());
    } else {
        CHECK(fast.error() == slow.error().code());
        CHECK(fast.error().message() == slow.error().message());
    }
    return detail::phone_fast_path_applies(raw, region);
}

}  // namespace

TEST_CASE("canonical phone input read by the fast path gives exactly libphonenumber's answer") {
    std::mt19937_64 random(20260101);  // fixed: a failure can be replayed
    auto digits = [&](std::size_t n) {
        std::string out;
        for (std::size_t i = 0; i < n; ++i) out += char('0' + random() % 10);
        return out;
    };
    int compared = 0, fast = 0;
    auto compare = [&](const std::string& raw, std::string_view region) {
        ++compared;
        if (same_answer_both_ways(raw, region)) ++fast;
    };

    SUBCASE("every calling code, national numbers of every length and first digit") {
        for (int code = 1; code < 1000; ++code) {
            const std::string cc = std::to_string(code);
            for (int k = 0; k < 8; ++k) {
                const std::size_t total = 7 + random() % 9;  // 7 to 15 digits, as E.164 allows
                if (total <= cc.size()) continue;
                const std::string number = cc + digits(total - cc.size());
                compare("+" + number, "");
                compare(number, "");                           // a wa_id
                compare("+" + number, k % 2 == 0 ? "US" : "de");  // a region changes nothing after '+'
            }
        }
        CHECK(compared > 20000);
        CHECK(fast > compared / 3);  // the fast path answered a good part, not only the easy cases
    }

    SUBCASE("where national prefixes are stripped or transformed") {
        // Argentina's mobile 9 and 15, Mexico's old mobile 1, Brazil's 0 and 90, NANP's 1, Italy's
        // leading zero, Russia's 8, the UK's 0, Australia's 183x, Nigeria, India, Indonesia.
        for (const char* start : {"549", "5411", "54911", "54221", "54015", "521", "5215", "52044", "5201", "5590",
                                  "5591", "5511", "55011", "11", "12", "1340", "390", "393", "3906", "78", "79",
                                  "440", "447", "61183", "6108", "2340", "2348", "9109", "916", "620", "628", "80",
                                  "800", "8820", "979", "3", "0", "999"})
            for (int k = 0; k < 40; ++k) {
                const std::size_t total = 7 + random() % 9;
                const std::string number = std::string(start) + digits(total > std::strlen(start) ? total - std::strlen(start) : 0);
                compare("+" + number, "");
                compare(number, "");
            }
        CHECK(fast > 0);
    }

    SUBCASE("written and national input is not read by the fast path") {
        CHECK_FALSE(detail::phone_fast_path_applies("+1 415 555 2671"));
        CHECK_FALSE(detail::phone_fast_path_applies("4155552671", "US"));
        CHECK_FALSE(detail::phone_fast_path_applies("+１４１５５５５２６７１"));
        CHECK_FALSE(detail::phone_fast_path_applies("+14155552671 ext. 3"));
        CHECK(detail::phone_fast_path_applies("+14155552671"));
        CHECK(detail::phone_fast_path_applies(" 14155552671\n"));
        CHECK(detail::phone_fast_path_applies("+447911123456", "US"));
        CHECK_FALSE(detail::phone_fast_path_applies("+11415555267"));  // NANP: a leading 1 may be a national prefix
        for (const char* raw : {"+1 415 555 2671", "(415) 555-2671", "+１４１５５５５２６７１", "+14155552671 ext. 3"})
            (void)same_answer_both_ways(raw, "US");
    }
}

TEST_CASE("phone numbers compare and hash by their E.164 key only") {
    auto a = PhoneNumber::parse("(415) 555-2671", "US").value();
    auto b = PhoneNumber::parse("14155552671").value();
    auto c = PhoneNumber::parse("+14155552672").value();
    CHECK(a == b);
    CHECK(a.raw() != b.raw());
    CHECK(a != c);
    CHECK(a < c);
    CHECK(a.key() == 14155552671ULL);
    CHECK(std::hash<PhoneNumber>{}(a) == std::hash<PhoneNumber>{}(b));
    static_assert(sizeof(a.key()) == 8);

    auto round = PhoneNumber::from_key(a.key());
    REQUIRE(round.has_value());
    CHECK(*round == a);
    CHECK(round->e164() == "+14155552671");
    CHECK_FALSE(PhoneNumber::from_key(0).has_value());
    CHECK_FALSE(PhoneNumber::from_key(1'000'000'000'000'000ULL).has_value());
}

TEST_CASE("the manual clock moves only when told and the system clock is in milliseconds") {
    ManualClock clock(from_unix_ms(1'000));
    CHECK(to_unix_ms(clock.now()) == 1'000);
    clock.advance(1500ms);
    CHECK(to_unix_ms(clock.now()) == 2'500);
    clock.set(from_unix_ms(42));
    CHECK(to_unix_ms(clock.now()) == 42);

    SystemClock system;
    const auto before = to_unix_ms(system.now());
    CHECK(before > 1'700'000'000'000);  // after Nov 2023: the clock is real and in ms
}

TEST_CASE("timestamps format and parse as UTC with milliseconds") {
    const Timestamp t = from_unix_ms(1'793'628'187'123);  // 2026-11-02T14:03:07.123Z
    CHECK(to_iso8601(t) == "2026-11-02T14:03:07.123Z");
    CHECK(to_display(t) == "2026-11-02 14:03 UTC");
    CHECK(parse_iso8601("2026-11-02T14:03:07.123Z") == t);
    CHECK(parse_iso8601("2026-11-02T14:03:07Z") == t - 123ms);
    CHECK(to_iso8601(from_unix_ms(0)) == "1970-01-01T00:00:00.000Z");
    CHECK_FALSE(parse_iso8601("2026-11-02 14:03:07Z"));
    CHECK_FALSE(parse_iso8601("2026-02-30T00:00:00Z"));
    CHECK_FALSE(parse_iso8601("2026-11-02T24:00:00Z"));
    CHECK_FALSE(parse_iso8601("2026-11-02T14:03:07.123"));
    CHECK_FALSE(parse_iso8601(""));
}

TEST_CASE("a decision carries its reason, notice and rule") {
    auto ok = Decision::allow("optout.not_opted_out");
    CHECK(ok.allowed());
    CHECK(static_cast<bool>(ok));
    CHECK(ok.reason() == Reason::allowed);
    CHECK(ok.rule() == "optout.not_opted_out");

    auto no = Decision::deny(Reason::opted_out, "Blocked: opted out", "optout.blocks_all");
    CHECK_FALSE(no.allowed());
    CHECK(no.reason() == Reason::opted_out);
    CHECK(no.notice() == "Blocked: opted out");
    CHECK(to_string(no.reason()) == "opted_out");
    CHECK(to_string(Reason::store_unavailable) == "store_unavailable");
}

TEST_CASE("errors name their category and say what was wrong") {
    Error e(PhoneErrc::too_short, "3 digits");
    CHECK(e == PhoneErrc::too_short);
    CHECK(e.message() == "heroshhi.phone: phone number too short: 3 digits");
    Error c(ConfigErrc::malformed);
    CHECK(c.message() == "heroshhi.config: malformed configuration");
    CHECK(std::error_code(PhoneErrc::empty) != std::error_code(ConfigErrc::invalid_value));
}

TEST_CASE("a Mexican number with legacy mobile 1s normalises to a form that reads back as itself") {
    // Found by the phone_number fuzz target: "52114149734036" read with region IN gave
    // "+5214149734036", which libphonenumber reads back as "+524149734036".
    auto n = PhoneNumber::parse("52114149734036", "IN");
    REQUIRE(n.has_value());
    auto again = PhoneNumber::parse(n->e164());
    REQUIRE(again.has_value());
    CHECK(*again == *n);
    CHECK(again->e164() == n->e164());
}
