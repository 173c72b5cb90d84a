#include <heroshhi/core/errors.hpp>

#include <string>

namespace heroshhi {
namespace {

class PhoneCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "heroshhi.phone"; }
    std::string message(int ev) const override {
        switch (static_cast<PhoneErrc>(ev)) {
            case PhoneErrc::empty: return "empty phone number";
            case PhoneErrc::too_long_input: return "phone number input too long";
            case PhoneErrc::invalid_character: return "phone number contains an invalid character";
            case PhoneErrc::invalid_country_code: return "no valid country calling code";
            case PhoneErrc::not_a_number: return "not a phone number";
            case PhoneErrc::too_short: return "phone number too short";
            case PhoneErrc::too_long: return "phone number too long for E.164";
            case PhoneErrc::unknown_region: return "unknown default region";
        }
        return "unknown phone error";
    }
};

class ConfigCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "heroshhi.config"; }
    std::string message(int ev) const override {
        switch (static_cast<ConfigErrc>(ev)) {
            case ConfigErrc::invalid_value: return "invalid configuration value";
            case ConfigErrc::malformed: return "malformed configuration";
            case ConfigErrc::missing: return "missing configuration";
        }
        return "unknown configuration error";
    }
};

}  // namespace

const std::error_category& phone_category() noexcept {
    static const PhoneCategory c;
    return c;
}

const std::error_category& config_category() noexcept {
    static const ConfigCategory c;
    return c;
}

}  // namespace heroshhi
