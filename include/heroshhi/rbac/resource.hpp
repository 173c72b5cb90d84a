// heroshhi — Resource: what an action is aimed at, with the facts the policy's conditions read.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <heroshhi/core/ids.hpp>

namespace heroshhi::rbac {

/// The kinds of thing the permission matrix covers.
enum class ResourceType : std::uint8_t {
    lead,                  ///< a lead (a contact in a sales pipeline)
    contact,               ///< a contact
    message,               ///< a message in a contact's history; carries its contact's assignee and team
    campaign,              ///< a bulk campaign
    export_,               ///< an export file or job ("export")
    audit_log,             ///< the audit trail (team = whose activity, for managers)
    user,                  ///< a team member's account
    role_assignment,       ///< who holds which role
    settings,              ///< workspace settings
    integration,           ///< a connection to another system (WhatsApp number, form webhook, ...)
    billing,               ///< plan, invoices, payment method
    account,               ///< the customer account itself
    retention_policy,      ///< the tenant's data retention settings
    data_subject_request,  ///< an access, erasure, portability, ... request
};

inline constexpr std::size_t resource_type_count = 14;
inline constexpr std::array<ResourceType, resource_type_count> all_resource_types{
    ResourceType::lead,     ResourceType::contact,         ResourceType::message,  ResourceType::campaign,
    ResourceType::export_,  ResourceType::audit_log,       ResourceType::user,     ResourceType::role_assignment,
    ResourceType::settings, ResourceType::integration,     ResourceType::billing,  ResourceType::account,
    ResourceType::retention_policy, ResourceType::data_subject_request};

/// "lead", "contact", "message", "campaign", "export", "audit_log", "user", "role_assignment",
/// "settings", "integration", "billing", "account", "retention_policy", "data_subject_request".
std::string_view to_string(ResourceType t) noexcept;
std::optional<ResourceType> resource_type_from_string(std::string_view s) noexcept;

/// One resource as the policy sees it. The host fills in what it knows; a condition that needs a
/// fact that is absent (no assignee, no team) does not hold, so a missing fact never allows.
struct Resource {
    Resource(ResourceType type_, TenantId tenant_, std::string id_ = {})
        : type(type_), tenant(std::move(tenant_)), id(std::move(id_)) {}

    ResourceType type;
    TenantId tenant;                  ///< whose data it is; compared with the principal's before anything else
    std::string id;                   ///< the host's id (a contact id, a user id, ...); never a phone number
    std::optional<UserId> assignee;   ///< leads, contacts, messages: the sales user who owns it
    std::string team;                 ///< leads, contacts, messages, campaigns, audit log: the team it belongs to
};

}  // namespace heroshhi::rbac
