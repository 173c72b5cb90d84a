// heroshhi — privacy::Rights: the data-subject rights of the policy's "Your Rights" section
// (access, portability, rectification, erasure, restriction, objection) and the customer's own
// controls (export in CSV, bulk delete), each authorized and audited.
#pragma once

#include <cstddef>
#include <functional>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/ids.hpp>
#include <heroshhi/core/result.hpp>
#include <heroshhi/engine.hpp>
#include <heroshhi/privacy/lawful_basis.hpp>
#include <heroshhi/rbac/principal.hpp>
#include <heroshhi/sanitize/lead_schema.hpp>
#include <heroshhi/storage/records.hpp>
#include <heroshhi/storage/store_set.hpp>

namespace heroshhi::privacy {

/// Where an export goes, chunk by chunk (each a few tens of KiB at most). Return false to stop:
/// the export then fails with PrivacyErrc::export_failed.
using Sink = std::function<bool(std::string_view chunk)>;

enum class ExportFormat {
    /// One JSON document: {"format": "heroshhi.subject_access.v1", "tenant", "generated_at",
    /// "contact": {...}, "processing_activities": [...], "inbound_activity": [...],
    /// "messages": [...], "optout_events": [...], "consent_records": [...], "audit_entries": [...]}.
    json,
    /// RFC 4180 CSV (UTF-8, CRLF, CSV-injection guarded: see sanitize::append_csv_cell), one row
    /// per value: section,record,field,value. The sections and fields are the JSON's.
    csv,
};

struct RightsOptions {
    /// The tenant's lead schema: rectified fields must pass it.
    sanitize::LeadSchema schema{};
    /// Rows read per page (exports, bulk deletes): memory stays bounded by it, not by the data.
    std::size_t page_size = 500;
};

/// What an access export held.
struct AccessExport {
    std::size_t messages = 0;
    std::size_t optout_events = 0;
    std::size_t consent_records = 0;
    std::size_t audit_entries = 0;
};

/// Which leads a tenant export takes.
struct LeadExportOptions {
    /// Only this team's leads (and then a manager of the team may export them); empty: all.
    std::string team;
    /// Restricted contacts are left out (processing them is restricted); the controller may
    /// include them for its own legal needs.
    bool include_restricted = false;
};

struct LeadExport {
    std::size_t leads = 0;               ///< rows written
    std::size_t restricted_skipped = 0;  ///< restricted contacts left out
};

/// The tables of the customer's export ("export your data at any time in CSV"): one CSV each.
enum class TenantTable {
    /// id, name, phone, email, source, assignee, team, created_at, updated_at, analytics_objection
    leads,
    /// id, contact_id, direction, status, body, provider_message_id, created_at, updated_at: the
    /// messages of the live leads exported
    messages,
    /// sequence, phone, kind, scope, method, keyword, channel, actor, at, erased: every opt-out and
    /// opt-in event; an erased number's events (kept as a keyed hash) with an empty phone
    optout_events,
    /// phone, purpose, granted, at, source, actor: every consent record
    consent_records,
};
/// "leads", "messages", "optouts", "consents" (the audit action is "privacy.export.<this>").
std::string_view to_string(TenantTable t) noexcept;

struct TableExport {
    std::size_t rows = 0;                ///< rows written (the header aside)
    std::size_t restricted_skipped = 0;  ///< restricted contacts whose rows were left out
};

/// A rectification: each field that is set is replaced (after the lead schema's checks and
/// normalisation); unset fields stay.
struct Rectification {
    std::optional<std::string> name;
    std::optional<std::string> email;  ///< empty: remove the address
    std::optional<std::string> phone;  ///< international format, or national with `phone_region`
    std::string phone_region;          ///< overrides the schema's default region
};

/// What an erasure removed.
struct Erasure {
    std::size_t messages = 0;  ///< deleted with the contact
    NumberErasure number;      ///< the number's opt-outs reduced to a hash, consents and activity deleted
    /// Another live contact of the tenant has the same number: the number's records describe that
    /// contact too and were kept (as was its suppression state).
    bool number_shared = false;
    /// The store's residue (SQLite's write-ahead log) was emptied; false if another reader kept it
    /// busy (retry StoreSet::scrub later).
    bool scrubbed = false;
};

/// What a bulk delete did.
struct BulkDelete {
    std::size_t deleted = 0;              ///< soft-deleted now (hard-deleted by the retention sweep)
    std::vector<ContactId> held;          ///< kept: under a legal hold
    std::vector<ContactId> missing;       ///< no such lead in the tenant
    std::size_t already_deleted = 0;
};

/// What closing the account did (Rights::terminate_account).
struct Termination {
    Timestamp closed_at{};        ///< when the account was closed (the first request's time)
    Timestamp deletion_after{};   ///< closed_at + retention::Policy::account_grace: the sweep deletes then
    bool already_closed = false;  ///< it was closed before this request, which changed nothing
    bool legal_hold = false;      ///< the tenant is under a legal hold: the sweep keeps its data until lifted
};

/// The purposes a contact may object to (Art. 21).
enum class Objection {
    marketing,  ///< recorded as a marketing opt-out: no marketing template is sent any more
    analytics,  ///< the contact is left out of aggregates (Contact::analytics_objection)
};

/// The activity of the lawful basis register an objection is to (Rights::object checks that the
/// register opens it to objection).
constexpr Activity activity_of(Objection o) noexcept {
    return o == Objection::marketing ? Activity::marketing : Activity::analytics;
}

/// The data-subject rights. Every operation takes the team member who acts, authorizes them with
/// the engine's authorizer (owner and admin; managers for their team's contacts; sales users only
/// rectify, restrict and object for the leads assigned to them, and never export or erase), appends
/// the decision to the tenant's audit trail whether it allows or not (action "privacy.<operation>",
/// the contact's id as target: never a value), and acts only on an allowing decision, which it
/// returns with the result (an Attempt). Nothing is done when the audit entry cannot be written.
/// A principal of another tenant is refused (cross_tenant) before anything is read.
///
/// Errors: PrivacyErrc (not_found, legal_hold, ...), SanitizeErrc/PhoneErrc from the lead schema,
/// or the store's StorageErrc. Thread-safe if the stores are; every call blocks on the stores.
/// Borrows the engine, the stores and the clock, which must outlive it.
class Rights {
public:
    Rights(Engine& engine, storage::StoreSet& stores, const Clock& clock, RightsOptions options = {});

