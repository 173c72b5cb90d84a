#include <heroshhi/crypto/key_ring.hpp>

#include <heroshhi/crypto/errors.hpp>

#include "detail/key_ring_impl.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>

namespace heroshhi::crypto {
namespace detail {
namespace {

std::atomic<std::uint64_t> g_fork_generation{0};

void on_fork_child() { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }

}  // namespace

std::uint64_t fork_generation() noexcept {
    static const bool registered = pthread_atfork(nullptr, nullptr, &on_fork_child) == 0;
    (void)registered;
    return g_fork_generation.load(std::memory_order_relaxed);
}

bool CipherSlot::take_nonce(std::uint8_t* out) noexcept {
    const std::uint64_t now = fork_generation();
    if (next == kNoncesPerFill || generation != now) {
        if (RAND_bytes(nonces.data(), static_cast<int>(nonces.size())) != 1) {
            next = kNoncesPerFill;
            return false;
        }
        next = 0;
        generation = now;
    }
    std::memcpy(out, nonces.data() + next * kNonceSize, kNonceSize);
    ++next;
    return true;
}

KeyState::Lease KeyState::acquire() noexcept {
    for (auto& p : pool_) {
        if (p.load(std::memory_order_relaxed) == nullptr) continue;
        if (CipherSlot* slot = p.exchange(nullptr, std::memory_order_acquire)) return Lease(slot, Release{this});
    }
    try {
        auto slot = std::make_unique<CipherSlot>();
        slot->ctx = EVP_CIPHER_CTX_new();
        if (slot->ctx == nullptr ||
            EVP_CipherInit_ex2(slot->ctx, EVP_aes_256_gcm(), key_.bytes().data(), nullptr, 1, nullptr) != 1)
            return Lease(nullptr, Release{this});
        return Lease(slot.release(), Release{this});
    } catch (...) {
        return Lease(nullptr, Release{this});
    }
}

void KeyState::release(CipherSlot* slot) noexcept {
    for (auto& p : pool_) {
        CipherSlot* empty = nullptr;
        if (p.load(std::memory_order_relaxed) == nullptr &&
            p.compare_exchange_strong(empty, slot, std::memory_order_release, std::memory_order_relaxed))
            return;
    }
    delete slot;  // the pool is full
}

}  // namespace detail

namespace {

Result<void> check_set(const KeySet& set) {
    if (set.keys.empty()) return Error(CryptoErrc::no_keys, "the key set is empty");
    for (std::size_t i = 0; i < set.keys.size(); ++i) {
        if (set.keys[i].id.value == 0) return Error(CryptoErrc::invalid_key, "key id 0 is not valid");
        for (std::size_t j = 0; j < i; ++j)
            if (set.keys[i].id == set.keys[j].id)
                return Error(CryptoErrc::duplicate_key, "key id " + std::to_string(set.keys[i].id.value) + " appears twice");
    }
    const bool has_primary = std::any_of(set.keys.begin(), set.keys.end(), [&](const KeyEntry& e) { return e.id == set.primary; });
    if (!has_primary)
        return Error(CryptoErrc::no_keys, "the primary key id " + std::to_string(set.primary.value) + " is not in the set");
    return {};
}

void insert_sorted(std::vector<std::shared_ptr<detail::KeyState>>& keys, std::shared_ptr<detail::KeyState> k) {
    const auto at = std::lower_bound(keys.begin(), keys.end(), k->id(),
                                     [](const std::shared_ptr<detail::KeyState>& a, KeyId id) { return a->id() < id; });
    keys.insert(at, std::move(k));
}

}  // namespace

KeyRing::KeyRing(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
KeyRing::KeyRing(KeyRing&&) noexcept = default;
KeyRing& KeyRing::operator=(KeyRing&&) noexcept = default;
KeyRing::~KeyRing() = default;

Result<KeyRing> KeyRing::create(KeySet set) {
    if (auto ok = check_set(set); !ok) return ok.error();
    auto impl = std::make_unique<Impl>();
    for (KeyEntry& e : set.keys) insert_sorted(impl->keys, std::make_shared<detail::KeyState>(e.id, std::move(e.key)));
    impl->primary = impl->find(set.primary);
    return KeyRing(std::move(impl));
}

Result<KeyRing> KeyRing::load(const KeyProvider& provider) {
    auto set = provider.load_keys();
    if (!set) return set.error();
    return create(std::move(set).value());
}

KeyId KeyRing::primary() const {
    std::shared_lock lock(impl_->mutex);
    return impl_->primary->id();
}

std::vector<KeyId> KeyRing::ids() const {
    std::shared_lock lock(impl_->mutex);
    std::vector<KeyId> out;
    for (const auto& k : impl_->keys) out.push_back(k->id());
    return out;
}

bool KeyRing::contains(KeyId id) const {
    std::shared_lock lock(impl_->mutex);
    return impl_->find(id) != nullptr;
}

Result<void> KeyRing::add(KeyEntry entry) {
    if (entry.id.value == 0) return Error(CryptoErrc::invalid_key, "key id 0 is not valid");
    auto state = std::make_shared<detail::KeyState>(entry.id, std::move(entry.key));
    std::unique_lock lock(impl_->mutex);
    if (impl_->find(state->id()) != nullptr)
        return Error(CryptoErrc::duplicate_key, "key id " + std::to_string(state->id().value) + " is already in the ring");
    insert_sorted(impl_->keys, std::move(state));
    return {};
}

Result<void> KeyRing::rotate(KeyEntry entry) {
    const KeyId id = entry.id;
    if (entry.id.value == 0) return Error(CryptoErrc::invalid_key, "key id 0 is not valid");
    auto state = std::make_shared<detail::KeyState>(entry.id, std::move(entry.key));
    std::unique_lock lock(impl_->mutex);
    if (impl_->find(id) != nullptr)
        return Error(CryptoErrc::duplicate_key, "key id " + std::to_string(id.value) + " is already in the ring");
    detail::KeyState* raw = state.get();
    insert_sorted(impl_->keys, std::move(state));
    impl_->primary = raw;
    return {};
}

Result<void> KeyRing::set_primary(KeyId id) {
    std::unique_lock lock(impl_->mutex);
    detail::KeyState* k = impl_->find(id);
    if (k == nullptr) return Error(CryptoErrc::unknown_key, "key id " + std::to_string(id.value) + " is not in the ring");
    impl_->primary = k;
    return {};
}

Result<void> KeyRing::remove(KeyId id) {
    std::unique_lock lock(impl_->mutex);
    detail::KeyState* k = impl_->find(id);
    if (k == nullptr) return Error(CryptoErrc::unknown_key, "key id " + std::to_string(id.value) + " is not in the ring");
    if (k == impl_->primary)
        return Error(CryptoErrc::invalid_argument, "key id " + std::to_string(id.value) + " is the primary; make another key primary first");
    std::erase_if(impl_->keys, [&](const std::shared_ptr<detail::KeyState>& s) { return s.get() == k; });
    return {};
}

Result<void> KeyRing::reload(const KeyProvider& provider) {
    auto loaded = provider.load_keys();
    if (!loaded) return loaded.error();
    KeySet set = std::move(loaded).value();
    if (auto ok = check_set(set); !ok) return ok;
    std::unique_lock lock(impl_->mutex);
    std::vector<KeyEntry*> fresh;
    for (KeyEntry& e : set.keys) {
        if (const detail::KeyState* have = impl_->find(e.id)) {
            if (CRYPTO_memcmp(have->key().bytes().data(), e.key.bytes().data(), SecretKey::size) != 0)
                return Error(CryptoErrc::duplicate_key,
                             "key id " + std::to_string(e.id.value) + " is in the ring with other key material");
        } else {
            fresh.push_back(&e);
        }
    }
    for (KeyEntry* e : fresh) insert_sorted(impl_->keys, std::make_shared<detail::KeyState>(e->id, std::move(e->key)));
    impl_->primary = impl_->find(set.primary);
    return {};
}

}  // namespace heroshhi::crypto
