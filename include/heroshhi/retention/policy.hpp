// heroshhi — retention Policy: the policy's retention table as values, and the plan it gives for
// one tenant at one moment. Pure: no I/O; the time is passed in.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/ids.hpp>
#include <heroshhi/core/result.hpp>
#include <heroshhi/retention/category.hpp>
#include <heroshhi/retention/target.hpp>
#include <heroshhi/storage/account_store.hpp>

namespace heroshhi::retention {

using Days = std::chrono::days;

/// What the policy leaves to each customer ("Lead Data — as per customer policy").
struct TenantSettings {
    /// Leads are soft-deleted once this long has passed since their last activity (created,
    /// updated, or their newest message); nullopt: never (the default — the library deletes no
    /// lead the customer did not ask it to).
    std::optional<Days> lead_retention;
    /// Messages are deleted once this long has passed since they were sent or received, if that
    /// is sooner than with their lead; nullopt: only with their lead. Must not exceed
    /// lead_retention.
    std::optional<Days> message_retention;

    friend bool operator==(const TenantSettings&, const TenantSettings&) = default;
};

/// The configuration a Policy is built from.
struct PolicyConfig {
    TenantSettings defaults;                     ///< tenants without an override
    std::map<TenantId, TenantSettings> tenants;  ///< per-tenant overrides; each replaces the defaults
    /// Must stay unset: opt-out records are "retained for compliance — never auto-deleted". Any
    /// value is rejected with optout_records_protected.
    std::optional<Days> optout_records;
    std::string revision = "builtin-1";          ///< names this configuration in audit entries
};

/// What a sweep step does to the rows it selects.
enum class Action {
    soft_delete,
    hard_delete,
    /// Opt-out records at termination: each number's events are reduced to its keyed hash
    /// (OptOutStore::erase_number), so the number stays suppressed with no plain number kept.
    reduce_to_tag,
};

/// One step of a tenant's sweep: the rows of one category that go, and how.
struct Step {
    Category category = Category::lead;
    Selection selection = Selection::expired;
    Action action = Action::hard_delete;
    Timestamp cutoff{};  ///< rows whose clock started at or before this are due (not for Selection::all)

    friend bool operator==(const Step&, const Step&) = default;
};

/// What the policy asks of one tenant's data at one moment.
struct Plan {
    bool held = false;        ///< tenant legal hold: the steps are counted, nothing is deleted
    bool terminated = false;  ///< closed at least 30 days ago: all data but opt-outs and held rows
    std::vector<Step> steps;  ///< in the order a sweep runs them
    /// Audit entries with `at` before this are purged (unless held): those a year old or more.
    /// Exclusive, as audit::Log::purge_before takes it: now - 1 year + 1 ms.
    Timestamp audit_cutoff{};
};

/// The retention table. Built by create(), which rejects what the policy forbids; immutable and
/// cheap to copy. Thread-safe (const).
///
/// The periods, measured from a row's clock (`since`) to the sweep's time (`now`): a row is due
/// once since + period <= now, so on the boundary itself it goes.
///   lead data     the tenant's lead_retention after last activity → soft delete (deleted_at = now);
///                 soft_delete_grace (30 days) after deleted_at → hard delete, with its messages
///   messages      with their lead; or the tenant's message_retention after the message → hard delete
///   account data  account_grace (30 days) after closure → every lead, message, consent record,
///                 inbound activity and webhook key of the tenant, except rows under legal hold
///   activity logs activity_log_retention (1 year) → purged (audit::Log) or deleted (host tables);
///                 kept after termination for their year, as security and compliance evidence
///   webhook keys  webhook_key_retention (30 days) after they were seen → deleted (no personal data;
///                 only there to drop Meta's re-deliveries, which stop after 7 days)
///   analytics     only aggregates, kept indefinitely (folded in before rows go), also after
///                 termination: they hold no personal data
///   opt-outs      never deleted; at termination each number's events are reduced to its keyed
///                 hash ("except the suppression hashes"), except the numbers of held leads
/// A legal hold on a lead (Contact::legal_hold) or on the tenant (Account::legal_hold) beats every
/// rule above.
class Policy {
public:
    static constexpr Days soft_delete_grace{30};
    static constexpr Days account_grace{30};
    static constexpr Days activity_log_retention{365};
    /// Webhook de-duplication keys are kept this long after they were seen. Meta re-delivers a
    /// failed webhook for up to 7 days (with exponential backoff), so a key older than that can no
    /// longer stop a duplicate; 30 days leaves a wide margin for clock skew, outages on our side and
    /// a change of Meta's window, while keeping the table from growing with every message ever seen.
    static constexpr Days webhook_key_retention{30};
    /// The longest period a setting may name (100 years); longer is "never", said plainly.
    static constexpr Days longest_period{36'525};

    /// Validates and builds. Fails with invalid_period (zero, negative or over 100 years),
    /// inconsistent_settings (message_retention longer than lead_retention),
    /// optout_records_protected (optout_records set), or ConfigErrc::invalid_value on an empty
    /// tenant id or revision; the detail names the setting, e.g. "tenants[acme].lead_retention: ...".
    static Result<Policy> create(PolicyConfig config);

    /// The policy's table with no customer setting: leads and messages kept until deleted by hand
    /// or by account termination; soft-deleted leads, audit entries and terminated accounts swept.
    static Policy defaults();

    /// A copy with `settings` for `tenant` (replacing any earlier override), validated as create().
    Result<Policy> with_tenant(const TenantId& tenant, TenantSettings settings) const;

    /// The settings in force for `tenant`: its override, or the defaults.
    const TenantSettings& settings(const TenantId& tenant) const;
    const std::string& revision() const noexcept { return config_.revision; }
    const PolicyConfig& config() const noexcept { return config_; }

    /// The steps a sweep at `now` runs for the account's tenant, in order:
    ///   open account:  message/expired (if message_retention), lead/expired → soft delete (if
    ///                  lead_retention), lead/soft_deleted → hard delete, activity_log/expired,
    ///                  webhook_key/expired;
    ///   terminated:    lead/all, account/all, activity_log/expired, webhook_key/all (all hard
    ///                  delete; messages go with their leads);
    /// and the audit cutoff. With a tenant hold, the same steps with held = true.
    Plan plan(const storage::Account& account, Timestamp now) const;

    /// When the account's data is deleted: closed_at + account_grace; nullopt while open.
    static std::optional<Timestamp> deletion_due(const storage::Account& account);

    /// Whether a row whose clock started at `since` is due under `step`.
    static bool due(const Step& step, Timestamp since) noexcept {
        return step.selection == Selection::all || since <= step.cutoff;
    }

private:
    explicit Policy(PolicyConfig config) : config_(std::move(config)) {}
    PolicyConfig config_;
};

}  // namespace heroshhi::retention
