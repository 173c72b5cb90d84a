// The names of roles, actions and resource types: part of the API (policy documents, audit
// entries and explanations use them).
#include <heroshhi/rbac/action.hpp>
#include <heroshhi/rbac/resource.hpp>
#include <heroshhi/rbac/role.hpp>

namespace heroshhi::rbac {

std::string_view to_string(Role r) noexcept {
    switch (r) {
        case Role::owner: return "owner";
        case Role::admin: return "admin";
        case Role::manager: return "manager";
        case Role::sales: return "sales";
    }
    return "unknown";
}

std::optional<Role> role_from_string(std::string_view s) noexcept {
    for (Role r : all_roles)
        if (to_string(r) == s) return r;
    return std::nullopt;
}

std::string_view to_string(Action a) noexcept {
    switch (a) {
        case Action::read: return "read";
        case Action::create: return "create";
        case Action::update: return "update";
        case Action::delete_: return "delete";
        case Action::bulk_delete: return "bulk_delete";
        case Action::export_: return "export";
        case Action::send: return "send";
        case Action::send_campaign: return "send_campaign";
        case Action::assign: return "assign";
        case Action::manage: return "manage";
        case Action::terminate_account: return "terminate_account";
        case Action::transfer_ownership: return "transfer_ownership";
    }
    return "unknown";
}

std::optional<Action> action_from_string(std::string_view s) noexcept {
    for (Action a : all_actions)
        if (to_string(a) == s) return a;
    return std::nullopt;
}

std::string_view to_string(ResourceType t) noexcept {
    switch (t) {
        case ResourceType::lead: return "lead";
        case ResourceType::contact: return "contact";
        case ResourceType::message: return "message";
        case ResourceType::campaign: return "campaign";
        case ResourceType::export_: return "export";
        case ResourceType::audit_log: return "audit_log";
        case ResourceType::user: return "user";
        case ResourceType::role_assignment: return "role_assignment";
        case ResourceType::settings: return "settings";
        case ResourceType::integration: return "integration";
        case ResourceType::billing: return "billing";
        case ResourceType::account: return "account";
        case ResourceType::retention_policy: return "retention_policy";
        case ResourceType::data_subject_request: return "data_subject_request";
    }
    return "unknown";
}

std::optional<ResourceType> resource_type_from_string(std::string_view s) noexcept {
    for (ResourceType t : all_resource_types)
        if (to_string(t) == s) return t;
    return std::nullopt;
}

}  // namespace heroshhi::rbac
