// heroshhi — MessageStore: the port for message history.
#pragma once

#include <functional>
#include <optional>
#include <string_view>
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

    /// The provider accepted the message: keeps its provider message id (WhatsApp's wamid, which
    /// the status webhooks that follow carry) and sets the status to sent if that advances it
    /// (status_advances), with updated_at = at. A provider id already set is kept. Returns whether
    /// the message exists. Fails with invalid_argument on an empty tenant, id or provider id.
    virtual Result<bool> record_sent(const TenantId& tenant, const MessageId& id, std::string_view provider_message_id,
                                     Timestamp at) = 0;

    /// Applies a delivery status the provider reported for the message it knows as
    /// `provider_message_id` (WhatsApp's wamid), only if the status moves the message forward
    /// (status_advances: queued < sent < delivered < read; failed replaces queued or sent only),
    /// and then sets updated_at = at. Webhooks arrive late and out of order, so a "sent" after
    /// "read" changes nothing. Returns the id of the message that changed; nullopt if no message
    /// of the tenant has that provider id or the status would not advance it. If several share the
    /// provider id, the first appended is the one considered. Fails with invalid_argument on an
    /// empty tenant or provider id. Atomic against concurrent updates of the same message.
    virtual Result<std::optional<MessageId>> update_status_by_provider_id(const TenantId& tenant,
                                                                        std::string_view provider_message_id,
                                                                        MessageStatus status, Timestamp at) = 0;

    /// The contact's messages, oldest first (by created_at, then order of appending), at most `limit`.
    virtual Result<std::vector<MessageRecord>> list_for_contact(const TenantId& tenant, const ContactId& contact,
                                                               std::size_t limit) const = 0;
    /// Calls `visit` for each of the contact's messages in list_for_contact's order, reading them
    /// in batches so that memory stays bounded however long the history (an access export). The
    /// visitor runs without the store's locks held. A store fault stops the scan and is returned.
    virtual Result<void> scan_for_contact(const TenantId& tenant, const ContactId& contact,
                                          const std::function<void(const MessageRecord&)>& visit) const = 0;
};

}  // namespace heroshhi::storage
