// heroshhi — the WhatsApp Cloud API webhook payload, parsed into plain values.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/result.hpp>

namespace heroshhi::whatsapp {

/// Why a webhook body was refused as a whole. Category name: "heroshhi.webhook".
enum class WebhookErrc {
    too_large = 1,  ///< the body is larger than WebhookLimits::max_body_bytes
    malformed,      ///< not JSON, or not the Cloud API envelope (the detail says where)
    too_deep,       ///< nesting deeper than WebhookLimits::max_depth
    too_many,       ///< more events than WebhookLimits::max_events
    not_whatsapp,   ///< `object` is not "whatsapp_business_account"
};

const std::error_category& webhook_category() noexcept;
inline std::error_code make_error_code(WebhookErrc e) noexcept { return {static_cast<int>(e), webhook_category()}; }

/// Bounds on what a webhook body may hold. Meta documents payloads of up to 3 MB and batches of up
/// to 1,000 updates.
struct WebhookLimits {
    std::size_t max_body_bytes = 3 * 1024 * 1024;
    std::size_t max_depth = 32;
    std::size_t max_events = 5000;
};

/// An error object from the Cloud API (in statuses[].errors or value.errors).
struct ProviderError {
    long code = 0;        ///< e.g. 131047 (window closed), 131050 (marketing opt-out)
    std::string title;
    std::string details;  ///< error_data.details
};

/// A message a contact sent (messages[]).
struct InboundEvent {
    enum class Type {
        text,         ///< text.body
        button,       ///< a template quick-reply tap: text = button.text, payload = button.payload
        interactive,  ///< button_reply / list_reply: text = title, payload = id
        reaction,     ///< text = emoji (empty when a reaction is removed), context_id = message reacted to
        media,        ///< image, video, audio, document, sticker: text = caption
        other,        ///< any other type (location, contacts, order, system, ...): only time and sender
    };

    std::string phone_number_id;  ///< the business number that received it (metadata.phone_number_id)
    std::string from;             ///< the sender's wa_id: digits, no '+'
    std::string profile_name;     ///< contacts[].profile.name for this sender, if given
    std::string id;               ///< the wamid, unique per message: the de-duplication key
    Timestamp at{};
    Type type = Type::other;
    std::string type_name;        ///< the payload's `type` as sent
    std::string text;
    std::string payload;
    std::string context_id;       ///< context.id: the message this one answers or reacts to
};

/// A delivery status of a message we sent (statuses[]).
struct StatusEvent {
    std::string phone_number_id;
    std::string id;             ///< the wamid of our message
    std::string status;         ///< sent, delivered, read, failed, played
    Timestamp at{};
    std::string recipient_id;   ///< wa_id of the recipient
    std::string callback_data;  ///< biz_opaque_callback_data, as set on send
    std::vector<ProviderError> errors;
};

/// A user_preferences event: the contact stopped or resumed marketing messages.
struct PreferenceEvent {
    std::string phone_number_id;
    std::string wa_id;
    std::string category;  ///< "marketing_messages"
    std::string value;     ///< "stop" or "resume"
    Timestamp at{};
};

/// Everything one webhook delivery carried, in payload order within each kind.
struct WebhookPayload {
    std::vector<InboundEvent> messages;
    std::vector<StatusEvent> statuses;
    std::vector<PreferenceEvent> preferences;
    std::vector<ProviderError> errors;  ///< value-level errors (system, app or account problems)
    /// Events left out because a field they need was missing or of the wrong type, each as
    /// "entry[0].changes[1].value.messages[2]: no id". The rest of the payload is still used.
    std::vector<std::string> skipped;
};

/// Parses a webhook body. Unknown fields and unknown change fields are ignored. The body must be
/// the raw bytes as received (verify the signature over the same bytes first).
///
/// Fails with WebhookErrc (and a detail naming the offending place) when the body is too large,
/// not JSON, nested too deeply, not the Cloud API envelope, or holds too many events; then nothing
/// of it should be stored. Never throws except std::bad_alloc.
Result<WebhookPayload> parse_webhook(std::string_view body, const WebhookLimits& limits = {});

}  // namespace heroshhi::whatsapp

template <> struct std::is_error_code_enum<heroshhi::whatsapp::WebhookErrc> : std::true_type {};
