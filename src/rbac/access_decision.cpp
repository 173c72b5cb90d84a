#include <heroshhi/rbac/access_decision.hpp>

namespace heroshhi::rbac {
namespace {

std::string_view role_noun(Role r) noexcept {
    switch (r) {
        case Role::owner: return "an owner";
        case Role::admin: return "an admin";
        case Role::manager: return "a manager";
        case Role::sales: return "a sales user";
    }
    return "this role";
}

std::string_view verb(Action a) noexcept {
    switch (a) {
        case Action::read: return "see";
        case Action::create: return "create";
        case Action::update: return "change";
        case Action::delete_: return "delete";
        case Action::bulk_delete: return "bulk-delete";
        case Action::export_: return "export";
        case Action::send: return "send messages to";
        case Action::send_campaign: return "send";
        case Action::assign: return "assign";
        case Action::manage: return "manage";
        case Action::terminate_account: return "terminate";
        case Action::transfer_ownership: return "transfer the ownership of";
    }
    return "use";
}

std::string_view object(ResourceType t) noexcept {
    switch (t) {
        case ResourceType::lead: return "this lead";
        case ResourceType::contact: return "this contact";
        case ResourceType::message: return "this message";
        case ResourceType::campaign: return "this campaign";
        case ResourceType::export_: return "this export";
        case ResourceType::audit_log: return "this audit log";
        case ResourceType::user: return "this user";
        case ResourceType::role_assignment: return "this role assignment";
        case ResourceType::settings: return "these settings";
        case ResourceType::integration: return "this integration";
        case ResourceType::billing: return "billing";
        case ResourceType::account: return "this account";
        case ResourceType::retention_policy: return "the retention policy";
        case ResourceType::data_subject_request: return "this data-subject request";
    }
    return "this resource";
}

std::string_view unless(Condition c) noexcept {
    switch (c) {
        case Condition::always: return "";
        case Condition::assigned_to_self: return " unless it is assigned to them";
        case Condition::same_team: return " unless it belongs to their team";
        case Condition::self: return " unless it is their own";
    }
    return "";
}

std::string_view condition_phrase(Condition c) noexcept {
    switch (c) {
        case Condition::always: return "";
        case Condition::assigned_to_self: return "when the resource is assigned to the principal";
        case Condition::same_team: return "when the resource belongs to the principal's team";
        case Condition::self: return "when the resource is the principal's own user";
    }
    return "";
}

/// "a sales user to export lead": the request in the matrix's own words.
std::string request_words(Role role, Action action, ResourceType type) {
    std::string out(role_noun(role));
    out.append(" to ").append(to_string(action)).append(" ").append(to_string(type));
    return out;
}

}  // namespace

std::string_view AccessDecision::rule() const noexcept {
    if (const Rule* r = deciding_rule()) return r->name;
    return evaluation_.reason == Reason::cross_tenant ? tenant_isolation_rule : default_deny_rule;
}

std::string_view AccessDecision::revision() const noexcept {
    return policy_ ? std::string_view(policy_->revision()) : std::string_view();
}

const Rule* AccessDecision::deciding_rule() const noexcept {
    return policy_ ? policy_->rule(evaluation_.rule) : nullptr;
}

std::string AccessDecision::notice() const {
    if (allowed()) return {};
    std::string out = "Not allowed: ";
    if (reason() == Reason::cross_tenant) {
        out.append(object(type_)).append(" belongs to another workspace.");
        return out;
    }
    out.append(role_noun(role_)).append(" may not ").append(verb(action_)).append(" ").append(object(type_));
    if (!deciding_rule() && policy_)
        if (const Rule* near = policy_->rule(evaluation_.near_miss)) out.append(unless(near->when));
    out.append(".");
    return out;
}

std::string AccessDecision::explain() const {
    std::string out;
    const std::string in_revision = " (policy revision '" + std::string(revision()) + "')";
    if (reason() == Reason::cross_tenant) {
        out = "denied by rule '";
        out.append(tenant_isolation_rule)
            .append("': the resource belongs to another tenant than the principal's, and no policy can allow that")
            .append(in_revision);
        return out;
    }
    if (const Rule* r = deciding_rule()) {
        out = allowed() ? "allowed by rule '" : "denied by rule '";
        out.append(r->name).append("'");
        if (!r->description.empty()) out.append(": ").append(r->description);
        if (!allowed()) out.append(" A deny rule beats every allow.");
        out.append(in_revision);
        return out;
    }
    out = "no rule allows " + request_words(role_, action_, type_);
    if (policy_)
        if (const Rule* near = policy_->rule(evaluation_.near_miss))
            out.append("; rule '").append(near->name).append("' would allow it ").append(condition_phrase(near->when));
    out.append(in_revision);
    return out;
}

Decision AccessDecision::to_decision() const {
    if (allowed()) return Decision::allow(std::string(rule()));
    return Decision::deny(reason(), notice(), std::string(rule()));
}

}  // namespace heroshhi::rbac
