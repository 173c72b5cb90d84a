// heroshhi — LeadSchema: the fields a new lead may carry and the checks lead intake applies to them,
// whatever the source (direct input, an integration, a form webhook, WhatsApp).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <heroshhi/core/phone_number.hpp>
#include <heroshhi/core/result.hpp>
#include <heroshhi/sanitize/email_address.hpp>
#include <heroshhi/sanitize/text_rules.hpp>

namespace heroshhi::sanitize {

/// What a custom field holds, and so how its value is checked and normalised.
enum class CustomFieldType {
    text,     ///< free text under the field's TextRules
    number,   ///< a decimal number ("-12", "3.50", "1e3"); kept as given
    boolean,  ///< true/false, yes/no, 1/0 in any case; normalised to "true" / "false"
    email,    ///< an EmailAddress; normalised to its normalized() form
    phone,    ///< a PhoneNumber (schema's default region); normalised to E.164
};

/// One custom field a tenant defines.
struct CustomFieldRule {
    std::string name;  ///< [a-z][a-z0-9_]{0,63}, e.g. "company", "budget_eur"
    CustomFieldType type = CustomFieldType::text;
    bool required = false;
    TextRules text{0, 500, false, false};  ///< for type text
};

/// Which contact channels a lead must have.
enum class ContactRequirement { phone, email, phone_or_email };

/// A tenant's lead schema.
struct LeadSchemaConfig {
    TextRules name{1, 200, false, false};
    ContactRequirement require = ContactRequirement::phone;
    /// ISO 3166 alpha-2 region for national-format numbers ("US"); empty: international only.
    std::string default_region;
    /// Allowed source tags, lowercase; the policy's four sources by default.
    std::vector<std::string> sources{"direct", "integration", "webhook", "whatsapp"};
    std::vector<CustomFieldRule> custom_fields;
    /// Keep custom fields the schema does not define (checked as text under
    /// unknown_custom_field_text) instead of refusing them with unknown_field.
    bool allow_unknown_custom_fields = false;
    TextRules unknown_custom_field_text{0, 500, false, false};
    std::size_t max_custom_fields = 50;
};

/// A lead as it arrives: raw strings. Empty email / phone mean "not given".
struct LeadInput {
    std::string name;
    std::string email;
    std::string phone;
    std::string phone_region;  ///< overrides the schema's default region for this lead
    std::string source;
    std::vector<std::pair<std::string, std::string>> custom;  ///< name, value
};

/// A lead that passed the schema, with its values normalised.
struct ValidLead {
    std::string name;  ///< surrounding whitespace removed
    std::optional<EmailAddress> email;
    std::optional<PhoneNumber> phone;
    std::string source;  ///< one of the schema's sources
    std::vector<std::pair<std::string, std::string>> custom;  ///< in input order, values normalised by type
};

/// One problem with one field. `field` is "name", "email", "phone", "source", "phone_region",
/// "custom" (the whole set) or "custom.<name>"; the error's code is a SanitizeErrc (or PhoneErrc for
/// the phone) and its detail never repeats the value.
struct FieldError {
    std::string field;
    Error error;
};

/// Checks leads against a tenant's schema. Immutable after creation; thread-safe.
class LeadSchema {
public:
    /// The default schema: a name of 1-200 characters, a phone number (international format),
    /// one of the four sources, no custom fields.
    LeadSchema();

    /// Checks the configuration (custom field names and duplicates, the region's form, sources
    /// non-empty and lowercase, TextRules with min <= max). Fails with ConfigErrc::invalid_value.
    static Result<LeadSchema> create(LeadSchemaConfig config);

    /// Every problem with `lead`, in field order (name, email, phone, source, custom); empty
    /// when it is valid. Throws only std::bad_alloc.
    std::vector<FieldError> check(const LeadInput& lead) const;

    /// The normalised lead, or the first problem's error with every problem listed in the detail
    /// ("name: empty; phone: phone number too short"). Throws only std::bad_alloc.
    Result<ValidLead> validate(const LeadInput& lead) const;

    /// Reads a lead from a JSON body (a form webhook, an API call) and validates it. Accepted:
    ///     {"name": "...", "email": "..." | null, "phone": "..." | null, "phone_region": "US",
    ///      "source": "...", "custom": {"company": "Acme", "budget_eur": 1200, "vip": true}}
    /// The body goes through a strict NoSqlGuard first, with every field a scalar: an operator
    /// object or operator key fails with its SanitizeErrc and the JSON Pointer. Unknown top-level
    /// keys fail with unknown_field; a non-string name/email/phone/source with wrong_type. Custom
    /// numbers and booleans are read as their JSON text; null means "not given".
    Result<ValidLead> validate_json(const nlohmann::json& body) const;

    const LeadSchemaConfig& config() const noexcept { return config_; }

private:
    explicit LeadSchema(LeadSchemaConfig config) : config_(std::move(config)) {}

    LeadSchemaConfig config_;
};

}  // namespace heroshhi::sanitize
