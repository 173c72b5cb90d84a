// heroshhi tests — deterministic keys for the tests that open encrypted stores.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

#include <heroshhi/crypto/key_ring.hpp>
#include <heroshhi/crypto/secret_key.hpp>

namespace heroshhi::test_support {

/// A key whose every byte is `fill`: tests tell keys apart by their fill.
inline crypto::SecretKey key_of(std::uint8_t fill) {
    std::vector<std::uint8_t> bytes(crypto::SecretKey::size, fill);
    return crypto::SecretKey::from_bytes(bytes).value();
}

/// A ring holding key_of(id) under each id, with `primary` as the primary.
inline crypto::KeyRing ring_of(std::initializer_list<std::uint32_t> ids, std::uint32_t primary) {
    crypto::KeySet set;
    for (const std::uint32_t id : ids)
        set.keys.push_back({crypto::KeyId{id}, key_of(static_cast<std::uint8_t>(id))});
    set.primary = crypto::KeyId{primary};
    return crypto::KeyRing::create(std::move(set)).value();
}

}  // namespace heroshhi::test_support
