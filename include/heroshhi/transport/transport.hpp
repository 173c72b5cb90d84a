// heroshhi — Transport: the port that delivers one outbound message to the provider.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <heroshhi/core/ids.hpp>
#include <heroshhi/core/phone_number.hpp>
#include <heroshhi/core/result.hpp>
#include <heroshhi/messaging/message_kind.hpp>

namespace heroshhi::transport {

/// A WhatsApp template to send (outside the 24-hour window, or for campaigns).
struct Template {
    std::string name;
    std::string language = "en_US";
    std::vector<std::string> body_parameters;  ///< {{1}}, {{2}}, ... of the body component
};

/// What a transport needs to deliver one message, and nothing more: the recipient and the
/// content (the policy's "Meta gets message content and phone numbers"). No tenant data, no names.
struct OutboundMessage {
    OutboundMessage(PhoneNumber to_, messaging::MessageKind kind_) : to(std::move(to_)), kind(kind_) {}

    PhoneNumber to;
    messaging::MessageKind kind;
    std::string text;              ///< free-form body (kind free_form or optout_confirmation)
    Template template_message;     ///< for the template kinds
    std::string correlation_id;    ///< comes back in status webhooks (biz_opaque_callback_data)
};

/// How the provider answered, classified by what the caller must do next.
enum class Outcome {
    accepted,             ///< queued for delivery; provider_message_id is set
    window_closed,        ///< 131047: free-form outside 24 h; send a template instead
    marketing_opted_out,  ///< 131050: the user stopped marketing messages; record it, never retry
    throttled,            ///< 130429 / 131056 / 131049 / 80007 / 4: slow down; retry after retry_after
    rejected,             ///< template errors (132xxx), 131026 undeliverable, blocked, policy: do not retry
    temporary,            ///< 1, 2, 131000, 131016, 133004, 5xx, network: retry with backoff
    auth_error,           ///< 0, 190, 10, 200-299, 3: configuration (token, permission); do not retry
};

std::string_view to_string(Outcome o) noexcept;

/// Maps a Cloud API error code to what to do (reference/whatsapp.md §4).
Outcome classify_error(long code) noexcept;

struct ProviderAnswer {
    Outcome outcome = Outcome::temporary;
    std::string provider_message_id;  ///< the wamid, when accepted
    long error_code = 0;
    std::string error_title;
    std::chrono::seconds retry_after{0};  ///< for throttled and temporary outcomes
};

/// Delivers messages. The engine calls it only after the send gate allowed the message, through a
/// Messenger; hosts implement it to use their own provider. Implementations must be thread-safe;
/// deliver() blocks on the network and never throws. A provider's refusal is a ProviderAnswer; an
/// Error means the answer is unknown (the message may or may not have gone out).
class Transport {
public:
    virtual ~Transport() = default;
    virtual Result<ProviderAnswer> deliver(const OutboundMessage& message) = 0;
};

}  // namespace heroshhi::transport
