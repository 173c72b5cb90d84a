// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>: include it first.
#include <utility>

#include <heroshhi/http/security_headers.hpp>
#include <heroshhi/http/server.hpp>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>
#include <openssl/ssl.h>

#include <heroshhi/crypto/tls_context.hpp>

#include "request_parsing.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <limits>
#include <list>
#include <mutex>
#include <optional>
#include <thread>

namespace heroshhi::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
// A connection's stream runs on its strand, named by its type rather than type-erased: with
// beast::tcp_stream (any_io_executor), every asynchronous operation's work guard and handler
// binding copied the executor into a heap-allocated holder, about 17 allocations a request.
using ConnectionStrand = net::strand<net::io_context::executor_type>;
using ConnectionSocket = tcp::socket::rebind_executor<ConnectionStrand>::other;
using ConnectionStream = beast::basic_stream<tcp, ConnectionStrand, beast::unlimited_rate_policy>;

char lower_ascii(char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
    std::string out(s.size(), '\0');
    std::transform(s.begin(), s.end(), out.begin(), lower_ascii);
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower_ascii(a[i]) != lower_ascii(b[i])) return false;
    return true;
}

// RFC 9110 token characters: what a header name may be made of.
bool is_token(std::string_view s) {
    if (s.empty()) return false;
    for (const unsigned char c : s) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        std::string_view("!#$%&'*+-.^_`|~").find(char(c)) != std::string_view::npos;
        if (!ok) return false;
    }
    return true;
}

// A header value may not end the header line early (response splitting).
bool is_field_value(std::string_view s) {
    return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
    out.append(name).append(": ").append(value).append("\r\n");
}

// The header lines every response starts with (security headers), and the ones JSON answers add,
// serialised once: they are the same on every response.
const std::string& security_block() {
    static const std::string block = [] {
        std::string out;
        for (const auto& [name, value] : security_headers()) append_header(out, name, value);
        return out;
    }();
    return block;
}

const std::string& api_block() {
    static const std::string block = [] {
        std::string out;
        for (const auto& [name, value] : api_headers()) append_header(out, name, value);
        return out;
    }();
    return block;
}

bool is_forbidden(std::string_view name) {
    for (std::string_view banned : forbidden_headers())
        if (iequals(name, banned)) return true;
    return false;
}

bool bodiless(int status) { return (status >= 100 && status < 200) || status == 204 || status == 304; }

// Headers that frame the message: the server writes them, a handler's are dropped.
bool is_framing(std::string_view name) {
    return iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding") || iequals(name, "Connection");
}

bool is_fixed(std::string_view name, bool json) {
    for (const auto& h : security_headers())
        if (iequals(name, h.first)) return true;
    if (json)
        for (const auto& h : api_headers())
            if (iequals(name, h.first)) return true;
    return iequals(name, "Content-Type");
}

