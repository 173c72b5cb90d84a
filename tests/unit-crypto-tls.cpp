// TLS context factories: real TLS 1.3 handshakes over a socket pair between a heroshhi server
// context and a heroshhi client context, with a certificate made here through OpenSSL's API.
#include <doctest/doctest.h>

#include <heroshhi/crypto/errors.hpp>
#include <heroshhi/crypto/tls_context.hpp>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

using namespace heroshhi;
using namespace heroshhi::crypto;
namespace fs = std::filesystem;

namespace {

/// A temporary directory with a self-signed P-256 certificate for "localhost" and 127.0.0.1.
class TestPki {
public:
    TestPki() {
        static std::atomic<unsigned> counter{0};
        dir_ = fs::temp_directory_path() / ("heroshhi-unit-tls-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        fs::create_directories(dir_);
        write_pair("server", "localhost");
        write_pair("other", "localhost");
    }
    ~TestPki() {
        std::error_code ignored;
        fs::remove_all(dir_, ignored);
    }
    TestPki(const TestPki&) = delete;
    TestPki& operator=(const TestPki&) = delete;

    std::string cert(const char* name) const { return (dir_ / (std::string(name) + ".crt")).string(); }
    std::string key(const char* name) const { return (dir_ / (std::string(name) + ".key")).string(); }
    std::string path(const char* file) const { return (dir_ / file).string(); }

private:
    void write_pair(const char* name, const char* cn) {
        EVP_PKEY* pkey = EVP_EC_gen("P-256");
        REQUIRE(pkey != nullptr);
        X509* x = X509_new();
        REQUIRE(x != nullptr);
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), -60);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600);
        X509_set_pubkey(x, pkey);
        X509_NAME* subject = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
        X509_set_issuer_name(x, subject);
        X509V3_CTX v3;
        X509V3_set_ctx_nodb(&v3);
        X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
        for (const auto& [nid, value] : {std::pair{NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1"},
                                         std::pair{NID_basic_constraints, "critical,CA:TRUE"},
                                         std::pair{NID_key_usage, "critical,digitalSignature,keyCertSign"}}) {
            X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
            REQUIRE(ext != nullptr);
            X509_add_ext(x, ext, -1);
            X509_EXTENSION_free(ext);
        }
        REQUIRE(X509_sign(x, pkey, EVP_sha256()) > 0);
        FILE* f = std::fopen(cert(name).c_str(), "w");
        REQUIRE(f != nullptr);
        PEM_write_X509(f, x);
        std::fclose(f);
        f = std::fopen(key(name).c_str(), "w");
        REQUIRE(f != nullptr);
        PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr);
        std::fclose(f);
        X509_free(x);
        EVP_PKEY_free(pkey);
    }

    fs::path dir_;
};

struct Outcome {
    bool ok = false;
    int version = 0;
    std::string cipher;
    long verify_result = X509_V_OK;
    unsigned long error = 0;
};

using SslPtr = std::unique_ptr<SSL, decltype(&SSL_free)>;

