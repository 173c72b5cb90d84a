#include <heroshhi/audit/entry.hpp>

namespace heroshhi::audit {

EntryView view_of(const Entry& e) noexcept {
    EntryView v;
    v.tenant = e.tenant.value();
    v.sequence = e.sequence;
    v.at = e.at;
    v.actor_user = e.actor.user.value();
    v.actor_role = e.actor.role ? rbac::to_string(*e.actor.role) : std::string_view("system");
    v.action = e.action;
    v.target_type = e.target_type;
    v.target_id = e.target_id;
    v.outcome = to_string(e.outcome);
    v.rule = e.rule;
    v.request_id = e.request_id;
    v.policy_revision = e.policy_revision;
    v.prev_hash = e.prev_hash;
    v.hash = e.hash;
    return v;
}

}  // namespace heroshhi::audit
