// heroshhi (internal) — what a KeyRing holds: per key, its material and a pool of OpenSSL
// contexts with the key schedule already done and a batch of random nonces.
#pragma once

#include <heroshhi/crypto/key_ring.hpp>

#include <openssl/evp.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

namespace heroshhi::crypto::detail {

inline constexpr std::size_t kNonceSize = 12;
inline constexpr std::size_t kNoncesPerFill = 64;

/// Increases in every child process after fork(), so buffered nonces are never used by two
/// processes (both would encrypt under the same key). Process-wide because fork is; it mirrors
/// OpenSSL's own fork detection for its random generator.
std::uint64_t fork_generation() noexcept;

/// One AES-256-GCM context whose key schedule is done, and nonces drawn from the CSPRNG in one
/// batch (one RAND_bytes call costs about as much as the whole encryption of a short field).
/// Each nonce is used once.
struct CipherSlot {
    EVP_CIPHER_CTX* ctx = nullptr;
    std::array<std::uint8_t, kNonceSize * kNoncesPerFill> nonces{};
    std::size_t next = kNoncesPerFill;
    std::uint64_t generation = 0;

    CipherSlot() = default;
    CipherSlot(const CipherSlot&) = delete;
    CipherSlot& operator=(const CipherSlot&) = delete;
    ~CipherSlot() { EVP_CIPHER_CTX_free(ctx); }

    /// Writes a fresh nonce to `out`; false if the random generator failed.
    bool take_nonce(std::uint8_t* out) noexcept;
};

/// A key and its context pool: a fixed array of slots taken and returned with one atomic
/// exchange each (no lock on the encryption path); contexts beyond the array are freed on return.
class KeyState {
public:
    KeyState(KeyId id, SecretKey key) : id_(id), key_(std::move(key)) {}
    KeyState(const KeyState&) = delete;
    KeyState& operator=(const KeyState&) = delete;
    ~KeyState() {
        for (auto& p : pool_) delete p.load(std::memory_order_acquire);
    }

    KeyId id() const noexcept { return id_; }
    const SecretKey& key() const noexcept { return key_; }

    struct Release {
        KeyState* owner;
        void operator()(CipherSlot* slot) const noexcept { owner->release(slot); }
    };
    using Lease = std::unique_ptr<CipherSlot, Release>;

    /// A context for this key (from the pool, or new); null if OpenSSL failed.
    Lease acquire() noexcept;

private:
    void release(CipherSlot* slot) noexcept;

    static constexpr std::size_t kPoolSize = 32;

    KeyId id_;
    SecretKey key_;
    std::array<std::atomic<CipherSlot*>, kPoolSize> pool_{};
};

}  // namespace heroshhi::crypto::detail

namespace heroshhi::crypto {

struct KeyRing::Impl {
    mutable std::shared_mutex mutex;
    std::vector<std::shared_ptr<detail::KeyState>> keys;  // ascending id
    detail::KeyState* primary = nullptr;

    detail::KeyState* find(KeyId id) const noexcept {
        for (const auto& k : keys)
            if (k->id() == id) return k.get();
        return nullptr;
    }
};

}  // namespace heroshhi::crypto
