#include <heroshhi/crypto/field_cipher.hpp>

#include <heroshhi/crypto/errors.hpp>

#include "detail/key_ring_impl.hpp"

#include <openssl/evp.h>

#include <climits>
#include <cstring>
#include <mutex>
#include <shared_mutex>

namespace heroshhi::crypto {
namespace {

constexpr char kAadLabel[] = "heroshhi/field/v1";

void put_u32(std::uint8_t* p, std::uint32_t v) noexcept {
    p[0] = static_cast<std::uint8_t>(v >> 24);
    p[1] = static_cast<std::uint8_t>(v >> 16);
    p[2] = static_cast<std::uint8_t>(v >> 8);
    p[3] = static_cast<std::uint8_t>(v);
}

std::uint32_t get_u32(const std::uint8_t* p) noexcept {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

/// The associated data: a label, the 5-byte header (version, key id), then each of tenant, table,
/// column and row id with a 4-byte length before it, so no two different tuples give the same
/// bytes. Short tuples stay on the stack.
class AssociatedData {
public:
    AssociatedData(const std::uint8_t* header5, const TenantId& tenant, FieldName field, std::string_view row_id) {
        const std::string_view parts[] = {tenant.value(), field.table, field.column, row_id};
        std::size_t size = sizeof kAadLabel + 5;
        for (const auto& p : parts) size += 4 + p.size();
        std::uint8_t* w = size <= small_.size() ? small_.data() : (large_.resize(size), large_.data());
        data_ = w;
        std::memcpy(w, kAadLabel, sizeof kAadLabel);
        w += sizeof kAadLabel;
        std::memcpy(w, header5, 5);
        w += 5;
        for (const auto& p : parts) {
            put_u32(w, static_cast<std::uint32_t>(p.size()));
            w += 4;
            std::memcpy(w, p.data(), p.size());
            w += p.size();
        }
        size_ = size;
    }
    const std::uint8_t* data() const noexcept { return data_; }
    int size() const noexcept { return static_cast<int>(size_); }

private:
    std::array<std::uint8_t, 256> small_;
    std::vector<std::uint8_t> large_;
    const std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
};

Result<void> check_place(const TenantId& tenant, FieldName field, std::string_view row_id) {
    if (tenant.empty()) return Error(CryptoErrc::invalid_argument, "empty tenant id");
    if (field.table.empty() || field.column.empty()) return Error(CryptoErrc::invalid_argument, "empty table or column name");
    if (row_id.empty()) return Error(CryptoErrc::invalid_argument, "empty row id");
    constexpr std::size_t max_part = 1 << 16;
    if (tenant.value().size() > max_part || field.table.size() > max_part || field.column.size() > max_part ||
        row_id.size() > max_part)
        return Error(CryptoErrc::invalid_argument, "tenant, table, column or row id longer than 64 KiB");
    return {};
}

Error backend(const char* what) { return Error(CryptoErrc::backend_failure, what); }

}  // namespace

Result<Bytes> FieldCipher::encrypt(const TenantId& tenant, FieldName field, std::string_view row_id,
                                   std::string_view plaintext) const {
    if (auto ok = check_place(tenant, field, row_id); !ok) return ok.error();
    if (plaintext.size() > max_plaintext) return Error(CryptoErrc::invalid_argument, "plaintext larger than 64 MiB");

    std::shared_lock lock(ring_->mutex);
    detail::KeyState& key = *ring_->primary;
    auto slot = key.acquire();
    if (!slot) return backend("cannot set up an AES-256-GCM context");

    Bytes out(overhead + plaintext.size());
    std::uint8_t* header = out.data();
    header[0] = format_version;
    put_u32(header + 1, key.id().value);
    if (!slot->take_nonce(header + 5)) return backend("the random generator failed");
    const AssociatedData aad(header, tenant, field, row_id);

    EVP_CIPHER_CTX* ctx = slot->ctx;
    int len = 0;
    std::uint8_t* body = out.data() + header_size;
    if (EVP_CipherInit_ex2(ctx, nullptr, nullptr, header + 5, 1, nullptr) != 1 ||
        EVP_CipherUpdate(ctx, nullptr, &len, aad.data(), aad.size()) != 1)
        return backend("AES-256-GCM encryption failed");
    if (!plaintext.empty() &&
        EVP_CipherUpdate(ctx, body, &len, reinterpret_cast<const unsigned char*>(plaintext.data()),
                         static_cast<int>(plaintext.size())) != 1)
        return backend("AES-256-GCM encryption failed");
    if (EVP_CipherFinal_ex(ctx, body + plaintext.size(), &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(tag_size), body + plaintext.size()) != 1)
        return backend("AES-256-GCM encryption failed");
    return out;
}

Result<KeyId> FieldCipher::key_id(std::span<const std::uint8_t> ciphertext) {
    if (ciphertext.empty()) return Error(CryptoErrc::malformed_ciphertext, "empty ciphertext");
    if (ciphertext[0] == 0) return Error(CryptoErrc::malformed_ciphertext, "not a heroshhi field ciphertext");
    if (ciphertext[0] > format_version)
        return Error(CryptoErrc::unsupported_version,
                     "format version " + std::to_string(ciphertext[0]) + " is newer than this build's (1)");
    if (ciphertext.size() < overhead)
        return Error(CryptoErrc::malformed_ciphertext, "shorter than the 33 bytes of header and tag");
    return KeyId{get_u32(ciphertext.data() + 1)};
}

Result<std::string> FieldCipher::decrypt(const TenantId& tenant, FieldName field, std::string_view row_id,
                                         std::span<const std::uint8_t> ciphertext) const {
    if (auto ok = check_place(tenant, field, row_id); !ok) return ok.error();
    auto id = key_id(ciphertext);
    if (!id) return id.error();
    const std::size_t size = ciphertext.size() - overhead;
    if (size > max_plaintext) return Error(CryptoErrc::malformed_ciphertext, "larger than any field ciphertext");

    std::shared_lock lock(ring_->mutex);
    detail::KeyState* key = ring_->find(*id);
    if (key == nullptr) return Error(CryptoErrc::unknown_key, "key id " + std::to_string(id->value) + " is not in the ring");
    auto slot = key->acquire();
    if (!slot) return backend("cannot set up an AES-256-GCM context");

    const std::uint8_t* header = ciphertext.data();
    const AssociatedData aad(header, tenant, field, row_id);
    const std::uint8_t* body = ciphertext.data() + header_size;
    std::string out(size, '\0');
    EVP_CIPHER_CTX* ctx = slot->ctx;
    int len = 0;
    if (EVP_CipherInit_ex2(ctx, nullptr, nullptr, header + 5, 0, nullptr) != 1 ||
        EVP_CipherUpdate(ctx, nullptr, &len, aad.data(), aad.size()) != 1)
        return backend("AES-256-GCM decryption failed");
    if (size != 0 &&
        EVP_CipherUpdate(ctx, reinterpret_cast<unsigned char*>(out.data()), &len, body, static_cast<int>(size)) != 1)
        return backend("AES-256-GCM decryption failed");
    // The tag is const in the ciphertext; OpenSSL's ctrl takes a non-const pointer but only reads it.
    std::array<std::uint8_t, tag_size> tag;
    std::memcpy(tag.data(), body + size, tag_size);
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(tag_size), tag.data()) != 1)
        return backend("AES-256-GCM decryption failed");
    if (EVP_CipherFinal_ex(ctx, reinterpret_cast<unsigned char*>(out.data()) + size, &len) != 1) {
        secure_wipe(out.data(), out.size());
        return Error(CryptoErrc::authentication_failed,
                     "the ciphertext was altered or belongs to another tenant, table, column or row");
    }
    return out;
}

Result<Bytes> FieldCipher::reencrypt(const TenantId& tenant, FieldName field, std::string_view row_id,
                                     std::span<const std::uint8_t> ciphertext) const {
    auto plain = decrypt(tenant, field, row_id, ciphertext);
    if (!plain) return plain.error();
    auto fresh = encrypt(tenant, field, row_id, *plain);
    secure_wipe(plain->data(), plain->size());
    return fresh;
}

KeyId FieldCipher::primary_key() const {
    std::shared_lock lock(ring_->mutex);
    return ring_->primary->id();
}

bool FieldCipher::is_current(std::span<const std::uint8_t> ciphertext) const {
    auto id = key_id(ciphertext);
    return id && *id == primary_key();
}

}  // namespace heroshhi::crypto
