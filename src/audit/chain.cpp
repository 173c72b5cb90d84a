// The audit chain's canonical encoding and SHA-256 (OpenSSL EVP, one reusable context a thread).
#include <heroshhi/audit/chain.hpp>

#include "detail/chain_hasher.hpp"

#include <openssl/evp.h>

#include <cstring>
#include <new>

namespace heroshhi::audit {
namespace {

char* put_u64(char* p, std::uint64_t v) noexcept {
    for (int shift = 56; shift >= 0; shift -= 8) *p++ = static_cast<char>((v >> shift) & 0xff);
    return p;
}

char* put_field(char* p, std::string_view s) noexcept {
    const auto n = static_cast<std::uint32_t>(s.size());
    for (int shift = 24; shift >= 0; shift -= 8) *p++ = static_cast<char>((n >> shift) & 0xff);
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    return p + s.size();
}

const EVP_MD* sha256() {
    // Fetched once: an implicit fetch on every digest costs more than the digest of a short entry.
    static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return md;
}

}  // namespace

namespace detail {

void append_encoding(std::string& out, const EntryView& e) {
    // One resize, then plain stores: this runs for every entry appended or verified.
    const std::string_view fields[] = {e.tenant, e.actor_user, e.actor_role, e.action, e.target_type,
                                       e.target_id, e.outcome, e.rule, e.request_id, e.policy_revision};
    std::size_t size = 16;
    for (std::string_view f : fields) size += 4 + f.size();
    const std::size_t start = out.size();
    out.resize(start + size);
    char* p = out.data() + start;
    p = put_u64(p, static_cast<std::uint64_t>(e.sequence));
    p = put_u64(p, static_cast<std::uint64_t>(to_unix_ms(e.at)));
    for (std::string_view f : fields) p = put_field(p, f);
}

void append_hash_input(std::string& out, const Hash& previous, const EntryView& e) {
    out.append(chain_domain, sizeof chain_domain - 1);
    out.append(reinterpret_cast<const char*>(previous.data()), previous.size());
    append_encoding(out, e);
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr) throw std::bad_alloc();
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

Hash Sha256::digest(std::string_view bytes) {
    Hash out{};
    unsigned int size = 0;
    const EVP_MD* md = sha256();
    if (md == nullptr || EVP_DigestInit_ex2(ctx_, md, nullptr) != 1 ||
        EVP_DigestUpdate(ctx_, bytes.data(), bytes.size()) != 1 || EVP_DigestFinal_ex(ctx_, out.data(), &size) != 1 ||
        size != out.size())
        throw std::bad_alloc();
    return out;
}

}  // namespace detail

std::string canonical_encoding(const EntryView& entry) {
    std::string out;
    detail::append_encoding(out, entry);
    return out;
}

std::string canonical_encoding(const Entry& entry) { return canonical_encoding(view_of(entry)); }

Hash chain_hash(const Hash& previous, const EntryView& entry) {
    thread_local detail::Sha256 sha;
    return sha.chain_hash(previous, entry);
}

Hash chain_hash(const Hash& previous, const Entry& entry) { return chain_hash(previous, view_of(entry)); }

std::string to_hex(const Hash& hash) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(hash.size() * 2, '0');
    for (std::size_t i = 0; i < hash.size(); ++i) {
        out[2 * i] = digits[hash[i] >> 4];
        out[2 * i + 1] = digits[hash[i] & 0xf];
    }
    return out;
}

std::optional<Hash> hash_from_hex(std::string_view hex) {
    Hash out{};
    if (hex.size() != out.size() * 2) return std::nullopt;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < out.size(); ++i) {
        const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return out;
}

}  // namespace heroshhi::audit
