// heroshhi — error codes of the crypto area: keys, field encryption, signatures, TLS contexts.
#pragma once

#include <system_error>

namespace heroshhi::crypto {

/// Category name: "heroshhi.crypto". No detail ever contains key material, plaintext or a
/// secret; it may name a key id, a file path, a line number or OpenSSL's reason text.
enum class CryptoErrc {
    invalid_key = 1,        ///< key material of the wrong length or not base64
    unknown_key,            ///< a ciphertext names a key id the ring does not hold
    duplicate_key,          ///< a key id is already taken (by other material)
    no_keys,                ///< a key source holds no key, or no primary key can be chosen
    key_source_failed,      ///< a key file or variable cannot be read or parsed, or is readable by others
    authentication_failed,  ///< a ciphertext was altered or belongs to another tenant, table, column or row
    malformed_ciphertext,   ///< too short, or not a heroshhi field ciphertext
    unsupported_version,    ///< a ciphertext written by a newer heroshhi format
    invalid_argument,       ///< an empty tenant, table, column or row id; a size beyond what the format allows
    signature_malformed,    ///< a signature header is not "sha256=" and 64 hex digits
    signature_mismatch,     ///< a signature does not match the body
    certificate_unusable,   ///< a certificate (chain) or CA file cannot be loaded
    private_key_unusable,   ///< a private key file cannot be loaded, or does not match the certificate
    tls_setup_failed,       ///< OpenSSL refused a TLS setting (version, groups, suites, host name)
    backend_failure,        ///< OpenSSL failed where it should not (memory, random generator)
};

const std::error_category& crypto_category() noexcept;
inline std::error_code make_error_code(CryptoErrc e) noexcept { return {static_cast<int>(e), crypto_category()}; }

}  // namespace heroshhi::crypto

template <> struct std::is_error_code_enum<heroshhi::crypto::CryptoErrc> : std::true_type {};
