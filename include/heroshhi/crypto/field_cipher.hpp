// heroshhi — FieldCipher: AES-256-GCM encryption of one sensitive value (a phone number, an email,
// a message body) bound to the tenant, table, column and row it belongs to.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <heroshhi/core/ids.hpp>
#include <heroshhi/core/result.hpp>
#include <heroshhi/crypto/key_ring.hpp>

namespace heroshhi::crypto {

/// Ciphertext bytes (store them as a BLOB / bytea).
using Bytes = std::vector<std::uint8_t>;

/// The column a value is stored in, e.g. {"contacts", "phone"}. Both parts are bound into the
/// ciphertext, so they must be the same names at decryption (a constant per column is usual).
struct FieldName {
    std::string_view table;
    std::string_view column;
};

/// Encrypts and decrypts field values with the primary key of a KeyRing.
///
/// Format, version 1 (33 bytes more than the plaintext):
///
///     0x01 | key id (4 bytes, big-endian) | nonce (12 bytes) | ciphertext | GCM tag (16 bytes)
///
/// AES-256-GCM through OpenSSL EVP, a fresh 96-bit nonce from OpenSSL's CSPRNG for every
/// encryption (drawn 64 at a time per context, since one RAND_bytes call costs as much as a short
/// encryption; buffers are discarded in a child after fork()). The associated data is the header
/// plus the length-prefixed tenant id, table, column and row id: a ciphertext copied to another
/// row, column, table or tenant fails to decrypt with authentication_failed, as does any change
/// to a single bit. The key id in the header lets every key of the ring decrypt what it encrypted,
/// so ciphertexts written before a rotation keep working; ReencryptionPass moves them on.
///
/// Limits: AES-GCM with random nonces stays within its bounds for 2^32 encryptions per key
/// (Tink, NIST SP 800-38D): rotate the key well before that (e.g. yearly, or every 100 million
/// writes).
///
/// Every method is thread-safe and does not block beyond a short lock (rotation waits for
/// encryptions in flight, and they for it); plaintext handed back is the caller's to wipe if
/// needed.
class FieldCipher {
public:
    static constexpr std::uint8_t format_version = 1;
    static constexpr std::size_t header_size = 17;   ///< version, key id, nonce
    static constexpr std::size_t tag_size = 16;
    static constexpr std::size_t overhead = header_size + tag_size;
    static constexpr std::size_t max_plaintext = std::size_t{64} << 20;  ///< 64 MiB; fields, not files

    /// Uses `ring`'s keys. The ring's state must outlive the cipher (moving the KeyRing object
    /// is fine: the cipher follows its keys, not the object).
    explicit FieldCipher(const KeyRing& ring) noexcept : ring_(ring.impl_.get()) {}

    /// Encrypts `plaintext` (any bytes, up to max_plaintext) for the field at (tenant, field,
    /// row_id) under the ring's primary key. Fails with invalid_argument (an empty tenant, table,
    /// column or row id; an oversized plaintext) or backend_failure.
    Result<Bytes> encrypt(const TenantId& tenant, FieldName field, std::string_view row_id, std::string_view plaintext) const;

    /// Decrypts what encrypt() returned for the same (tenant, field, row_id). Fails with
    /// malformed_ciphertext (too short, version 0), unsupported_version (a newer format),
    /// unknown_key (a key id not in the ring: a retired key, or another ring), authentication_failed
    /// (altered, or made for another place), invalid_argument or backend_failure.
    Result<std::string> decrypt(const TenantId& tenant, FieldName field, std::string_view row_id,
                                std::span<const std::uint8_t> ciphertext) const;

    /// Decrypts and encrypts again under the current primary key (what a ReencryptionPass does to
    /// each field). The errors of decrypt() and encrypt().
    Result<Bytes> reencrypt(const TenantId& tenant, FieldName field, std::string_view row_id,
                            std::span<const std::uint8_t> ciphertext) const;

    /// The key id in a ciphertext's header; checks the version and the length only (the header is
    /// authenticated at decryption, not here). Fails with malformed_ciphertext / unsupported_version.
    static Result<KeyId> key_id(std::span<const std::uint8_t> ciphertext);

    /// The ring's primary key id now.
    KeyId primary_key() const;

    /// True when `ciphertext`'s header names the ring's primary key (no re-encryption needed).
    bool is_current(std::span<const std::uint8_t> ciphertext) const;

private:
    const KeyRing::Impl* ring_;
};

}  // namespace heroshhi::crypto
