#include <heroshhi/rbac/policy.hpp>

#include <heroshhi/core/errors.hpp>

#include <algorithm>
#include <cstdint>
#include <set>
#include <utility>

namespace heroshhi::rbac {
namespace {

constexpr std::size_t cell_count = role_count * resource_type_count * action_count;
constexpr std::size_t max_name_length = 64;
constexpr std::size_t max_description_length = 500;

constexpr std::size_t cell_of(std::size_t role, std::size_t type, std::size_t action) noexcept {
    return (role * resource_type_count + type) * action_count + action;
}

template <class Enum>
constexpr std::size_t index_of(Enum e) noexcept {
    return static_cast<std::size_t>(e);
}

bool name_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

bool valid_rule_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > max_name_length || name.front() < 'a' || name.front() > 'z') return false;
    return std::all_of(name.begin(), name.end(), name_char);
}

bool valid_revision(std::string_view revision) noexcept {
    if (revision.empty() || revision.size() > max_name_length) return false;
    return std::all_of(revision.begin(), revision.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
               c == '-' || c == ':';
    });
}

Error invalid(std::size_t index, const Rule& rule, std::string_view problem) {
    std::string detail = "rules[" + std::to_string(index) + "]";
    if (!rule.name.empty() && rule.name.size() <= max_name_length) detail += " (\"" + rule.name + "\")";
    detail += ": ";
    detail += problem;
    return Error(ConfigErrc::invalid_value, std::move(detail));
}

template <class Enum>
std::uint32_t mask_of(const std::vector<Enum>& values) noexcept {
    std::uint32_t mask = 0;
    for (Enum v : values) mask |= std::uint32_t{1} << index_of(v);
    return mask;
}

bool holds(Condition when, const Principal& p, const Resource& r) noexcept {
    switch (when) {
        case Condition::always: return true;
        case Condition::assigned_to_self: return r.assignee.has_value() && *r.assignee == p.user;
        case Condition::same_team: return !p.team.empty() && r.team == p.team;
        case Condition::self: return r.id == p.user.value();
    }
    return false;
}

Rule rule(std::string name, Effect effect, std::vector<Role> roles, std::vector<ResourceType> resources,
          std::vector<Action> actions, Condition when, std::string description) {
    return Rule(std::move(name), effect, std::move(roles), std::move(resources), std::move(actions), when,
                std::move(description));
}

std::vector<Role> every_role() { return {all_roles.begin(), all_roles.end()}; }
std::vector<ResourceType> every_type() { return {all_resource_types.begin(), all_resource_types.end()}; }
std::vector<Action> every_action() { return {all_actions.begin(), all_actions.end()}; }

