// heroshhi — Messenger: the one way to send. Runs the checks, keeps the history, paces, calls the
// transport it holds privately, and acts on the provider's answer.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/decision.hpp>
#include <heroshhi/core/ids.hpp>
#include <heroshhi/core/phone_number.hpp>
#include <heroshhi/core/result.hpp>
#include <heroshhi/engine.hpp>
#include <heroshhi/messaging/audience.hpp>
#include <heroshhi/messaging/message_kind.hpp>
#include <heroshhi/messaging/pacer.hpp>
#include <heroshhi/rbac/principal.hpp>
#include <heroshhi/storage/store_set.hpp>
#include <heroshhi/transport/transport.hpp>

namespace heroshhi::messaging {

/// A WhatsApp template's category, as Meta approved it. It decides the gate's rules: marketing
/// needs consent and is blocked by a marketing opt-out.
enum class TemplateCategory { marketing, utility, authentication };

/// "marketing", "utility", "authentication".
std::string_view to_string(TemplateCategory c) noexcept;
std::optional<TemplateCategory> template_category_from_string(std::string_view s) noexcept;
/// marketing_template, utility_template or authentication_template.
MessageKind message_kind(TemplateCategory c) noexcept;

/// One message to one recipient. Build it with make_text, make_template or make_reply.
struct OutgoingMessage {
    OutgoingMessage(PhoneNumber to_, MessageKind kind_) : to(std::move(to_)), kind(kind_) {}

    PhoneNumber to;
    MessageKind kind;
    std::string text;                      ///< free_form and optout_confirmation: the body
    transport::Template template_message;  ///< the template kinds: name, language, body parameters
    MessageId id;                          ///< ours; generated when empty. Sent as the correlation id
                                           ///< (it comes back in status webhooks); a given id already in
                                           ///< the history is not sent again (SendStatus::duplicate)
    std::string request_id;                ///< the host's request id, carried into the audit entry
};

/// A free-form text (allowed within 24 h of the contact's last message).
OutgoingMessage make_text(PhoneNumber to, std::string body);
/// An approved template of `category` in `language` (e.g. "en_US") with its body parameters.
OutgoingMessage make_template(PhoneNumber to, TemplateCategory category, std::string name, std::string language,
                              std::vector<std::string> parameters = {});
/// A reply the engine asked for after an inbound message (InboundOutcome::reply, reply_kind).
OutgoingMessage make_reply(PhoneNumber to, std::string text, MessageKind kind);

/// What happened to one send.
enum class SendStatus {
    sent,       ///< the provider accepted it (delivery is reported later by status webhooks)
    refused,    ///< the gate or authorization said no: nothing sent, nothing stored; see `decision`
    paced,      ///< sending now would break pacing by more than the allowed wait: nothing sent,
                ///< nothing checked or stored; send again after `retry_after`
    failed,     ///< the provider refused it, or could not be reached within the retries; see `outcome`
    duplicate,  ///< a message with this id is already in the history: not sent again
};
std::string_view to_string(SendStatus s) noexcept;

/// The answer of a send. Carries ids and codes only, never the content.
struct SendResult {
    MessageId id;                        ///< ours (also the correlation id sent to the provider)
    SendStatus status = SendStatus::refused;
    std::optional<Decision> decision;    ///< the check's decision; absent when paced before checking
    /// The provider's answer, classified (sent and failed); `temporary` also for a network error.
    std::optional<transport::Outcome> outcome;
    long error_code = 0;                 ///< the provider's error code (131047, 132001, ...)
    std::string provider_message_id;     ///< the wamid, when sent
    std::string detail;                  ///< the provider's error title or the network error
    std::uint32_t attempts = 0;          ///< transport calls made
    std::chrono::milliseconds retry_after{0};  ///< paced, or failed while throttled: when to try again
    /// The history holds the message with its final status (false: no contact has this number,
    /// or the final status could not be written).
    bool stored = false;

    bool sent() const noexcept { return status == SendStatus::sent; }
};

/// Retries of throttled (130429, 131056), temporary (1, 2, 131000, 5xx...) and network failures.
struct RetryOptions {
    /// Transport calls per message, the first included (>= 1).
    std::uint32_t max_attempts = 3;
    /// The wait before the second call; each further wait is four times the previous (Meta: "retry
    /// after 4^X seconds"), at least what the provider asked for (6 s for 131056).
    std::chrono::milliseconds first_delay = std::chrono::seconds(1);
    /// No single wait is longer. A provider asking for longer (131049: 24 h) is not retried in the
    /// call: the send fails with that retry_after.
    std::chrono::milliseconds max_delay = std::chrono::seconds(16);
    /// A network error may come after the provider took the message: retrying can deliver it
    /// twice (the Cloud API has no idempotency key). On by default, as a lost message is worse
    /// for a reply a contact waits for; turn off for at-most-once.
    bool retry_network_errors = true;
};

struct MessengerOptions {
    PacingOptions pacing;
    RetryOptions retry;
    /// How the Messenger waits (pacing slots, backoff). Empty: std::this_thread::sleep_for. Tests
    /// pass one that advances a ManualClock. Must be thread-safe.
    std::function<void(std::chrono::milliseconds)> sleep;
    /// WhatsApp's limit on a text body, in characters (code points).
    std::size_t max_text_chars = 4096;
};

/// A bulk send of one text or template to an audience.
struct Campaign {
    Campaign(TenantId tenant_, std::string id_, MessageKind kind_) : tenant(std::move(tenant_)), id(std::move(id_)), kind(kind_) {}

