#include <heroshhi/core/errors.hpp>
#include <heroshhi/retention/errors.hpp>
#include <heroshhi/retention/policy.hpp>

#include <string>
#include <utility>

namespace heroshhi::retention {
namespace {

std::string days_text(Days d) { return std::to_string(d.count()) + (d.count() == 1 ? " day" : " days"); }

Result<void> check_period(const std::string& where, const std::optional<Days>& period, const char* unset_means) {
    if (!period) return {};
    if (period->count() <= 0)
        return Error(RetentionErrc::invalid_period, where + ": " + days_text(*period) +
                                                        " is not a retention period (at least 1 day; leave it unset for " +
                                                        unset_means + ")");
    if (*period > Policy::longest_period)
        return Error(RetentionErrc::invalid_period, where + ": " + days_text(*period) +
                                                        " is longer than 100 years; leave it unset for " + unset_means);
    return {};
}

Result<void> check_settings(const std::string& prefix, const TenantSettings& s) {
    if (auto ok = check_period(prefix + "lead_retention", s.lead_retention, "never"); !ok) return ok;
    if (auto ok = check_period(prefix + "message_retention", s.message_retention, "with their lead"); !ok) return ok;
    if (s.message_retention && s.lead_retention && *s.message_retention > *s.lead_retention)
        return Error(RetentionErrc::inconsistent_settings,
                     prefix + "message_retention (" + days_text(*s.message_retention) + ") is longer than " + prefix +
                         "lead_retention (" + days_text(*s.lead_retention) +
                         "): messages go with their lead anyway; make it shorter or leave it unset");
    return {};
}

Result<void> check_config(const PolicyConfig& config) {
    if (config.optout_records)
        return Error(RetentionErrc::optout_records_protected,
                     "optout_records: opt-out records are retained for compliance and never auto-deleted "
                     "(the policy's retention table); remove the setting");
    if (config.revision.empty()) return Error(ConfigErrc::invalid_value, "revision: must not be empty");
    if (auto ok = check_settings("", config.defaults); !ok) return ok;
    for (const auto& [tenant, settings] : config.tenants) {
        if (tenant.empty()) return Error(ConfigErrc::invalid_value, "tenants: an override has an empty tenant id");
        if (auto ok = check_settings("tenants[" + tenant.value() + "].", settings); !ok) return ok;
    }
    return {};
}

}  // namespace

Result<Policy> Policy::create(PolicyConfig config) {
    if (auto ok = check_config(config); !ok) return ok.error();
    return Policy(std::move(config));
}

Policy Policy::defaults() { return Policy(PolicyConfig{}); }

Result<Policy> Policy::with_tenant(const TenantId& tenant, TenantSettings settings) const {
    PolicyConfig next = config_;
    next.tenants.insert_or_assign(tenant, std::move(settings));
    return create(std::move(next));
}

const TenantSettings& Policy::settings(const TenantId& tenant) const {
    auto it = config_.tenants.find(tenant);
    return it != config_.tenants.end() ? it->second : config_.defaults;
}

std::optional<Timestamp> Policy::deletion_due(const storage::Account& account) {
    if (!account.closed_at) return std::nullopt;
    return *account.closed_at + account_grace;
}

Plan Policy::plan(const storage::Account& account, Timestamp now) const {
    Plan plan;
    plan.held = account.legal_hold;
    const auto due = deletion_due(account);
    plan.terminated = due && *due <= now;
    // purge_before takes an exclusive bound: an entry exactly a year old goes too.
    plan.audit_cutoff = now - activity_log_retention + std::chrono::milliseconds{1};
    const Step activity_logs{Category::activity_log, Selection::expired, Action::hard_delete,
                             now - activity_log_retention};
    const Step webhook_keys{Category::webhook_key, Selection::expired, Action::hard_delete,
                            now - webhook_key_retention};
    if (plan.terminated) {
        plan.steps = {
            {Category::lead, Selection::all, Action::hard_delete, now},
            {Category::account, Selection::all, Action::hard_delete, now},
            activity_logs,
            {Category::webhook_key, Selection::all, Action::hard_delete, now},
            // Last, so a journal written before this step existed still names the right steps.
            {Category::optout_record, Selection::all, Action::reduce_to_tag, now},
        };
        return plan;
    }
    // Messages first, while their leads are still live: a message due by the shorter setting is
    // then counted once, whether the lead is soft-deleted later in the same sweep or not.
    const TenantSettings& s = settings(account.tenant);
    if (s.message_retention)
        plan.steps.push_back({Category::message, Selection::expired, Action::hard_delete, now - *s.message_retention});
    if (s.lead_retention)
        plan.steps.push_back({Category::lead, Selection::expired, Action::soft_delete, now - *s.lead_retention});
    plan.steps.push_back({Category::lead, Selection::soft_deleted, Action::hard_delete, now - soft_delete_grace});
    plan.steps.push_back(activity_logs);
    plan.steps.push_back(webhook_keys);
    return plan;
}

}  // namespace heroshhi::retention
