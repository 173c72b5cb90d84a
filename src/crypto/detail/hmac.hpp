// heroshhi (internal) — HMAC-SHA256 through OpenSSL's EVP_MAC, with the MAC fetched once.
#pragma once

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string_view>

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

}  // namespace heroshhi::crypto::detail
