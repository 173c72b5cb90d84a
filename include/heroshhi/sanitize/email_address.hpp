// heroshhi — EmailAddress: a lead's email address, checked and normalised for comparison and for
// its blind index.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <heroshhi/core/result.hpp>

namespace heroshhi::sanitize {

/// An email address that passed heroshhi's syntax check. Only `parse` makes one.
///
/// Accepted: `local@domain` where the local part is a dot-atom (RFC 5322: letters, digits and
/// ``!#$%&'*+-/=?^_`{|}~``, dots not first, last or doubled, at most 64 bytes) and the domain has
/// at least two labels of letters, digits and inner hyphens (at most 63 bytes each, 253 in all)
/// with a top-level label that is not all digits; 254 bytes at most in all. Non-ASCII UTF-8 is
/// allowed in both parts (RFC 6531 internationalised addresses, IDN U-labels).
/// Refused on purpose, though RFC 5322 has them: quoted local parts ("john doe"@x.com), comments,
/// IP-address literals (user@[192.0.2.1]) and single-label domains (user@localhost): no CRM lead
/// has one, and each has been used to smuggle text past filters.
class EmailAddress {
public:
    static constexpr std::size_t max_length = 254;

    /// Parses `raw`; leading and trailing ASCII whitespace is removed first. Fails with
    /// SanitizeErrc::invalid_email (invalid_utf8, control_character for such bytes) and a detail
    /// that names the rule ("local part longer than 64 bytes"), never the address. Throws only
    /// std::bad_alloc; thread-safe.
    static Result<EmailAddress> parse(std::string_view raw);

    /// The address as given, without surrounding whitespace ("Ada.Lovelace@Example.org").
    const std::string& address() const noexcept { return address_; }
    /// The form used for equality and blind indexes: ASCII letters lowercased in both parts
    /// ("ada.lovelace@example.org"). heroshhi treats local parts as case-insensitive, as every
    /// large mail provider does, although RFC 5321 allows a server not to.
    const std::string& normalized() const noexcept { return normalized_; }
    std::string_view local_part() const noexcept { return std::string_view(normalized_).substr(0, at_); }
    std::string_view domain() const noexcept { return std::string_view(normalized_).substr(at_ + 1); }

    /// Equal when the normalised forms are.
    friend bool operator==(const EmailAddress& a, const EmailAddress& b) noexcept {
        return a.normalized_ == b.normalized_;
    }

private:
    EmailAddress(std::string address, std::string normalized, std::size_t at)
        : address_(std::move(address)), normalized_(std::move(normalized)), at_(at) {}

    std::string address_;
    std::string normalized_;
    std::size_t at_;
};

}  // namespace heroshhi::sanitize
