// heroshhi — the vocabulary of opt-out: an OptOutEvent and its method, scope and kind.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/ids.hpp>
#include <heroshhi/core/phone_number.hpp>

namespace heroshhi::optout {

/// Whether the event stops or resumes messaging.
enum class EventKind { opt_out, opt_in };

/// How the event was initiated (the policy's "method").
enum class Method {
    keyword,   ///< the contact replied with a keyword such as STOP or START
    manual,    ///< a team member set it in the dashboard
    api,       ///< the host's API on the contact's behalf
    button,    ///< a WhatsApp quick-reply button ("Stop promotions")
    platform,  ///< the provider told us (user_preferences event, error 131050)
};

/// What the event covers.
enum class Scope {
    all,        ///< every message
    marketing,  ///< marketing templates only
};

std::string_view to_string(EventKind k) noexcept;
std::string_view to_string(Method m) noexcept;
std::string_view to_string(Scope s) noexcept;
std::optional<EventKind> event_kind_from_string(std::string_view s) noexcept;
std::optional<Method> method_from_string(std::string_view s) noexcept;
std::optional<Scope> scope_from_string(std::string_view s) noexcept;

/// One append-only fact in a contact's opt-out history. Never updated, never deleted.
struct OptOutEvent {
    OptOutEvent(TenantId tenant_, PhoneNumber phone_) : tenant(std::move(tenant_)), phone(std::move(phone_)) {}

    TenantId tenant;
    PhoneNumber phone;                   ///< the contact, normalised
    EventKind kind = EventKind::opt_out;
    Scope scope = Scope::all;
    Method method = Method::keyword;
    Timestamp at{};
    std::string trigger;                 ///< the matched keyword in canonical form ("STOP" for "ｓｔｏｐ!"), or the button text ("Stop promotions")
    std::string channel = "whatsapp";
    std::optional<UserId> actor;         ///< who acted, for manual and API events
    std::string provider_message_id;     ///< de-duplicates redelivered webhooks; empty if none
    std::int64_t sequence = 0;           ///< assigned by the store: order of recording within the tenant
};

/// A keyed hash of a phone number (crypto::BlindIndex::phone: 16 bytes of HMAC-SHA-256 under a
/// per-tenant key): what names a number once the number itself was erased.
using NumberTag = std::array<std::uint8_t, 16>;

/// An opt-out event whose number was erased (a data-subject erasure): the number is gone, its
/// keyed hash remains with what the policy keeps of every opt-out (date, method, scope and keyword),
/// so that the number stays suppressed. Never updated, never deleted.
struct ErasedOptOutEvent {
    TenantId tenant;
    NumberTag tag{};
    EventKind kind = EventKind::opt_out;
    Scope scope = Scope::all;
    Method method = Method::keyword;
    Timestamp at{};
    std::string trigger;       ///< the keyword or button text; empty for manual and API events (free text)
    std::string channel;
    std::int64_t sequence = 0; ///< the event's sequence, kept: erased and later events stay in order
};

}  // namespace heroshhi::optout
