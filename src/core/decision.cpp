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
    }
    return "unknown";
}

}  // namespace heroshhi
