#include <heroshhi/storage/records.hpp>

namespace heroshhi::storage {

std::string_view to_string(Direction d) noexcept { return d == Direction::inbound ? "inbound" : "outbound"; }

std::string_view to_string(MessageStatus s) noexcept {
    switch (s) {
        case MessageStatus::received: return "received";
        case MessageStatus::queued: return "queued";
        case MessageStatus::sent: return "sent";
        case MessageStatus::delivered: return "delivered";
        case MessageStatus::read: return "read";
        case MessageStatus::failed: return "failed";
    }
    return "unknown";
}

std::optional<Direction> direction_from_string(std::string_view s) noexcept {
    if (s == "inbound") return Direction::inbound;
    if (s == "outbound") return Direction::outbound;
    return std::nullopt;
}

std::optional<MessageStatus> message_status_from_string(std::string_view s) noexcept {
    for (MessageStatus m : {MessageStatus::received, MessageStatus::queued, MessageStatus::sent,
                            MessageStatus::delivered, MessageStatus::read, MessageStatus::failed})
        if (to_string(m) == s) return m;
    return std::nullopt;
}

namespace {

/// Position in the outbound progression; 0 for statuses outside it.
int progress(MessageStatus s) noexcept {
    switch (s) {
        case MessageStatus::queued: return 1;
        case MessageStatus::sent: return 2;
        case MessageStatus::delivered: return 3;
        case MessageStatus::read: return 4;
        case MessageStatus::received:
        case MessageStatus::failed: return 0;
    }
    return 0;
}

}  // namespace

bool status_advances(MessageStatus from, MessageStatus to) noexcept {
    const int old_rank = progress(from);
    if (old_rank == 0) return false;  // received and failed are final
    if (to == MessageStatus::failed) return old_rank <= progress(MessageStatus::sent);
    return progress(to) > old_rank;
}

std::string_view to_string(Purpose) noexcept { return "marketing"; }

std::optional<Purpose> purpose_from_string(std::string_view s) noexcept {
    if (s == "marketing") return Purpose::marketing;
    return std::nullopt;
}

}  // namespace heroshhi::storage
