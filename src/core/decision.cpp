#include <heroshhi/core/decision.hpp>

namespace heroshhi {

std::string_view to_string(Reason r) noexcept {
    switch (r) {
        case Reason::allowed: return "allowed";
        case Reason::opted_out: return "opted_out";
        case Reason::marketing_opted_out: return "marketing_opted_out";
        case Reason::outside_window: return "outside_window";
        case Reason::no_consent: return "no_consent";
        case Reason::restricted: return "restricted";
        case Reason::confirmation_used: return "confirmation_used";
        case Reason::invalid_recipient: return "invalid_recipient";
        case Reason::store_unavailable: return "store_unavailable";
        case Reason::not_authorized: return "not_authorized";
        case Reason::cross_tenant: return "cross_tenant";
        case Reason::legal_hold: return "legal_hold";
        case Reason::suppression_not_current: return "suppression_not_current";
        case Reason::account_closed: return "account_closed";
    }
    return "unknown";
}

std::optional<Reason> reason_from_string(std::string_view s) noexcept {
    for (Reason r : {Reason::allowed, Reason::opted_out, Reason::marketing_opted_out, Reason::outside_window,
                     Reason::no_consent, Reason::restricted, Reason::confirmation_used, Reason::invalid_recipient,
                     Reason::store_unavailable, Reason::not_authorized, Reason::cross_tenant, Reason::legal_hold,
                     Reason::suppression_not_current, Reason::account_closed})
        if (to_string(r) == s) return r;
    return std::nullopt;
}

}  // namespace heroshhi
