// heroshhi — AccessDecision: the answer of an authorization check, with what decided it.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <heroshhi/core/decision.hpp>
#include <heroshhi/rbac/action.hpp>
#include <heroshhi/rbac/policy.hpp>
#include <heroshhi/rbac/resource.hpp>
#include <heroshhi/rbac/role.hpp>

namespace heroshhi::rbac {

/// Allowed or not, why, the rule that decided and the policy revision it belongs to. Holds the
/// policy snapshot it was decided under, so rule() and revision() stay valid however long the
/// decision is kept, even after the Authorizer installed another policy. Cheap to move; building
/// it does not allocate.
class AccessDecision {
public:
    AccessDecision(std::shared_ptr<const Policy> policy, Evaluation evaluation, Role role, Action action,
                   ResourceType type) noexcept
        : policy_(std::move(policy)), evaluation_(evaluation), role_(role), action_(action), type_(type) {}

    bool allowed() const noexcept { return evaluation_.reason == Reason::allowed; }
    explicit operator bool() const noexcept { return allowed(); }
    /// Reason::allowed, Reason::not_authorized or Reason::cross_tenant.
    Reason reason() const noexcept { return evaluation_.reason; }
    /// The deciding rule's name: a policy rule, "tenant.isolation" or "default.deny".
    std::string_view rule() const noexcept;
    /// The revision of the policy that decided.
    std::string_view revision() const noexcept;
    /// The deciding policy rule; nullptr for tenant isolation and default deny.
    const Rule* deciding_rule() const noexcept;

    Role role() const noexcept { return role_; }
    Action action() const noexcept { return action_; }
    ResourceType resource_type() const noexcept { return type_; }

    /// A sentence for the person who tried: "Not allowed: a sales user may not export leads."
    /// Empty when allowed.
    std::string notice() const;
    /// Why, for an operator: the rule (with its description) that allowed or denied, or "no rule
    /// allows" (naming a rule whose condition did not hold, if one came close), and the revision.
    std::string explain() const;
    /// As a core Decision (reason, notice, rule name), e.g. to return from a send check.
    Decision to_decision() const;

private:
    std::shared_ptr<const Policy> policy_;
    Evaluation evaluation_;
    Role role_;
    Action action_;
    ResourceType type_;
};

}  // namespace heroshhi::rbac
