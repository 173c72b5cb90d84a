// heroshhi — the data categories of the policy's retention table.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace heroshhi::retention {

/// A row of the policy's retention table ("Data Retention" and "What We Collect").
enum class Category {
    lead,           ///< lead data: the customer's period since last activity, then soft delete; hard
                    ///< delete 30 days after the soft delete; all of it at account termination
    message,        ///< message history: deleted with its lead (cascade), or sooner by the tenant's
                    ///< shorter setting
    account,        ///< the rest of a tenant's data (consent records, inbound activity, the
                    ///< data-subject request register): kept for the account's lifetime, deleted
                    ///< at closure + 30 days
    activity_log,   ///< activity logs in a host's own tables: one year, then deleted
    audit_log,      ///< the audit trail (audit::Log): one year, then purged through the log,
                    ///< except entries about a lead under legal hold (and the due ones after them)
    optout_record,  ///< opt-out records: kept indefinitely, never auto-deleted (no target may take it);
                    ///< at termination reduced to keyed hashes (Counts::hashed)
    analytics,      ///< analytics: only aggregates without personal data, kept indefinitely, also
                    ///< after termination (they name no one, so nothing of the subject remains)
    webhook_key,    ///< webhook de-duplication keys: 30 days after they were seen, and at termination
                    ///< (last, so that journals and audit texts written before it still read back)
};

inline constexpr std::size_t category_count = 8;

/// "lead", "message", "account", "activity_log", "audit_log", "optout_record", "analytics",
/// "webhook_key".
std::string_view to_string(Category c) noexcept;
std::optional<Category> category_from_string(std::string_view s) noexcept;

}  // namespace heroshhi::retention
