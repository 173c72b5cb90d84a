#include <heroshhi/audit/errors.hpp>

#include <string>

namespace heroshhi::audit {
namespace {

class AuditCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "heroshhi.audit"; }
    std::string message(int ev) const override {
        switch (static_cast<AuditErrc>(ev)) {
            case AuditErrc::invalid_entry: return "invalid audit entry";
            case AuditErrc::chain_broken: return "the audit chain is broken";
        }
        return "unknown audit error";
    }
};

}  // namespace

const std::error_category& audit_category() noexcept {
    static const AuditCategory c;
    return c;
}

}  // namespace heroshhi::audit
