// heroshhi — Engine: the facade a host owns. It wires the clock, the stores and the policy parts,
// and is the one place inbound messages go in and send checks come out.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/decision.hpp>
#include <heroshhi/core/ids.hpp>
#include <heroshhi/core/phone_number.hpp>
#include <heroshhi/core/result.hpp>
#include <heroshhi/messaging/audience.hpp>
#include <heroshhi/messaging/message_kind.hpp>
#include <heroshhi/messaging/send_gate.hpp>
#include <heroshhi/optout/event.hpp>
#include <heroshhi/optout/keyword_classifier.hpp>
#include <heroshhi/optout/registry.hpp>
#include <heroshhi/storage/store_set.hpp>

namespace heroshhi {

/// What arrived from a contact.
struct InboundMessage {
    InboundMessage(TenantId tenant_, PhoneNumber from_, std::string text_ = {})
        : tenant(std::move(tenant_)), from(std::move(from_)), text(std::move(text_)) {}

    enum class Type {
        text,        ///< a typed message: classified by the tenant's keywords
        button,      ///< a quick-reply button tap; `text` is the button's text
        preference,  ///< a WhatsApp user_preferences event; `text` is "stop" or "resume" (marketing)
    };

    TenantId tenant;
    PhoneNumber from;
    std::string text;
    Type type = Type::text;
    std::string provider_message_id;  ///< WhatsApp's wamid; makes redelivery harmless
    std::optional<Timestamp> at;      ///< when the contact sent it; the engine's clock if absent
    std::string channel = "whatsapp";
};

/// What the engine did with an inbound message, and what to answer.
struct InboundOutcome {
    optout::Classification classification;
    /// The opt-out or opt-in event recorded for this message, if any.
    std::optional<optout::OptOutEvent> event;
    /// The message was a redelivery of one already recorded: nothing was changed.
    bool duplicate = false;
    /// The text to send back (opt-out confirmation, re-subscription or help); empty for none.
    std::string reply;
    /// How to send `reply` through check_send.
    messaging::MessageKind reply_kind = messaging::MessageKind::free_form;
};

/// Texts the engine answers keywords with. Opt-out confirmations are looked up by the keyword's
/// language, falling back to "en".
struct ReplyTexts {
    std::map<std::string, std::string> optout_confirmation;
    std::string optin_confirmation;
    std::string help;

    /// English, Spanish, Portuguese, French, German and Italian confirmations.
    static ReplyTexts defaults();
};

struct EngineOptions {
    messaging::GateOptions gate;
    ReplyTexts replies = ReplyTexts::defaults();
    /// Button texts that are marketing-only opt-outs (matched after keyword normalisation).
    std::vector<std::string> marketing_stop_buttons = {"Stop promotions"};
};

/// The engine. Owns the suppression index, the registry, the gate and the audience filter; borrows
/// the stores and the clock, which must outlive it. No global state: two engines in one process do
/// not interfere.
///
/// Thread-safe. Calls that write (inbound messages, opt-outs, consent) block on the stores and are
/// serialised per tenant; check_send and filter_audience read memory only, except the first call
/// for a tenant, which loads its facts from the stores (and fails closed if it cannot).
class Engine {
public:
    Engine(storage::StoreSet& stores, const Clock& clock, EngineOptions options = {});
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    /// Loads the tenant's opt-outs, consents, last inbound times and restrictions from the stores
    /// into memory. Called on first use of a tenant; call it at start to warm tenants eagerly.
    Result<void> warm(const TenantId& tenant);

    /// Uses `classifier` (built from the tenant's KeywordConfig) for the tenant's inbound messages.
    void set_keywords(const TenantId& tenant, optout::KeywordClassifier classifier);

    /// Records an inbound message: its time (opening the 24-hour window), and, if it is an opt-out
    /// or opt-in keyword, the event. A YES-like word re-subscribes only a contact who is opted out;
    /// START from a contact who is not opted out records nothing.
    /// Fails with the store's error if the message could not be recorded; an opt-out then still
    /// blocks sends in this process, and the caller should have the message redelivered.
    Result<InboundOutcome> on_inbound(const InboundMessage& message);

    /// The decision for one send, to call before every send. For `optout_confirmation`, an allowing
    /// decision also uses up the single confirmation.
    Decision check_send(const TenantId& tenant, const PhoneNumber& to, messaging::MessageKind kind);

    /// The sendable part of a campaign audience and why the rest is excluded.
    messaging::AudienceResult filter_audience(const TenantId& tenant, std::span<const PhoneNumber> contacts,
                                              messaging::MessageKind kind);

    /// A team member records that the contact asked to stop (by phone, e-mail, in person...).
    Result<optout::OptOutEvent> opt_out_manually(const TenantId& tenant, const PhoneNumber& phone, const UserId& actor,
                                                 optout::Scope scope = optout::Scope::all, std::string note = {});
    /// The host's API records an opt-out on the contact's behalf; `actor` is the API client's user.
    Result<optout::OptOutEvent> opt_out_via_api(const TenantId& tenant, const PhoneNumber& phone, const UserId& actor,
                                                optout::Scope scope = optout::Scope::all, std::string note = {});
    /// The provider reports a marketing opt-out (WhatsApp error 131050, user_preferences "stop").
    Result<optout::OptOutEvent> record_platform_optout(const TenantId& tenant, const PhoneNumber& phone,
                                                       std::string trigger, std::string provider_message_id = {});

    /// The contact's status from the stored events (reads the store).
    Result<optout::Status> status(const TenantId& tenant, const PhoneNumber& phone);
    Result<std::vector<optout::OptOutEvent>> history(const TenantId& tenant, const PhoneNumber& phone);

    /// Records a consent grant or withdrawal for marketing.
    Result<void> record_consent(const storage::ConsentRecord& record);

    /// Restricts (or lifts restriction of) processing of a contact: every send is refused while on.
    Result<void> restrict_processing(const TenantId& tenant, const ContactId& contact, bool restricted);

    const messaging::SuppressionIndex& index() const noexcept;
    const messaging::SendGate& gate() const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace heroshhi
