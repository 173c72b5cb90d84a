#include <heroshhi/messaging/send_gate.hpp>

#include <heroshhi/privacy/lawful_basis.hpp>

namespace heroshhi::messaging {

std::string_view to_string(MessageKind k) noexcept {
    switch (k) {
        case MessageKind::free_form: return "free_form";
        case MessageKind::marketing_template: return "marketing_template";
        case MessageKind::utility_template: return "utility_template";
        case MessageKind::authentication_template: return "authentication_template";
        case MessageKind::optout_confirmation: return "optout_confirmation";
    }
    return "unknown";
}

std::optional<MessageKind> message_kind_from_string(std::string_view s) noexcept {
    for (MessageKind k : {MessageKind::free_form, MessageKind::marketing_template, MessageKind::utility_template,
                          MessageKind::authentication_template, MessageKind::optout_confirmation})
        if (to_string(k) == s) return k;
    return std::nullopt;
}

std::string optout_notice(const PhoneNumber& phone, const ContactFacts& f, const std::string& resubscribe_keyword) {
    const bool marketing_only = !f.opted_out();
    std::string out = "Blocked: " + phone.e164() + (marketing_only ? " opted out of marketing messages" : " opted out");
    if (f.last_optout_at()) out += " on " + to_display(*f.last_optout_at());
    const std::string trigger = f.last_optout_trigger() ? *f.last_optout_trigger() : std::string();
    switch (f.last_optout_method()) {
        case optout::Method::keyword:
            out += trigger.empty() ? " by replying with an opt-out keyword" : " by replying " + trigger;
            break;
        case optout::Method::button:
            out += trigger.empty() ? " by tapping an opt-out button" : " by tapping \"" + trigger + "\"";
            break;
        case optout::Method::manual: out += " (recorded manually by a team member)"; break;
        case optout::Method::api: out += " (recorded through the API)"; break;
        case optout::Method::platform: out += " (reported by WhatsApp)"; break;
    }
    out += '.';
    if (marketing_only)
        out += " Utility and service messages are still allowed.";
    else
        out += " They can re-subscribe by sending " + resubscribe_keyword + ".";
    return out;
}

Decision SendGate::check(const TenantId& tenant, const PhoneNumber& phone, MessageKind kind) const {
    return decide(index_.find(tenant, phone), phone, kind, clock_.now());
}

Reason SendGate::reason(const SuppressionIndex::Lookup& lookup, MessageKind kind, Timestamp now) const noexcept {
    if (!lookup.tenant_ready) return Reason::store_unavailable;
    if (!lookup.tenant_current) return Reason::suppression_not_current;
    const ContactFacts& f = lookup.facts;
    if (f.restricted()) return Reason::restricted;
    if (kind == MessageKind::optout_confirmation) {
        const bool pending = f.marketing_opted_out() && f.last_optout_at() && !f.confirmation_sent() &&
                             now - *f.last_optout_at() <= options_.confirmation_window;
        return pending ? Reason::allowed : Reason::confirmation_used;
    }
    if (f.opted_out()) return Reason::opted_out;
    // The send's activity against the subject's objection and consent, as the register says: a
    // marketing opt-out (objection) or missing consent stops marketing, never a service message.
    const privacy::Activity activity = privacy::activity_of(privacy::path_of(kind));
    const privacy::Stop stop =
        privacy::stopped_by(activity, {f.marketing_opted_out(), false, f.marketing_consent()});
    if (stop == privacy::Stop::objection) return Reason::marketing_opted_out;
    if (kind == MessageKind::free_form &&
        (f.window_closed() || !f.last_inbound() || now - *f.last_inbound() >= options_.service_window))
        return Reason::outside_window;
    if (stop == privacy::Stop::no_consent) return Reason::no_consent;
    return Reason::allowed;
}

Decision SendGate::decide(const SuppressionIndex::Lookup& lookup, const PhoneNumber& phone, MessageKind kind,
                          Timestamp now) const {
    const ContactFacts& f = lookup.facts;
    switch (reason(lookup, kind, now)) {
        case Reason::allowed:
            return Decision::allow(kind == MessageKind::optout_confirmation ? "optout.confirmation_once" : "gate.allowed");
        case Reason::store_unavailable:
            return Decision::deny(Reason::store_unavailable,
                                  "Blocked: opt-out status could not be confirmed (store unavailable). Try again later.",
                                  "gate.tenant_not_loaded");
        case Reason::suppression_not_current:
            return Decision::deny(Reason::suppression_not_current,
                                  "Blocked: this server has not yet confirmed that it knows every opt-out recorded by "
                                  "the other servers sharing its database. Try again in a moment.",
                                  "gate.suppression_not_current");
        case Reason::restricted:
            return Decision::deny(Reason::restricted,
                                  "Blocked: processing of " + phone.e164() + "'s data is restricted at their request.",
                                  "gate.restricted");
        case Reason::confirmation_used:
            return Decision::deny(Reason::confirmation_used,
                                  "Blocked: there is no recent opt-out of " + phone.e164() +
                                      " left to confirm; the single confirmation was sent or its time has passed.",
                                  "optout.confirmation_once");
        case Reason::opted_out:
            return Decision::deny(Reason::opted_out, optout_notice(phone, f, options_.resubscribe_keyword),
                                  "optout.blocks_all");
        case Reason::marketing_opted_out:
            return Decision::deny(Reason::marketing_opted_out, optout_notice(phone, f, options_.resubscribe_keyword),
                                  "optout.blocks_marketing");
        case Reason::outside_window:
            return Decision::deny(
                Reason::outside_window,
                "Blocked: " + phone.e164() +
                    (f.window_closed()  ? std::string(": WhatsApp reported the 24-hour window closed; they have not "
                                                      "written since")
                     : f.last_inbound() ? " last wrote on " + to_display(*f.last_inbound()) + ", more than 24 hours ago"
                                        : std::string(" has never written to you")) +
                    ". Send an approved template instead.",
                "whatsapp.service_window");
        case Reason::no_consent:
            return Decision::deny(Reason::no_consent, "Blocked: no marketing consent is recorded for " + phone.e164() + ".",
                                  "consent.marketing");
        default:
            return Decision::deny(Reason::store_unavailable, "Blocked: the gate could not decide.", "gate.unknown");
    }
}

}  // namespace heroshhi::messaging
