#include <heroshhi/crypto/tls_context.hpp>

#include <heroshhi/crypto/errors.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <memory>
#include <string>

namespace heroshhi::crypto {
namespace {

constexpr const char* kSuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* kGroups = "X25519:prime256v1:secp384r1";

/// OpenSSL's reason for the last failure ("no such file", "key values mismatch"); clears the queue.
std::string openssl_reason() {
    std::string out;
    unsigned long e = 0;
    while ((e = ERR_get_error()) != 0) {
        const char* reason = ERR_reason_error_string(e);
        if (reason != nullptr) out = reason;  // keep the last (the outermost)
        if (ERR_GET_LIB(e) == ERR_LIB_SYS) out = "system error " + std::to_string(ERR_GET_REASON(e));
    }
    return out.empty() ? std::string("unknown OpenSSL error") : out;
}

Error failure(CryptoErrc code, std::string what) {
    what += ": ";
    what += openssl_reason();
    return Error(code, std::move(what));
}

using CtxPtr = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;

Result<CtxPtr> modern_context(const SSL_METHOD* method) {
    ERR_clear_error();
    CtxPtr ctx(SSL_CTX_new(method), &SSL_CTX_free);
    if (!ctx) return failure(CryptoErrc::tls_setup_failed, "SSL_CTX_new");
    if (SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION) != 1)
        return failure(CryptoErrc::tls_setup_failed, "cannot set TLS 1.3 as the minimum version");
    if (SSL_CTX_set_ciphersuites(ctx.get(), kSuites) != 1)
        return failure(CryptoErrc::tls_setup_failed, "cannot set the TLS 1.3 cipher suites");
    if (SSL_CTX_set1_groups_list(ctx.get(), kGroups) != 1)
        return failure(CryptoErrc::tls_setup_failed, "cannot set the key-exchange groups");
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_clear_options(ctx.get(), SSL_OP_CIPHER_SERVER_PREFERENCE);  // Mozilla: server_preferred_order false
    return ctx;
}

}  // namespace

TlsContext& TlsContext::operator=(TlsContext&& other) noexcept {
    if (this != &other) {
        SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
        ctx_ = other.ctx_;
        role_ = other.role_;
        other.ctx_ = nullptr;
    }
    return *this;
}

TlsContext::~TlsContext() { SSL_CTX_free(static_cast<SSL_CTX*>(ctx_)); }

Result<TlsContext> make_tls_server_context(const TlsServerOptions& options) {
    if (options.certificate_chain_file.empty())
        return Error(CryptoErrc::certificate_unusable, "no certificate chain file given");
    if (options.private_key_file.empty()) return Error(CryptoErrc::private_key_unusable, "no private key file given");
    auto ctx = modern_context(TLS_server_method());
    if (!ctx) return ctx.error();
    SSL_CTX* c = ctx->get();
    if (SSL_CTX_use_certificate_chain_file(c, options.certificate_chain_file.c_str()) != 1)
        return failure(CryptoErrc::certificate_unusable, options.certificate_chain_file);
    if (SSL_CTX_use_PrivateKey_file(c, options.private_key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
        // OpenSSL compares the key with the certificate while loading it.
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
            return failure(CryptoErrc::private_key_unusable,
                           options.private_key_file + " does not match " + options.certificate_chain_file);
        return failure(CryptoErrc::private_key_unusable, options.private_key_file);
    }
    if (SSL_CTX_check_private_key(c) != 1)
        return failure(CryptoErrc::private_key_unusable,
                       options.private_key_file + " does not match " + options.certificate_chain_file);
    return TlsContext(ctx->release(), TlsRole::server);
}

Result<TlsContext> make_tls_client_context(const TlsClientOptions& options) {
    auto ctx = modern_context(TLS_client_method());
    if (!ctx) return ctx.error();
    SSL_CTX* c = ctx->get();
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
    if (options.ca_file.empty()) {
        if (SSL_CTX_set_default_verify_paths(c) != 1)
            return failure(CryptoErrc::certificate_unusable, "the system's CA certificates");
    } else if (SSL_CTX_load_verify_locations(c, options.ca_file.c_str(), nullptr) != 1) {
        return failure(CryptoErrc::certificate_unusable, options.ca_file);
    }
    return TlsContext(ctx->release(), TlsRole::client);
}

Result<void> set_tls_peer_host(void* ssl_handle, std::string_view host) {
    if (ssl_handle == nullptr) return Error(CryptoErrc::invalid_argument, "no SSL connection given");
    if (host.empty()) return Error(CryptoErrc::invalid_argument, "empty host name");
    ERR_clear_error();
    SSL* ssl = static_cast<SSL*>(ssl_handle);
    const std::string name(host);
    unsigned char addr[16];
    const bool is_ip = inet_pton(AF_INET, name.c_str(), addr) == 1 || inet_pton(AF_INET6, name.c_str(), addr) == 1;
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (is_ip) {
        if (X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) != 1)
            return failure(CryptoErrc::tls_setup_failed, "cannot require the IP address " + name);
        return {};
    }
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl, name.c_str()) != 1)
        return failure(CryptoErrc::tls_setup_failed, "cannot require the host name " + name);
    if (SSL_set_tlsext_host_name(ssl, name.c_str()) != 1)
        return failure(CryptoErrc::tls_setup_failed, "cannot set SNI to " + name);
    return {};
}

}  // namespace heroshhi::crypto
