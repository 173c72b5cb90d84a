#include <heroshhi/crypto/secret_key.hpp>

#include <heroshhi/crypto/errors.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <string>
#include <vector>

namespace heroshhi::crypto {

void secure_wipe(void* data, std::size_t size) noexcept {
    if (data != nullptr && size != 0) OPENSSL_cleanse(data, size);
}

Result<SecretKey> SecretKey::from_bytes(std::span<const std::uint8_t> bytes) {
    if (bytes.size() != size)
        return Error(CryptoErrc::invalid_key, "a key is 32 bytes, not " + std::to_string(bytes.size()));
    SecretKey key;
    std::memcpy(key.bytes_.data(), bytes.data(), size);
    return key;
}

Result<SecretKey> SecretKey::from_base64(std::string_view text) {
    // Strip padding, check the alphabet, then decode with EVP_DecodeBlock on a padded copy.
    while (!text.empty() && text.back() == '=') text.remove_suffix(1);
    // 32 bytes are 43 base64 characters without padding.
    if (text.size() != 43) return Error(CryptoErrc::invalid_key, "not the base64 form of 32 bytes");
    for (const char c : text) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
        if (!ok) return Error(CryptoErrc::invalid_key, "not base64");
    }
    std::array<unsigned char, 44> padded{};
    std::memcpy(padded.data(), text.data(), 43);
    padded[43] = '=';
    std::array<unsigned char, 33> decoded{};  // EVP_DecodeBlock writes 3 bytes per 4 characters
    const int n = EVP_DecodeBlock(decoded.data(), padded.data(), static_cast<int>(padded.size()));
    SecretKey key;
    const bool ok = n == 33;
    if (ok) std::memcpy(key.bytes_.data(), decoded.data(), size);
    secure_wipe(padded.data(), padded.size());
    secure_wipe(decoded.data(), decoded.size());
    if (!ok) return Error(CryptoErrc::invalid_key, "not base64");
    return key;
}

Result<SecretKey> SecretKey::generate() {
    SecretKey key;
    if (RAND_priv_bytes(key.bytes_.data(), static_cast<int>(size)) != 1)
        return Error(CryptoErrc::backend_failure, "the random generator failed");
    return key;
}

SecretKey::SecretKey(SecretKey&& other) noexcept : bytes_(other.bytes_) {
    secure_wipe(other.bytes_.data(), size);
}

SecretKey& SecretKey::operator=(SecretKey&& other) noexcept {
    if (this != &other) {
        bytes_ = other.bytes_;
        secure_wipe(other.bytes_.data(), size);
    }
    return *this;
}

SecretKey::~SecretKey() { secure_wipe(bytes_.data(), size); }

SecretKey SecretKey::clone() const noexcept {
    SecretKey copy;
    copy.bytes_ = bytes_;
    return copy;
}

std::string SecretKey::to_base64() const {
    std::array<unsigned char, 45> out{};
    const int n = EVP_EncodeBlock(out.data(), bytes_.data(), static_cast<int>(size));
    std::string text(reinterpret_cast<const char*>(out.data()), static_cast<std::size_t>(n));
    secure_wipe(out.data(), out.size());
    return text;
}

}  // namespace heroshhi::crypto
