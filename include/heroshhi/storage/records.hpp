// heroshhi — the records the storage ports keep.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/ids.hpp>
#include <heroshhi/core/phone_number.hpp>

namespace heroshhi::storage {

/// A lead or contact of a tenant. (The policy says "lead data"; a lead is a contact in the CRM.)
struct Contact {
    Contact(TenantId tenant_, ContactId id_, PhoneNumber phone_)
        : tenant(std::move(tenant_)), id(std::move(id_)), phone(std::move(phone_)) {}

    TenantId tenant;
    ContactId id;
    PhoneNumber phone;
    std::string name;
    std::string email;
    std::string source;                   ///< where it came from: "direct", "integration", "webhook", "whatsapp"
    std::optional<UserId> assignee;       ///< the sales user who owns the lead
    std::string team;                     ///< the assignee's team, for manager access
    Timestamp created_at{};
    Timestamp updated_at{};
    std::optional<Timestamp> deleted_at;  ///< set by a soft delete; hard delete follows after 30 days
    bool legal_hold = false;              ///< beats every deletion rule
    bool restricted = false;              ///< processing restricted at the contact's request: no sends
    bool analytics_objection = false;     ///< the contact objected to analytics: left out of aggregates
};

enum class Direction { inbound, outbound };
enum class MessageStatus { received, queued, sent, delivered, read, failed };

std::string_view to_string(Direction d) noexcept;
std::string_view to_string(MessageStatus s) noexcept;
std::optional<Direction> direction_from_string(std::string_view s) noexcept;
std::optional<MessageStatus> message_status_from_string(std::string_view s) noexcept;

/// Whether a delivery status reported by the provider may replace the stored one. Statuses only
/// move forward: queued < sent < delivered < read; failed replaces queued or sent only (a message
/// that was delivered did not fail); failed and received (an inbound message) are final. A
/// status never replaces itself. So a late "sent" after "read" changes nothing.
bool status_advances(MessageStatus from, MessageStatus to) noexcept;

/// One message in a contact's history. Deleted with its contact (cascade).
struct MessageRecord {
    TenantId tenant;
    MessageId id;
    ContactId contact;
    Direction direction = Direction::inbound;
    std::string body;
    MessageStatus status = MessageStatus::received;
    std::string provider_message_id;  ///< WhatsApp's wamid, when known
    Timestamp created_at{};
    Timestamp updated_at{};
};

/// Purposes that need explicit consent under the policy's lawful-basis table.
enum class Purpose { marketing };
std::string_view to_string(Purpose p) noexcept;
std::optional<Purpose> purpose_from_string(std::string_view s) noexcept;

/// A grant or withdrawal of consent; the latest record for (tenant, phone, purpose) is in force.
struct ConsentRecord {
    TenantId tenant;
    PhoneNumber phone;
    Purpose purpose = Purpose::marketing;
    bool granted = true;
    Timestamp at{};
    std::string source;            ///< how it was obtained: "web_form", "whatsapp_optin", ...
    std::optional<UserId> actor;
};

/// Which page of a listing to return. Listings are ordered by id; pass the last id seen as `after`.
struct Page {
    std::string after;
    std::size_t limit = 100;
};

}  // namespace heroshhi::storage
