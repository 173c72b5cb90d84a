// heroshhi — the lawful basis register: the data policy's processing activities, each with its
// purpose, legal basis and retention, as data the library and the access export read.
#pragma once

#include <array>
#include <optional>
#include <span>
#include <string_view>

namespace heroshhi::privacy {

/// The processing activities of the policy ("Lawful Basis" table, plus marketing messages, which
/// the policy puts on explicit consent). Every processing path of the library names one.
enum class Activity {
    lead_management,     ///< storing and working leads (contacts, their fields)
    whatsapp_messaging,  ///< service messages and message history
    analytics,           ///< aggregates for service improvement
    audit_logging,       ///< the audit trail
    marketing,           ///< marketing templates and campaigns
};

/// GDPR Art. 6(1) bases the policy uses.
enum class LegalBasis {
    contract,             ///< (b) contractual necessity: providing the service
    legitimate_interest,  ///< (f) legitimate interest: improvement and security
    consent,              ///< (a) explicit consent
};

std::string_view to_string(Activity a) noexcept;
std::string_view to_string(LegalBasis b) noexcept;
std::optional<Activity> activity_from_string(std::string_view s) noexcept;

/// One row of the register.
struct ProcessingActivity {
    Activity activity;
    std::string_view name;       ///< as the policy names it: "Lead Management"
    std::string_view purpose;    ///< "Core CRM functionality"
    LegalBasis basis;
    std::string_view retention;  ///< the policy's retention rule for the data the activity uses
    /// The data subject may object (Art. 21): activities on legitimate interest, and marketing
    /// (an absolute right). Contractual processing is not open to objection.
    bool objectable;
    /// Withdrawing consent stops the activity (Art. 7(3)): marketing.
    bool stops_on_withdrawal;
};

/// The register, in the policy's order. Constant; valid for the program's lifetime.
std::span<const ProcessingActivity> lawful_basis_register() noexcept;

/// The register's row for `a`.
const ProcessingActivity& processing_activity(Activity a) noexcept;

/// Whether an objection applies to `a` (see ProcessingActivity::objectable).
inline bool objection_applies(Activity a) noexcept { return processing_activity(a).objectable; }

}  // namespace heroshhi::privacy
