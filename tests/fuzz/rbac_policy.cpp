// Fuzz target: a host's permission policy document (rbac::Policy::from_json). Properties: a refusal
// is ConfigErrc malformed, missing or invalid_value; an accepted policy round-trips (to_json reads
// back to the same revision and rules, and writes the same text again); no accepted policy lets any
// role do anything to another tenant's resource, or to a resource without a tenant; and the compiled
// table decides every (role, resource type, action) cell as the rules read one by one do (an
// explicit deny beats any allow; what no rule allows is denied), with every condition holding and
// with none but "always" holding.
#include <heroshhi/core/errors.hpp>
#include <heroshhi/rbac/policy.hpp>

#include "fuzz_check.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace heroshhi;
using namespace heroshhi::rbac;

bool same_rules(std::span<const Rule> a, std::span<const Rule> b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const Rule& x = a[i];
        const Rule& y = b[i];
        if (x.name != y.name || x.effect != y.effect || x.roles != y.roles || x.resources != y.resources ||
            x.actions != y.actions || x.when != y.when || x.description != y.description)
            return false;
    }
    return true;
}

template <class T>
bool names(const std::vector<T>& values, T value) {
    return std::find(values.begin(), values.end(), value) != values.end();
}

/// The rules read one by one: deny if a deny rule whose condition holds covers the cell, else allow
/// if such an allow rule does, else deny.
Reason by_hand(const Policy& policy, Role role, ResourceType type, Action action, bool conditions_hold) {
    bool allow = false;
    for (const Rule& r : policy.rules()) {
        if (!names(r.roles, role) || !names(r.resources, type) || !names(r.actions, action)) continue;
        if (r.when != Condition::always && !conditions_hold) continue;
        if (r.effect == Effect::deny) return Reason::not_authorized;
        allow = true;
    }
    return allow ? Reason::allowed : Reason::not_authorized;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto policy = Policy::from_json(text);
    if (!policy) {
        const auto code = policy.error().code();
        FUZZ_CHECK(code == ConfigErrc::malformed || code == ConfigErrc::missing || code == ConfigErrc::invalid_value);
        return 0;
    }
    const std::string written = policy->to_json();
    auto again = Policy::from_json(written);
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(again->revision() == policy->revision());
    FUZZ_CHECK(same_rules(again->rules(), policy->rules()));
    FUZZ_CHECK(again->to_json() == written);

    const TenantId home{"acme"}, foreign{"globex"};
    const bool small = policy->rules().size() <= 64;  // the rule-by-rule reading is slow for long policies
    for (Role role : all_roles) {
        // A manager of team "north" whose own user is "u-1": every condition holds for a resource of
        // that team, assigned to "u-1", with id "u-1"; none does for one with no facts.
        const Principal p{UserId{"u-1"}, home, role, "north"};
        for (ResourceType type : all_resource_types) {
            Resource theirs(type, foreign, "u-1");
            theirs.assignee = UserId{"u-1"};
            theirs.team = "north";
            Resource nobodys(type, TenantId{}, "u-1");
            Resource bare(type, home, "r-9");
            Resource matching(type, home, "u-1");
            matching.assignee = UserId{"u-1"};
            matching.team = "north";
            for (Action action : all_actions) {
                FUZZ_CHECK(policy->evaluate(p, action, theirs).reason == Reason::cross_tenant);
                FUZZ_CHECK(policy->evaluate(p, action, nobodys).reason == Reason::cross_tenant);
                if (!small) continue;
                FUZZ_CHECK(policy->evaluate(p, action, matching).reason == by_hand(*policy, role, type, action, true));
                FUZZ_CHECK(policy->evaluate(p, action, bare).reason == by_hand(*policy, role, type, action, false));
            }
        }
    }
    return 0;
}
