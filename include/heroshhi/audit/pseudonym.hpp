// heroshhi — phone pseudonyms: how the audit trail names a number without storing it.
#pragma once

#include <memory>
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

/// phone_pseudonym under one key, keyed once: the same pseudonyms, without fetching the hash and
/// hashing the key again for every number (most of the cost of one). For a caller that names
/// many numbers under one key, as the engine does for every audited send. Thread-safe.
class PhonePseudonyms {
public:
    explicit PhonePseudonyms(std::string_view key);
    PhonePseudonyms(PhonePseudonyms&&) noexcept;
    PhonePseudonyms& operator=(PhonePseudonyms&&) noexcept;
    ~PhonePseudonyms();

    /// phone_pseudonym(key, phone). Throws std::bad_alloc if OpenSSL cannot compute it, as
    /// phone_pseudonym does.
    std::string operator()(const PhoneNumber& phone) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace heroshhi::audit