    /// Access and portability (Art. 15, 20): everything held about the contact — its fields, the
    /// processing activities with their purpose, legal basis and retention, its last inbound time,
    /// messages, opt-out and consent history, and the audit entries about it (by contact id, and by
    /// the pseudonym of its number) — written to `out` page by page, so memory stays bounded by
    /// RightsOptions::page_size whatever the history. The subject's own access is allowed while
    /// processing is restricted. Action: export on the contact.
    Result<Attempt<AccessExport>> export_contact(const rbac::Principal& by, const TenantId& tenant,
                                                 const ContactId& contact, ExportFormat format, const Sink& out,
                                                 std::string_view request_id = {});
    Result<Attempt<AccessExport>> export_contact(const rbac::Principal& by, const TenantId& tenant,
                                                 const ContactId& contact, ExportFormat format, std::ostream& out,
                                                 std::string_view request_id = {});

    /// The customer's export of its leads as CSV ("export your data at any time"): id, name,
    /// phone, email, source, assignee, team, created_at, updated_at, analytics_objection; one row
    /// per live lead, in id order, streamed a page at a time. Action: export on lead (with
    /// `options.team` as the resource's team).
    Result<Attempt<LeadExport>> export_leads_csv(const rbac::Principal& by, const TenantId& tenant, const Sink& out,
                                                 LeadExportOptions options = {}, std::string_view request_id = {});
    Result<Attempt<LeadExport>> export_leads_csv(const rbac::Principal& by, const TenantId& tenant, std::ostream& out,
                                                 LeadExportOptions options = {}, std::string_view request_id = {});

    /// One table of the customer's export as CSV (RFC 4180, UTF-8, CRLF, formula cells guarded),
    /// streamed a page at a time. Leads and messages: the live leads in id order, `options.team`'s
    /// only when set (a manager may export their team's), restricted contacts left out unless
    /// `options.include_restricted`. Opt-out events and consent records are kept per number for the
    /// whole tenant: no team filter (PrivacyErrc::invalid_request if one is given), so only owners
    /// and admins export them; a restricted contact's number is left out as above. Action: export
    /// on lead; audited as "privacy.export.<table>".
    Result<Attempt<TableExport>> export_table_csv(const rbac::Principal& by, const TenantId& tenant, TenantTable table,
                                                  const Sink& out, LeadExportOptions options = {},
                                                  std::string_view request_id = {});

    /// Rectification (Art. 16): replaces the fields given after the lead schema checked them; the
    /// old values are overwritten (and scrubbed from the store's files), and the audit entry says
    /// only that a change happened. A changed phone number erases the old one's records as an
    /// erasure does (its opt-outs kept only as a keyed hash, so it stays suppressed; its consents
    /// and inbound activity deleted) unless another live contact has it; this needs the engine's
    /// blind index (StorageErrc::key_unavailable, nothing changed, without it). Returns the
    /// contact as stored. A legal hold on the contact or its tenant refuses it like an erasure
    /// (the held values must stay as they are). Action: update on the contact.
    Result<Attempt<storage::Contact>> rectify(const rbac::Principal& by, const TenantId& tenant,
                                              const ContactId& contact, const Rectification& change,
                                              std::string_view request_id = {});

