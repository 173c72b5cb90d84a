#include <heroshhi/audit/pseudonym.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../crypto/detail/hmac.hpp"

#include <new>

namespace heroshhi::audit {

namespace {

// An empty key is still a key to HMAC (it pads with zeros); OpenSSL wants a non-null pointer.
const unsigned char no_key = 0;

const unsigned char* key_bytes(std::string_view key) {
    return key.empty() ? &no_key : reinterpret_cast<const unsigned char*>(key.data());
}

// "phone:" and the first 16 bytes of `mac` in hex.
std::string spell(const unsigned char* mac) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(pseudonym_prefix.size() + 32);
    out.append(pseudonym_prefix);
    for (unsigned int i = 0; i < 16; ++i) {
        out.push_back(digits[mac[i] >> 4]);
        out.push_back(digits[mac[i] & 0xf]);
    }
    return out;
}

}  // namespace

std::string phone_pseudonym(std::string_view key, const PhoneNumber& phone) {
    const std::string number = phone.e164();
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (HMAC(EVP_sha256(), key_bytes(key), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(number.data()),
             number.size(), mac, &size) == nullptr ||
        size < 16)
        throw std::bad_alloc();  // HMAC-SHA-256 fails only when OpenSSL cannot allocate
    return spell(mac);
}

struct PhonePseudonyms::Impl {
    explicit Impl(std::string_view key) : hmac(key_bytes(key), key.size()) {}
    crypto::detail::KeyedHmacSha256 hmac;  // the key's only copy here, wiped by OpenSSL when freed
};

PhonePseudonyms::PhonePseudonyms(std::string_view key) : impl_(std::make_unique<Impl>(key)) {}
PhonePseudonyms::PhonePseudonyms(PhonePseudonyms&&) noexcept = default;
PhonePseudonyms& PhonePseudonyms::operator=(PhonePseudonyms&&) noexcept = default;
PhonePseudonyms::~PhonePseudonyms() = default;

std::string PhonePseudonyms::operator()(const PhoneNumber& phone) const {
    const std::string number = phone.e164();
    crypto::detail::Sha256 mac{};
    if (!impl_ || !impl_->hmac.compute({number}, mac)) throw std::bad_alloc();  // as phone_pseudonym
    return spell(mac.data());
}

}  // namespace heroshhi::audit
