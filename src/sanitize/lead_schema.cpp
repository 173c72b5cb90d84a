#include <heroshhi/sanitize/lead_schema.hpp>

#include <heroshhi/core/errors.hpp>
#include <heroshhi/sanitize/errors.hpp>
#include <heroshhi/sanitize/nosql_guard.hpp>

#include <algorithm>
#include <set>
#include <string_view>

namespace heroshhi::sanitize {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

std::string lower_ascii(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

bool valid_field_name(std::string_view name) {
    if (name.empty() || name.size() > 64 || !(name.front() >= 'a' && name.front() <= 'z')) return false;
    return std::all_of(name.begin(), name.end(),
                       [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

/// A decimal number as JSON writes one: -?digits(.digits)?([eE][+-]?digits)?, at most 64 bytes.
bool is_number(std::string_view s) {
    if (s.empty() || s.size() > 64) return false;
    std::size_t i = 0;
    auto digits = [&] {
        const std::size_t start = i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
        return i > start;
    };
    if (s[i] == '-' || s[i] == '+') ++i;
    if (!digits()) return false;
    if (i < s.size() && s[i] == '.') {
        ++i;
        if (!digits()) return false;
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
        if (!digits()) return false;
    }
    return i == s.size();
}

std::optional<bool> as_boolean(std::string_view s) {
    const std::string v = lower_ascii(s);
    if (v == "true" || v == "yes" || v == "1") return true;
    if (v == "false" || v == "no" || v == "0") return false;
    return std::nullopt;
}

bool valid_region(std::string_view r) {
    return r.empty() || (r.size() == 2 && std::all_of(r.begin(), r.end(), [](char c) {
                             return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
                         }));
}

Result<void> check_rules(const TextRules& rules, std::string_view what) {
    if (rules.min_code_points > rules.max_code_points)
        return Error(ConfigErrc::invalid_value, std::string(what) + ": min_code_points is above max_code_points");
    return {};
}

/// Field errors keep the value out of the detail; prefix it with the field once.
FieldError field_error(std::string field, const Error& e) {
    std::string detail = e.detail();
    const std::string prefix = field + ": ";
    if (detail.rfind(prefix, 0) == 0) detail.erase(0, prefix.size());
    return FieldError{std::move(field), Error(e.code(), std::move(detail))};
}

FieldError field_error(std::string field, SanitizeErrc code, std::string detail) {
    return FieldError{std::move(field), Error(code, std::move(detail))};
}

/// Checks and normalises one custom value by its type.
std::optional<FieldError> custom_value(const CustomFieldRule& rule, std::string_view raw, const std::string& region,
                                       std::string& out) {
    const std::string field = "custom." + rule.name;
    const std::string_view value = trim(raw);
    switch (rule.type) {
        case CustomFieldType::text: {
            if (auto ok = validate_text(value, rule.text, field); !ok) return field_error(field, ok.error());
            out.assign(value);
            return std::nullopt;
        }
        case CustomFieldType::number:
            if (!is_number(value)) return field_error(field, SanitizeErrc::wrong_type, "not a number");
            out.assign(value);
            return std::nullopt;
        case CustomFieldType::boolean: {
            const auto b = as_boolean(value);
            if (!b) return field_error(field, SanitizeErrc::wrong_type, "not true or false");
            out = *b ? "true" : "false";
            return std::nullopt;
        }
        case CustomFieldType::email: {
            auto email = EmailAddress::parse(value);
            if (!email) return field_error(field, email.error());
            out = email->normalized();
            return std::nullopt;
        }
        case CustomFieldType::phone: {
            auto phone = PhoneNumber::parse(value, region);
            if (!phone) return field_error(field, phone.error());
            out = phone->e164();
            return std::nullopt;
        }
    }
    return field_error(field, SanitizeErrc::wrong_type, "unknown field type");
}

/// Does the real work of check() and validate(): fills `lead` as far as it is valid.
std::vector<FieldError> run(const LeadSchemaConfig& config, const LeadInput& input, ValidLead& lead) {
    std::vector<FieldError> errors;

    const std::string_view name = trim(input.name);
    if (auto ok = validate_text(name, config.name, "name"); !ok) errors.push_back(field_error("name", ok.error()));
    else lead.name.assign(name);

    const std::string_view email = trim(input.email);
    if (!email.empty()) {
        auto parsed = EmailAddress::parse(email);
        if (!parsed) errors.push_back(field_error("email", parsed.error()));
        else lead.email = std::move(parsed).value();
    }

    const std::string_view region_input = trim(input.phone_region);
    std::string region = config.default_region;
    if (!region_input.empty()) {
        if (!valid_region(region_input))
            errors.push_back(field_error("phone_region", SanitizeErrc::invalid_value, "not a two-letter region code"));
        else region.assign(region_input);
    }
    const std::string_view phone = trim(input.phone);
    if (!phone.empty()) {
        auto parsed = PhoneNumber::parse(phone, region);
        if (!parsed) errors.push_back(field_error("phone", parsed.error()));
        else lead.phone = std::move(parsed).value();
    }
    const bool email_given = !email.empty();
    const bool phone_given = !phone.empty();
    switch (config.require) {
        case ContactRequirement::phone:
            if (!phone_given) errors.push_back(field_error("phone", SanitizeErrc::missing_field, "required"));
            break;
        case ContactRequirement::email:
            if (!email_given) errors.push_back(field_error("email", SanitizeErrc::missing_field, "required"));
            break;
        case ContactRequirement::phone_or_email:
            if (!email_given && !phone_given)
                errors.push_back(field_error("phone", SanitizeErrc::missing_field, "a phone number or an email address is required"));
            break;
    }

    const std::string source = lower_ascii(trim(input.source));
    if (source.empty()) {
        errors.push_back(field_error("source", SanitizeErrc::missing_field, "required"));
    } else if (std::find(config.sources.begin(), config.sources.end(), source) == config.sources.end()) {
        std::string allowed;
        for (const std::string& s : config.sources) allowed += (allowed.empty() ? "" : ", ") + s;
        errors.push_back(field_error("source", SanitizeErrc::invalid_value, "not one of: " + allowed));
    } else {
        lead.source = source;
    }

    if (input.custom.size() > config.max_custom_fields) {
        errors.push_back(field_error("custom", SanitizeErrc::too_long,
                                     "more than " + std::to_string(config.max_custom_fields) + " custom fields"));
        return errors;
    }
    std::set<std::string_view> seen;
    for (const auto& entry : input.custom) {
        const std::string& raw_name = entry.first;  // not a structured binding: clang 14 cannot capture those
        const std::string& value = entry.second;
        if (!valid_field_name(raw_name)) {
            errors.push_back(field_error("custom", SanitizeErrc::invalid_value,
                                         "a custom field name is not of the form [a-z][a-z0-9_]{0,63}"));
            continue;
        }
        const std::string field = "custom." + raw_name;
        if (!seen.insert(raw_name).second) {
            errors.push_back(field_error(field, SanitizeErrc::invalid_value, "given twice"));
            continue;
        }
        const auto rule = std::find_if(config.custom_fields.begin(), config.custom_fields.end(),
                                       [&](const CustomFieldRule& r) { return r.name == raw_name; });
        CustomFieldRule unknown;
        if (rule == config.custom_fields.end()) {
            if (!config.allow_unknown_custom_fields) {
                errors.push_back(field_error(field, SanitizeErrc::unknown_field, "not defined by the schema"));
                continue;
            }
            unknown.name = raw_name;
            unknown.text = config.unknown_custom_field_text;
        }
        const CustomFieldRule& r = rule == config.custom_fields.end() ? unknown : *rule;
        if (trim(value).empty()) {
            if (r.required) errors.push_back(field_error(field, SanitizeErrc::missing_field, "required"));
            continue;
        }
        std::string normalized;
        if (auto e = custom_value(r, value, region, normalized)) errors.push_back(std::move(*e));
        else lead.custom.emplace_back(raw_name, std::move(normalized));
    }
    for (const CustomFieldRule& r : config.custom_fields)
        if (r.required && !seen.count(r.name))
            errors.push_back(field_error("custom." + r.name, SanitizeErrc::missing_field, "required"));
    return errors;
}

Result<ValidLead> as_result(std::vector<FieldError> errors, ValidLead lead) {
    if (errors.empty()) return lead;
    std::string detail;
    for (const FieldError& e : errors) {
        if (!detail.empty()) detail += "; ";
        detail += e.field;
        detail += ": ";
        detail += e.error.detail().empty() ? e.error.code().message() : e.error.detail();
    }
    return Error(errors.front().error.code(), std::move(detail));
}

/// A key from a request, fit for an error detail: printable ASCII only, at most 64 bytes.
std::string printable_key(std::string_view key) {
    std::string out;
    for (const char c : key.substr(0, 64)) out += (c >= 0x20 && c < 0x7F) ? c : '?';
    if (key.size() > 64) out += "...";
    return out;
}

/// The JSON value of a scalar custom field as text; nullopt for null.
std::optional<std::string> scalar_text(const nlohmann::json& v) {
    if (v.is_null()) return std::nullopt;
    if (v.is_string()) return v.get<std::string>();
    return v.dump();
}

}  // namespace

LeadSchema::LeadSchema() = default;

Result<LeadSchema> LeadSchema::create(LeadSchemaConfig config) {
    if (auto ok = check_rules(config.name, "name"); !ok) return ok.error();
    if (auto ok = check_rules(config.unknown_custom_field_text, "unknown_custom_field_text"); !ok) return ok.error();
    if (!valid_region(config.default_region))
        return Error(ConfigErrc::invalid_value, "default_region must be a two-letter ISO 3166 code");
    if (config.sources.empty()) return Error(ConfigErrc::invalid_value, "sources is empty");
    for (const std::string& s : config.sources)
        if (s.empty() || s != lower_ascii(trim(s)))
            return Error(ConfigErrc::invalid_value, "sources: '" + s + "' is not a lowercase tag");
    std::set<std::string_view> names;
    for (const CustomFieldRule& r : config.custom_fields) {
        if (!valid_field_name(r.name))
            return Error(ConfigErrc::invalid_value, "custom_fields: '" + r.name + "' is not of the form [a-z][a-z0-9_]{0,63}");
        if (!names.insert(r.name).second) return Error(ConfigErrc::invalid_value, "custom_fields: '" + r.name + "' defined twice");
        if (auto ok = check_rules(r.text, "custom_fields." + r.name); !ok) return ok.error();
    }
    return LeadSchema(std::move(config));
}

std::vector<FieldError> LeadSchema::check(const LeadInput& lead) const {
    ValidLead ignored;
    return run(config_, lead, ignored);
}

Result<ValidLead> LeadSchema::validate(const LeadInput& input) const {
    ValidLead lead;
    auto errors = run(config_, input, lead);
    return as_result(std::move(errors), std::move(lead));
}

Result<ValidLead> LeadSchema::validate_json(const nlohmann::json& body) const {
    static const NoSqlGuard guard = [] {
        NoSqlGuardConfig config;
        config.limits.max_depth = 3;  // an operator object inside "custom" is reported as such
        config.limits.max_bytes = 64 * 1024;
        config.limits.max_keys = 1000;
        config.scalar_paths = {"/name", "/email", "/phone", "/phone_region", "/source", "/custom/*"};
        return NoSqlGuard::create(std::move(config)).value();
    }();
    if (!body.is_object()) return Error(SanitizeErrc::wrong_type, "the lead is not a JSON object");
    if (auto ok = guard.check(body); !ok) return ok.error();

    LeadInput input;
    for (const auto& [key, value] : body.items()) {
        if (key == "custom") {
            if (!value.is_object()) return Error(SanitizeErrc::wrong_type, "custom: not an object");
            for (const auto& [name, v] : value.items())
                if (auto text = scalar_text(v)) input.custom.emplace_back(name, std::move(*text));
            continue;
        }
        std::string* target = key == "name"           ? &input.name
                              : key == "email"        ? &input.email
                              : key == "phone"        ? &input.phone
                              : key == "phone_region" ? &input.phone_region
                              : key == "source"       ? &input.source
                                                      : nullptr;
        if (target == nullptr) return Error(SanitizeErrc::unknown_field, "unknown field '" + printable_key(key) + "'");
        if (value.is_null()) continue;
        if (!value.is_string()) return Error(SanitizeErrc::wrong_type, key + ": not a string");
        *target = value.get<std::string>();
    }
    return validate(input);
}

}  // namespace heroshhi::sanitize
