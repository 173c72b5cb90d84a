// heroshhi — Action: what a principal wants to do to a resource.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace heroshhi::rbac {

/// The verbs the permission matrix is written in. Two names are C++ keywords and carry a trailing
/// underscore; their string forms ("delete", "export") do not.
enum class Action : std::uint8_t {
    read,                ///< see the record (personal data included)
    create,              ///< add a record
    update,              ///< change a record (an opt-out recorded by hand is an update of the contact)
    delete_,             ///< delete one record ("delete")
    bulk_delete,         ///< delete many records in one request
    export_,             ///< take records out of the CRM as a file ("export")
    send,                ///< send a message to the contact by hand
    send_campaign,       ///< send a bulk campaign
    assign,              ///< hand a lead to a team member
    manage,              ///< configure (settings, integrations, retention, role assignments)
    terminate_account,   ///< close the customer account
    transfer_ownership,  ///< make someone else the owner
};

inline constexpr std::size_t action_count = 12;
inline constexpr std::array<Action, action_count> all_actions{
    Action::read,          Action::create, Action::update, Action::delete_,           Action::bulk_delete,
    Action::export_,       Action::send,   Action::send_campaign, Action::assign,     Action::manage,
    Action::terminate_account, Action::transfer_ownership};

/// "read", "create", "update", "delete", "bulk_delete", "export", "send", "send_campaign", "assign",
/// "manage", "terminate_account", "transfer_ownership".
std::string_view to_string(Action a) noexcept;
std::optional<Action> action_from_string(std::string_view s) noexcept;

}  // namespace heroshhi::rbac
