// The HTTP server over real sockets on loopback: headers, limits, slow clients, errors, shutdown.
#include <doctest/doctest.h>

#include <heroshhi/http/server.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <thread>
#include <vector>

using namespace heroshhi;
using namespace std::chrono_literals;

namespace {

// A blocking loopback client: the simplest thing that can send exact bytes.
class Client {
public:
    explicit Client(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    }
    ~Client() { ::close(fd_); }

    // True if every byte was sent; false if the server closed or reset the connection first (it
    // may close early on a limit; the test reads its answer).
    bool send(const std::string& bytes) {
        std::size_t sent = 0;
        while (sent < bytes.size()) {
            const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
            if (n <= 0) return false;
            sent += std::size_t(n);
        }
        return true;
    }

    // Reads one response (headers, then Content-Length bytes), or until the server closes. Bytes
    // of the next response read with it (pipelined answers) are kept for the next call.
    std::string receive(std::chrono::milliseconds timeout = 5s) {
        std::string data = std::exchange(pending_, {});
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            const auto end = data.find("\r\n\r\n");
            if (end != std::string::npos) {
                const auto cl = data.find("Content-Length: ");
                if (cl != std::string::npos && cl < end) {
                    const std::size_t length = std::stoul(data.substr(cl + 16));
                    if (data.size() >= end + 4 + length) {
                        pending_ = data.substr(end + 4 + length);
                        return data.substr(0, end + 4 + length);
                    }
                }
            }
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            char buf[65536];
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) {
                closed_ = true;
                return data;
            }
            data.append(buf, std::size_t(n));
        }
        return data;
    }

    bool closed_by_server(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!closed_ && std::chrono::steady_clock::now() < deadline) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            char buf[4096];
            if (::recv(fd_, buf, sizeof buf, 0) <= 0) closed_ = true;
        }
        return closed_;
    }

private:
    int fd_;
    bool closed_ = false;
    std::string pending_;  // read past the last response returned: the start of the next
};

std::string header_of(const std::string& response, const std::string& name) {
    const auto at = response.find("\r\n" + name + ": ");
    if (at == std::string::npos) return {};
    const auto start = at + 4 + name.size();
    return response.substr(start, response.find("\r\n", start) - start);
}

std::unique_ptr<http::Server> serve(http::Handler handler, http::ServerOptions options = {}) {
    auto server = http::Server::start(std::move(options), std::move(handler));
    REQUIRE_MESSAGE(server.has_value(), (server ? "" : server.error().message()));
    return std::move(server).value();
}

http::Response echo(const http::Request& r) {
    http::Response out;
    out.body = r.method + " " + std::string(r.path()) + " mode=" + r.query("hub.mode") + " challenge=" +
               r.query("hub.challenge") + " body=" + r.body + " sig=" + r.header("X-Hub-Signature-256");
    out.content_type = "text/plain";
    return out;
}

}  // namespace

TEST_CASE("a request reaches the handler and the answer carries the security headers") {
    std::atomic<int> calls{0};
    auto server = serve([&](const http::Request& r) {
        ++calls;
        if (r.path() == "/json") return http::Response::error(403, "opted_out", "Blocked: \"quoted\"");
        return echo(r);
    });
    Client c(server->port());
    c.send("GET /webhooks/whatsapp?hub.mode=subscribe&hub.challenge=11%2B22&x=1 HTTP/1.1\r\nHost: x\r\n"
           "X-Hub-Signature-256: sha256=abc\r\n\r\n");
    const std::string r = c.receive();
    CHECK(r.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(r.find("GET /webhooks/whatsapp mode=subscribe challenge=11+22 body= sig=sha256=abc") != std::string::npos);
    CHECK(header_of(r, "X-Frame-Options") == "DENY");
    CHECK(header_of(r, "X-Content-Type-Options") == "nosniff");
    CHECK(header_of(r, "X-XSS-Protection") == "0");
    CHECK(header_of(r, "Server").empty());
    CHECK(header_of(r, "Cache-Control").empty());  // plain text: not an API response

    c.send("POST /json HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");  // same connection: keep-alive
    const std::string j = c.receive();
    CHECK(j.rfind("HTTP/1.1 403 Forbidden\r\n", 0) == 0);
    CHECK(header_of(j, "Cache-Control") == "no-store");
    CHECK(header_of(j, "Content-Type") == "application/json");
    CHECK(j.find(R"({"error":{"code":"opted_out","message":"Blocked: \"quoted\""}})") != std::string::npos);
    CHECK(calls == 2);
}

