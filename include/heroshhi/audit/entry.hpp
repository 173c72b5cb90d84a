// heroshhi — audit Entry: one user action (or system action) in a tenant's audit trail.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/decision.hpp>
#include <heroshhi/core/ids.hpp>
#include <heroshhi/rbac/role.hpp>

namespace heroshhi::audit {

/// A SHA-256 digest.
using Hash = std::array<std::uint8_t, 32>;

/// Who acted: a team member with their role, or the system (a retention sweep, a webhook).
struct Actor {
    static Actor system() { return Actor{}; }
    static Actor member(UserId user, rbac::Role role) { return Actor{std::move(user), role}; }

    bool is_system() const noexcept { return !role.has_value(); }

    UserId user;                     ///< empty for the system
    std::optional<rbac::Role> role;  ///< nullopt for the system

    friend bool operator==(const Actor&, const Actor&) = default;
};

/// One audit entry. The fields a caller fills are what happened; the Log fills the rest (sequence,
/// time, hashes). Entries carry ids only: no phone numbers, names or message bodies.
struct Entry {
    TenantId tenant;                  ///< whose trail: the tenant whose data was acted on
    std::int64_t sequence = 0;        ///< set by the Log: 1, 2, 3, ... within the tenant
    Timestamp at{};                   ///< set by the Log from its clock
    Actor actor;
    std::string action;               ///< what was attempted: "export", "opt_out.manual", "send", ...
    std::string target_type;          ///< "lead", "contact", "audit_log", ...
    std::string target_id;            ///< the target's id (a contact id, a pseudonym); never a phone number
    Reason outcome = Reason::allowed; ///< allowed, or why it was denied
    std::string rule;                 ///< the rule that decided ("sales.assigned_leads", "optout.blocks_all")
    std::string request_id;           ///< the host's id for the request, to join with its own logs
    std::string policy_revision;      ///< the authorization policy's revision
    Hash prev_hash{};                 ///< set by the Log: the previous entry's hash (or the checkpoint's)
    Hash hash{};                      ///< set by the Log: see chain.hpp

    bool allowed() const noexcept { return outcome == Reason::allowed; }

    friend bool operator==(const Entry&, const Entry&) = default;
};

/// One entry as its store holds it, borrowed: every field the chain hash covers, in its stored
/// text form, and the two stored hashes. Views are valid only while the call that hands them out
/// runs (storage::AuditStore::scan); copy what must outlive it. Verification hashes these values
/// as they are, so a stored role or outcome that was edited into nonsense shows up as a broken
/// hash rather than as a read error.
struct EntryView {
    std::string_view tenant;
    std::int64_t sequence = 0;
    Timestamp at{};
    std::string_view actor_user;              ///< "" for the system
    std::string_view actor_role;              ///< "owner", "admin", "manager", "sales" or "system"
    std::string_view action;
    std::string_view target_type;
    std::string_view target_id;
    std::string_view outcome;                 ///< the Reason's name: "allowed", "not_authorized", ...
    std::string_view rule;
    std::string_view request_id;
    std::string_view policy_revision;
    std::span<const std::uint8_t> prev_hash;  ///< 32 bytes, unless the stored value was damaged
    std::span<const std::uint8_t> hash;       ///< 32 bytes, unless the stored value was damaged
};

/// A view of `entry`'s fields, borrowed from it (valid while `entry` lives and is not changed).
EntryView view_of(const Entry& entry) noexcept;

}  // namespace heroshhi::audit
