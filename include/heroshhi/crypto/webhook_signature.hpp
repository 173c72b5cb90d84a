// heroshhi — WebhookSignature: HMAC-SHA256 signatures over a webhook's raw body, as WhatsApp's
// X-Hub-Signature-256 and heroshhi's signed form webhook carry them.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <heroshhi/core/result.hpp>

namespace heroshhi::crypto {

/// Signs and verifies "sha256=<64 hex digits>" = HMAC-SHA256(secret, raw body bytes).
///
/// Verify the raw bytes as received, before any JSON parsing or re-encoding: re-serialised JSON
/// does not give the same bytes. The comparison takes the same time wherever the first differing
/// byte is (CRYPTO_memcmp), so response timing does not reveal how much of a forged signature was
/// right. Immutable, thread-safe; the secret is wiped when the object is destroyed.
class WebhookSignature {
public:
    using Mac = std::array<std::uint8_t, 32>;

    /// `secret` is the shared secret (WhatsApp: the app secret). Fails with invalid_key when it is
    /// empty, backend_failure if OpenSSL has no HMAC.
    static Result<WebhookSignature> create(std::string_view secret);

    WebhookSignature(WebhookSignature&&) noexcept;
    WebhookSignature& operator=(WebhookSignature&&) noexcept;
    ~WebhookSignature();

    /// HMAC-SHA256(secret, raw_body). Fails only with backend_failure.
    Result<Mac> mac(std::string_view raw_body) const;

    /// The header value for `raw_body`: "sha256=" and 64 lowercase hex digits.
    Result<std::string> header_value(std::string_view raw_body) const;

    /// Success when `header_value` ("sha256=" then 64 hex digits, either case; surrounding
    /// whitespace ignored) is the signature of `raw_body`. Fails with signature_malformed (missing
    /// or wrong prefix, wrong length, a non-hex digit) or signature_mismatch.
    Result<void> verify(std::string_view raw_body, std::string_view header_value) const;

private:
    struct Impl;
    explicit WebhookSignature(std::unique_ptr<Impl> impl) noexcept;

    std::unique_ptr<Impl> impl_;
};

}  // namespace heroshhi::crypto
