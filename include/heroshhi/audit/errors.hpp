// heroshhi — error codes of the audit log.
#pragma once

#include <system_error>

namespace heroshhi::audit {

/// Category name: "heroshhi.audit".
enum class AuditErrc {
    invalid_entry = 1,  ///< no tenant, action or target type; tenants mixed in one append; a field over
                        ///< 512 bytes; or a phone number where an id belongs
    chain_broken,       ///< the stored chain failed verification, so a purge was refused (evidence is kept)
};

const std::error_category& audit_category() noexcept;
inline std::error_code make_error_code(AuditErrc e) noexcept { return {static_cast<int>(e), audit_category()}; }

}  // namespace heroshhi::audit

template <> struct std::is_error_code_enum<heroshhi::audit::AuditErrc> : std::true_type {};