TEST_CASE("a handler's headers replace fixed ones and cannot split the response or name the server") {
    auto server = serve([](const http::Request&) {
        http::Response r;
        r.body = R"({"ok":true})";
        r.headers = {{"Cache-Control", "private"},          // replaces the API's no-store
                     {"X-Frame-Options", "SAMEORIGIN"},     // replaces a security header
                     {"X-Request-Id", "first"},
                     {"X-Request-Id", "req_1"},             // the last of a name counts
                     {"Server", "nginx/1.2"},               // forbidden: reveals the software
                     {"X-Evil", "a\r\nSet-Cookie: s=1"},     // would start a header of its own
                     {"Bad Name", "x"},                     // not a token
                     {"Content-Length", "999"},             // framing is the server's
                     {"Connection", "upgrade"}};
        return r;
    });
    Client c(server->port());
    c.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string r = c.receive();
    CHECK(r.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(header_of(r, "Cache-Control") == "private");
    CHECK(header_of(r, "X-Frame-Options") == "SAMEORIGIN");
    CHECK(header_of(r, "X-Request-Id") == "req_1");
    CHECK(r.find("first") == std::string::npos);
    CHECK(r.find("no-store") == std::string::npos);
    CHECK(r.find("DENY") == std::string::npos);
    CHECK(header_of(r, "Server").empty());
    CHECK(r.find("Set-Cookie") == std::string::npos);
    CHECK(r.find("X-Evil") == std::string::npos);
    CHECK(r.find("Bad Name") == std::string::npos);
    CHECK(header_of(r, "Content-Length") == "11");
    CHECK(header_of(r, "Connection").empty());
    CHECK(header_of(r, "Content-Security-Policy").find("frame-ancestors 'none'") != std::string::npos);
    CHECK(r.substr(r.size() - 11) == R"({"ok":true})");

    c.send("GET /again HTTP/1.1\r\nHost: x\r\n\r\n");  // the connection is still usable
    CHECK(c.receive().rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
}

TEST_CASE("a body that arrives after its header, or with the next request behind it, is read whole") {
    auto server = serve(echo);
    Client c(server->port());
    c.send("POST /late HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234");
    std::this_thread::sleep_for(100ms);
    c.send("56789");
    const std::string late = c.receive();
    CHECK(late.find("POST /late") != std::string::npos);
    CHECK(late.find("body=0123456789 ") != std::string::npos);

    // Two requests in one packet (pipelined): the first body ends where the second request begins.
    c.send("POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
           "POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\ndef");
    const std::string one = c.receive();
    CHECK(one.find("POST /one") != std::string::npos);
    CHECK(one.find("body=abc ") != std::string::npos);
    const std::string two = c.receive();
    CHECK(two.find("POST /two") != std::string::npos);
    CHECK(two.find("body=def ") != std::string::npos);

    // A request several times the size of the connection's read buffer, in one write, with the
    // next request behind it: read over as many reads as it takes, and the next one after it.
    const std::string big(20'000, 'x');
    c.send("POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n" + big +
           "POST /after HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok");
    const std::string whole = c.receive();
    CHECK(whole.find("POST /big") != std::string::npos);
    CHECK(whole.find("body=" + big + " ") != std::string::npos);
    const std::string after = c.receive();
    CHECK(after.find("POST /after") != std::string::npos);
    CHECK(after.find("body=ok ") != std::string::npos);
}

TEST_CASE("a body over the limit is refused with 413 before the handler runs") {
    std::atomic<int> calls{0};
    http::ServerOptions options;
    options.max_body_bytes = 1024;
    auto server = serve([&](const http::Request& r) { ++calls; return echo(r); }, options);
    Client c(server->port());
    c.send("POST /webhooks/whatsapp HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'a'));
    const std::string r = c.receive();
    CHECK(r.rfind("HTTP/1.1 413", 0) == 0);
    CHECK(r.find("body_too_large") != std::string::npos);
    CHECK(calls == 0);
}

TEST_CASE("after refusing a body it did not read, the server drains it so the client is not reset") {
    // A client sends the whole body before reading the answer. If the server closed with that
    // body unread, the kernel would reset the connection: the client's send fails and the 413
    // can be lost. The server stops sending, then reads and drops the rest until the client closes.
    http::ServerOptions options;
    options.max_body_bytes = 1024;
    auto server = serve(echo, options);
    Client c(server->port());
    const std::size_t length = 4 * 1024 * 1024;
    REQUIRE(c.send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(length) + "\r\n\r\n"));
    const std::string r = c.receive();
    CHECK(r.rfind("HTTP/1.1 413", 0) == 0);
    CHECK(c.send(std::string(length, 'a')));  // reset before this change: EPIPE / ECONNRESET
    CHECK(c.closed_by_server(5s));
}

TEST_CASE("a client that keeps sending after a refusal is cut off after the linger limit") {
    http::ServerOptions options;
    options.max_body_bytes = 1024;
    auto server = serve(echo, options);
    Client c(server->port());
    REQUIRE(c.send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n"));
    CHECK(c.receive().rfind("HTTP/1.1 413", 0) == 0);
    // 64 MB is past the 16 MB the server drops before it closes; the send must fail, not block.
    bool all_sent = true;
    for (int i = 0; i < 64 && all_sent; ++i) all_sent = c.send(std::string(1024 * 1024, 'a'));
    CHECK_FALSE(all_sent);
}

TEST_CASE("headers over the limit are refused with 431") {
    http::ServerOptions options;
    options.max_header_bytes = 512;
    auto server = serve(echo, options);
    Client c(server->port());
    c.send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2000, 'b') + "\r\n\r\n");
    const std::string r = c.receive();
    CHECK(r.rfind("HTTP/1.1 431", 0) == 0);
    CHECK(r.find("header_too_large") != std::string::npos);
}

TEST_CASE("a malformed request gets 400 with an error body") {
    auto server = serve(echo);
    Client c(server->port());
    c.send("NOT HTTP AT ALL\r\n\r\n");
    const std::string r = c.receive();
    CHECK(r.rfind("HTTP/1.1 400", 0) == 0);
    CHECK(r.find("bad_request") != std::string::npos);
}

TEST_CASE("framing a proxy could read differently is refused before the handler runs (no smuggling)") {
    // Found by the hostile-input catalogue (tests/hostile): Beast read a Transfer-Encoding that does
    // not end with chunked as "no body", and answered the body as a second request.
    std::atomic<int> handled{0};
    auto server = serve([&](const http::Request& r) {
        ++handled;
        return echo(r);
    });
    const std::string smuggled = "GET /second HTTP/1.1\r\nHost: a\r\n\r\n";
    const std::string heads[] = {
        "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
        "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
        "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
        "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2, 2\r\n\r\n{}",
        "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    };
    for (const std::string& head : heads) {
        CAPTURE(head);
        Client c(server->port());
        c.send(head + smuggled);
        const std::string r = c.receive();
        CHECK(r.rfind("HTTP/1.1 400", 0) == 0);
        CHECK(r.find("bad_request") != std::string::npos);
        CHECK(c.closed_by_server(2s));
    }
    CHECK(handled.load() == 0);
    // Chunked as the last coding is fine.
    Client ok(server->port());
    ok.send("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n");
    const std::string r = ok.receive();
    CHECK(r.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(r.find("body=hi") != std::string::npos);
}

TEST_CASE("a slow client cannot hold a connection past the read timeout") {
    std::atomic<int> calls{0};
    http::ServerOptions options;
    options.read_timeout = 300ms;
    auto server = serve([&](const http::Request& r) { ++calls; return echo(r); }, options);
    Client c(server->port());
    c.send("GET / HTTP/1.1\r\nHost: x\r\n");  // never finishes the header
    CHECK(c.closed_by_server(5s));
    CHECK(calls == 0);
}

TEST_CASE("an exception in the handler becomes a 500 with a generic body") {
    auto server = serve([](const http::Request&) -> http::Response { throw std::runtime_error("secret detail"); });
    Client c(server->port());
    c.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const std::string r = c.receive();
    CHECK(r.rfind("HTTP/1.1 500", 0) == 0);
    CHECK(r.find("internal_error") != std::string::npos);
    CHECK(r.find("secret detail") == std::string::npos);
}

TEST_CASE("stopping lets a request in flight finish") {
    std::atomic<bool> entered{false};
    auto server = serve([&](const http::Request& r) {
        entered = true;
        std::this_thread::sleep_for(300ms);
        return echo(r);
    });
    Client c(server->port());
    c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    while (!entered) std::this_thread::sleep_for(5ms);
    std::thread stopper([&] { server->stop(); });
    const std::string r = c.receive();
    stopper.join();
    CHECK(r.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(header_of(r, "Connection") == "close");
}

TEST_CASE("with more threads than cores, handlers that block run at once and stopping waits for them") {
    // More handlers than cores must be able to wait at the same time (as they do for a durable
    // commit shared with others): each one here waits until all have started.
    const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
    const std::size_t waiting = cores + 2;
    http::ServerOptions options;
    options.threads = cores + 3;
    std::mutex m;
    std::condition_variable all_in;
    std::size_t entered = 0;
    auto server = serve(
        [&](const http::Request& r) {
            std::unique_lock lock(m);
            ++entered;
            all_in.notify_all();
            const bool together = all_in.wait_for(lock, 10s, [&] { return entered >= waiting; });
            http::Response out = echo(r);
            out.body += together ? " together" : " alone";
            return out;
        },
        options);
    std::vector<std::unique_ptr<Client>> clients;
    for (std::size_t i = 0; i < waiting; ++i) {
        clients.push_back(std::make_unique<Client>(server->port()));
        clients.back()->send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    for (auto& c : clients) {
        const std::string r = c->receive(15s);
        CHECK(r.rfind("HTTP/1.1 200", 0) == 0);
        CHECK(r.find(" together") != std::string::npos);
        CHECK(header_of(r, "X-Frame-Options") == "DENY");
    }

    // A request in flight on a handler thread finishes when the server stops.
    {
        std::lock_guard lock(m);
        entered = 0;
    }
    Client last(server->port());
    last.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    {
        std::unique_lock lock(m);
        all_in.wait_for(lock, 10s, [&] { return entered >= 1; });
    }
    std::thread stopper([&] { server->stop(); });
    std::this_thread::sleep_for(200ms);  // stop() has begun: it waits for the handler
    {
        std::lock_guard lock(m);
        entered = waiting;  // let it go
    }
    all_in.notify_all();
    const std::string r = last.receive();
    stopper.join();
    CHECK(r.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(header_of(r, "Connection") == "close");
}

TEST_CASE("binding to a port in use fails with a clear error") {
    auto first = serve(echo);
    http::ServerOptions options;
    options.port = first->port();
    auto second = http::Server::start(options, echo);
    REQUIRE_FALSE(second.has_value());
    CHECK(second.error().message().find("cannot listen on 127.0.0.1:" + std::to_string(first->port())) != std::string::npos);
    options.address = "not-an-ip";
    CHECK_FALSE(http::Server::start(options, echo).has_value());
}

// ---------------------------------------------------------------------------------------------
// The asynchronous handler form (http::AsyncHandler, http::Responder)

namespace {

std::unique_ptr<http::Server> serve_async(http::AsyncHandler handler, http::ServerOptions options = {}) {
    auto server = http::Server::start(std::move(options), std::move(handler));
    REQUIRE_MESSAGE(server.has_value(), (server ? "" : server.error().message()));
    return std::move(server).value();
}

// Responders handed over by a handler, with their request's path, to be answered by the test
// from its own thread.
struct Parked {
    std::mutex m;
    std::condition_variable arrived;
    std::vector<std::pair<std::string, http::Responder>> owed;

    void park(http::Responder r, std::string path = {}) {
        std::lock_guard lock(m);
        owed.emplace_back(std::move(path), std::move(r));
        arrived.notify_all();
    }
    bool wait_for(std::size_t n) {
        std::unique_lock lock(m);
        return arrived.wait_for(lock, 10s, [&] { return owed.size() >= n; });
    }
    http::Responder take() {
        std::lock_guard lock(m);
        http::Responder r = std::move(owed.front().second);
        owed.erase(owed.begin());
        return r;
    }
    // Answers every parked responder in one go, each with what `answer` makes of its path.
    void answer_all(const std::function<http::Response(const std::string&)>& answer) {
        std::lock_guard lock(m);
        for (auto& [path, r] : owed) r.answer(answer(path));
    }
};

http::Response text(std::string body) {
    http::Response r;
    r.content_type = "text/plain";
    r.body = std::move(body);
    return r;
}

}  // namespace

TEST_CASE("an asynchronous handler answers later from another thread, and the connection stays open") {
    Parked parked;
    auto server = serve_async([&](http::Request r, http::Responder out) {
        if (r.path() == "/now") return out.answer(text("at once"));
        parked.park(std::move(out));
    });
    Client c(server->port());
    c.send("POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
    REQUIRE(parked.wait_for(1));
    std::thread answering([&] {
        http::Responder r = parked.take();
        CHECK(r.pending());
        r.answer(text("from another thread"));
        CHECK_FALSE(r.pending());
        r.answer(text("twice"));  // ignored
    });
    answering.join();
    const std::string first = c.receive();
    CHECK(first.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(first.find("\r\n\r\nfrom another thread") != std::string::npos);
    CHECK(header_of(first, "X-Frame-Options") == "DENY");
    CHECK(header_of(first, "Connection").empty());  // kept alive

    c.send("GET /now HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string second = c.receive();
    CHECK(second.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(second.find("\r\n\r\nat once") != std::string::npos);
    CHECK(second.find("twice") == std::string::npos);
}

TEST_CASE("an asynchronous handler that drops its responder or throws answers 500") {
    auto server = serve_async([](http::Request r, http::Responder out) {
        if (r.path() == "/throw") throw std::runtime_error("secret detail");
        (void)out;  // dropped unanswered
    });
    for (const char* path : {"/drop", "/throw"}) {
        CAPTURE(path);
        Client c(server->port());
        c.send(std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\n\r\n");
        const std::string r = c.receive();
        CHECK(r.rfind("HTTP/1.1 500", 0) == 0);
        CHECK(r.find("internal_error") != std::string::npos);
        CHECK(r.find("secret detail") == std::string::npos);
    }
}

TEST_CASE("answer_with runs blocking work on the handler pool, or inline without one") {
    const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
    for (const std::size_t threads : {std::size_t(1), cores + 2}) {
        CAPTURE(threads);
        http::ServerOptions options;
        options.threads = threads;
        std::mutex m;
        std::thread::id io_thread, work_thread;
        auto server = serve_async(
            [&](http::Request r, http::Responder out) {
                {
                    std::lock_guard lock(m);
                    io_thread = std::this_thread::get_id();
                }
                out.answer_with([&, path = std::string(r.path())] {
                    std::lock_guard lock(m);
                    work_thread = std::this_thread::get_id();
                    if (path == "/throw") throw std::runtime_error("secret");
                    return text("worked " + path);
                });
            },
            options);
        Client c(server->port());
        c.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
        const std::string r = c.receive();
        CHECK(r.find("\r\n\r\nworked /a") != std::string::npos);
        {
            std::lock_guard lock(m);
            CHECK((work_thread == io_thread) == (threads == 1));
        }
        c.send("GET /throw HTTP/1.1\r\nHost: x\r\n\r\n");
        CHECK(c.receive().rfind("HTTP/1.1 500", 0) == 0);
    }
}

TEST_CASE("io_threads sets how many threads do the network I/O; the rest of `threads` is the handler pool") {
    http::ServerOptions options;
    options.threads = 4;
    options.io_threads = 1;
    std::mutex m;
    std::set<std::thread::id> io_threads, work_threads;
    auto server = serve_async(
        [&](http::Request, http::Responder out) {
            {
                std::lock_guard lock(m);
                io_threads.insert(std::this_thread::get_id());
            }
            // Holding the I/O thread a moment: a second I/O thread would take the other
            // connections' requests meanwhile, and be seen.
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            out.answer_with([&] {
                std::lock_guard lock(m);
                work_threads.insert(std::this_thread::get_id());
                return text("worked");
            });
        },
        options);
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 4; ++i) clients.push_back(std::make_unique<Client>(server->port()));
    for (int round = 0; round < 5; ++round) {
        for (auto& c : clients) c->send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
        for (auto& c : clients) CHECK(c->receive().find("\r\n\r\nworked") != std::string::npos);
    }
    std::lock_guard lock(m);
    CHECK(io_threads.size() == 1);  // every connection's requests, on the one I/O thread
    REQUIRE_FALSE(work_threads.empty());
    CHECK_FALSE(work_threads.contains(*io_threads.begin()));  // blocking work went to the pool
}

TEST_CASE("a job handed to run_blocking that throws leaves the server running, and its dropped responder answers 500") {
    const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
    for (const std::size_t threads : {std::size_t(1), cores + 2}) {
        CAPTURE(threads);
        http::ServerOptions options;
        options.threads = threads;
        auto server = serve_async(
            [](http::Request r, http::Responder out) {
                if (r.path() != "/throw") return out.answer(text("still here"));
                // As Webhook::handle_async's blocking part holds its answer: the job owns it.
                auto owed = std::make_shared<http::Responder>(std::move(out));
                owed->run_blocking([owed] { throw std::runtime_error("a host callback failed"); });
            },
            options);
        Client c(server->port());
        c.send("GET /throw HTTP/1.1\r\nHost: x\r\n\r\n");
        CHECK(c.receive().rfind("HTTP/1.1 500", 0) == 0);
        Client after(server->port());
        after.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        CHECK(after.receive().find("\r\n\r\nstill here") != std::string::npos);
    }
}

TEST_CASE("stopping waits for the answers asynchronous handlers still owe") {
    SUBCASE("an answer given within the grace period reaches the client") {
        Parked parked;
        auto server = serve_async([&](http::Request, http::Responder out) { parked.park(std::move(out)); });
        Client c(server->port());
        c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        REQUIRE(parked.wait_for(1));
        std::thread stopper([&] { server->stop(); });
        std::this_thread::sleep_for(100ms);
        parked.take().answer(text("late but in time"));
        const std::string r = c.receive();
        stopper.join();
        CHECK(r.find("\r\n\r\nlate but in time") != std::string::npos);
        CHECK(header_of(r, "Connection") == "close");
    }
    SUBCASE("past the grace period the connection is closed, and stop() returns only once the answer is given") {
        Parked parked;
        auto server = serve_async([&](http::Request, http::Responder out) { parked.park(std::move(out)); });
        Client c(server->port());
        c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        REQUIRE(parked.wait_for(1));
        std::atomic<bool> stopped{false};
        std::thread stopper([&] {
            server->stop(50ms);
            stopped = true;
        });
        CHECK(c.closed_by_server(5s));
        std::this_thread::sleep_for(100ms);
        CHECK_FALSE(stopped.load());
        parked.take().answer(text("too late"));
        stopper.join();
        CHECK(stopped.load());
    }
}

TEST_CASE("a responder made of functions answers once, and 500 when dropped or replaced") {
    std::vector<int> statuses;
    auto collect = [&](http::Response r) { statuses.push_back(r.status); };
    {
        http::Responder r(collect);
        r.answer(text("ok"));
        r.answer(http::Response::error(503, "x", "y"));
        http::Responder moved(std::move(r));
        CHECK_FALSE(moved.pending());
    }
    CHECK(statuses == std::vector<int>{200});
    statuses.clear();
    {
        http::Responder a(collect);
        http::Responder b(collect);
        a = std::move(b);  // a's first answer was owed: 500
        CHECK(statuses == std::vector<int>{500});
        CHECK(a.pending());
    }
    CHECK(statuses == std::vector<int>{500, 500});  // the second one dropped

    statuses.clear();
    std::vector<std::function<void()>> queued;
    {
        http::Responder r(collect, [&](std::function<void()> job) { queued.push_back(std::move(job)); });
        r.answer_with([] { return http::Response::error(409, "conflict", "c"); });
        CHECK_FALSE(r.pending());
    }
    CHECK(statuses.empty());  // not run yet
    REQUIRE(queued.size() == 1);
    queued.front()();
    CHECK(statuses == std::vector<int>{409});
    statuses.clear();
    {
        http::Responder r(collect, [&](std::function<void()> job) { queued.push_back(std::move(job)); });
        r.answer_with([] { return text("never"); });
    }
    queued.clear();  // dropped unrun: the responder it held still answers
    CHECK(statuses == std::vector<int>{500});
}

TEST_CASE("many answers given at once from another thread each reach their own connection") {
    Parked parked;
    auto server = serve_async([&](http::Request r, http::Responder out) {
        parked.park(std::move(out), std::string(r.path()));
    });
    constexpr int n = 40;
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < n; ++i) {
        clients.push_back(std::make_unique<Client>(server->port()));
        clients.back()->send("GET /" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    REQUIRE(parked.wait_for(n));
    std::thread answering([&] {  // all at once, each naming the request it answers
        parked.answer_all([](const std::string& path) { return text("answer to " + path); });
    });
    answering.join();
    for (int i = 0; i < n; ++i) {
        const std::string r = clients[std::size_t(i)]->receive();
        CHECK(r.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
        CHECK(r.find("\r\n\r\nanswer to /" + std::to_string(i)) != std::string::npos);
    }
}

TEST_CASE("run_on_io runs an adapter's job on the server's I/O thread, which then answers") {
    http::ServerOptions options;
    options.threads = 1;  // one I/O thread, which ran the handler
    Parked parked;
    std::mutex m;
    std::thread::id handler_thread, job_thread;
    auto server = serve_async(
        [&](http::Request, http::Responder out) {
            {
                std::lock_guard lock(m);
                handler_thread = std::this_thread::get_id();
            }
            parked.park(std::move(out));
        },
        options);
    Client c(server->port());
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE(parked.wait_for(1));
    auto owed = std::make_shared<http::Responder>(parked.take());
    std::thread other([&] {
        owed->run_on_io([&, owed] {
            {
                std::lock_guard lock(m);
                job_thread = std::this_thread::get_id();
            }
            owed->answer(text("answered from the I/O thread"));
        });
    });
    other.join();
    const std::string r = c.receive();
    CHECK(r.find("\r\n\r\nanswered from the I/O thread") != std::string::npos);
    std::lock_guard lock(m);
    CHECK(job_thread == handler_thread);

    // A responder made of functions runs it at once.
    bool ran = false;
    http::Responder plain([](http::Response) {});
    plain.run_on_io([&] { ran = true; });
    CHECK(ran);
}
