// heroshhi — Audience: who of a campaign's contacts may receive it.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <heroshhi/core/phone_number.hpp>
#include <heroshhi/messaging/send_gate.hpp>

namespace heroshhi::messaging {

/// The outcome of filtering an audience.
struct AudienceResult {
    /// Positions (in the input list) of the contacts the campaign may go to, in input order, each
    /// number once (its first position). Positions let the host map back to its own records.
    std::vector<std::size_t> sendable;
    /// Why the rest were left out.
    std::size_t opted_out = 0;
    std::size_t marketing_opted_out = 0;
    std::size_t no_consent = 0;
    std::size_t restricted = 0;
    std::size_t outside_window = 0;
    std::size_t invalid_number = 0;     ///< raw input that is not a phone number
    std::size_t duplicates = 0;         ///< numbers that normalise the same as an earlier one
    std::size_t store_unavailable = 0;  ///< the tenant's facts could not be loaded or are not current (fail closed)
    std::size_t not_a_campaign = 0;     ///< the kind was optout_confirmation, which no campaign may use

    std::size_t excluded() const noexcept {
        return opted_out + marketing_opted_out + no_consent + restricted + outside_window + invalid_number +
               duplicates + store_unavailable + not_a_campaign;
    }
};

/// Filters a bulk list for a campaign with the same rules as SendGate. No I/O. Thread-safe.
class Audience {
public:
    explicit Audience(const SendGate& gate, const SuppressionIndex& index, const Clock& clock)
        : gate_(gate), index_(index), clock_(clock) {}

    /// Filters already-parsed numbers. With `kind` optout_confirmation (never a campaign) every
    /// contact is excluded and counted in not_a_campaign.
    AudienceResult filter(const TenantId& tenant, std::span<const PhoneNumber> contacts, MessageKind kind) const;

    /// Filters raw numbers as typed or imported; those that do not parse (with `default_region`
    /// for national formats) count as invalid_number.
    AudienceResult filter_raw(const TenantId& tenant, std::span<const std::string> contacts, MessageKind kind,
                              std::string_view default_region = {}) const;

private:
    const SendGate& gate_;
    const SuppressionIndex& index_;
    const Clock& clock_;
};

}  // namespace heroshhi::messaging
