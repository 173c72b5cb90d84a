// heroshhi — error codes of the core area (phone numbers, identifiers, configuration).
#pragma once

#include <system_error>

namespace heroshhi {

/// Why a phone number could not be turned into E.164. Category name: "heroshhi.phone".
enum class PhoneErrc {
    empty = 1,             ///< nothing but whitespace was given
    too_long_input,        ///< the raw text is longer than PhoneNumber::max_input_length
    invalid_character,     ///< a letter or symbol that no phone number contains
    invalid_country_code,  ///< no country calling code could be found (give a default region)
    not_a_number,          ///< the text holds no recognisable phone number
    too_short,             ///< fewer digits than any real number has
    too_long,              ///< more digits than E.164 allows (15)
    unknown_region,        ///< the default region is not a two-letter ISO 3166 code
};

/// Faults in configuration handed to the library. Category name: "heroshhi.config".
enum class ConfigErrc {
    invalid_value = 1,  ///< a value is outside what the setting accepts
    malformed,          ///< the configuration text could not be parsed
    missing,            ///< a required setting or file is absent
};

const std::error_category& phone_category() noexcept;
const std::error_category& config_category() noexcept;

inline std::error_code make_error_code(PhoneErrc e) noexcept { return {static_cast<int>(e), phone_category()}; }
inline std::error_code make_error_code(ConfigErrc e) noexcept { return {static_cast<int>(e), config_category()}; }

}  // namespace heroshhi

template <> struct std::is_error_code_enum<heroshhi::PhoneErrc> : std::true_type {};
template <> struct std::is_error_code_enum<heroshhi::ConfigErrc> : std::true_type {};
