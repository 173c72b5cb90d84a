// The audit chain's canonical encoding and SHA-256 (OpenSSL EVP, one reusable context a thread).
#include <heroshhi/audit/chain.hpp>

#include <openssl/evp.h>

#include <cstring>
#include <memory>
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

/// Appends the canonical encoding to `out` (one resize, then plain stores: this runs for every
/// entry appended or verified).
void encode_into(std::string& out, const Entry& e) {
    const std::string_view role = e.actor.role ? rbac::to_string(*e.actor.role) : std::string_view("system");
    const std::string_view outcome = to_string(e.outcome);
    const std::string_view fields[] = {e.tenant.value(), e.actor.user.value(), role, e.action, e.target_type,
                                       e.target_id, outcome, e.rule, e.request_id, e.policy_revision};
    std::size_t size = 16;
    for (std::string_view f : fields) size += 4 + f.size();
    const std::size_t start = out.size();
    out.resize(start + size);
    char* p = out.data() + start;
    p = put_u64(p, static_cast<std::uint64_t>(e.sequence));
    p = put_u64(p, static_cast<std::uint64_t>(to_unix_ms(e.at)));
    for (std::string_view f : fields) p = put_field(p, f);
}

const EVP_MD* sha256() {
    // Fetched once: an implicit fetch on every digest costs more than the digest of a short entry.
    static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return md;
}

struct CtxDeleter {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};

}  // namespace

std::string canonical_encoding(const Entry& entry) {
    std::string out;
    encode_into(out, entry);
    return out;
}

Hash chain_hash(const Hash& previous, const Entry& entry) {
    thread_local std::unique_ptr<EVP_MD_CTX, CtxDeleter> ctx(EVP_MD_CTX_new());
    thread_local std::string buffer;
    buffer.assign(chain_domain, sizeof chain_domain - 1);
    buffer.append(reinterpret_cast<const char*>(previous.data()), previous.size());
    encode_into(buffer, entry);
    Hash out{};
    unsigned int size = 0;
    const EVP_MD* md = sha256();
    if (!ctx || md == nullptr || EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1 ||
        EVP_DigestUpdate(ctx.get(), buffer.data(), buffer.size()) != 1 ||
        EVP_DigestFinal_ex(ctx.get(), out.data(), &size) != 1 || size != out.size())
        throw std::bad_alloc();  // OpenSSL fails here only when it cannot allocate
    return out;
}

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