    TenantId tenant;
    std::string id;                        ///< the host's campaign id: audit target and message id prefix
    MessageKind kind;                      ///< a template kind, or free_form (only contacts in their window)
    std::string team;                      ///< the team it belongs to (managers send their own team's)
    std::vector<PhoneNumber> audience;
    std::string text;                      ///< free_form
    transport::Template template_message;  ///< template kinds
    /// Per-recipient body parameters (e.g. the contact's first name), by position in `audience`.
    /// Empty: template_message.body_parameters for everyone.
    std::function<std::vector<std::string>(std::size_t position)> parameters_for;
    std::string request_id;
};

/// One recipient's send in a campaign.
struct RecipientOutcome {
    std::size_t position = 0;  ///< in Campaign::audience
    SendResult result;
};

/// What a campaign did.
struct CampaignReport {
    AudienceResult audience;                 ///< who was sendable, and the exclusions by reason
    std::vector<RecipientOutcome> outcomes;  ///< one per sendable recipient attempted, in order
    std::size_t sent = 0;
    std::size_t failed = 0;
    std::size_t refused = 0;    ///< the gate said no at send time (e.g. an opt-out arrived meanwhile)
    std::size_t paced = 0;
    std::size_t duplicates = 0; ///< already in the history (a campaign run again with the same id)
    /// A fault stopped the campaign (a store, the provider's credentials) at the recipient in
    /// position `stopped_at`; the `not_attempted` recipients after it were not sent to.
    std::optional<Error> stopped;
    std::size_t stopped_at = 0;
    std::size_t not_attempted = 0;
};

/// Sends messages. It holds the Transport privately and offers no way to reach it: every message
/// goes through a public send method that, in this order,
///   1. takes a pacing slot (about one message per 6 s per recipient, the number's throughput):
///      a slot up to `pacing.max_wait` ahead is waited for, a later one is answered `paced`
///      with the time to wait, and nothing else happens (no check, no audit, no history);
///   2. runs the check: Engine::check_send with the principal (authorize, gate, audit), the
///      system variant (gate, audit as system), or, inside a campaign authorized and audited as a
///      whole, the gate for each recipient. A refusal returns `refused` and gives the slot back;
///   3. stores the message in the contact's history as queued (fail closed: if it cannot be
///      stored, it is not sent). A number with no contact has no history: the message is sent
///      unstored (`stored` false; the audit entry names it by pseudonym);
///   4. calls the transport, retrying throttled, temporary and network failures with exponential
///      backoff within RetryOptions;
///   5. records the outcome: sent (status sent), or failed; 131050 records a marketing opt-out
///      (Engine::record_platform_optout), 131047 marks the window closed
///      (Engine::note_window_closed); template errors (132xxx) and 131026 are never retried; an
///      authentication error (0, 3, 10, 190, 200-299) fails the call with ConfigErrc::invalid_value.
///
/// Borrows the engine, the stores (the engine's) and the clock, which must outlive it; owns the
/// transport. Thread-safe. Every send blocks: on the stores, the network, pacing waits (at most
/// max_wait) and backoff waits (at most (max_attempts - 1) × max_delay).
class Messenger {
public:
    /// Fails with ConfigErrc::invalid_value for a null transport, invalid pacing options (see
    /// Pacer::create), max_attempts 0, or a negative delay.
    static Result<std::unique_ptr<Messenger>> create(Engine& engine, storage::StoreSet& stores,
                                                     std::unique_ptr<transport::Transport> transport,
                                                     const Clock& clock, MessengerOptions options = {});
    ~Messenger();
    Messenger(const Messenger&) = delete;
    Messenger& operator=(const Messenger&) = delete;

    /// A team member (or an API client's user) sends `message` in `tenant`: they must be allowed
    /// to send to the contact, and the gate must allow the message; the attempt is audited
    /// (action "send.<kind>") whatever the answer. Fails with SendErrc::invalid_message for a
    /// malformed message, with the store's error if the history cannot be written (nothing sent),
    /// or with ConfigErrc::invalid_value when the provider refuses the credentials.
    Result<SendResult> send(const TenantId& tenant, const rbac::Principal& by, OutgoingMessage message);

    /// The platform sends on its own behalf (the opt-out confirmation, a reply the engine asked
    /// for): no principal, but the gate decides and the attempt is audited with the system as
    /// actor. Fails as send().
    Result<SendResult> send_as_system(const TenantId& tenant, OutgoingMessage message);

    /// A team member sends a campaign: authorized once (send_campaign on the campaign, audited),
    /// then the audience is filtered (Engine::filter_audience) and each sendable recipient is sent
    /// to in order, the gate checked again just before each send. Message ids are
    /// "<campaign id>:<position>", so running the same campaign again skips what was stored.
    /// A denial is an Attempt without a value. Fails with SendErrc::invalid_message for a malformed
    /// campaign, or when the authorization cannot be audited; a fault during sending stops the
    /// campaign and is reported in CampaignReport::stopped.
    Result<Attempt<CampaignReport>> send_campaign(const rbac::Principal& by, const Campaign& campaign);

    const MessengerOptions& options() const noexcept;

private:
    struct Impl;
    explicit Messenger(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace heroshhi::messaging
