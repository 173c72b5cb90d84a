// heroshhi — Engine: the facade a host owns. It wires the clock, the stores and the policy parts,
// and is the one place inbound messages go in and send checks come out.
#pragma once

#include <chrono>
#include <functional>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <heroshhi/audit/log.hpp>
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
#include <heroshhi/rbac/access_decision.hpp>
#include <heroshhi/rbac/authorizer.hpp>
#include <heroshhi/rbac/policy.hpp>
#include <heroshhi/rbac/principal.hpp>
#include <heroshhi/rbac/resource.hpp>
#include <heroshhi/storage/store_set.hpp>

namespace heroshhi::crypto {
class BlindIndex;
}  // namespace heroshhi::crypto

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
    std::string marketing_optout_confirmation;  ///< after a "Stop promotions" tap
    std::string optin_confirmation;
    std::string help;

    /// English, Spanish, Portuguese, French, German and Italian confirmations.
    static ReplyTexts defaults();
};

/// Several processes on one store: gateway instances behind a load balancer over one PostgreSQL
/// database (or one SQLite file). Each process keeps its own in-memory suppression index, so each
/// must learn of the opt-outs the others record, and must not trust its index until it has.
struct SharedStoreOptions {
    /// Other processes append opt-out events to the same store. The engine then reads their events
    /// back (Engine::catch_up, from the last sequence it read), also around each of its own
    /// writes, and refuses a tenant's sends (Reason::suppression_not_current) whenever it cannot
    /// confirm that it has them all. Off: this engine is the store's only writer, and every loaded
    /// tenant is current.
    bool enabled = false;
    /// A change feed announces the others' appends (storage::PostgresChangeFeed calls
    /// set_change_feed_connected and catch_up). A tenant is then current only while the feed is
    /// connected, and only after a catch-up that began after it connected; until the feed first
    /// connects, and from the moment it is lost, every send is refused. Without a feed, a tenant
    /// is current after every successful catch-up, and the others' opt-outs reach this engine at
    /// the next recheck (so recheck_interval bounds how stale it may be).
    bool change_feed = false;
    /// How often a background thread catches every loaded tenant up: the safety net behind the
    /// feed, or the only way news arrives without one. Zero: no thread; call catch_up_all from
    /// the host's own timer.
    std::chrono::milliseconds recheck_interval = std::chrono::seconds(5);
    /// How often that thread reloads every loaded tenant whole (Engine::reload_all) in place of a
    /// catch-up: the safety net for the facts outside the opt-out log, consent records and
    /// restrictions, which the log does not carry. With a PostgreSQL feed they arrive at once
    /// (channel heroshhi_facts); without one (one SQLite file), this bounds how long another
    /// process's consent withdrawal or restriction may go unseen here. A reload refuses the
    /// tenant's sends while it reads (it trusts no half-read facts), hence a slower pace than the
    /// catch-up. Zero: never (call reload_all from the host's own timer).
    std::chrono::milliseconds facts_reload_interval = std::chrono::seconds(60);
};

struct EngineOptions {
    messaging::GateOptions gate;
    ReplyTexts replies = ReplyTexts::defaults();
    /// Button texts that are marketing-only opt-outs (matched after keyword normalisation).
    std::vector<std::string> marketing_stop_buttons = {"Stop promotions"};
    /// Who may do what (README, "Roles and permissions"); replace it later with
    /// `engine.authorizer().install(...)`.
    rbac::Policy policy = rbac::Policy::defaults();
    /// The HMAC key of the pseudonyms that name phone numbers without a contact in the audit trail
    /// (audit::phone_pseudonym). Give at least 32 random bytes and keep them: with the default
    /// (empty), the engine draws a random key, so pseudonyms differ between engines and restarts.
    std::string audit_key;
    /// The keyed hash that names a number once its contact was erased (privacy::Rights::erase):
    /// the engine keeps refusing sends to an erased number by its tag. Needed to erase, and to
    /// load a tenant whose store holds erased opt-out events: without it such a tenant fails
    /// closed (every send refused, store_unavailable). Give the same index across restarts (and,
    /// with an encrypted SqliteStore, it may be the store's own). Must outlive the engine.
    const crypto::BlindIndex* blind_index = nullptr;
    /// Other processes writing the same store (off by default).
    SharedStoreOptions shared;
};