/// Runs one handshake over a socket pair: `server_ctx` accepts in a thread, `client_ctx` connects
/// here, expecting `host` (empty: no host check). Both sides time out after 10 s.
std::pair<Outcome, Outcome> handshake(SSL_CTX* server_ctx, SSL_CTX* client_ctx, const std::string& host) {
    std::signal(SIGPIPE, SIG_IGN);  // a refused handshake closes the pipe under the other side's write
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    timeval timeout{10, 0};
    for (const int fd : fds) {
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    }
    Outcome server;
    std::thread t([&] {
        SslPtr ssl(SSL_new(server_ctx), &SSL_free);
        SSL_set_fd(ssl.get(), fds[0]);
        server.ok = SSL_accept(ssl.get()) == 1;
        server.error = ERR_get_error();
        if (server.ok) {
            server.version = SSL_version(ssl.get());
            server.cipher = SSL_get_cipher_name(ssl.get());
            SSL_shutdown(ssl.get());
        }
        ERR_clear_error();
        ::shutdown(fds[0], SHUT_RDWR);
    });
    Outcome client;
    {
        SslPtr ssl(SSL_new(client_ctx), &SSL_free);
        SSL_set_fd(ssl.get(), fds[1]);
        if (!host.empty()) REQUIRE(set_tls_peer_host(ssl.get(), host).has_value());
        client.ok = SSL_connect(ssl.get()) == 1;
        client.error = ERR_get_error();
        client.verify_result = SSL_get_verify_result(ssl.get());
        if (client.ok) {
            client.version = SSL_version(ssl.get());
            client.cipher = SSL_get_cipher_name(ssl.get());
        }
        ERR_clear_error();
        ::shutdown(fds[1], SHUT_RDWR);
    }
    t.join();
    ::close(fds[0]);
    ::close(fds[1]);
    return {server, client};
}

SSL_CTX* native(const TlsContext& c) { return static_cast<SSL_CTX*>(c.native_handle()); }

}  // namespace

TEST_CASE("a heroshhi client and server negotiate TLS 1.3 with a modern suite and a verified certificate") {
    TestPki pki;
    auto server = make_tls_server_context({pki.cert("server"), pki.key("server")});
    REQUIRE_MESSAGE(server.has_value(), (server ? "" : server.error().message()));
    auto client = make_tls_client_context({pki.cert("server")});
    REQUIRE(client.has_value());
    CHECK(server->role() == TlsRole::server);
    CHECK(client->role() == TlsRole::client);
    CHECK(SSL_CTX_get_min_proto_version(native(*server)) == TLS1_3_VERSION);
    CHECK(SSL_CTX_get_min_proto_version(native(*client)) == TLS1_3_VERSION);
    CHECK((SSL_CTX_get_verify_mode(native(*client)) & SSL_VERIFY_PEER) != 0);

    for (const char* host : {"localhost", "127.0.0.1"}) {
        CAPTURE(host);
        const auto [s, c] = handshake(native(*server), native(*client), host);
        CHECK(s.ok);
        REQUIRE(c.ok);
        CHECK(c.verify_result == X509_V_OK);
        CHECK(s.version == TLS1_3_VERSION);
        CHECK(c.version == TLS1_3_VERSION);
        CHECK((c.cipher == "TLS_AES_128_GCM_SHA256" || c.cipher == "TLS_AES_256_GCM_SHA384" ||
               c.cipher == "TLS_CHACHA20_POLY1305_SHA256"));
    }
}

TEST_CASE("a TLS 1.2-only client is refused by a heroshhi server") {
    TestPki pki;
    auto server = make_tls_server_context({pki.cert("server"), pki.key("server")}).value();
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> old_client(SSL_CTX_new(TLS_client_method()), &SSL_CTX_free);
    REQUIRE(SSL_CTX_set_max_proto_version(old_client.get(), TLS1_2_VERSION) == 1);
    SSL_CTX_set_verify(old_client.get(), SSL_VERIFY_NONE, nullptr);
    const auto [s, c] = handshake(native(server), old_client.get(), "");
    CHECK_FALSE(s.ok);
    CHECK_FALSE(c.ok);
    CHECK(ERR_GET_REASON(s.error) == SSL_R_UNSUPPORTED_PROTOCOL);

    SUBCASE("and a heroshhi client refuses a TLS 1.2-only server") {
        auto client = make_tls_client_context({pki.cert("server")}).value();
        std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> old_server(SSL_CTX_new(TLS_server_method()), &SSL_CTX_free);
        REQUIRE(SSL_CTX_set_max_proto_version(old_server.get(), TLS1_2_VERSION) == 1);
        REQUIRE(SSL_CTX_use_certificate_chain_file(old_server.get(), pki.cert("server").c_str()) == 1);
        REQUIRE(SSL_CTX_use_PrivateKey_file(old_server.get(), pki.key("server").c_str(), SSL_FILETYPE_PEM) == 1);
        const auto [s2, c2] = handshake(old_server.get(), native(client), "localhost");
        CHECK_FALSE(s2.ok);
        CHECK_FALSE(c2.ok);
    }
}

