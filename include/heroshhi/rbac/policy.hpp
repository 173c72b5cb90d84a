// heroshhi — Policy: the permission matrix as data, validated and compiled for fast checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <heroshhi/core/decision.hpp>
#include <heroshhi/core/result.hpp>
#include <heroshhi/rbac/action.hpp>
#include <heroshhi/rbac/principal.hpp>
#include <heroshhi/rbac/resource.hpp>
#include <heroshhi/rbac/role.hpp>

namespace heroshhi::rbac {

enum class Effect : std::uint8_t { allow, deny };

/// A fact about the resource a rule may require. A condition whose fact is missing does not hold.
enum class Condition : std::uint8_t {
    always,            ///< no condition
    assigned_to_self,  ///< the resource's assignee is the principal
    same_team,         ///< the resource's team is the principal's team (both non-empty)
    self,              ///< the resource is the principal's own user (resource id == principal's user id)
};

std::string_view to_string(Effect e) noexcept;              ///< "allow", "deny"
std::string_view to_string(Condition c) noexcept;           ///< "always", "assigned_to_self", "same_team", "self"
std::optional<Effect> effect_from_string(std::string_view s) noexcept;
std::optional<Condition> condition_from_string(std::string_view s) noexcept;

/// One line of the matrix: `effect` for every (role, resource type, action) it names, when the
/// condition holds. A rule names at least one of each.
struct Rule {
    Rule() = default;
    Rule(std::string name_, Effect effect_, std::vector<Role> roles_, std::vector<ResourceType> resources_,
         std::vector<Action> actions_, Condition when_ = Condition::always, std::string description_ = {})
        : name(std::move(name_)), effect(effect_), roles(std::move(roles_)), resources(std::move(resources_)),
          actions(std::move(actions_)), when(when_), description(std::move(description_)) {}

    std::string name;  ///< unique, 1-64 characters of [a-z0-9._-] starting with a letter: "sales.assigned_leads"
    Effect effect = Effect::allow;
    std::vector<Role> roles;
    std::vector<ResourceType> resources;
    std::vector<Action> actions;
    Condition when = Condition::always;
    std::string description;  ///< one sentence for explanations; optional
};

/// The built-in rule that denies every cross-tenant access; it is checked before any rule and no
/// policy can name or override it.
inline constexpr std::string_view tenant_isolation_rule = "tenant.isolation";
/// What decides when no rule allows.
inline constexpr std::string_view default_deny_rule = "default.deny";

/// What Policy::evaluate found: the reason (allowed, not_authorized or cross_tenant), the index of
/// the rule that decided (`no_rule` for tenant isolation and default deny) and, on a default deny,
/// an allowing rule that covered the cell but whose condition did not hold.
struct Evaluation {
    static constexpr std::uint16_t no_rule = 0xffff;
    Reason reason = Reason::not_authorized;
    std::uint16_t rule = no_rule;
    std::uint16_t near_miss = no_rule;
};

/// An immutable, validated permission matrix with a revision name.
///
/// Evaluation order: (1) a principal never reaches a resource of another tenant (or one with no
/// tenant): cross_tenant, whatever the rules say; (2) a deny rule that covers the cell and whose
/// condition holds denies; (3) an allow rule that covers the cell and whose condition holds allows;
/// (4) otherwise deny ("no rule allows"). Rules are compiled into a table indexed by
/// (role, resource type, action), so a check costs a few comparisons whatever the number of rules.
class Policy {
public:
    /// The most rules a policy may have.
    static constexpr std::size_t max_rules = 4096;

    /// Validates and compiles. Fails with ConfigErrc::invalid_value (a sentence naming the rule and
    /// the problem) on an empty or over-long revision, a bad or duplicate or reserved rule name, a rule
    /// naming no role, resource type or action, an enum value out of range, or too many rules.
    static Result<Policy> create(std::string revision, std::vector<Rule> rules);

    /// Reads a policy document (format in README, "Roles and permissions"):
    ///   {"revision": "acme-7", "rules": [{"name": "sales.assigned_leads", "effect": "allow",
    ///    "roles": ["sales"], "resources": ["lead", "contact"], "actions": ["read", "update", "send"],
    ///    "when": "assigned_to_self", "description": "..."}]}
    /// "*" in roles, resources or actions means every value. Unknown keys, roles, actions, resource
    /// types, effects and conditions are errors. Fails with ConfigErrc::malformed (not JSON, wrong
    /// types, more than 1 MiB), ConfigErrc::missing (a required key) or ConfigErrc::invalid_value,
    /// with the JSON path in the detail: `rules[2].actions[1]: unknown action "delet"`.
    static Result<Policy> from_json(std::string_view json);

    /// The default matrix (revision "builtin-2": "builtin-1" plus manager.team_requests), as tabled in the README.
    static const Policy& defaults();

    /// The policy as a document from_json reads back to an equal policy.
    std::string to_json() const;

    const std::string& revision() const noexcept { return revision_; }
    std::span<const Rule> rules() const noexcept { return rules_; }
    /// The rule at `index`, or nullptr for Evaluation::no_rule or an index out of range.
    const Rule* rule(std::uint16_t index) const noexcept { return index < rules_.size() ? &rules_[index] : nullptr; }

    /// Decides. Pure: no I/O, no allocation, thread-safe.
    Evaluation evaluate(const Principal& principal, Action action, const Resource& resource) const noexcept;

private:
    struct Ref {
        std::uint16_t rule;
        Effect effect;
        Condition when;
    };

    Policy() = default;
    void compile();

    std::string revision_;
    std::vector<Rule> rules_;
    std::vector<std::uint32_t> cell_begin_;  ///< per cell, where its refs start in refs_; one extra at the end
    std::vector<Ref> refs_;                  ///< per cell: deny rules first, then allow rules, each in rule order
};

}  // namespace heroshhi::rbac