/// What Engine::erase_number removed.
struct NumberErasure {
    std::size_t optout_events = 0;    ///< opt-out events reduced to the number's keyed hash
    std::size_t consent_records = 0;  ///< consent records deleted
    bool inbound_activity = false;    ///< the last inbound time was forgotten
};

/// A user-facing operation's answer: the authorization decision (audited either way) and, when it
/// was allowed, what the operation produced.
template <class T>
struct Attempt {
    rbac::AccessDecision access;
    std::optional<T> value;  ///< set when access.allowed()

    bool allowed() const noexcept { return access.allowed(); }
    explicit operator bool() const noexcept { return allowed(); }
};

/// The details of an opt-out a team member or an API client records.
struct OptOutRequest {
    optout::Scope scope = optout::Scope::all;
    std::string note{};        ///< why, in the team member's words; kept as the event's trigger
    std::string request_id{};  ///< the host's request id, carried into the audit entry
};

/// The engine. Owns the suppression index, the registry, the gate and the audience filter; borrows
/// the stores and the clock, which must outlive it. No global state: two engines in one process do
/// not interfere.
///
/// Thread-safe. Calls that write (inbound messages, opt-outs, consent) block on the stores and are
/// serialised per tenant; check_send and filter_audience read memory only, except the first call
/// for a tenant, which loads its facts from the stores (and fails closed if it cannot).
///
/// Operations a team member performs take their rbac::Principal and go authorize → audit → act:
/// the decision is appended to the tenant's audit trail whether it allows or not, and nothing is
/// done if the entry cannot be written. Audit entries name contacts by id, never by number.
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

    /// Called once with what on_inbound would have returned.
    using InboundDone = std::function<void(Result<InboundOutcome>)>;

    /// on_inbound for a thread that must not wait for the store (a server's I/O thread). It takes
    /// a message of a tenant already loaded, from a sender who is not an erased number, to a store
    /// that writes asynchronously (storage::ActivityStore::record_inbound_async), when it is:
    /// - not a keyword: only its time is stored;
    /// - an opt-out keyword (STOP, a "Stop promotions" tap), if the store also appends
    ///   asynchronously (storage::OptOutStore::append_async), the engine does not share its store
    ///   (EngineOptions::shared) and no event of the tenant is being recorded meanwhile: its time
    ///   and its event are stored, the event applied once stored (at once if it could not be, as
    ///   on_inbound does), and the outcome carries the confirmation to send. Whoever changes the
    ///   tenant's facts next (on_inbound's opt-in, an erasure, a reload) waits for it first.
    /// Opt-ins, help, preference changes and the rest are not taken. For what it does not take it
    /// returns false, `done` untouched: call on_inbound from a thread that may block. (An opt-out
    /// refused by a store without asynchronous appends leaves its time queued; on_inbound writes it
    /// again.) When it returns true, `done` (moved from) is called exactly once, after every write
    /// is stored, on the store's thread or on this one before the call returns; it must not block
    /// or call the engine or the store. The engine waits for such completions before it is destroyed.
    bool on_inbound_async(const InboundMessage& message, InboundDone&& done);

    /// The decision for one send, to call before every send. For `optout_confirmation`, an allowing
    /// decision also uses up the single confirmation.
    Decision check_send(const TenantId& tenant, const PhoneNumber& to, messaging::MessageKind kind);

    /// The sendable part of a campaign audience and why the rest is excluded.
    messaging::AudienceResult filter_audience(const TenantId& tenant, std::span<const PhoneNumber> contacts,
                                              messaging::MessageKind kind);

    /// The same decision for a team member sending by hand: `by` must be allowed to send to the
    /// contact (rbac::Action::send on the contact with this number in `tenant`), then the gate
    /// decides as above. The outcome is audited (action "send.<kind>"); if the audit entry cannot
    /// be written, the answer is no (store_unavailable).
    Decision check_send(const TenantId& tenant, const rbac::Principal& by, const PhoneNumber& to,
                        messaging::MessageKind kind, std::string_view request_id = {});

    /// The decision for a message the platform sends on its own (the opt-out confirmation or
    /// another reply on_inbound asked for): the gate decides as check_send above, with no
    /// authorization, and the outcome is audited with the system as actor (action "send.<kind>").
    /// If the entry cannot be written, the answer is no (store_unavailable).
    Decision check_system_send(const TenantId& tenant, const PhoneNumber& to, messaging::MessageKind kind,
                               std::string_view request_id = {});

    /// WhatsApp answered at `at` that the contact's 24-hour window is closed (error 131047):
    /// free-form sends to them are refused (outside_window) until they write again. Kept in memory
    /// only: after a reload the window is judged by the last inbound time again, until WhatsApp
    /// reports it closed again.
    void note_window_closed(const TenantId& tenant, const PhoneNumber& phone, Timestamp at);

    /// A team member records that the contact asked to stop (by phone, e-mail, in person...). It
    /// is an update of the contact (the one with this number in `tenant`, if any): authorized,
    /// audited (action "opt_out.manual"), then recorded with `by` as the actor. Fails with the
    /// store's or the audit log's error, having recorded nothing; a denial is an Attempt without
    /// a value.
    Result<Attempt<optout::OptOutEvent>> opt_out_manually(const TenantId& tenant, const rbac::Principal& by,
                                                          const PhoneNumber& phone, OptOutRequest request = {});
    /// The host's API records an opt-out on the contact's behalf; `by` is the API client's user.
    /// As opt_out_manually, with method api (audit action "opt_out.api").
    Result<Attempt<optout::OptOutEvent>> opt_out_via_api(const TenantId& tenant, const rbac::Principal& by,
                                                         const PhoneNumber& phone, OptOutRequest request = {});

    /// A team member (opt_in_manually) or the host's API (opt_in_via_api) records that the contact
    /// asked to hear from the tenant again: an opt-in event with `by` as the actor, authorized as
    /// an update of the contact and audited ("opt_in.manual" / "opt_in.api") exactly like the
    /// opt-outs above. The event resumes what its scope covers (all messages, or marketing only);
    /// the history keeps the earlier opt-out.
    Result<Attempt<optout::OptOutEvent>> opt_in_manually(const TenantId& tenant, const rbac::Principal& by,
                                                         const PhoneNumber& phone, OptOutRequest request = {});
    Result<Attempt<optout::OptOutEvent>> opt_in_via_api(const TenantId& tenant, const rbac::Principal& by,
                                                        const PhoneNumber& phone, OptOutRequest request = {});

    /// Authorizes and audits an action the host performs itself (reading a lead, exporting,
    /// deleting, changing a role...): the decision is appended to the trail of the resource's
    /// tenant (action, target type and id as given), then returned. Act only if it allows. Fails,
    /// and the host must not act, if the entry cannot be written or is invalid (a principal
    /// without a user id, a phone number as resource id).
    Result<rbac::AccessDecision> authorize(const rbac::Principal& by, rbac::Action action,
                                           const rbac::Resource& resource, std::string_view request_id = {});
    /// The provider reports a marketing opt-out (WhatsApp error 131050, user_preferences "stop").
    Result<optout::OptOutEvent> record_platform_optout(const TenantId& tenant, const PhoneNumber& phone,
                                                       std::string trigger, std::string provider_message_id = {});

    /// The contact's status from the stored events (reads the store).
    Result<optout::Status> status(const TenantId& tenant, const PhoneNumber& phone);
    Result<std::vector<optout::OptOutEvent>> history(const TenantId& tenant, const PhoneNumber& phone);

    /// A team member records a consent grant or withdrawal (a contact's "yes" on the phone, a
    /// signed form scanned in). It is an update of the contact with this number in
    /// record.tenant: authorized, audited (action "consent.grant.<purpose>" or
    /// "consent.withdraw.<purpose>"), then stored with `by` as its actor and applied to sends.
    /// Returns the record as stored; a denial is an Attempt without a value, and stores nothing.
    /// Fails with invalid_argument for a record without a tenant, or with the store's or the audit
    /// log's error, having stored nothing.
    Result<Attempt<storage::ConsentRecord>> record_consent(const rbac::Principal& by, storage::ConsentRecord record,
                                                           std::string_view request_id = {});

    /// Consent the platform captured with no team member involved (a web form's checkbox, an
    /// opt-in on WhatsApp): stored and applied to sends as given, without authorization or audit
    /// entry, like record_platform_optout. Fails with the store's error, having stored nothing.
    Result<void> record_platform_consent(const storage::ConsentRecord& record);

    /// A team member restricts processing of a contact, or lifts the restriction, answering the
    /// contact's data-subject request: rbac::Action::update on a data_subject_request resource that
    /// carries the contact's id, assignee and team (owners and admins; managers for their team).
    /// Authorized, audited (action "restriction.apply" or "restriction.lift", target the contact),
    /// then applied: while restricted, every send to the contact is refused. Returns the contact
    /// as now stored; a denial is an Attempt without a value, and changes nothing. Fails with
    /// not_found (after the allowed attempt was audited) if there is no such contact, with
    /// invalid_argument for an empty tenant or contact id, or with the store's or the audit log's
    /// error.
    Result<Attempt<storage::Contact>> restrict_processing(const TenantId& tenant, const rbac::Principal& by,
                                                          const ContactId& contact, bool restricted,
                                                          std::string_view request_id = {});

    /// Sets or lifts a contact's restriction without authorizing or auditing it: for
    /// privacy::Rights (which does both; call it only on that path) and restrict_processing.
    /// Restricting blocks sends in memory before the flag is stored, lifting stores it first, so
    /// no send slips through in between. Returns the contact as stored; fails with not_found if
    /// there is no such contact, or with the store's error.
    Result<storage::Contact> set_restricted(const TenantId& tenant, const ContactId& contact, bool restricted);

    // ---- data-subject rights (privacy::) ----

    /// The erasure of a number, for privacy::Rights (which authorizes and audits it; call it only
    /// on that path). Records an opt-out of every message (method manual, channel "erasure",
    /// actor `by`), then keeps the number's opt-out history only as its keyed hash
    /// (OptOutStore::erase_number), deletes its consent records and forgets its inbound activity.
    /// From then on, and after a restart, a send to the number is refused (opted_out) until it
    /// writes START again, with no plain number stored. Fails with StorageErrc::key_unavailable
    /// when no EngineOptions::blind_index was given, or with the store's error (the erasure can
    /// be repeated: each step is idempotent). Blocks on the stores.
    Result<NumberErasure> erase_number(const TenantId& tenant, const PhoneNumber& phone, const UserId& by);
    /// Whether erase_number can work: an EngineOptions::blind_index was given.
    bool can_erase_numbers() const noexcept;

    /// How the audit trail names a number that has no contact: audit::phone_pseudonym under
    /// EngineOptions::audit_key ("phone:" and 32 hex digits).
    std::string pseudonym(const PhoneNumber& phone) const;

    // ---- several processes on one store (EngineOptions::shared) ----

    /// Applies to the index the opt-out and opt-in events appended to the tenant's log since this
    /// engine last read it (by other processes; the engine's own are already applied), in their
    /// order, and, with EngineOptions::shared enabled, marks the tenant current if it may be (see
    /// SharedStoreOptions::change_feed). Returns how many events it read; 0 for a tenant that is
    /// not loaded (its first use reads everything). On a store fault the tenant is marked not
    /// current (its sends are refused until a later catch-up succeeds) and the error returned.
    /// Blocks on the store; serialised with the tenant's writes. Thread-safe.
    Result<std::size_t> catch_up(const TenantId& tenant);
    /// catch_up for every loaded tenant. Returns the number of events read, or the first error
    /// after trying every tenant.
    Result<std::size_t> catch_up_all();
    /// Reloads a loaded tenant's facts whole from the store (opt-outs, consent records,
    /// restrictions): how this engine learns of a consent record or a restriction that another
    /// process wrote. The tenant is not current, so its sends are refused, while it reads. Returns
    /// false, without reading, for a tenant not loaded (its first use reads everything). On a
    /// store fault the tenant is left not loaded, so its sends are refused until a load succeeds.
    /// Blocks on the store; serialised with the tenant's writes. Thread-safe.
    Result<bool> reload(const TenantId& tenant);
    /// reload for every loaded tenant; the first error after trying every tenant.
    Result<void> reload_all();
    /// The change feed's state, from the feed: connected means it is listening, so every append
    /// from now on will be announced (call reload_all next, or catch_up_all, which reads no
    /// consent records or restrictions: that is what makes tenants current);
    /// lost means announcements may be missed, and every loaded tenant is marked not current at
    /// once. Thread-safe, does not block on the store.
    void set_change_feed_connected(bool connected);
    /// Whether the tenant's facts are loaded and confirmed current: what the gate requires before
    /// it allows anything. Lock-free.
    bool current(const TenantId& tenant) const noexcept;

    const messaging::SuppressionIndex& index() const noexcept;
    const messaging::SendGate& gate() const noexcept;
    /// The permission policy in force; install another at run time.
    rbac::Authorizer& authorizer() noexcept;
    /// The audit trail: verify, query, export, purge.
    audit::Log& audit() noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace heroshhi