/// The default matrix. README.md ("Roles and permissions") tables it and tests/unit-rbac.cpp
/// checks it cell by cell: change all three together.
std::vector<Rule> default_rules() {
    using R = ResourceType;
    using A = Action;
    const auto allow = Effect::allow;
    const auto deny = Effect::deny;
    return {
        rule("owner.everything", allow, {Role::owner}, every_type(), every_action(), Condition::always,
             "Owners may do everything in their own tenant, including billing, termination and ownership transfer."),
        rule("admin.everything", allow, {Role::admin}, every_type(), every_action(), Condition::always,
             "Admins run the workspace, except what the owner alone may do."),
        rule("admin.no_billing", deny, {Role::admin}, {R::billing}, every_action(), Condition::always,
             "Billing is the owner's alone."),
        rule("admin.no_termination_or_transfer", deny, {Role::admin}, {R::account},
             {A::terminate_account, A::transfer_ownership}, Condition::always,
             "Only the owner may terminate the account or transfer its ownership."),
        rule("audit_log.append_only", deny, every_role(), {R::audit_log},
             {A::create, A::update, A::delete_, A::bulk_delete}, Condition::always,
             "Nobody writes, edits or deletes audit entries by hand; only the retention sweep purges them."),
        rule("manager.team_leads", allow, {Role::manager}, {R::lead, R::contact},
             {A::read, A::create, A::update, A::delete_, A::assign, A::send, A::export_}, Condition::same_team,
             "Managers work and export the leads and contacts of their team."),
        rule("manager.team_messages", allow, {Role::manager}, {R::message}, {A::read, A::send}, Condition::same_team,
             "Managers read and send the messages of their team's leads."),
        rule("manager.team_campaigns", allow, {Role::manager}, {R::campaign},
             {A::read, A::create, A::update, A::delete_, A::send_campaign}, Condition::same_team,
             "Managers run their team's campaigns."),
        rule("manager.team_activity", allow, {Role::manager}, {R::user, R::audit_log}, {A::read}, Condition::same_team,
             "Managers see their team members and their activity."),
        rule("manager.team_requests", allow, {Role::manager}, {R::data_subject_request}, {A::read, A::create, A::update},
             Condition::same_team,
             "Managers handle the data-subject requests (access, restriction, objection) of their team's contacts."),
        rule("manager.own_exports", allow, {Role::manager}, {R::export_}, {A::read, A::delete_},
             Condition::assigned_to_self, "Managers download and delete the exports they made."),
        rule("manager.no_user_or_billing_management", deny, {Role::manager},
             {R::user, R::role_assignment, R::billing, R::account},
             {A::create, A::update, A::delete_, A::bulk_delete, A::assign, A::manage, A::terminate_account,
              A::transfer_ownership},
             Condition::always, "Managers do not manage users, roles, billing or the account."),
        rule("sales.assigned_leads", allow, {Role::sales}, {R::lead, R::contact}, {A::read, A::update, A::send},
             Condition::assigned_to_self, "Sales users read, update and message the leads assigned to them."),
        rule("sales.assigned_messages", allow, {Role::sales}, {R::message}, {A::read, A::send},
             Condition::assigned_to_self, "Sales users read and send the messages of the leads assigned to them."),
        rule("sales.no_bulk_delete_or_export", deny, {Role::sales}, every_type(),
             {A::bulk_delete, A::export_, A::send_campaign}, Condition::always,
             "Sales users never bulk-delete, export or send campaigns."),
        rule("sales.no_campaigns", deny, {Role::sales}, {R::campaign}, every_action(), Condition::always,
             "Campaigns are run by managers and admins."),
        rule("everyone.own_profile", allow, every_role(), {R::user}, {A::read}, Condition::self,
             "Everyone may see their own user profile."),
    };
}

}  // namespace

std::string_view to_string(Effect e) noexcept { return e == Effect::allow ? "allow" : "deny"; }

std::string_view to_string(Condition c) noexcept {
    switch (c) {
        case Condition::always: return "always";
        case Condition::assigned_to_self: return "assigned_to_self";
        case Condition::same_team: return "same_team";
        case Condition::self: return "self";
    }
    return "unknown";
}

std::optional<Effect> effect_from_string(std::string_view s) noexcept {
    if (s == "allow") return Effect::allow;
    if (s == "deny") return Effect::deny;
    return std::nullopt;
}

std::optional<Condition> condition_from_string(std::string_view s) noexcept {
    for (Condition c : {Condition::always, Condition::assigned_to_self, Condition::same_team, Condition::self})
        if (to_string(c) == s) return c;
    return std::nullopt;
}

