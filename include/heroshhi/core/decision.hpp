// heroshhi — Decision: what a policy check answers. Decisions are values, never exceptions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace heroshhi {

/// Stable reason codes. The names (to_string) are part of the API: hosts log and match them.
enum class Reason {
    allowed,              ///< the action may go ahead
    opted_out,            ///< the contact opted out of all messages
    marketing_opted_out,  ///< the contact opted out of marketing messages
    outside_window,       ///< free-form message more than 24 h after the contact's last inbound one
    no_consent,           ///< marketing needs recorded consent and there is none
    restricted,           ///< processing of the contact is restricted (data-subject request)
    confirmation_used,    ///< the single opt-out confirmation was already sent or is too late
    invalid_recipient,    ///< the recipient is not a usable phone number
    store_unavailable,    ///< the facts could not be read; fail closed
    not_authorized,       ///< the principal's role does not allow the action
    cross_tenant,         ///< the resource belongs to another tenant
    legal_hold,           ///< a legal hold keeps the data: erasure and deletion are refused
    /// The store is shared with other processes and this one has not confirmed that it knows
    /// every opt-out they recorded (at start, or after its change feed was lost); fail closed.
    suppression_not_current,
    account_closed,       ///< the tenant's account was terminated: it sends nothing more
};

/// "opted_out", "store_unavailable", ...
std::string_view to_string(Reason r) noexcept;
/// The inverse of to_string; nullopt for anything else.
std::optional<Reason> reason_from_string(std::string_view s) noexcept;

/// The answer of a check: allowed or not, a stable reason, a notice a person can read, and the
/// name of the policy rule that decided (e.g. "optout.blocks_all").
class Decision {
public:
    static Decision allow(std::string rule) { return Decision(Reason::allowed, {}, std::move(rule)); }
    static Decision deny(Reason reason, std::string notice, std::string rule) {
        return Decision(reason, std::move(notice), std::move(rule));
    }

    bool allowed() const noexcept { return reason_ == Reason::allowed; }
    explicit operator bool() const noexcept { return allowed(); }
    Reason reason() const noexcept { return reason_; }
    const std::string& notice() const noexcept { return notice_; }
    const std::string& rule() const noexcept { return rule_; }

private:
    Decision(Reason reason, std::string notice, std::string rule)
        : reason_(reason), notice_(std::move(notice)), rule_(std::move(rule)) {}

    Reason reason_;
    std::string notice_;
    std::string rule_;
};

}  // namespace heroshhi