// The status line and header lines of `r` (the body goes out as a second buffer), written
// directly rather than through Beast's fields and serializer, which cost more than the rest of
// the exchange; the fixed lines are copied from blocks made once. A handler's header replaces a
// fixed one of the same name, and the last of several with one name counts (as fields::set
// did); forbidden and framing names, names that are not tokens and values with CR, LF or NUL
// are dropped, so a handler cannot split the response.
void serialize_head(const Response& r, bool keep_alive, std::string& out) {
    const auto& extra = r.headers;
    auto kept = [&](std::size_t i) {
        const std::string_view name = extra[i].first;
        if (!is_token(name) || !is_field_value(extra[i].second) || is_forbidden(name) || is_framing(name)) return false;
        for (std::size_t j = i + 1; j < extra.size(); ++j)
            if (iequals(name, extra[j].first)) return false;
        return true;
    };
    const bool json = r.content_type == "application/json";
    bool any_replaced = false;
    for (std::size_t i = 0; i < extra.size() && !any_replaced; ++i) any_replaced = is_fixed(extra[i].first, json) && kept(i);
    auto replaced = [&](std::string_view fixed) {
        if (!any_replaced) return false;
        for (std::size_t i = 0; i < extra.size(); ++i)
            if (iequals(fixed, extra[i].first) && kept(i)) return true;
        return false;
    };

    const unsigned code = r.status >= 100 && r.status <= 999 ? unsigned(r.status) : 500u;
    const auto reason = bhttp::obsolete_reason(bhttp::int_to_status(code));
    out.clear();
    out.append("HTTP/1.1 ").append(std::to_string(code)).append(" ").append(reason.data(), reason.size()).append("\r\n");
    if (!any_replaced) {
        out.append(security_block());
        if (json) out.append(api_block());
    } else {
        for (const auto& [name, value] : security_headers())
            if (!replaced(name)) append_header(out, name, value);
        if (json)
            for (const auto& [name, value] : api_headers())
                if (!replaced(name)) append_header(out, name, value);
    }
    if (!r.content_type.empty() && is_field_value(r.content_type) && !replaced("Content-Type"))
        append_header(out, "Content-Type", r.content_type);
    for (std::size_t i = 0; i < extra.size(); ++i)
        if (kept(i)) append_header(out, extra[i].first, extra[i].second);
    if (!bodiless(int(code))) append_header(out, "Content-Length", std::to_string(r.body.size()));
    if (!keep_alive) append_header(out, "Connection", "close");
    out.append("\r\n");
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += ' ';
        } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
            out += char(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

}  // namespace

std::string Request::header(std::string_view name) const {
    auto it = headers.find(lower(name));
    return it == headers.end() ? std::string() : it->second;
}

std::string_view Request::path() const {
    std::string_view t = target;
    return t.substr(0, t.find('?'));
}

std::string Request::query(std::string_view name) const {
    const std::size_t q = target.find('?');
    if (q == std::string::npos) return {};
    std::string_view rest = std::string_view(target).substr(q + 1);
    while (!rest.empty()) {
        const std::size_t amp = rest.find('&');
        std::string_view pair = rest.substr(0, amp);
        const std::size_t eq = pair.find('=');
        if (percent_decode(pair.substr(0, eq)) == name)
            return eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
        if (amp == std::string_view::npos) break;
        rest.remove_prefix(amp + 1);
    }
    return {};
}

Response Response::error(int status, std::string_view code, std::string_view message) {
    Response r;
    r.status = status;
    nlohmann::json body = {{"error", {{"code", code}, {"message", message}}}};
    r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return r;
}

namespace {

Response internal_error() { return Response::error(500, "internal_error", "The request could not be completed."); }

// What a Responder built from functions answers through (tests, adapters).
class FunctionSink final : public Responder::Sink {
public:
    FunctionSink(Responder::Deliver deliver, Responder::Runner run) : deliver_(std::move(deliver)), run_(std::move(run)) {}
    void deliver(Response response) override {
        if (deliver_) deliver_(std::move(response));
    }
    void run_blocking(std::function<void()> job) override {
        if (run_) run_(std::move(job));
        else job();
    }

private:
    Responder::Deliver deliver_;
    Responder::Runner run_;
};

}  // namespace

Responder::Responder(Deliver deliver, Runner run_blocking)
    : sink_(std::make_shared<FunctionSink>(std::move(deliver), std::move(run_blocking))) {}

Responder& Responder::operator=(Responder&& other) noexcept {
    if (this != &other) {
        Responder owed(std::move(*this));  // answers 500 if it still owed one
        sink_ = std::move(other.sink_);
    }
    return *this;
}

Responder::~Responder() {
    if (!sink_) return;
    try {
        sink_->deliver(internal_error());
    } catch (...) {  // nothing more can be done for this client: its connection times out
    }
}

void Responder::answer(Response response) {
    if (!sink_) return;
    const std::shared_ptr<Sink> sink = std::move(sink_);
    sink->deliver(std::move(response));
}

