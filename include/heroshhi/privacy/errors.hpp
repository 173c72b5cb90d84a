// heroshhi — error codes of the data-subject rights (privacy::).
#pragma once

#include <system_error>

namespace heroshhi::privacy {

/// Category name: "heroshhi.privacy". Authorization denials are not errors (an Attempt without a
/// value); these are the requests that cannot be carried out.
enum class PrivacyErrc {
    legal_hold = 1,   ///< the contact is under a legal hold: erasure (and deletion) is blocked until it is lifted
    not_found,        ///< no such contact or request in the tenant
    invalid_request,  ///< the request cannot apply: a subject that is not a contact id or pseudonym,
                      ///< a closed request moved on, an extension taken twice or after the deadline
    not_objectable,   ///< the activity is not open to objection, or this objection is not lifted this way
    export_failed,    ///< the output stream failed while an export was written
};

const std::error_category& privacy_category() noexcept;
inline std::error_code make_error_code(PrivacyErrc e) noexcept { return {static_cast<int>(e), privacy_category()}; }

}  // namespace heroshhi::privacy

template <> struct std::is_error_code_enum<heroshhi::privacy::PrivacyErrc> : std::true_type {};
