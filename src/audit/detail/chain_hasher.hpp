// heroshhi (internal) — the bytes an audit chain hash covers, and a SHA-256 context to hash them.
#pragma once

#include <heroshhi/audit/chain.hpp>
#include <heroshhi/audit/entry.hpp>

#include <string>
#include <string_view>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace heroshhi::audit::detail {

/// Appends canonical_encoding(e) to `out`.
void append_encoding(std::string& out, const EntryView& e);

/// Appends chain_domain ‖ previous ‖ canonical_encoding(e) to `out`: what chain_hash() digests.
void append_hash_input(std::string& out, const Hash& previous, const EntryView& e);

/// SHA-256 through one reusable OpenSSL context (a context per digest would cost an allocation
/// each). Not thread-safe: one per thread. Throws std::bad_alloc if OpenSSL fails, which it does
/// only when it cannot allocate.
class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;

    Hash digest(std::string_view bytes);

    /// chain_hash(previous, e), reusing this context and its buffer.
    Hash chain_hash(const Hash& previous, const EntryView& e) {
        buffer_.clear();
        append_hash_input(buffer_, previous, e);
        return digest(buffer_);
    }

private:
    evp_md_ctx_st* ctx_;
    std::string buffer_;
};

}  // namespace heroshhi::audit::detail