void Responder::answer_with(std::function<Response()> work) {
    if (!sink_) return;
    Sink& sink = *sink_;
    // Shared, because a std::function must be copyable; if the job is dropped unrun (the server
    // is stopping), the responder's destructor still answers.
    auto owed = std::make_shared<Responder>(std::move(*this));
    sink.run_blocking([owed, work = std::move(work)] {
        Response response;
        try {
            response = work();
        } catch (...) {
            response = internal_error();
        }
        owed->answer(std::move(response));
    });
}

void Responder::run_on_io(std::function<void()> job) const {
    if (sink_) sink_->run_on_io(std::move(job));
    else job();
}

void Responder::run_blocking(std::function<void()> job) const {
    if (sink_) sink_->run_blocking(std::move(job));
    else job();
}

namespace detail {

// The Request a handler sees for a parsed message: header names lower-cased, the body as received.
// Moves the body out of `req` (the parser's message; its headers stay readable).
Request to_request(bhttp::request<bhttp::string_body>& req) {
    Request request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    for (const auto& field : req) {
        const auto name = field.name_string();
        request.headers.emplace(lower(std::string_view(name.data(), name.size())), std::string(field.value()));
    }
    request.body = std::move(req.body());
    return request;
}

// What a request that broke the parser or a limit is answered (so the client learns why) before
// the connection is closed; nullopt when there is nothing to answer (end of stream, timeout, reset).
std::optional<Response> refusal_for(beast::error_code ec, const ParseLimits& limits) {
    if (ec == bhttp::error::header_limit)
        return Response::error(431, "header_too_large", "Request headers exceed " + std::to_string(limits.max_header_bytes) + " bytes.");
    if (ec == bhttp::error::body_limit)
        return Response::error(413, "body_too_large", "Request body exceeds " + std::to_string(limits.max_body_bytes) + " bytes.");
    if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
        ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message)
        return Response::error(400, "bad_request", "The request is not valid HTTP/1.1.");
    return std::nullopt;
}

