// heroshhi — PhoneNumber: a contact's number in E.164, the key every opt-out comparison uses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <heroshhi/core/result.hpp>

namespace heroshhi {

class PhoneNumber;

namespace detail {
/// For tests: PhoneNumber::parse with libphonenumber reading every input (no fast path), and
/// whether PhoneNumber::parse reads `raw` by its fast path for canonical input.
Result<PhoneNumber> parse_phone_by_libphonenumber(std::string_view raw, std::string_view default_region = {});
bool phone_fast_path_applies(std::string_view raw, std::string_view default_region = {});
}  // namespace detail

/// A phone number normalised to E.164 ("+14155550123"), with the raw text it was parsed from.
///
/// Only `parse` makes one, so an invalid PhoneNumber cannot exist. Equality and hashing look at
/// the E.164 number alone (packed into 64 bits), never at the raw text: "(415) 555-0123" with
/// region US and the WhatsApp id "14155550123" are the same contact.
class PhoneNumber {
public:
    /// The longest raw input accepted, in bytes.
    static constexpr std::size_t max_input_length = 64;

    /// Parses `raw` with libphonenumber.
    ///
    /// Accepts international format ("+44 20 7946 0958"), national format when `default_region`
    /// (ISO 3166 alpha-2, e.g. "US") is given ("(415) 555-0123"), a WhatsApp `wa_id` (bare ASCII
    /// digits, no '+', when no region is given), full-width digits, spaces and the punctuation
    /// `( ) - . /`. An extension ("ext. 12") is accepted and dropped. Bare digits with a region
    /// are read as a national number, or as a wa_id when only that reading has a possible length
    /// ("447911123456" with region US is +447911123456).
    ///
    /// The number must have a possible length for its country (libphonenumber's
    /// IsPossibleNumber: "+1 234567" is too short). Validity against the numbering plan
    /// (IsValidNumber) is deliberately not required: that metadata ages and would reject real
    /// numbers.
    ///
    /// Canonical input ('+' and ASCII digits, or a wa_id without a region) is read without
    /// libphonenumber's regular expressions when its answer is certain from the calling code and
    /// the first national digit (which its metadata says no national prefix can start); the
    /// result is the same either way.
    ///
    /// Fails with a PhoneErrc and a sentence saying what was wrong. Never throws; thread-safe.
    static Result<PhoneNumber> parse(std::string_view raw, std::string_view default_region = {});

    /// Rebuilds a number from its packed key (see key()); fails if `key` is not a possible one.
    static Result<PhoneNumber> from_key(std::uint64_t key);

    /// "+14155550123".
    std::string e164() const;
    /// "14155550123": the form WhatsApp uses as wa_id.
    std::string digits() const;
    /// The text as received (after nothing: not even trimmed).
    const std::string& raw() const noexcept { return raw_; }
    /// The E.164 digits read as one integer. E.164 never starts with 0, so this is one-to-one.
    std::uint64_t key() const noexcept { return key_; }

    friend bool operator==(const PhoneNumber& a, const PhoneNumber& b) noexcept { return a.key_ == b.key_; }
    friend auto operator<=>(const PhoneNumber& a, const PhoneNumber& b) noexcept { return a.key_ <=> b.key_; }

private:
    PhoneNumber(std::uint64_t key, std::string raw) : key_(key), raw_(std::move(raw)) {}
    /// parse(), with or without the fast path; `fast` (if given) tells whether it was taken.
    static Result<PhoneNumber> parse(std::string_view raw, std::string_view default_region, bool allow_fast,
                                     bool* fast);
    friend Result<PhoneNumber> detail::parse_phone_by_libphonenumber(std::string_view, std::string_view);
    friend bool detail::phone_fast_path_applies(std::string_view, std::string_view);

    std::uint64_t key_;
    std::string raw_;
};

}  // namespace heroshhi

template <>
struct std::hash<heroshhi::PhoneNumber> {
    std::size_t operator()(const heroshhi::PhoneNumber& p) const noexcept {
        return std::hash<std::uint64_t>{}(p.key());
    }
};
