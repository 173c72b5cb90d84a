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

/// The answer an asynchronous handler owes for one request. Move-only; answer once, from any
/// thread, now or later (when a store's commit completes, say). A responder destroyed without
/// answering answers 500, so that no client waits forever for a lost completion.
class Responder {
public:
    /// Where an answer goes and where blocking work runs: the server's connections implement it.
    class Sink {
    public:
        virtual ~Sink() = default;
        virtual void deliver(Response response) = 0;
        /// Runs `job` on a thread that may block.
        virtual void run_blocking(std::function<void()> job) = 0;
        /// Runs `job` on one of the server's I/O threads (here, by default).
        virtual void run_on_io(std::function<void()> job) { job(); }
    };

    using Deliver = std::function<void(Response)>;
    using Runner = std::function<void(std::function<void()>)>;

    /// A responder that hands its answer to `deliver` and runs blocking work on `run_blocking` (on
    /// the calling thread when empty): for tests, and for adapters that add to an answer on its way.
    explicit Responder(Deliver deliver, Runner run_blocking = {});
    explicit Responder(std::shared_ptr<Sink> sink) noexcept : sink_(std::move(sink)) {}
    Responder(Responder&& other) noexcept = default;
    Responder& operator=(Responder&& other) noexcept;  ///< answers 500 first if this one still owes
    Responder(const Responder&) = delete;
    Responder& operator=(const Responder&) = delete;
    ~Responder();

    /// Sends the answer. Later calls, and calls on a moved-from responder, do nothing.
    void answer(Response response);
    /// Runs `work` on a thread that may block (the server's handler threads; the calling thread
    /// if the server has none), then answers with what it returns; an exception answers 500.
    void answer_with(std::function<Response()> work);
    /// Runs `job` where it may block, as answer_with does, without answering: for adapters that
    /// pass blocking work on to the responder they wrap. What `job` throws is dropped on the
    /// handler pool, and reaches the caller when it runs inline.
    void run_blocking(std::function<void()> job) const;
    /// Runs `job` on one of the server's I/O threads, soon; it must not block. For adapters whose
    /// work on an answer (counting, logging) should not run on the thread that gave it (a store's
    /// committer, say). A responder not from a server runs it at once.
    void run_on_io(std::function<void()> job) const;
    /// Whether an answer is still owed (false once answered, or when moved from).
    bool pending() const noexcept { return sink_ != nullptr; }

private:
    std::shared_ptr<Sink> sink_;
};

/// The asynchronous form of Handler: called on an I/O thread, so it must not block; it answers
/// through the Responder when it can, and hands blocking work to Responder::answer_with. Must be
/// thread-safe. An exception escaping it answers 500, unless it had already answered.
using AsyncHandler = std::function<void(Request, Responder)>;

struct ServerOptions {
    std::string address = "127.0.0.1";  ///< bind address; anything but loopback requires `tls`
    std::uint16_t port = 0;              ///< 0: any free port (see Server::port)
    /// How many requests may be handled at once. Up to the number of cores, handlers run on the
    /// threads that do the network I/O; beyond that, the I/O keeps one thread a core and handlers
    /// run on a pool of `threads` threads of their own, so handlers that block (on a durable
    /// commit, say) do not hold up other connections. An AsyncHandler always runs on the I/O
    /// threads; the pool runs what it hands to Responder::answer_with.
    std::size_t threads = 2;
    /// The threads that do the network I/O (and run an AsyncHandler), at most `threads`. 0: one a
    /// core. Fewer leave the cores to work done elsewhere: on a 2-core machine, one I/O thread
    /// beside a store's committer thread handled 20% more webhooks at 16 connections, and 20%
    /// fewer at 32 and 64 (benchmarks/RESULTS.md, Webhook ingest).
    std::size_t io_threads = 0;
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
/// Handlers and responders must not outlive the server: stop() waits for every owed answer.
class Server {
public:
    /// Binds and starts serving on background threads. Fails with a system error code (address in
    /// use, permission denied) and a detail naming the address.
    static Result<std::unique_ptr<Server>> start(ServerOptions options, Handler handler);
    /// The same with an asynchronous handler. It runs on the I/O threads; Responder::answer_with
    /// runs on the handler pool (see ServerOptions::threads), or inline if there is none. stop()
    /// waits for every answer owed, so a responder must be answered or destroyed in bounded time.
    static Result<std::unique_ptr<Server>> start(ServerOptions options, AsyncHandler handler);

    ~Server();  ///< stops
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    std::uint16_t port() const noexcept;
    /// Stops accepting, lets requests in flight complete (up to `grace`), closes the rest. Blocks.
    void stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

    struct Impl;

private:
    explicit Server(std::unique_ptr<Impl> impl);
    static Result<std::unique_ptr<Server>> start(ServerOptions options, std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace heroshhi::http
