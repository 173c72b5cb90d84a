// heroshhi — KeyRing: the data keys in use, by id, with one primary that encrypts; rotation.
#pragma once

#include <memory>
#include <vector>

#include <heroshhi/core/result.hpp>
#include <heroshhi/crypto/key_provider.hpp>
#include <heroshhi/crypto/secret_key.hpp>

namespace heroshhi::crypto {

class FieldCipher;

/// Several AES-256 data keys by id; the primary encrypts, every key decrypts what it encrypted.
///
/// Rotation (Tink's keyset model): rotate() adds a new key and makes it primary at once; a host
/// that runs several processes can instead add() the key everywhere first and set_primary() once
/// every process has it, so no process meets a ciphertext under a key it lacks. Old keys stay
/// until a ReencryptionPass has moved every ciphertext to the primary; then remove() them.
///
/// Key material lives only inside the ring (and OpenSSL's key schedules) and is wiped
/// (OPENSSL_cleanse) when the ring or a removed key is destroyed. Every method is safe to call
/// from several threads at once, also while FieldCiphers use the ring; changes take a writer
/// lock for a moment. Movable, not copyable.
class KeyRing {
public:
    /// A ring of `keys` with `keys.primary` as primary. Fails with no_keys (empty set, or a primary
    /// that is not in it) or duplicate_key.
    static Result<KeyRing> create(KeySet keys);
    /// A ring of whatever `provider` holds (load_keys()); the provider's errors come back as they are.
    static Result<KeyRing> load(const KeyProvider& provider);

    KeyRing(KeyRing&&) noexcept;
    KeyRing& operator=(KeyRing&&) noexcept;
    KeyRing(const KeyRing&) = delete;
    KeyRing& operator=(const KeyRing&) = delete;
    ~KeyRing();

    KeyId primary() const;
    /// Every id, ascending.
    std::vector<KeyId> ids() const;
    bool contains(KeyId id) const;

    /// Adds `entry` and makes it primary. Fails with duplicate_key if the id is taken.
    Result<void> rotate(KeyEntry entry);
    /// Adds `entry` without making it primary. Fails with duplicate_key if the id is taken.
    Result<void> add(KeyEntry entry);
    /// Makes an existing key primary. Fails with unknown_key.
    Result<void> set_primary(KeyId id);
    /// Removes a key that no ciphertext needs any more. Fails with unknown_key, or invalid_argument
    /// for the primary.
    Result<void> remove(KeyId id);
    /// Adopts what `provider` holds now: keys it lists that the ring lacks are added, its primary
    /// becomes the ring's; keys the ring has and the provider no longer lists are kept (remove
    /// them explicitly). An id the ring has with other material fails with duplicate_key, and then
    /// nothing changes.
    Result<void> reload(const KeyProvider& provider);

private:
    friend class FieldCipher;
    struct Impl;
    explicit KeyRing(std::unique_ptr<Impl> impl) noexcept;

    std::unique_ptr<Impl> impl_;
};

}  // namespace heroshhi::crypto
