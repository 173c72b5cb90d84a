// heroshhi — SecretKey: 32 bytes of key material that wipe themselves; KeyId: its name in a ring.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <heroshhi/core/result.hpp>

namespace heroshhi::crypto {

/// Overwrites `size` bytes at `data` with zeros in a way the compiler cannot drop
/// (OPENSSL_cleanse). For buffers that held key material or base64 of it.
void secure_wipe(void* data, std::size_t size) noexcept;

/// Names a data key inside a KeyRing and inside every ciphertext made with it (4 bytes,
/// big-endian, in the header). 0 is not a valid id.
struct KeyId {
    std::uint32_t value = 0;

    friend bool operator==(KeyId, KeyId) = default;
    friend auto operator<=>(KeyId, KeyId) = default;
};

/// A 256-bit secret key (AES-256 data key, HMAC key). Move-only: copies are explicit (clone()),
/// so key material is not duplicated by accident. Wiped with OPENSSL_cleanse when destroyed or
/// moved from. There is no equality operator and no stream output: keys are never printed.
class SecretKey {
public:
    static constexpr std::size_t size = 32;

    /// Takes a copy of exactly 32 bytes. Fails with CryptoErrc::invalid_key otherwise (the detail
    /// gives the length, never the bytes).
    static Result<SecretKey> from_bytes(std::span<const std::uint8_t> bytes);
    /// Decodes standard base64 (RFC 4648, with or without '=' padding) of exactly 32 bytes. Fails
    /// with CryptoErrc::invalid_key; the detail never echoes the text. Intermediate buffers are wiped.
    static Result<SecretKey> from_base64(std::string_view text);
    /// 32 bytes from OpenSSL's CSPRNG (RAND_priv_bytes). Fails with CryptoErrc::backend_failure.
    static Result<SecretKey> generate();

    SecretKey(SecretKey&& other) noexcept;
    SecretKey& operator=(SecretKey&& other) noexcept;
    SecretKey(const SecretKey&) = delete;
    SecretKey& operator=(const SecretKey&) = delete;
    ~SecretKey();

    /// A second copy of the key, for code that must hold its own (e.g. a KeyRing built from a set
    /// the caller keeps).
    SecretKey clone() const noexcept;

    /// The key material. Valid while this object lives and is not moved from.
    std::span<const std::uint8_t, size> bytes() const noexcept { return std::span<const std::uint8_t, size>(bytes_); }

    /// Standard base64 of the key, for writing a key file the first time. The caller should wipe
    /// the returned string (secure_wipe(s.data(), s.size())) when done with it.
    std::string to_base64() const;

private:
    SecretKey() noexcept = default;

    std::array<std::uint8_t, size> bytes_{};
};

}  // namespace heroshhi::crypto