// Framing Beast accepts but the server refuses, so that no proxy in front can read the request's
// length differently (request smuggling; found by the hostile-input catalogue): a Transfer-Encoding
// whose final coding is not chunked (RFC 9112 section 6.3 requires a 400; Beast read it as no
// body and the body as the next request), and a Content-Length given twice or as a list.
std::optional<Response> framing_refusal(const bhttp::request_parser<bhttp::string_body>& parser,
                                        std::size_t header_bytes, const ParseLimits& limits) {
    // Beast checks its header limit only while the end of the header is still missing: a header
    // that arrives whole in one read passed at any size (found by fuzz-http_request).
    if (header_bytes > limits.max_header_bytes) return refusal_for(bhttp::error::header_limit, limits);
    const auto& fields = parser.get();
    const auto refuse = [](std::string_view why) {
        return Response::error(400, "bad_request", "The request is not valid HTTP/1.1: " + std::string(why) + ".");
    };
    if (fields.count(bhttp::field::transfer_encoding) > 0 && !parser.chunked())
        return refuse("Transfer-Encoding must end with chunked");
    if (fields.count(bhttp::field::content_length) > 1) return refuse("Content-Length is given more than once");
    if (auto it = fields.find(bhttp::field::content_length); it != fields.end()) {
        const auto value = it->value();
        if (value.empty() || !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
            return refuse("Content-Length must be one number");
    }
    return std::nullopt;
}

ParsedRequest parse_request(const std::vector<std::string_view>& pieces, const ParseLimits& limits) {
    ParsedRequest out;
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(limits.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    parser.body_limit(limits.max_body_bytes);
    std::string pending;  // bytes that arrived and the parser has not taken yet
    std::size_t consumed = 0;
    bool framing_checked = false;
    for (std::string_view piece : pieces) {
        pending.append(piece);
        while (!pending.empty() && !parser.is_done()) {
            beast::error_code ec;
            const std::size_t n = parser.put(net::buffer(pending.data(), pending.size()), ec);
            consumed += n;
            pending.erase(0, n);
            if (!framing_checked && parser.is_header_done()) {
                framing_checked = true;
                // The header ends within this put: what it took up to there is header (Beast
                // returns from put at the end of the header).
                if (auto refusal = framing_refusal(parser, consumed, limits)) {
                    out.outcome = ParsedRequest::Outcome::refused;
                    out.refusal = std::move(*refusal);
                    return out;
                }
            }
            if (ec == bhttp::error::need_more) break;
            if (ec) {
                auto refusal = refusal_for(ec, limits);
                if (!refusal) return out;  // nothing the server would answer: it just closes
                out.outcome = ParsedRequest::Outcome::refused;
                out.refusal = std::move(*refusal);
                return out;
            }
            if (n == 0) break;
        }
        if (parser.is_done()) break;
    }
    if (!parser.is_done()) return out;
    out.outcome = ParsedRequest::Outcome::complete;
    out.request = to_request(parser.get());
    out.keep_alive = parser.get().keep_alive();
    out.consumed = consumed;
    return out;
}

class Connection;

/// Threads that run handlers taken off the I/O threads, first come first served.
class HandlerPool {
public:
    explicit HandlerPool(std::size_t threads) {
        for (std::size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
    }
    ~HandlerPool() { stop(); }
    HandlerPool(const HandlerPool&) = delete;
    HandlerPool& operator=(const HandlerPool&) = delete;

    /// After stop(), the job is dropped unrun.
    void submit(std::function<void()> job) {
        {
            std::lock_guard lock(mutex_);
            if (stopping_) return;  // `job` goes when this returns, outside the lock
            jobs_.push_back(std::move(job));
        }
        ready_.notify_one();
    }

    /// Lets the jobs running finish, drops the ones not started, joins the threads.
    void stop() {
        std::deque<std::function<void()>> dropped;
        {
            std::lock_guard lock(mutex_);
            if (stopping_) return;
            stopping_ = true;
            dropped.swap(jobs_);
        }
        dropped.clear();  // outside the lock: a dropped job may answer (a Responder's 500)
        ready_.notify_all();
        for (auto& w : workers_) w.join();
    }

private:
    void work() {
        for (;;) {
            std::function<void()> job;
            {
                std::unique_lock lock(mutex_);
                ready_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
                if (stopping_) return;
                job = std::move(jobs_.front());
                jobs_.pop_front();
            }
            try {
                job();
            } catch (...) {  // a job from Responder::run_blocking may throw: it must not end the process
            }
        }
    }

    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<std::function<void()>> jobs_;
    bool stopping_ = false;
    std::vector<std::thread> workers_;
};

}  // namespace detail

struct Server::Impl {
    ServerOptions options;
    Handler handler;             // one of these two
    AsyncHandler async_handler;
    std::optional<net::ssl::context> tls;  // shares the SSL_CTX of options.tls
    net::io_context ioc;
    // Keeps the I/O threads running while every connection waits for an answer owed by a
    // handler (no operation pending on the context) until stop().
    net::executor_work_guard<net::io_context::executor_type> keep_running{ioc.get_executor()};
    tcp::acceptor acceptor{ioc};
    std::vector<std::thread> threads;
    std::optional<detail::HandlerPool> pool;  // when handlers outnumber the I/O threads
    std::atomic<bool> stopping{false};
    std::uint16_t port = 0;

    std::mutex mutex;  // guards sessions; idle's waiters
    std::condition_variable idle;
    // Requests being handled: counted in and out by the I/O threads without a lock; the mutex is
    // taken only to tell stop() the count reached 0.
    std::atomic<int> in_flight{0};
    std::list<std::weak_ptr<detail::Connection>> sessions;

    // Answers given on other threads (a store's committer completing a batch of writes), passed
    // to the I/O threads by one posted job a batch: a post per answer would wake an I/O thread per
    // answer. Guarded by answers_mutex.
    std::mutex answers_mutex;
    std::vector<std::pair<std::shared_ptr<detail::Connection>, Response>> answers;
    std::vector<std::function<void()>> io_jobs;  // Responder::run_on_io's, run before the answers
    bool answers_posted = false;

    void accept();
    void hand_in(std::shared_ptr<detail::Connection> connection, Response response);
    void hand_in(std::function<void()> job);
    void post_answers_locked(std::unique_lock<std::mutex>& lock);
    void take_answers();
};

namespace detail {

// One client connection: reads requests (header, then body, each under a deadline), answers them
// through the handler with the security headers added, and keeps the connection alive if asked.
class Connection final : public std::enable_shared_from_this<Connection>, public Responder::Sink {
public:
    Connection(ConnectionSocket socket, Server::Impl& server) : server_(server) {
        // Beast reads as much as the buffer has room for, and at least 512 bytes: with no room
        // reserved, a request a little over 512 bytes (a webhook delivery) took two reads, and
        // the second a trip through the scheduler. Most requests fit in this at once.
        buffer_.reserve(kReadBufferBytes);
        if (server.tls) tls_.emplace(std::move(socket), *server.tls);
        else plain_.emplace(std::move(socket));
        beast::error_code ec;
        auto ep = lowest().socket().remote_endpoint(ec);
        if (!ec) {
            peer_ = ep.address().to_string();
            peer_port_ = ep.port();
        }
    }

    void start() {
        net::dispatch(lowest().get_executor(), [self = shared_from_this()] {
            if (!self->tls_) return self->read_header();
            self->lowest().expires_after(self->server_.options.read_timeout);
            self->tls_->async_handshake(net::ssl::stream_base::server, [self](beast::error_code ec) {
                if (ec) return self->close();  // e.g. a TLS 1.2 client: refused in the handshake
                self->read_header();
            });
        });
    }

    // Closes the connection if it is waiting for a request (called when the server stops), or
    // whatever it is doing (`always`: when the grace period is over).
    void close_if_idle(bool always = false) {
        net::dispatch(lowest().get_executor(), [self = shared_from_this(), always] {
            if (always || !self->busy_) self->close();
        });
    }

    // Responder::Sink: an asynchronous handler's answer. On an I/O thread it goes straight to the
    // strand (at once when given inside the handler, which runs on it); from other threads it is
    // handed to the I/O threads in a batch.
    void deliver(Response response) override {
        if (on_io_thread_) return deliver_here(std::move(response));
        server_.hand_in(shared_from_this(), std::move(response));
    }

    void run_on_io(std::function<void()> job) override {
        if (!on_io_thread_) return server_.hand_in(std::move(job));
        try {
            job();
        } catch (...) {  // as take_answers: it must not end the I/O thread
        }
    }

    // On this connection's strand, from the I/O threads' batch of answers.
    void deliver_here(Response response) {
        net::dispatch(lowest().get_executor(), [self = shared_from_this(), response = std::move(response)]() mutable {
            self->finish(std::move(response), self->request_keep_alive_);
        });
    }

    void run_blocking(std::function<void()> job) override {
        if (server_.pool) server_.pool->submit(std::move(job));
        else job();
    }

private:
    void read_header() {
        parser_.emplace();
        parser_->header_limit(std::uint32_t(server_.options.max_header_bytes));
        parser_->body_limit(server_.options.max_body_bytes);
        // The first request must arrive within the read timeout; later ones may wait while idle.
        lowest().expires_after(requests_ == 0 ? server_.options.read_timeout : server_.options.idle_timeout);
        with_stream([this](auto& stream) {
            bhttp::async_read_header(stream, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t header_bytes) {
                self->on_header(ec, header_bytes);
            });
        });
    }

    void on_header(beast::error_code ec, std::size_t header_bytes) {
        if (ec) return fail(ec);
        busy_ = true;
        begin_request();
        if (auto refusal = framing_refusal(*parser_, header_bytes,
                                           {server_.options.max_header_bytes, server_.options.max_body_bytes})) {
            keep_alive_ = false;
            return send(std::move(*refusal));
        }
        // A body usually arrives with its header: parse what the buffer holds before waiting for
        // more (an asynchronous read costs a trip through the scheduler even when it has nothing
        // to wait for). The parser's limits apply here as in a read.
        while (!parser_->is_done() && buffer_.size() > 0) {
            const std::size_t used = parser_->put(buffer_.data(), ec);
            buffer_.consume(used);
            if (ec == bhttp::error::need_more) {
                ec = {};
                break;
            }
            if (ec) return fail(ec);
            if (used == 0) break;
        }
        if (parser_->is_done()) return on_body({});
        lowest().expires_after(server_.options.read_timeout);
        with_stream([this](auto& stream) {
            bhttp::async_read(stream, buffer_, *parser_,
                              [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_body(ec); });
        });
    }

    void on_body(beast::error_code ec) {
        if (ec) return fail(ec);
        auto& req = parser_->get();
        Request request = to_request(req);
        request.client_address = peer_;
        request.client_port = peer_port_;
        const bool keep_alive = req.keep_alive();

        if (server_.async_handler) {
            request_keep_alive_ = keep_alive;
            try {
                server_.async_handler(std::move(request), Responder(std::shared_ptr<Responder::Sink>(shared_from_this())));
            } catch (...) {  // the responder, destroyed unanswered on the way out, answered 500
            }
            return;
        }
        if (!server_.pool) {
            finish(handle(request), keep_alive);
            return;
        }
        // A handler may block (a durable commit): it runs on the pool, the I/O threads go on.
        request_keep_alive_ = keep_alive;
        Responder(std::shared_ptr<Responder::Sink>(shared_from_this()))
            .answer_with([self = shared_from_this(), request = std::move(request)] { return self->handle(request); });
    }

    Response handle(const Request& request) {
        try {
            return server_.handler(request);
        } catch (...) {
            return Response::error(500, "internal_error", "The request could not be completed.");
        }
    }

    void finish(Response response, bool keep_alive) {
        keep_alive_ = keep_alive && !server_.stopping.load();
        send(std::move(response));
    }

    void send(Response r) {
        serialize_head(r, keep_alive_, head_);
        body_ = bodiless(r.status) ? std::string() : std::move(r.body);
        lowest().expires_after(server_.options.read_timeout);
        with_stream([this](auto& stream) {
            const std::array<net::const_buffer, 2> buffers{net::buffer(head_), net::buffer(body_)};
            net::async_write(stream, buffers, [self = shared_from_this()](beast::error_code ec, std::size_t) {
                self->on_write(ec);
            });
        });
    }

    void on_write(beast::error_code ec) {
        end_request();
        if (ec) return close();
        if (!keep_alive_) return parser_ && parser_->is_done() ? close() : linger();
        ++requests_;
        read_header();
    }

    // A request refused before its body was read (too large, bad framing) leaves the client
    // still sending. Closing with unread input makes the kernel reset the connection, and a reset
    // can destroy the refusal before the client reads it. So stop sending, then read and drop
    // what arrives until the client closes, for at most kLingerTime and kLingerBytes.
    static constexpr std::chrono::seconds kLingerTime{2};
    static constexpr std::size_t kLingerBytes = 16 * 1024 * 1024;

    void linger() {
        beast::error_code ignored;
        lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
        lowest().expires_after(std::min<std::chrono::milliseconds>(kLingerTime, server_.options.read_timeout));
        buffer_.clear();
        drain(0);
    }

    void drain(std::size_t dropped) {
        lowest().async_read_some(buffer_.prepare(16 * 1024),
                                 [self = shared_from_this(), dropped](beast::error_code ec, std::size_t n) {
                                     if (ec || dropped + n > kLingerBytes || self->server_.stopping.load())
                                         return self->close();
                                     self->drain(dropped + n);
                                 });
    }

    // A request that broke a limit is answered (so the client learns why) and the connection closed.
    void fail(beast::error_code ec) {
        const bool had_request = busy_;
        if (!had_request) begin_request();
        keep_alive_ = false;
        if (auto refusal = refusal_for(ec, {server_.options.max_header_bytes, server_.options.max_body_bytes}))
            return send(std::move(*refusal));
        end_request();
        close();  // end of stream, timeout (slow client), reset: nothing to answer
    }

    void close() {
        beast::error_code ignored;
        lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
        lowest().close();
    }

    ConnectionStream& lowest() { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }

    template <class F>
    void with_stream(F&& f) {
        if (tls_) f(*tls_);
        else f(*plain_);
    }

    void begin_request() {
        busy_ = true;
        server_.in_flight.fetch_add(1, std::memory_order_relaxed);
    }

    void end_request() {
        if (!busy_) return;
        busy_ = false;
        if (server_.in_flight.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            // Under the mutex, so a stop() between its check and its wait cannot miss this.
            std::lock_guard lock(server_.mutex);
            server_.idle.notify_all();
        }
    }

    static constexpr std::size_t kReadBufferBytes = 4096;

    std::optional<ConnectionStream> plain_;
    std::optional<beast::ssl_stream<ConnectionStream>> tls_;
    beast::flat_buffer buffer_;
    std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
    std::string head_;  // the response being written: status line and headers, then the body
    std::string body_;
    Server::Impl& server_;
    std::string peer_;
    std::uint16_t peer_port_ = 0;
    std::size_t requests_ = 0;
    bool busy_ = false;
    bool keep_alive_ = true;
    bool request_keep_alive_ = true;  // what the request being answered asked for

public:
    // Set on a server's I/O threads: an answer given there needs no hand-over.
    static thread_local bool on_io_thread_;
};

thread_local bool Connection::on_io_thread_ = false;

}  // namespace detail

void Server::Impl::hand_in(std::shared_ptr<detail::Connection> connection, Response response) {
    std::unique_lock lock(answers_mutex);
    answers.emplace_back(std::move(connection), std::move(response));
    post_answers_locked(lock);
}

void Server::Impl::hand_in(std::function<void()> job) {
    std::unique_lock lock(answers_mutex);
    io_jobs.push_back(std::move(job));
    post_answers_locked(lock);
}

void Server::Impl::post_answers_locked(std::unique_lock<std::mutex>& lock) {
    if (answers_posted) return;  // the job already posted takes this one too
    answers_posted = true;
    // Posted under the lock: Asio wakes an I/O thread after it lets go of its own mutex, so the
    // job could otherwise run, answer the last request owed, and let stop() and ~Server destroy
    // the io_context while this thread is still signalling it (ThreadSanitizer saw it). The job
    // takes the lock first, so it cannot get that far until the post has returned.
    net::post(ioc, [this] { take_answers(); });
    lock.unlock();
}

void Server::Impl::take_answers() {
    std::vector<std::function<void()>> jobs;
    std::vector<std::pair<std::shared_ptr<detail::Connection>, Response>> batch;
    {
        std::lock_guard lock(answers_mutex);
        jobs.swap(io_jobs);
        batch.swap(answers);
        answers_posted = false;
    }
    for (auto& job : jobs) {
        try {
            job();
        } catch (...) {  // an adapter's job: what it owed is answered by its responder's destructor
        }
    }
    for (auto& [connection, response] : batch) connection->deliver_here(std::move(response));
}

void Server::Impl::accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, ConnectionSocket socket) {
        if (ec) {
            if (ec == net::error::operation_aborted || stopping.load()) return;
        } else {
            auto session = std::make_shared<detail::Connection>(std::move(socket), *this);
            {
                std::lock_guard lock(mutex);
                sessions.remove_if([](const std::weak_ptr<detail::Connection>& w) { return w.expired(); });
                sessions.push_back(session);
            }
            session->start();
        }
        if (!stopping.load()) accept();
    });
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { stop(); }

