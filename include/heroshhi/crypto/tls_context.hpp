// heroshhi — TLS context factories: TLS 1.3 only, Mozilla's "modern" settings, certificate checks on
// for clients. The contexts are OpenSSL SSL_CTX objects behind an opaque handle, ready for
// Boost.Asio/Beast or plain OpenSSL.
#pragma once

#include <string>
#include <string_view>

#include <heroshhi/core/result.hpp>

namespace heroshhi::crypto {

/// Which side a context is for.
enum class TlsRole { server, client };

/// What a server context needs.
struct TlsServerOptions {
    /// PEM file: the server certificate first, then its intermediates (a "full chain").
    std::string certificate_chain_file;
    /// PEM file: the private key (unencrypted; ECDSA P-256/P-384 as Mozilla recommends, or RSA).
    std::string private_key_file;
};

/// What a client context needs.
struct TlsClientOptions {
    /// PEM file of trusted CA certificates; empty: the system's (OpenSSL default paths, on Debian
    /// /etc/ssl/certs).
    std::string ca_file;
};

/// Owns one configured OpenSSL SSL_CTX. Move-only.
///
/// Using it with Boost.Asio (whose ssl::context takes ownership of a native handle):
///
///     auto tls = crypto::make_tls_client_context({}).value();
///     boost::asio::ssl::context ctx(static_cast<SSL_CTX*>(tls.release()));
///
/// or, keeping ownership here: `static_cast<SSL_CTX*>(tls.native_handle())`. Settings changed on
/// the handle afterwards are the host's responsibility: do not lower the protocol version.
class TlsContext {
public:
    TlsContext(TlsContext&& other) noexcept : ctx_(other.ctx_), role_(other.role_) { other.ctx_ = nullptr; }
    TlsContext& operator=(TlsContext&& other) noexcept;
    TlsContext(const TlsContext&) = delete;
    TlsContext& operator=(const TlsContext&) = delete;
    ~TlsContext();

    /// The `SSL_CTX*`, typed `void*` so this header does not pull in OpenSSL: cast it with
    /// `static_cast<SSL_CTX*>(...)`. Owned by this object and valid while it lives; null after
    /// release() or a move.
    void* native_handle() const noexcept { return ctx_; }

    /// Gives up ownership: returns the `SSL_CTX*` (as `void*`), which the caller must free with
    /// SSL_CTX_free or hand to an owner such as `boost::asio::ssl::context(native_handle_type)`.
    void* release() noexcept {
        void* p = ctx_;
        ctx_ = nullptr;
        return p;
    }

    TlsRole role() const noexcept { return role_; }

private:
    friend Result<TlsContext> make_tls_server_context(const TlsServerOptions&);
    friend Result<TlsContext> make_tls_client_context(const TlsClientOptions&);
    TlsContext(void* ctx, TlsRole role) noexcept : ctx_(ctx), role_(role) {}

    void* ctx_;
    TlsRole role_;
};

/// A server context: TLS 1.3 minimum (SSL_CTX_set_min_proto_version; OpenSSL 3.0 has nothing
/// newer), Mozilla's modern suites TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384,
/// TLS_CHACHA20_POLY1305_SHA256 with the client's preference order, groups X25519, P-256, P-384
/// (Mozilla 6.0 puts X25519MLKEM768 first, which OpenSSL 3.0 on Debian 12 lacks), no compression,
/// no renegotiation, and the certificate chain and key loaded and checked against each other.
/// A TLS 1.2 or older client is refused during the handshake.
/// Fails with certificate_unusable or private_key_unusable (the detail names the file and OpenSSL's
/// reason) or tls_setup_failed. Not thread-safe to call concurrently with changes to the files.
Result<TlsContext> make_tls_server_context(const TlsServerOptions& options);

/// A client context: the same protocol settings, and the server's certificate verified
/// (SSL_VERIFY_PEER) against `ca_file` or the system's CAs. There is no option to turn
/// verification off. Each connection must also name the host it expects: see set_tls_peer_host.
/// Fails with certificate_unusable (the CA file) or tls_setup_failed.
Result<TlsContext> make_tls_client_context(const TlsClientOptions& options = {});

/// Prepares one client connection (an `SSL*`, typed `void*`, from a client context) for `host`:
/// sets SNI for a DNS name, and makes verification fail unless the certificate is for `host`
/// (a DNS name, checked without partial wildcards, or an IPv4/IPv6 address). Call before the
/// handshake. Fails with invalid_argument (empty host, null ssl) or tls_setup_failed.
Result<void> set_tls_peer_host(void* ssl, std::string_view host);

}  // namespace heroshhi::crypto
