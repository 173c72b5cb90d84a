// heroshhi — KeyProvider: the port through which a host hands heroshhi its data keys (a KMS, a
// secrets manager, a file). A file and an environment-variable provider ship.
#pragma once

#include <vector>

#include <heroshhi/core/result.hpp>
#include <heroshhi/crypto/secret_key.hpp>

namespace heroshhi::crypto {

/// One key and its id.
struct KeyEntry {
    KeyId id;
    SecretKey key;
};

/// Every key a provider holds, and which one encrypts.
struct KeySet {
    std::vector<KeyEntry> keys;
    KeyId primary;  ///< must be one of `keys`
};

/// Hands out data keys. Implementations must be safe to call from several threads at once, may
/// block (file, network), and are called when a KeyRing is built or reloaded, never per
/// encryption. On failure they return an Error (CryptoErrc::key_source_failed, invalid_key,
/// duplicate_key, no_keys, or the host's own category) whose detail never contains key material;
/// a provider never logs keys either.
class KeyProvider {
public:
    virtual ~KeyProvider() = default;

    /// Every key the provider holds, and the primary. Keys retired from the provider should stay
    /// listed until a re-encryption pass has moved every ciphertext off them.
    virtual Result<KeySet> load_keys() const = 0;
};

}  // namespace heroshhi::crypto