std::uint16_t Server::port() const noexcept { return impl_->port; }

Result<std::unique_ptr<Server>> Server::start(ServerOptions options, Handler handler) {
    if (!handler) return Error(std::make_error_code(std::errc::invalid_argument), "the server needs a handler");
    auto impl = std::make_unique<Impl>();
    impl->handler = std::move(handler);
    return start(std::move(options), std::move(impl));
}

Result<std::unique_ptr<Server>> Server::start(ServerOptions options, AsyncHandler handler) {
    if (!handler) return Error(std::make_error_code(std::errc::invalid_argument), "the server needs a handler");
    auto impl = std::make_unique<Impl>();
    impl->async_handler = std::move(handler);
    return start(std::move(options), std::move(impl));
}

Result<std::unique_ptr<Server>> Server::start(ServerOptions options, std::unique_ptr<Impl> impl) {
    impl->options = std::move(options);
    beast::error_code ec;
    const auto address = net::ip::make_address(impl->options.address, ec);
    if (ec) return Error(ec, "'" + impl->options.address + "' is not an IP address");
    if (impl->options.tls != nullptr) {
        // asio's context takes ownership of one reference; the TlsContext keeps its own.
        auto* ctx = static_cast<SSL_CTX*>(impl->options.tls->native_handle());
        if (ctx == nullptr || impl->options.tls->role() != crypto::TlsRole::server)
            return Error(std::make_error_code(std::errc::invalid_argument), "the TLS context is not a server context");
        SSL_CTX_up_ref(ctx);
        impl->tls.emplace(ctx);
    } else if (!address.is_loopback()) {
        return Error(std::make_error_code(std::errc::permission_denied),
                     "plain HTTP only on a loopback address; give a TLS context to listen on " + impl->options.address);
    }
    const tcp::endpoint endpoint{address, impl->options.port};
    const std::string where = impl->options.address + ":" + std::to_string(impl->options.port);
    impl->acceptor.open(endpoint.protocol(), ec);
    if (!ec) impl->acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) impl->acceptor.bind(endpoint, ec);
    if (!ec) impl->acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return Error(ec, "cannot listen on " + where);
    impl->port = impl->acceptor.local_endpoint().port();
    impl->accept();
    // The network I/O needs no more threads than there are cores; handlers that may block get
    // threads of their own when more are asked for.
    const std::size_t n = std::max<std::size_t>(1, impl->options.threads);
    const std::size_t io_wanted = impl->options.io_threads != 0 ? impl->options.io_threads
                                                                 : std::max(1u, std::thread::hardware_concurrency());
    const std::size_t io_threads = std::min(n, io_wanted);
    if (n > io_threads) impl->pool.emplace(n);
    for (std::size_t i = 0; i < io_threads; ++i)
        impl->threads.emplace_back([io = &impl->ioc] {
            detail::Connection::on_io_thread_ = true;
            io->run();
        });
    return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::stop(std::chrono::milliseconds grace) {
    if (!impl_ || impl_->stopping.exchange(true)) return;
    net::dispatch(impl_->acceptor.get_executor(), [this] {
        beast::error_code ignored;
        impl_->acceptor.close(ignored);
    });
    {
        std::unique_lock lock(impl_->mutex);
        for (auto& w : impl_->sessions)
            if (auto s = w.lock()) s->close_if_idle();
        impl_->idle.wait_for(lock, grace, [this] { return impl_->in_flight.load() == 0; });
    }
    // Past the grace period: close every connection, let running handlers finish (the pool drops
    // the jobs not started: their responders answer 500 into closed connections), and wait for
    // the answers still owed, so that no responder outlives the I/O threads.
    {
        std::lock_guard lock(impl_->mutex);
        for (auto& w : impl_->sessions)
            if (auto s = w.lock()) s->close_if_idle(true);
    }
    if (impl_->pool) impl_->pool->stop();
    {
        std::unique_lock lock(impl_->mutex);
        impl_->idle.wait(lock, [this] { return impl_->in_flight.load() == 0; });
    }
    impl_->ioc.stop();
    for (auto& t : impl_->threads)
        if (t.joinable()) t.join();
}

}  // namespace heroshhi::http
