// heroshhi — Authorizer: answers "may this principal do this to that resource?" under the policy
// currently installed, which can be replaced at run time without stopping checks.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include <heroshhi/rbac/access_decision.hpp>
#include <heroshhi/rbac/action.hpp>
#include <heroshhi/rbac/policy.hpp>
#include <heroshhi/rbac/principal.hpp>
#include <heroshhi/rbac/resource.hpp>

namespace heroshhi::rbac {

/// Holds the current Policy as an immutable snapshot behind an atomic shared pointer. A check
/// loads the snapshot once and decides on it; install() publishes a new one; checks in flight
/// finish on the snapshot they loaded, and the old snapshot is freed when the last decision that
/// refers to it goes. Thread-safe; check() takes no mutex, does no I/O and does not allocate.
class Authorizer {
public:
    /// Starts with Policy::defaults().
    Authorizer();
    explicit Authorizer(Policy policy);

    /// The decision for `principal` doing `action` to `resource`. Never fails: anything not
    /// allowed by a rule is denied; another tenant's resource is always denied (cross_tenant).
    AccessDecision check(const Principal& principal, Action action, const Resource& resource) const;

    /// check(...).explain(): the rule that decided, or "no rule allows".
    std::string explain(const Principal& principal, Action action, const Resource& resource) const;

    /// Replaces the policy for every later check. The policy is already validated (Policy values
    /// only exist validated), so this cannot fail.
    void install(Policy policy);

    /// The snapshot checks currently use.
    std::shared_ptr<const Policy> policy() const;

private:
    std::atomic<std::shared_ptr<const Policy>> current_;
};

}  // namespace heroshhi::rbac