TEST_CASE("a heroshhi client refuses a certificate for another host or from an untrusted issuer") {
    TestPki pki;
    auto server = make_tls_server_context({pki.cert("server"), pki.key("server")}).value();

    auto client = make_tls_client_context({pki.cert("server")}).value();
    const auto [s, c] = handshake(native(server), native(client), "crm.example.com");
    CHECK_FALSE(c.ok);
    CHECK(c.verify_result == X509_V_ERR_HOSTNAME_MISMATCH);
    const auto [s_ip, c_ip] = handshake(native(server), native(client), "127.0.0.2");
    CHECK_FALSE(c_ip.ok);
    CHECK(c_ip.verify_result == X509_V_ERR_IP_ADDRESS_MISMATCH);

    // Trusting another certificate (same name, other key), or only the system's CAs.
    auto wrong_ca = make_tls_client_context({pki.cert("other")}).value();
    const auto [s2, c2] = handshake(native(server), native(wrong_ca), "localhost");
    CHECK_FALSE(c2.ok);
    CHECK(c2.verify_result != X509_V_OK);
    auto system = make_tls_client_context();
    REQUIRE(system.has_value());
    const auto [s3, c3] = handshake(native(server), native(*system), "localhost");
    CHECK_FALSE(c3.ok);
    CHECK(c3.verify_result != X509_V_OK);
}

TEST_CASE("TLS contexts report unusable certificate and key files clearly") {
    TestPki pki;
    auto missing = make_tls_server_context({pki.path("nope.crt"), pki.key("server")});
    REQUIRE_FALSE(missing);
    CHECK(missing.error() == CryptoErrc::certificate_unusable);
    CHECK(missing.error().detail().find(pki.path("nope.crt")) == 0);

    auto no_key = make_tls_server_context({pki.cert("server"), pki.path("nope.key")});
    REQUIRE_FALSE(no_key);
    CHECK(no_key.error() == CryptoErrc::private_key_unusable);

    auto mismatch = make_tls_server_context({pki.cert("server"), pki.key("other")});
    REQUIRE_FALSE(mismatch);
    CHECK(mismatch.error() == CryptoErrc::private_key_unusable);
    CHECK(mismatch.error().detail().find("does not match") != std::string::npos);

    auto key_as_cert = make_tls_server_context({pki.key("server"), pki.key("server")});
    REQUIRE_FALSE(key_as_cert);
    CHECK(key_as_cert.error() == CryptoErrc::certificate_unusable);

    auto bad_ca = make_tls_client_context({pki.path("nope.crt")});
    REQUIRE_FALSE(bad_ca);
    CHECK(bad_ca.error() == CryptoErrc::certificate_unusable);

    CHECK(make_tls_server_context({}).error() == CryptoErrc::certificate_unusable);
    CHECK(set_tls_peer_host(nullptr, "x").error() == CryptoErrc::invalid_argument);
    CHECK(ERR_peek_error() == 0);  // failures leave OpenSSL's error queue clean
}

TEST_CASE("a TLS context hands its SSL_CTX over with release") {
    auto client = make_tls_client_context().value();
    void* handle = client.native_handle();
    REQUIRE(handle != nullptr);
    TlsContext moved = std::move(client);
    CHECK(client.native_handle() == nullptr);  // NOLINT(bugprone-use-after-move)
    void* released = moved.release();
    CHECK(released == handle);
    CHECK(moved.native_handle() == nullptr);
    SSL_CTX_free(static_cast<SSL_CTX*>(released));  // the new owner frees it
}
