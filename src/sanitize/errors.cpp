#include <heroshhi/sanitize/errors.hpp>

#include <string>

namespace heroshhi::sanitize {
namespace {

class SanitizeCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "heroshhi.sanitize"; }
    std::string message(int ev) const override {
        switch (static_cast<SanitizeErrc>(ev)) {
            case SanitizeErrc::invalid_utf8: return "invalid UTF-8";
            case SanitizeErrc::control_character: return "control character not allowed";
            case SanitizeErrc::too_long: return "too long";
            case SanitizeErrc::too_short: return "too short";
            case SanitizeErrc::invalid_email: return "invalid email address";
            case SanitizeErrc::missing_field: return "missing field";
            case SanitizeErrc::unknown_field: return "unknown field";
            case SanitizeErrc::wrong_type: return "wrong type";
            case SanitizeErrc::invalid_value: return "value not allowed";
            case SanitizeErrc::operator_key: return "key begins with '$'";
            case SanitizeErrc::dotted_key: return "key contains '.'";
            case SanitizeErrc::prototype_key: return "prototype-pollution key";
            case SanitizeErrc::operator_object: return "object or array where a scalar is expected";
            case SanitizeErrc::too_deep: return "JSON nested too deeply";
            case SanitizeErrc::too_large: return "JSON document too large";
            case SanitizeErrc::too_many_keys: return "JSON document has too many keys";
            case SanitizeErrc::malformed_json: return "malformed JSON";
            case SanitizeErrc::column_count: return "wrong number of CSV cells";
        }
        return "unknown sanitize error";
    }
};

}  // namespace

const std::error_category& sanitize_category() noexcept {
    static const SanitizeCategory c;
    return c;
}

}  // namespace heroshhi::sanitize
