#include <heroshhi/crypto/errors.hpp>

#include <string>

namespace heroshhi::crypto {
namespace {

class CryptoCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "heroshhi.crypto"; }
    std::string message(int ev) const override {
        switch (static_cast<CryptoErrc>(ev)) {
            case CryptoErrc::invalid_key: return "invalid key";
            case CryptoErrc::unknown_key: return "unknown key id";
            case CryptoErrc::duplicate_key: return "duplicate key id";
            case CryptoErrc::no_keys: return "no usable key";
            case CryptoErrc::key_source_failed: return "key source failed";
            case CryptoErrc::authentication_failed: return "ciphertext failed authentication";
            case CryptoErrc::malformed_ciphertext: return "malformed ciphertext";
            case CryptoErrc::unsupported_version: return "unsupported ciphertext version";
            case CryptoErrc::invalid_argument: return "invalid argument";
            case CryptoErrc::signature_malformed: return "malformed signature";
            case CryptoErrc::signature_mismatch: return "signature mismatch";
            case CryptoErrc::certificate_unusable: return "certificate unusable";
            case CryptoErrc::private_key_unusable: return "private key unusable";
            case CryptoErrc::tls_setup_failed: return "TLS setup failed";
            case CryptoErrc::backend_failure: return "cryptographic backend failure";
        }
        return "unknown crypto error";
    }
};

}  // namespace

const std::error_category& crypto_category() noexcept {
    static const CryptoCategory c;
    return c;
}

}  // namespace heroshhi::crypto
