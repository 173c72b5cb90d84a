// heroshhi — error codes of the sanitize area: validators, the NoSQL-injection guard, CSV export.
#pragma once

#include <system_error>

namespace heroshhi::sanitize {

/// Why an input was refused. Category name: "heroshhi.sanitize". The Error detail names the field
/// or JSON path and the rule; it never repeats the offending value (it may be personal data).
enum class SanitizeErrc {
    invalid_utf8 = 1,   ///< not valid UTF-8: overlong form, surrogate, truncated sequence, stray byte
    control_character,  ///< a control character (C0, DEL, C1) or bidirectional override is not allowed here
    too_long,           ///< more code points (or bytes) than the field allows
    too_short,          ///< fewer code points than the field needs (an empty required field included)
    invalid_email,      ///< not an email address heroshhi accepts (see EmailAddress::parse)
    missing_field,      ///< a required field is absent
    unknown_field,      ///< a field the schema does not know
    wrong_type,         ///< a field has the wrong JSON type, or a value does not parse as its declared type
    invalid_value,      ///< a value outside the allowed set (an unknown lead source, a bad field name)
    operator_key,       ///< a JSON object key begins with '$' (a MongoDB query operator)
    dotted_key,         ///< a JSON object key contains '.' (a MongoDB path into another field)
    prototype_key,      ///< a JSON object key is __proto__, constructor or prototype (prototype pollution)
    operator_object,    ///< an object or array where a scalar is expected (e.g. {"$ne": null} as a password)
    too_deep,           ///< the JSON document nests deeper than the limit
    too_large,          ///< the JSON document is larger than the limit (bytes or values)
    too_many_keys,      ///< the JSON document has more object members than the limit
    malformed_json,     ///< the text is not JSON
    column_count,       ///< a CSV row has a different number of cells than the header
};

const std::error_category& sanitize_category() noexcept;
inline std::error_code make_error_code(SanitizeErrc e) noexcept { return {static_cast<int>(e), sanitize_category()}; }

}  // namespace heroshhi::sanitize

template <> struct std::is_error_code_enum<heroshhi::sanitize::SanitizeErrc> : std::true_type {};
