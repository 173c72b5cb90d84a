// heroshhi — SendGate: the check before every send.
#pragma once

#include <chrono>
#include <string>

#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/decision.hpp>
#include <heroshhi/core/ids.hpp>
#include <heroshhi/core/phone_number.hpp>
#include <heroshhi/messaging/message_kind.hpp>
#include <heroshhi/messaging/suppression_index.hpp>

namespace heroshhi::messaging {

struct GateOptions {
    /// WhatsApp's customer service window: free-form messages only this long after the contact's
    /// last inbound message.
    std::chrono::milliseconds service_window = std::chrono::hours(24);
    /// How long after an opt-out its single confirmation may still be sent (the FCC presumes five
    /// minutes reasonable; Plivo allows one acknowledgement within five minutes).
    std::chrono::milliseconds confirmation_window = std::chrono::minutes(5);
    /// The word the notice tells a team member the contact can send to re-subscribe.
    std::string resubscribe_keyword = "START";
};

/// Decides whether one message may be sent to one contact. Reads only the in-memory
/// SuppressionIndex and the clock: no I/O, never blocks on storage, never throws.
///
/// Rules, in the order they apply (the Decision names the rule):
///   - "gate.tenant_not_loaded"    tenant facts not loaded or stale → store_unavailable (fail closed)
///   - "gate.suppression_not_current"  the store is shared with other processes and the tenant's
///                                 facts are not confirmed current → suppression_not_current
///                                 (fail closed; see SuppressionIndex::mark_current)
///   - "gate.restricted"           processing restricted → restricted
///   - "optout.confirmation_once"  an opt-out confirmation is allowed once, within
///                                 confirmation_window of the opt-out, and only then
///   - "optout.blocks_all"         opted out of everything → opted_out, with a notice naming when
///                                 and how, and how to re-subscribe
///   - "optout.blocks_marketing"   marketing template to a marketing opt-out → marketing_opted_out
///   - "whatsapp.service_window"   free-form outside 24 h of the last inbound, or after WhatsApp
///                                 reported the window closed (131047) → outside_window
///   - "consent.marketing"         marketing template without consent → no_consent
///   - "gate.allowed"              otherwise allowed
class SendGate {
public:
    SendGate(const SuppressionIndex& index, const Clock& clock, GateOptions options = {})
        : index_(index), clock_(clock), options_(std::move(options)) {}

    /// The decision for sending a message of `kind` to `phone` in `tenant` now. Thread-safe.
    /// Checking does not consume the opt-out confirmation: the engine claims it when it sends.
    Decision check(const TenantId& tenant, const PhoneNumber& phone, MessageKind kind) const;

    /// The same rules over facts the caller already has (no index lookup). Pure.
    Decision decide(const SuppressionIndex::Lookup& lookup, const PhoneNumber& phone, MessageKind kind,
                    Timestamp now) const;

    /// Only the reason decide() would give, without building notices: for bulk filtering. Pure.
    Reason reason(const SuppressionIndex::Lookup& lookup, MessageKind kind, Timestamp now) const noexcept;

    const GateOptions& options() const noexcept { return options_; }

private:
    const SuppressionIndex& index_;
    const Clock& clock_;
    GateOptions options_;
};

/// The notice shown when a send is blocked by an opt-out, e.g. "Blocked: +14155550123 opted out
/// on 2026-11-02 14:03 UTC by replying STOP. They can re-subscribe by sending START."
std::string optout_notice(const PhoneNumber& phone, const ContactFacts& facts, const std::string& resubscribe_keyword);

}  // namespace heroshhi::messaging
