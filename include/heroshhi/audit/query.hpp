// heroshhi — audit Query: which entries of a tenant's trail to read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/ids.hpp>

namespace heroshhi::audit {

/// Entries of one tenant in sequence order; every filter that is set must match. Page through a
/// long trail by passing the last sequence seen as `after_sequence`.
struct Query {
    explicit Query(TenantId tenant_) : tenant(std::move(tenant_)) {}

    TenantId tenant;
    std::optional<Timestamp> from;          ///< at >= from
    std::optional<Timestamp> until;         ///< at < until
    std::optional<UserId> actor;            ///< the acting user
    std::optional<std::string> action;      ///< e.g. "export"
    std::optional<std::string> target_type; ///< e.g. "contact"
    std::optional<std::string> target_id;   ///< e.g. "c-42"
    std::int64_t after_sequence = 0;
    std::size_t limit = 1000;               ///< at most this many entries (a page)
};

}  // namespace heroshhi::audit
