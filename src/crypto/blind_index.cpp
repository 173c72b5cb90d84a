#include <heroshhi/crypto/blind_index.hpp>

#include <heroshhi/crypto/errors.hpp>

#include "detail/hmac.hpp"

#include <cstring>

namespace heroshhi::crypto {

struct BlindIndex::Impl {
    explicit Impl(SecretKey k) : key(std::move(k)) {}
    SecretKey key;
    detail::HmacSha256 hmac;
};

BlindIndex::BlindIndex(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
BlindIndex::BlindIndex(BlindIndex&&) noexcept = default;
BlindIndex& BlindIndex::operator=(BlindIndex&&) noexcept = default;
BlindIndex::~BlindIndex() = default;

Result<BlindIndex> BlindIndex::create(SecretKey index_key) {
    auto impl = std::make_unique<Impl>(std::move(index_key));
    if (!impl->hmac.usable()) return Error(CryptoErrc::backend_failure, "OpenSSL has no HMAC");
    return BlindIndex(std::move(impl));
}

Result<BlindIndex::Tag> BlindIndex::compute(const TenantId& tenant, std::string_view kind, std::string_view value) const {
    if (tenant.empty()) return Error(CryptoErrc::invalid_argument, "empty tenant id");
    if (kind.empty() || kind.find('\0') != std::string_view::npos)
        return Error(CryptoErrc::invalid_argument, "the index kind is empty or contains NUL");
    using namespace std::string_view_literals;
    detail::Sha256 tenant_key;
    detail::Sha256 full;
    const bool ok =
        impl_->hmac.compute(impl_->key.bytes().data(), SecretKey::size,
                            {"heroshhi/blind-index/v1/tenant"sv, "\0"sv, std::string_view(tenant.value())}, tenant_key) &&
        impl_->hmac.compute(tenant_key.data(), tenant_key.size(), {kind, "\0"sv, value}, full);
    secure_wipe(tenant_key.data(), tenant_key.size());
    if (!ok) return Error(CryptoErrc::backend_failure, "HMAC-SHA256 failed");
    Tag tag;
    std::memcpy(tag.data(), full.data(), tag_size);
    return tag;
}

Result<BlindIndex::Tag> BlindIndex::phone(const TenantId& tenant, const PhoneNumber& phone) const {
    return compute(tenant, "phone", phone.e164());
}

Result<BlindIndex::Tag> BlindIndex::email(const TenantId& tenant, const sanitize::EmailAddress& email) const {
    return compute(tenant, "email", email.normalized());
}

std::string BlindIndex::to_hex(const Tag& tag) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(tag_size * 2);
    for (const std::uint8_t b : tag) {
        out += digits[b >> 4];
        out += digits[b & 0xF];
    }
    return out;
}

}  // namespace heroshhi::crypto
