// The HTTP server over real TLS on loopback: TLS 1.3 only, plain HTTP only on loopback.
#include <doctest/doctest.h>

#include <heroshhi/crypto/tls_context.hpp>
#include <heroshhi/http/server.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

using namespace heroshhi;

namespace {

// A self-signed certificate for 127.0.0.1 and its key, written as PEM files.
struct SelfSigned {
    std::filesystem::path dir = std::filesystem::temp_directory_path() / ("heroshhi-tls-" + std::to_string(::getpid()));
    std::string cert = (dir / "cert.pem").string();
    std::string key = (dir / "key.pem").string();

    SelfSigned() {
        std::filesystem::create_directories(dir);
        EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
        REQUIRE(pkey != nullptr);
        X509* x = X509_new();
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), -60);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600);
        X509_set_pubkey(x, pkey);
        X509_NAME* name = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
        X509_set_issuer_name(x, name);
        X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, "IP:127.0.0.1");
        X509_add_ext(x, san, -1);
        X509_EXTENSION_free(san);
        REQUIRE(X509_sign(x, pkey, EVP_sha256()) > 0);
        FILE* f = std::fopen(cert.c_str(), "w");
        PEM_write_X509(f, x);
        std::fclose(f);
        f = std::fopen(key.c_str(), "w");
        PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr);
        std::fclose(f);
        X509_free(x);
        EVP_PKEY_free(pkey);
    }
    ~SelfSigned() { std::filesystem::remove_all(dir); }
};

int connect_to(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    return fd;
}

// One HTTPS GET with a plain OpenSSL client capped at `max_version`; "" if the handshake fails.
std::string https_get(std::uint16_t port, const std::string& ca_file, int max_version, std::string* version = nullptr) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(ctx, max_version);
    SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    SSL* ssl = SSL_new(ctx);
    const int fd = connect_to(port);
    SSL_set_fd(ssl, fd);
    std::string out;
    if (SSL_connect(ssl) == 1) {
        if (version) *version = SSL_get_version(ssl);
        const std::string req = "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        SSL_write(ssl, req.data(), int(req.size()));
        char buf[4096];
        int n;
        while ((n = SSL_read(ssl, buf, sizeof buf)) > 0) out.append(buf, std::size_t(n));
    }
    ERR_clear_error();
    SSL_free(ssl);
    ::close(fd);
    SSL_CTX_free(ctx);
    return out;
}

http::Response hello(const http::Request&) {
    http::Response r;
    r.content_type = "text/plain";
    r.body = "hello over TLS";
    return r;
}

}  // namespace

TEST_CASE("the server speaks TLS 1.3 and refuses a TLS 1.2 client") {
    SelfSigned pki;
    auto tls = crypto::make_tls_server_context({pki.cert, pki.key});
    REQUIRE_MESSAGE(tls.has_value(), (tls ? "" : tls.error().message()));
    http::ServerOptions options;
    options.tls = &*tls;
    auto server = http::Server::start(options, hello);
    REQUIRE_MESSAGE(server.has_value(), (server ? "" : server.error().message()));

    std::string version;
    const std::string ok = https_get((*server)->port(), pki.cert, TLS1_3_VERSION, &version);
    CHECK(version == "TLSv1.3");
    CHECK(ok.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(ok.find("hello over TLS") != std::string::npos);
    CHECK(ok.find("X-Frame-Options: DENY") != std::string::npos);

    CHECK(https_get((*server)->port(), pki.cert, TLS1_2_VERSION).empty());
}

TEST_CASE("plain HTTP is refused on anything but loopback") {
    http::ServerOptions options;
    options.address = "0.0.0.0";
    auto server = http::Server::start(options, hello);
    REQUIRE_FALSE(server.has_value());
    CHECK(server.error().message().find("plain HTTP only on a loopback address") != std::string::npos);
}
