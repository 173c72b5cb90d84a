// heroshhi — the lawful basis register: the data policy's processing activities, each with its
// purpose, legal basis and retention, as data the library and the access export read.
#pragma once

#include <array>
#include <optional>
#include <span>
#include <string_view>

#include <heroshhi/messaging/message_kind.hpp>

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

// ---- Processing paths: where the library processes personal data, and under which activity ----

/// The library's processing paths. Each carries out one activity of the register, and writes its
/// audit entries under its own action prefixes, so every entry in a trail names (through
/// path_of_audit_action) the activity and legal basis it was done under.
enum class ProcessingPath {
    service_send,           ///< free-form, utility, authentication and opt-out confirmation sends ("send.")
    marketing_send,         ///< marketing templates, one by one or to a campaign audience ("send.marketing_template")
    consent_recording,      ///< marketing consent given or withdrawn ("consent.")
    inbound_recording,      ///< inbound messages, the last-inbound time, STOP/START ("opt_out.", "opt_in.")
    lead_management,        ///< rectification, restriction, objection, bulk delete, erasure ("privacy.",
                            ///< "restriction.apply/lift"); the host's own authorized actions ("read", ...)
    data_export,            ///< access exports and the tenant's lead export ("privacy.access.", "privacy.export.")
    rights_requests,        ///< the data-subject request register ("privacy.request.")
    retention_sweep,        ///< deletions by the retention table ("retention.sweep")
    analytics_aggregation,  ///< deleted rows folded into daily aggregates (inside a sweep's batches)
    audit_logging,          ///< the audit trail itself, and its purge ("audit.")
};

/// One path, the activity it carries out, and the audit actions it writes (exact names, and
/// prefixes ending in '.'; empty for analytics aggregation, which writes no entry of its own: the
/// sweep's entry counts it).
struct PathActivity {
    ProcessingPath path;
    std::string_view name;  ///< "service_send", ...
    Activity activity;
    std::span<const std::string_view> audit_actions;
};

/// Every path, in declaration order. Constant; valid for the program's lifetime.
std::span<const PathActivity> processing_paths() noexcept;

/// The activity `p` carries out.
Activity activity_of(ProcessingPath p) noexcept;

/// The path of a send of `kind`: marketing templates are marketing, everything else service.
constexpr ProcessingPath path_of(messaging::MessageKind kind) noexcept {
    return kind == messaging::MessageKind::marketing_template ? ProcessingPath::marketing_send
                                                              : ProcessingPath::service_send;
}

/// The path that writes audit entries with `action`: an exact action name if one is listed, else
/// the longest matching prefix (a listed name ending in '.'); nullopt for an action the library
/// does not write. Engine::authorize's bare rbac::Action names ("read", "export", ...) and
/// Engine::restrict_processing's "restriction.apply" / "restriction.lift" are listed.
std::optional<ProcessingPath> path_of_audit_action(std::string_view action) noexcept;

/// What a data subject has said about the processing of their data, as the gates know it.
struct SubjectChoices {
    bool objected_to_marketing = false;  ///< a marketing opt-out (an objection to marketing is one)
    bool objected_to_analytics = false;  ///< Contact::analytics_objection
    bool marketing_consent = false;      ///< explicit consent recorded and not withdrawn
};

/// Why the subject's choices stop an activity, if they do.
enum class Stop {
    none,            ///< the activity may go on
    objection,       ///< the subject objected, and the activity is objectable (Art. 21)
    no_consent,      ///< the activity rests on consent, and there is none (never given or withdrawn)
};

/// Checks `choices` against the activity's row of the register: an objection stops only an
/// activity open to objection (never contractual processing); a withdrawal of consent stops an
/// activity that stops on withdrawal, and an activity on consent needs consent in the first place.
Stop stopped_by(Activity a, const SubjectChoices& choices) noexcept;

}  // namespace heroshhi::privacy
