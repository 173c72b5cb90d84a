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

// An entry ending in '.' is a prefix (a family of actions); any other is one exact action name.
// Engine::authorize writes the host's own actions under their bare rbac::Action names ("read",
// "export", ...): the host works leads with them (core CRM functionality), exports them, or sends
// to them by hand ("send") or to a campaign ("send_campaign", marketing).
constexpr std::string_view service_actions[] = {"send.", "send"};
constexpr std::string_view marketing_actions[] = {"send.marketing_template", "send_campaign"};
constexpr std::string_view consent_actions[] = {"consent."};
constexpr std::string_view inbound_actions[] = {"opt_out.", "opt_in."};
constexpr std::string_view lead_actions[] = {
    "privacy.",          "restriction.apply", "restriction.lift", "read",   "create",
    "update",            "delete",            "bulk_delete",      "assign", "manage",
    "terminate_account", "transfer_ownership"};
constexpr std::string_view export_actions[] = {"privacy.access.", "privacy.export.", "export"};
constexpr std::string_view request_actions[] = {"privacy.request."};
constexpr std::string_view sweep_actions[] = {"retention."};
constexpr std::string_view audit_actions[] = {"audit."};

// Opt-out handling and inbound messages are part of messaging the contact (the customer's
// communication, on contract); exports and the request register are how lead data is managed and
// handed back; a sweep deletes lead data by the customer's setting.
constexpr std::array<PathActivity, 10> paths{{
    {ProcessingPath::service_send, "service_send", Activity::whatsapp_messaging, service_actions},
    {ProcessingPath::marketing_send, "marketing_send", Activity::marketing, marketing_actions},
    {ProcessingPath::consent_recording, "consent_recording", Activity::marketing, consent_actions},
    {ProcessingPath::inbound_recording, "inbound_recording", Activity::whatsapp_messaging, inbound_actions},
    {ProcessingPath::lead_management, "lead_management", Activity::lead_management, lead_actions},
    {ProcessingPath::data_export, "data_export", Activity::lead_management, export_actions},
    {ProcessingPath::rights_requests, "rights_requests", Activity::lead_management, request_actions},
    {ProcessingPath::retention_sweep, "retention_sweep", Activity::lead_management, sweep_actions},
    {ProcessingPath::analytics_aggregation, "analytics_aggregation", Activity::analytics, {}},
    {ProcessingPath::audit_logging, "audit_logging", Activity::audit_logging, audit_actions},
}};

}  // namespace

std::span<const PathActivity> processing_paths() noexcept { return paths; }

Activity activity_of(ProcessingPath p) noexcept {
    for (const PathActivity& row : paths)
        if (row.path == p) return row.activity;
    return Activity::lead_management;  // unreachable: every path has a row (tests check it)
}

std::optional<ProcessingPath> path_of_audit_action(std::string_view action) noexcept {
    std::optional<ProcessingPath> best;
    std::size_t longest = 0;
    for (const PathActivity& row : paths)
        for (std::string_view name : row.audit_actions) {
            if (!name.ends_with('.')) {
                if (action == name) return row.path;  // an exact name wins over any prefix
                continue;
            }
            if (action.starts_with(name) && name.size() > longest) {
                best = row.path;
                longest = name.size();
            }
        }
    return best;
}

Stop stopped_by(Activity a, const SubjectChoices& choices) noexcept {
    const ProcessingActivity& row = processing_activity(a);
    const bool objected = (a == Activity::marketing && choices.objected_to_marketing) ||
                          (a == Activity::analytics && choices.objected_to_analytics);
    if (objected && row.objectable) return Stop::objection;
    // Marketing is the register's one activity on consent; its consent is the marketing consent.
    const bool consented = a == Activity::marketing && choices.marketing_consent;
    if ((row.basis == LegalBasis::consent || row.stops_on_withdrawal) && !consented) return Stop::no_consent;
    return Stop::none;
}

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
