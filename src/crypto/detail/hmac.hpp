// heroshhi (internal) — HMAC-SHA256 through OpenSSL's EVP_MAC, with the MAC fetched once.
#pragma once

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

namespace heroshhi::crypto::detail {

using Sha256 = std::array<std::uint8_t, 32>;

/// The HMAC algorithm object; fetched once per owner (fetching costs microseconds).
class HmacSha256 {
public:
    HmacSha256() : mac_(EVP_MAC_fetch(nullptr, "HMAC", nullptr)) {}
    HmacSha256(const HmacSha256&) = delete;
    HmacSha256& operator=(const HmacSha256&) = delete;
    ~HmacSha256() { EVP_MAC_free(mac_); }

    bool usable() const noexcept { return mac_ != nullptr; }

    /// HMAC-SHA256(key, concatenation of `parts`) into `out`; false if OpenSSL failed.
    bool compute(const std::uint8_t* key, std::size_t key_size, std::initializer_list<std::string_view> parts,
                 Sha256& out) const noexcept {
        EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac_);
        if (ctx == nullptr) return false;
        char digest[] = "SHA256";
        const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                     OSSL_PARAM_construct_end()};
        bool ok = EVP_MAC_init(ctx, key, key_size, params) == 1;
        for (const std::string_view p : parts)
            ok = ok && EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(p.data()), p.size()) == 1;
        std::size_t written = 0;
        ok = ok && EVP_MAC_final(ctx, out.data(), &written, out.size()) == 1 && written == out.size();
        EVP_MAC_CTX_free(ctx);
        return ok;
    }

private:
    EVP_MAC* mac_;
};

/// HMAC-SHA256 under one key that does not change: the key is set once (OpenSSL then keeps the
/// hashed inner and outer pads), and each MAC starts from a keyed context taken from a free list
/// and reset, instead of fetching the digest and hashing the key again (most of the cost of a
/// short message). Thread-safe; the contexts, key included, are wiped by OpenSSL when freed.
class KeyedHmacSha256 {
public:
    KeyedHmacSha256(const std::uint8_t* key, std::size_t key_size) {
        EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
        if (mac == nullptr) return;
        keyed_ = EVP_MAC_CTX_new(mac);
        EVP_MAC_free(mac);  // the context keeps its own reference
        char digest[] = "SHA256";
        const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                     OSSL_PARAM_construct_end()};
        if (keyed_ != nullptr && EVP_MAC_init(keyed_, key, key_size, params) != 1) {
            EVP_MAC_CTX_free(keyed_);
            keyed_ = nullptr;
        }
    }
    KeyedHmacSha256(const KeyedHmacSha256&) = delete;
    KeyedHmacSha256& operator=(const KeyedHmacSha256&) = delete;
    ~KeyedHmacSha256() {
        for (EVP_MAC_CTX* ctx : free_) EVP_MAC_CTX_free(ctx);
        EVP_MAC_CTX_free(keyed_);
    }

    bool usable() const noexcept { return keyed_ != nullptr; }

    /// HMAC-SHA256(key, concatenation of `parts`) into `out`; false if OpenSSL failed.
    bool compute(std::initializer_list<std::string_view> parts, Sha256& out) const noexcept {
        EVP_MAC_CTX* ctx = acquire();
        if (ctx == nullptr) return false;
        // A null key restarts the context under the key it already has.
        bool ok = EVP_MAC_init(ctx, nullptr, 0, nullptr) == 1;
        for (const std::string_view p : parts)
            ok = ok && EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(p.data()), p.size()) == 1;
        std::size_t written = 0;
        ok = ok && EVP_MAC_final(ctx, out.data(), &written, out.size()) == 1 && written == out.size();
        release(ctx, ok);
        return ok;
    }

private:
    static constexpr std::size_t max_free = 64;  // about the most MACs computed at once

    EVP_MAC_CTX* acquire() const noexcept {
        if (keyed_ == nullptr) return nullptr;
        std::lock_guard lock(mutex_);
        if (!free_.empty()) {
            EVP_MAC_CTX* ctx = free_.back();
            free_.pop_back();
            return ctx;
        }
        return EVP_MAC_CTX_dup(keyed_);
    }

    void release(EVP_MAC_CTX* ctx, bool reusable) const noexcept {
        if (reusable) {
            std::lock_guard lock(mutex_);
            if (free_.size() < max_free) {
                try {
                    free_.push_back(ctx);
                    return;
                } catch (...) {  // no memory for the list: free the context instead
                }
            }
        }
        EVP_MAC_CTX_free(ctx);
    }

    EVP_MAC_CTX* keyed_ = nullptr;  // never used directly: the contexts are copies of it
    mutable std::mutex mutex_;
    mutable std::vector<EVP_MAC_CTX*> free_;
};

}  // namespace heroshhi::crypto::detail
