// heroshhi — phone pseudonyms: how the audit trail names a number without storing it.
#pragma once

#include <string>
#include <string_view>

#include <heroshhi/core/phone_number.hpp>

namespace heroshhi::audit {

/// What every phone pseudonym starts with (an audit target id that names a number).
inline constexpr std::string_view pseudonym_prefix = "phone:";

/// "phone:" followed by the first 128 bits, in hex, of HMAC-SHA-256(key, E.164 number). The same
/// number and key always give the same pseudonym, so a number's entries can be found again by
/// whoever holds the key; without the key the number cannot be recovered or guessed by trying
/// numbers. `key` should be at least 32 random bytes kept by the host. Thread-safe.
std::string phone_pseudonym(std::string_view key, const PhoneNumber& phone);

}  // namespace heroshhi::audit