    /// Erasure (Art. 17): deletes the contact and its messages, keeps its number's opt-out events
    /// only as a keyed hash (so it stays suppressed: Engine::erase_number), deletes its consent
    /// records and inbound activity, then scrubs the store. A legal hold on the contact or on its
    /// whole tenant (storage::Account::legal_hold, read through StoreSet::accounts()) refuses it
    /// with PrivacyErrc::legal_hold and a reason naming the hold, audited with outcome legal_hold
    /// and rule "privacy.legal_hold" or "privacy.legal_hold.tenant" (the host closes the request
    /// in its register as refused, with that reason). A store set without accounts cannot rule a
    /// tenant hold out: the erasure fails (StorageErrc::unavailable). Repeating a failed erasure
    /// finishes it. Action: delete on the contact.
    Result<Attempt<Erasure>> erase(const rbac::Principal& by, const TenantId& tenant, const ContactId& contact,
                                   std::string_view request_id = {});

    /// The customer deletes leads in bulk: each is soft-deleted (the retention sweep hard-deletes
    /// it 30 days later), except those under a legal hold. One audit entry for the request
    /// (action bulk_delete on lead) and one per lead. A hold on the whole tenant refuses the
    /// request (PrivacyErrc::legal_hold, audited as for erase). Action: bulk_delete on lead.
    Result<Attempt<BulkDelete>> bulk_delete(const rbac::Principal& by, const TenantId& tenant,
                                            std::span<const ContactId> leads, std::string_view request_id = {});

    /// Restriction (Art. 18), or its lifting: while restricted, every send is refused, tenant
    /// exports leave the contact out, and only storage and the subject's own access go on. Returns
    /// whether the flag changed. Action: update on the contact.
    Result<Attempt<bool>> restrict_processing(const rbac::Principal& by, const TenantId& tenant, const ContactId& contact,
                                   bool restricted, std::string_view request_id = {});

    /// Objection (Art. 21) to a purpose. Marketing: a marketing opt-out of the contact's number,
    /// recorded through Engine::opt_out_manually (which authorizes and audits it as
    /// "opt_out.manual"; always a new event, so the value is true); lifted only by the contact's
    /// own opt-in (START). Analytics: sets Contact::analytics_objection (audited as
    /// "privacy.object.analytics"); the value says whether it changed. Action: update on the
    /// contact.
    Result<Attempt<bool>> object(const rbac::Principal& by, const TenantId& tenant, const ContactId& contact,
                                 Objection purpose, std::string_view request_id = {});

    /// Withdraws an analytics objection (the contact agrees again). A marketing objection is not
    /// withdrawn this way (PrivacyErrc::not_objectable): the contact re-subscribes with START.
    Result<Attempt<bool>> withdraw_objection(const rbac::Principal& by, const TenantId& tenant,
                                             const ContactId& contact, Objection purpose,
                                             std::string_view request_id = {});

    // ---- the account: termination and legal holds ----

    /// Account termination: the owner closes the tenant's account. Its data is then deleted by the
    /// retention sweep once Termination::deletion_after has passed (retention::Policy), except the
    /// opt-out records (kept as keyed hashes) and whatever a legal hold keeps. Closing a closed
    /// account changes nothing (the first closure's time stands). Needs StoreSet::accounts()
    /// (StorageErrc::unavailable without it). Audited as "privacy.terminate_account". Action:
    /// terminate_account on the account (the owner only).
    Result<Attempt<Termination>> terminate_account(const rbac::Principal& by, const TenantId& tenant,
                                                   std::string_view request_id = {});

    /// Places or lifts a legal hold on the whole tenant: while held, no erasure, bulk delete,
    /// rectification or retention deletion touches its data. Returns whether the hold changed.
    /// Needs StoreSet::accounts(). Audited as "privacy.legal_hold.place" or "privacy.legal_hold.lift"
    /// on the account. Action: manage on the account (owner and admin).
    Result<Attempt<bool>> set_tenant_legal_hold(const rbac::Principal& by, const TenantId& tenant, bool held,
                                                std::string_view request_id = {});

    /// Places or lifts a legal hold on one contact (storage::Contact::legal_hold), with the same
    /// effect on that contact's data. Returns whether the hold changed. Audited as for the tenant,
    /// with the contact as target. Action: manage on the contact (owner and admin).
    Result<Attempt<bool>> set_legal_hold(const rbac::Principal& by, const TenantId& tenant, const ContactId& contact,
                                         bool held, std::string_view request_id = {});

private:
    Engine& engine_;
    storage::StoreSet& stores_;
    const Clock& clock_;
    RightsOptions options_;
};

}  // namespace heroshhi::privacy
