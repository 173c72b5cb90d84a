#include <heroshhi/audit/pseudonym.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <new>

namespace heroshhi::audit {

std::string phone_pseudonym(std::string_view key, const PhoneNumber& phone) {
    const std::string number = phone.e164();
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    // An empty key is still a key to HMAC (it pads with zeros); OpenSSL wants a non-null pointer.
    static const unsigned char no_key = 0;
    const void* key_data = key.empty() ? static_cast<const void*>(&no_key) : key.data();
    if (HMAC(EVP_sha256(), key_data, static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(number.data()),
             number.size(), mac, &size) == nullptr ||
        size < 16)
        throw std::bad_alloc();  // HMAC-SHA-256 fails only when OpenSSL cannot allocate
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(pseudonym_prefix);
    for (unsigned int i = 0; i < 16; ++i) {
        out.push_back(digits[mac[i] >> 4]);
        out.push_back(digits[mac[i] & 0xf]);
    }
    return out;
}

}  // namespace heroshhi::audit
