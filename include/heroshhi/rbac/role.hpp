// heroshhi — Role: the four permission levels of the data policy.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace heroshhi::rbac {

/// A team member's permission level inside one tenant. What each may do is the Policy's business
/// (README, "Roles and permissions"); the enum only names them.
enum class Role : std::uint8_t {
    owner,    ///< the account holder: everything in the tenant, including billing and termination
    admin,    ///< runs the workspace: everything except billing, termination and ownership
    manager,  ///< leads a team: the team's leads, campaigns and activity
    sales,    ///< works the leads assigned to them
};

inline constexpr std::size_t role_count = 4;
inline constexpr std::array<Role, role_count> all_roles{Role::owner, Role::admin, Role::manager, Role::sales};

/// "owner", "admin", "manager", "sales".
std::string_view to_string(Role r) noexcept;
/// The inverse of to_string; nullopt for anything else (names are case-sensitive).
std::optional<Role> role_from_string(std::string_view s) noexcept;

}  // namespace heroshhi::rbac
