// heroshhi — http::Server: a small HTTP/1.1 server (Boost.Beast inside, not in this header) that
// puts the policy's security headers and limits on every exchange.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <heroshhi/core/result.hpp>

namespace heroshhi::crypto {
class TlsContext;
}

namespace heroshhi::http {

/// A request as the handler sees it: the body complete and within limits.
struct Request {
    std::string method;                ///< "GET", "POST", ...
    std::string target;                ///< path and query as sent, e.g. "/webhooks/whatsapp?hub.mode=subscribe"
    std::multimap<std::string, std::string> headers;  ///< names lower-cased
    std::string body;                  ///< raw bytes as received (signatures are checked over these)
    std::string client_address;        ///< peer IP address
    std::uint16_t client_port = 0;     ///< peer port (tells connections apart)

    /// The first value of a header (name in any case), or "" if absent.
    std::string header(std::string_view name) const;
    /// The path without the query.
    std::string_view path() const;
    /// A query parameter, percent-decoded; "" if absent.
    std::string query(std::string_view name) const;
};

struct Response {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::string content_type = "application/json";

    /// `{"error": {"code": code, "message": message}}` with the given status.
    static Response error(int status, std::string_view code, std::string_view message);
};

/// Answers one request. Called on the server's threads, possibly concurrently: it must be
/// thread-safe. An exception escaping it becomes a 500 with a generic body.
using Handler = std::function<Response(const Request&)>;

struct ServerOptions {
    std::string address = "127.0.0.1";  ///< bind address; anything but loopback requires `tls`
    std::uint16_t port = 0;              ///< 0: any free port (see Server::port)
    /// How many requests may be handled at once. Up to the number of cores, handlers run on the
    /// threads that do the network I/O; beyond that, the I/O keeps one thread a core and handlers
    /// run on a pool of `threads` threads of their own, so handlers that block (on a durable
    /// commit, say) do not hold up other connections.
    std::size_t threads = 2;
    std::size_t max_header_bytes = 8 * 1024;
    std::size_t max_body_bytes = 3 * 1024 * 1024;    ///< WhatsApp webhooks can be up to 3 MB
    std::chrono::milliseconds read_timeout{10'000};  ///< a whole request must arrive within this
    std::chrono::milliseconds idle_timeout{30'000};  ///< keep-alive connections idle longer are closed
    /// A server context from crypto::make_tls_server_context (TLS 1.3 only); borrowed, must
    /// outlive the server. Null: plain HTTP, which is allowed only on a loopback address.
    const crypto::TlsContext* tls = nullptr;
};

/// Every response gets security_headers(); JSON responses also api_headers(); no Server header.
/// A request over a limit is answered 413/431 (or the connection is closed for a slow client)
/// before the handler sees it. Thread-safe; stop() finishes requests in flight, then returns.
class Server {
public:
    /// Binds and starts serving on background threads. Fails with a system error code (address in
    /// use, permission denied) and a detail naming the address.
    static Result<std::unique_ptr<Server>> start(ServerOptions options, Handler handler);

    ~Server();  ///< stops
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    std::uint16_t port() const noexcept;
    /// Stops accepting, lets requests in flight complete (up to `grace`), closes the rest. Blocks.
    void stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

    struct Impl;

private:
    explicit Server(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace heroshhi::http
