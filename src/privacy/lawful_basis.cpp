#include <heroshhi/privacy/lawful_basis.hpp>

namespace heroshhi::privacy {
namespace {

// The policy's "Lawful Basis" table and its sentence on marketing ("explicit consent for marketing
// communications"); retention from its "Data Retention" table.
constexpr std::array<ProcessingActivity, 5> activities{{
    {Activity::lead_management, "Lead Management", "Core CRM functionality", LegalBasis::contract,
     "As per the customer's retention setting; deleted leads are soft-deleted, then hard-deleted 30 days later",
     false, false},
    {Activity::whatsapp_messaging, "WhatsApp Messaging", "Customer communication", LegalBasis::contract,
     "As per the customer's retention setting; deleted with its lead (cascade)", false, false},
    {Activity::analytics, "Analytics", "Service improvement", LegalBasis::legitimate_interest,
     "Only aggregates without personal data are kept, indefinitely", true, false},
    {Activity::audit_logging, "Audit Logging", "Security and compliance", LegalBasis::legitimate_interest,
     "1 year, then automatically purged", true, false},
    {Activity::marketing, "Marketing Messages", "Marketing communications", LegalBasis::consent,
     "Consent records are kept with the contact and erased with it; opt-out records are kept indefinitely "
     "(after an erasure only as a keyed hash)",
     true, true},
}};

}  // namespace

std::string_view to_string(Activity a) noexcept {
    switch (a) {
        case Activity::lead_management: return "lead_management";
        case Activity::whatsapp_messaging: return "whatsapp_messaging";
        case Activity::analytics: return "analytics";
        case Activity::audit_logging: return "audit_logging";
        case Activity::marketing: return "marketing";
    }
    return "unknown";
}

std::string_view to_string(LegalBasis b) noexcept {
    switch (b) {
        case LegalBasis::contract: return "contract";
        case LegalBasis::legitimate_interest: return "legitimate_interest";
        case LegalBasis::consent: return "consent";
    }
    return "unknown";
}

std::optional<Activity> activity_from_string(std::string_view s) noexcept {
    for (const ProcessingActivity& a : activities)
        if (to_string(a.activity) == s) return a.activity;
    return std::nullopt;
}

std::span<const ProcessingActivity> lawful_basis_register() noexcept { return activities; }

const ProcessingActivity& processing_activity(Activity a) noexcept {
    for (const ProcessingActivity& row : activities)
        if (row.activity == a) return row;
    return activities.front();  // unreachable: every Activity has a row (tests check it)
}

}  // namespace heroshhi::privacy
