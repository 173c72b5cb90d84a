// heroshhi — RequestStore: the port for the register of data-subject requests.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include <heroshhi/core/ids.hpp>
#include <heroshhi/core/result.hpp>
#include <heroshhi/privacy/request.hpp>
#include <heroshhi/storage/records.hpp>

namespace heroshhi::storage {

/// Keeps a tenant's data-subject requests. The store keeps what it is given; privacy::RequestRegister
/// computes deadlines and moves statuses. Thread-safe; blocks on I/O; fails with a StorageErrc;
/// every method is scoped by a tenant.
class RequestStore {
public:
    virtual ~RequestStore() = default;

    /// Inserts or replaces the request (tenant, id). Fails with invalid_argument on an empty tenant
    /// or id.
    virtual Result<void> put(const privacy::SubjectRequest& request) = 0;

    /// The request; nullopt if absent.
    virtual Result<std::optional<privacy::SubjectRequest>> get(const TenantId& tenant, std::string_view id) const = 0;

    /// Requests with id > page.after, ordered by id, at most page.limit; with `open_only`, only
    /// those received or acknowledged (not completed or refused).
    virtual Result<std::vector<privacy::SubjectRequest>> list(const TenantId& tenant, const Page& page,
                                                              bool open_only) const = 0;
};

}  // namespace heroshhi::storage
