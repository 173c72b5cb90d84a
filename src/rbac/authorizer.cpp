#include <heroshhi/rbac/authorizer.hpp>

namespace heroshhi::rbac {

Authorizer::Authorizer() : Authorizer(Policy::defaults()) {}

Authorizer::Authorizer(Policy policy) : current_(std::make_shared<const Policy>(std::move(policy))) {}

AccessDecision Authorizer::check(const Principal& principal, Action action, const Resource& resource) const {
    std::shared_ptr<const Policy> policy = current_.load(std::memory_order_acquire);
    const Evaluation evaluation = policy->evaluate(principal, action, resource);
    return AccessDecision(std::move(policy), evaluation, principal.role, action, resource.type);
}

std::string Authorizer::explain(const Principal& principal, Action action, const Resource& resource) const {
    return check(principal, action, resource).explain();
}

void Authorizer::install(Policy policy) {
    current_.store(std::make_shared<const Policy>(std::move(policy)), std::memory_order_release);
}

std::shared_ptr<const Policy> Authorizer::policy() const { return current_.load(std::memory_order_acquire); }

}  // namespace heroshhi::rbac
