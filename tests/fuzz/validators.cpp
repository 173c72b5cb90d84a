// Fuzz target: validators. The first byte picks one: UTF-8 against a decoder written from the
// definition, text rules, email syntax (normalisation is idempotent), or a lead read from JSON.
#include <heroshhi/sanitize/email_address.hpp>
#include <heroshhi/sanitize/lead_schema.hpp>
#include <heroshhi/sanitize/nosql_guard.hpp>
#include <heroshhi/sanitize/text_rules.hpp>
#include <heroshhi/sanitize/utf8.hpp>

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

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

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace heroshhi;
    using namespace heroshhi::sanitize;
    if (size == 0) return 0;
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 4) {
        case 0: {
            const auto fault = find_utf8_fault(text);
            FUZZ_CHECK(fault.has_value() == !reference_valid_utf8(text));
            if (fault) FUZZ_CHECK(fault->offset < text.size());
            if (!fault) FUZZ_CHECK(count_code_points(text) <= text.size());
            break;
        }
        case 1: {
            TextRules rules{1, 40, (data[0] & 0x10) != 0, (data[0] & 0x20) != 0};
            auto r = validate_text(text, rules, "field");
            if (r) {
                FUZZ_CHECK(reference_valid_utf8(text));
                const std::size_t n = count_code_points(text);
                FUZZ_CHECK(n >= 1 && n <= 40);
                for (const char c : text) FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 || rules.allow_line_breaks);
            } else {
                FUZZ_CHECK(r.error().detail().rfind("field: ", 0) == 0);
            }
            break;
        }
        case 2: {
            auto e = EmailAddress::parse(text);
            if (e) {
                FUZZ_CHECK(e->normalized().size() <= EmailAddress::max_length);
                FUZZ_CHECK(e->normalized().find('@') == e->local_part().size());
                auto again = EmailAddress::parse(e->normalized());
                FUZZ_CHECK(again.has_value());
                FUZZ_CHECK(again->normalized() == e->normalized());
                for (const char c : e->normalized()) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
            }
            break;
        }
        case 3: {
            static const NoSqlGuard parser;
            static const LeadSchema schema = [] {
                LeadSchemaConfig c;
                c.require = ContactRequirement::phone_or_email;
                c.allow_unknown_custom_fields = true;
                c.custom_fields = {{"budget", CustomFieldType::number, false, {}},
                                   {"vip", CustomFieldType::boolean, false, {}},
                                   {"office", CustomFieldType::phone, false, {}}};
                return LeadSchema::create(c).value();
            }();
            auto body = parser.parse(text);
            if (!body) break;
            auto lead = schema.validate_json(*body);
            if (lead) {
                FUZZ_CHECK(lead->phone.has_value() || lead->email.has_value());
                FUZZ_CHECK(validate_text(lead->name, schema.config().name, "name").has_value());
            }
            break;
        }
    }
    return 0;
}
