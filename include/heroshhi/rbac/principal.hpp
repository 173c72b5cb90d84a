// heroshhi — Principal: who is asking.
#pragma once

#include <string>
#include <utility>

#include <heroshhi/core/ids.hpp>
#include <heroshhi/rbac/role.hpp>

namespace heroshhi::rbac {

/// An authenticated team member of one tenant, as the host's login established it. heroshhi does
/// not authenticate; it trusts these fields and checks what they may do.
struct Principal {
    Principal(UserId user_, TenantId tenant_, Role role_, std::string team_ = {})
        : user(std::move(user_)), tenant(std::move(tenant_)), role(role_), team(std::move(team_)) {}

    UserId user;
    TenantId tenant;   ///< the only tenant whose resources this principal can ever reach
    Role role;
    std::string team;  ///< the team a manager leads (or a sales user belongs to); empty if none
};

}  // namespace heroshhi::rbac
