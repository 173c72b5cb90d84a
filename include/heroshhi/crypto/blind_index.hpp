// heroshhi — BlindIndex: a keyed hash of a normalised value, so encrypted phone numbers and emails
// can still be found by equality, and an opt-out can outlive the erasure of the contact.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <heroshhi/core/ids.hpp>
#include <heroshhi/core/phone_number.hpp>
#include <heroshhi/core/result.hpp>
#include <heroshhi/crypto/secret_key.hpp>
#include <heroshhi/sanitize/email_address.hpp>

namespace heroshhi::crypto {

/// Computes blind indexes: HMAC-SHA256 under a per-tenant key over the normalised value,
/// truncated to 16 bytes (128 bits).
///
///     tenant_key = HMAC-SHA256(index_key, "heroshhi/blind-index/v1/tenant" 0x00 tenant_id)
///     tag        = first 16 bytes of HMAC-SHA256(tenant_key, kind 0x00 value)
///
/// with kind "phone" over the E.164 form ("+14155550123") and "email" over
/// EmailAddress::normalized(). The same value gives the same tag in one tenant and unrelated tags
/// in two tenants, so a tag reveals equality inside one tenant only, and without the index key
/// nothing at all (phone numbers are guessable, so the key is what protects them).
///
/// Why 16 bytes: CipherSweet truncates indexes short enough to collide on purpose and confirms
/// candidates by decrypting them. heroshhi's opt-out records must keep working after the contact is
/// erased, when there is nothing left to decrypt: a lookup must be exact on its own. At 128 bits
/// a collision needs about 2^64 values in one tenant.
///
/// The index key is not a data key and must not be rotated away: tags of erased contacts cannot
/// be recomputed. Keep it apart from the KeyRing (e.g. a second provider) and back it up with it.
/// Immutable; thread-safe; the key is wiped when the index is destroyed.
class BlindIndex {
public:
    static constexpr std::size_t tag_size = 16;
    using Tag = std::array<std::uint8_t, tag_size>;

    /// Fails with backend_failure if OpenSSL has no HMAC-SHA256.
    static Result<BlindIndex> create(SecretKey index_key);

    BlindIndex(BlindIndex&&) noexcept;
    BlindIndex& operator=(BlindIndex&&) noexcept;
    ~BlindIndex();

    /// The tag of a phone number (its E.164 form). Fails with invalid_argument for an empty tenant
    /// id, backend_failure if OpenSSL fails (so do the two below).
    Result<Tag> phone(const TenantId& tenant, const PhoneNumber& phone) const;
    /// The tag of an email address (its normalised form).
    Result<Tag> email(const TenantId& tenant, const sanitize::EmailAddress& email) const;
    /// The tag of any other normalised value. `kind` separates value spaces ("tax_id"); it must
    /// not be empty nor contain NUL (invalid_argument). The caller normalises `value`.
    Result<Tag> compute(const TenantId& tenant, std::string_view kind, std::string_view value) const;

    /// 32 lowercase hex digits, for a TEXT column or a log line that must not show the value.
    static std::string to_hex(const Tag& tag);

private:
    struct Impl;
    explicit BlindIndex(std::unique_ptr<Impl> impl) noexcept;

    std::unique_ptr<Impl> impl_;
};

}  // namespace heroshhi::crypto