Result<Policy> Policy::create(std::string revision, std::vector<Rule> rules) {
    if (!valid_revision(revision))
        return Error(ConfigErrc::invalid_value,
                     "the policy revision must be 1-64 characters of letters, digits and . _ - :");
    if (rules.size() > max_rules)
        return Error(ConfigErrc::invalid_value, "a policy has at most " + std::to_string(max_rules) + " rules, not " +
                                                    std::to_string(rules.size()));
    std::set<std::string_view> names;
    for (std::size_t i = 0; i < rules.size(); ++i) {
        const Rule& r = rules[i];
        if (!valid_rule_name(r.name))
            return invalid(i, r, "a rule name is 1-64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter");
        if (r.name == tenant_isolation_rule || r.name == default_deny_rule)
            return invalid(i, r, "the name is reserved for a built-in rule");
        if (!names.insert(r.name).second) return invalid(i, r, "another rule has the same name");
        if (r.roles.empty()) return invalid(i, r, "the rule names no role");
        if (r.resources.empty()) return invalid(i, r, "the rule names no resource type");
        if (r.actions.empty()) return invalid(i, r, "the rule names no action");
        for (Role v : r.roles)
            if (index_of(v) >= role_count) return invalid(i, r, "a role is out of range");
        for (ResourceType v : r.resources)
            if (index_of(v) >= resource_type_count) return invalid(i, r, "a resource type is out of range");
        for (Action v : r.actions)
            if (index_of(v) >= action_count) return invalid(i, r, "an action is out of range");
        if (r.effect != Effect::allow && r.effect != Effect::deny) return invalid(i, r, "the effect is out of range");
        if (to_string(r.when) == "unknown") return invalid(i, r, "the condition is out of range");
        if (r.description.size() > max_description_length)
            return invalid(i, r, "the description is longer than 500 bytes");
    }
    Policy policy;
    policy.revision_ = std::move(revision);
    policy.rules_ = std::move(rules);
    policy.compile();
    return policy;
}

void Policy::compile() {
    struct Masks {
        std::uint32_t roles, types, actions;
    };
    std::vector<Masks> masks;
    masks.reserve(rules_.size());
    for (const Rule& r : rules_) masks.push_back({mask_of(r.roles), mask_of(r.resources), mask_of(r.actions)});

    cell_begin_.assign(cell_count + 1, 0);
    refs_.clear();
    for (std::size_t role = 0; role < role_count; ++role)
        for (std::size_t type = 0; type < resource_type_count; ++type)
            for (std::size_t action = 0; action < action_count; ++action) {
                cell_begin_[cell_of(role, type, action)] = static_cast<std::uint32_t>(refs_.size());
                for (Effect pass : {Effect::deny, Effect::allow})
                    for (std::size_t i = 0; i < rules_.size(); ++i) {
                        const Masks& m = masks[i];
                        if (rules_[i].effect == pass && (m.roles >> role & 1U) && (m.types >> type & 1U) &&
                            (m.actions >> action & 1U))
                            refs_.push_back({static_cast<std::uint16_t>(i), pass, rules_[i].when});
                    }
            }
    cell_begin_[cell_count] = static_cast<std::uint32_t>(refs_.size());
}

const Policy& Policy::defaults() {
    static const Policy policy = create("builtin-2", default_rules()).value();
    return policy;
}

Evaluation Policy::evaluate(const Principal& principal, Action action, const Resource& resource) const noexcept {
    Evaluation out;
    // Tenant isolation comes before every rule: no policy can reach across tenants.
    if (principal.tenant.empty() || principal.tenant != resource.tenant) {
        out.reason = Reason::cross_tenant;
        return out;
    }
    const std::size_t role = index_of(principal.role), type = index_of(resource.type), act = index_of(action);
    if (principal.user.empty() || role >= role_count || type >= resource_type_count || act >= action_count ||
        cell_begin_.empty())
        return out;  // nobody, or a value no rule can name: default deny
    const std::size_t cell = cell_of(role, type, act);
    for (std::uint32_t i = cell_begin_[cell], end = cell_begin_[cell + 1]; i < end; ++i) {
        const Ref& ref = refs_[i];
        if (!holds(ref.when, principal, resource)) {
            if (ref.effect == Effect::allow && out.near_miss == Evaluation::no_rule) out.near_miss = ref.rule;
            continue;
        }
        out.rule = ref.rule;
        out.reason = ref.effect == Effect::allow ? Reason::allowed : Reason::not_authorized;
        return out;
    }
    return out;
}

}  // namespace heroshhi::rbac
