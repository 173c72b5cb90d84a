#include <heroshhi/crypto/webhook_signature.hpp>

#include <heroshhi/crypto/errors.hpp>

#include "detail/hmac.hpp"

#include <openssl/crypto.h>


namespace heroshhi::crypto {

struct WebhookSignature::Impl {
    explicit Impl(std::string_view s) : hmac(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()) {}

    detail::KeyedHmacSha256 hmac;  // holds the only copy of the secret, wiped when freed
};

WebhookSignature::WebhookSignature(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
WebhookSignature::WebhookSignature(WebhookSignature&&) noexcept = default;
WebhookSignature& WebhookSignature::operator=(WebhookSignature&&) noexcept = default;
WebhookSignature::~WebhookSignature() = default;

Result<WebhookSignature> WebhookSignature::create(std::string_view secret) {
    if (secret.empty()) return Error(CryptoErrc::invalid_key, "the webhook secret is empty");
    auto impl = std::make_unique<Impl>(secret);
    if (!impl->hmac.usable()) return Error(CryptoErrc::backend_failure, "OpenSSL has no HMAC");
    return WebhookSignature(std::move(impl));
}

Result<WebhookSignature::Mac> WebhookSignature::mac(std::string_view raw_body) const {
    Mac out;
    if (!impl_->hmac.compute({raw_body}, out))
        return Error(CryptoErrc::backend_failure, "HMAC-SHA256 failed");
    return out;
}

Result<std::string> WebhookSignature::header_value(std::string_view raw_body) const {
    auto m = mac(raw_body);
    if (!m) return m.error();
    static constexpr char digits[] = "0123456789abcdef";
    std::string out = "sha256=";
    for (const std::uint8_t b : *m) {
        out += digits[b >> 4];
        out += digits[b & 0xF];
    }
    return out;
}

Result<void> WebhookSignature::verify(std::string_view raw_body, std::string_view header) const {
    auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!header.empty() && is_space(header.front())) header.remove_prefix(1);
    while (!header.empty() && is_space(header.back())) header.remove_suffix(1);
    constexpr std::string_view prefix = "sha256=";
    if (header.substr(0, prefix.size()) != prefix)
        return Error(CryptoErrc::signature_malformed, "the signature does not begin with \"sha256=\"");
    header.remove_prefix(prefix.size());
    if (header.size() != 64) return Error(CryptoErrc::signature_malformed, "the signature is not 64 hex digits");
    Mac given;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < given.size(); ++i) {
        const int hi = nibble(header[2 * i]);
        const int lo = nibble(header[2 * i + 1]);
        if (hi < 0 || lo < 0) return Error(CryptoErrc::signature_malformed, "the signature is not 64 hex digits");
        given[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    auto expected = mac(raw_body);
    if (!expected) return expected.error();
    if (CRYPTO_memcmp(given.data(), expected->data(), given.size()) != 0)
        return Error(CryptoErrc::signature_mismatch, "the signature does not match the body");
    return {};
}

}  // namespace heroshhi::crypto
