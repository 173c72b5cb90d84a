// heroshhi — MessageStore: the port for message history.
#pragma once

#include <vector>

#include <heroshhi/core/result.hpp>
#include <heroshhi/storage/records.hpp>

namespace heroshhi::storage {

/// Keeps message history per contact. Thread-safe; blocks on I/O; fails with a StorageErrc.
class MessageStore {
public:
    virtual ~MessageStore() = default;

    /// Appends the message. Idempotent on (tenant, id): a second append of the same id stores
    /// nothing and returns false. Fails with not_found if the contact does not exist.
    virtual Result<bool> append(const MessageRecord& message) = 0;

    /// Sets the status and updated_at of a message. Returns whether the message exists.
    virtual Result<bool> update_status(const TenantId& tenant, const MessageId& id, MessageStatus status,
                                       Timestamp at) = 0;

    /// The contact's messages, oldest first (by created_at, then order of appending), at most `limit`.
    virtual Result<std::vector<MessageRecord>> list_for_contact(const TenantId& tenant, const ContactId& contact,
                                                               std::size_t limit) const = 0;
};

}  // namespace heroshhi::storage
