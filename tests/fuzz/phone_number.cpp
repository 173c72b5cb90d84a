// Fuzz target: phone number parsing (PhoneNumber::parse) with a default region. Input: the first
// byte picks the region (none, a few real ones, lower case, unknown, malformed), the rest is the
// raw text. Properties: over-long input is refused; a parsed number keeps its raw text, is E.164
// ("+" then 2 to 15 digits, no leading zero), and round-trips: its E.164 form and its WhatsApp
// digits parse (with no region, and with any region) back to the same number, its key rebuilds
// it, and parsing is deterministic.
#include <heroshhi/core/errors.hpp>
#include <heroshhi/core/phone_number.hpp>

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using heroshhi::PhoneNumber;
    static constexpr std::string_view regions[] = {"", "US", "GB", "DE", "BR", "IN", "FR", "JP", "us", "ZZ", "XX", "U"};
    if (size == 0) return 0;
    const std::string_view region = regions[data[0] % std::size(regions)];
    const std::string_view raw(reinterpret_cast<const char*>(data) + 1, size - 1);

    auto parsed = PhoneNumber::parse(raw, region);
    if (!parsed) {
        FUZZ_CHECK(parsed.error().code().category() == heroshhi::phone_category());
        return 0;
    }
    const PhoneNumber& n = *parsed;
    FUZZ_CHECK(raw.size() <= PhoneNumber::max_input_length);
    FUZZ_CHECK(n.raw() == raw);
    const std::string e164 = n.e164();
    FUZZ_CHECK(e164.size() >= 3 && e164.size() <= 16 && e164[0] == '+' && e164[1] != '0');
    for (char c : std::string_view(e164).substr(1)) FUZZ_CHECK(c >= '0' && c <= '9');
    FUZZ_CHECK(n.digits() == e164.substr(1));

    auto again = PhoneNumber::parse(e164);
    FUZZ_CHECK(again && *again == n && again->e164() == e164);
    auto with_region = PhoneNumber::parse(e164, region);
    FUZZ_CHECK(with_region && *with_region == n);
    auto wa_id = PhoneNumber::parse(n.digits());
    FUZZ_CHECK(wa_id && *wa_id == n);
    auto from_key = PhoneNumber::from_key(n.key());
    FUZZ_CHECK(from_key && *from_key == n && from_key->e164() == e164);
    auto twice = PhoneNumber::parse(raw, region);
    FUZZ_CHECK(twice && *twice == n);
    return 0;
}
