// heroshhi — MessageKind: what kind of outbound message a send is, as the gate sees it.
#pragma once

#include <optional>
#include <string_view>

namespace heroshhi::messaging {

enum class MessageKind {
    free_form,                ///< a session message; WhatsApp allows it within 24 h of the contact's last message
    marketing_template,       ///< template of category MARKETING: needs consent, blocked by marketing opt-out
    utility_template,         ///< template of category UTILITY
    authentication_template,  ///< template of category AUTHENTICATION
    optout_confirmation,      ///< the single reply that confirms an opt-out
};

/// "free_form", "marketing_template", "utility_template", "authentication_template",
/// "optout_confirmation".
std::string_view to_string(MessageKind k) noexcept;
std::optional<MessageKind> message_kind_from_string(std::string_view s) noexcept;

}  // namespace heroshhi::messaging
