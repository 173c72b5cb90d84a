#include <heroshhi/privacy/errors.hpp>

#include <string>

namespace heroshhi::privacy {
namespace {

class PrivacyCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "heroshhi.privacy"; }
    std::string message(int ev) const override {
        switch (static_cast<PrivacyErrc>(ev)) {
            case PrivacyErrc::legal_hold: return "blocked by a legal hold";
            case PrivacyErrc::not_found: return "not found";
            case PrivacyErrc::invalid_request: return "invalid request";
            case PrivacyErrc::not_objectable: return "not open to objection";
            case PrivacyErrc::export_failed: return "the export could not be written";
        }
        return "unknown privacy error";
    }
};

}  // namespace

const std::error_category& privacy_category() noexcept {
    static const PrivacyCategory c;
    return c;
}

}  // namespace heroshhi::privacy
