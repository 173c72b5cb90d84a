// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>: include it first.
#include <utility>

#include <heroshhi/core/errors.hpp>
#include <heroshhi/crypto/tls_context.hpp>
#include <heroshhi/whatsapp/cloud_api_transport.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>
#include <openssl/ssl.h>

#include <mutex>
#include <optional>
#include <vector>

namespace heroshhi::whatsapp {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

struct Url {
    bool tls = true;
    std::string host;
    std::string port;
};

std::optional<Url> parse_base_url(const std::string& text) {
    Url u;
    std::string_view rest = text;
    if (rest.rfind("https://", 0) == 0) {
        rest.remove_prefix(8);
    } else if (rest.rfind("http://", 0) == 0) {
        u.tls = false;
        rest.remove_prefix(7);
    } else {
        return std::nullopt;
    }
    while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    if (rest.empty() || rest.find('/') != std::string_view::npos) return std::nullopt;
    if (rest.front() == '[') {  // [::1]:8443
        const auto close = rest.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        u.host = std::string(rest.substr(1, close - 1));
        rest.remove_prefix(close + 1);
        if (!rest.empty() && rest.front() != ':') return std::nullopt;
        if (!rest.empty()) u.port = std::string(rest.substr(1));
    } else {
        const auto colon = rest.rfind(':');
        u.host = std::string(rest.substr(0, colon));
        if (colon != std::string_view::npos) u.port = std::string(rest.substr(colon + 1));
    }
    if (u.port.empty()) u.port = u.tls ? "443" : "80";
    if (u.host.empty() || u.port.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    return u;
}

bool is_loopback(const std::string& host) { return host == "127.0.0.1" || host == "::1" || host == "localhost"; }

// One keep-alive connection with its own io_context, so blocking calls can carry timeouts.
struct Connection {
    net::io_context ioc;
    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> secure;

    beast::tcp_stream& tcp_layer() { return plain ? *plain : beast::get_lowest_layer(*secure); }
};

// Runs the io_context until the operation completes; the stream's own deadline bounds it.
void run(net::io_context& ioc) {
    ioc.restart();
    ioc.run();
}

}  // namespace

struct CloudApiTransport::Impl {
    CloudApiOptions options;
    Url url;
    std::string target;  // /v25.0/<phone_number_id>/messages
    std::optional<net::ssl::context> tls;
    std::mutex mutex;
    std::vector<std::unique_ptr<Connection>> idle;

    Result<std::unique_ptr<Connection>> connect() {
        auto c = std::make_unique<Connection>();
        beast::error_code ec;
        tcp::resolver resolver(c->ioc);
        tcp::resolver::results_type endpoints;
        resolver.async_resolve(url.host, url.port, [&](beast::error_code e, tcp::resolver::results_type r) {
            ec = e;
            endpoints = std::move(r);
        });
        run(c->ioc);
        if (ec) return Error(ec, "cannot resolve " + url.host);
        if (url.tls) c->secure.emplace(c->ioc, *tls);
        else c->plain.emplace(c->ioc);
        beast::tcp_stream& stream = c->tcp_layer();
        stream.expires_after(options.timeout);
        stream.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
        run(c->ioc);
        if (ec) return Error(ec, "cannot connect to " + url.host + ":" + url.port);
        if (url.tls) {
            if (auto ok = crypto::set_tls_peer_host(c->secure->native_handle(), url.host); !ok) return ok.error();
            stream.expires_after(options.timeout);
            c->secure->async_handshake(net::ssl::stream_base::client, [&](beast::error_code e) { ec = e; });
            run(c->ioc);
            if (ec) return Error(ec, "TLS handshake with " + url.host + " failed");
        }
        return c;
    }

    template <class Stream>
    beast::error_code exchange(Stream& stream, Connection& c, bhttp::request<bhttp::string_body>& req,
                               bhttp::response<bhttp::string_body>& res) {
        beast::error_code ec;
        c.tcp_layer().expires_after(options.timeout);
        bhttp::async_write(stream, req, [&](beast::error_code e, std::size_t) { ec = e; });
        run(c.ioc);
        if (ec) return ec;
        beast::flat_buffer buffer;
        bhttp::response_parser<bhttp::string_body> parser;
        parser.body_limit(1024 * 1024);
        c.tcp_layer().expires_after(options.timeout);
        bhttp::async_read(stream, buffer, parser, [&](beast::error_code e, std::size_t) { ec = e; });
        run(c.ioc);
        if (!ec) res = parser.release();
        return ec;
    }
};

CloudApiTransport::CloudApiTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CloudApiTransport::~CloudApiTransport() = default;

Result<std::unique_ptr<CloudApiTransport>> CloudApiTransport::create(CloudApiOptions options) {
    auto url = parse_base_url(options.base_url);
    if (!url) return {ConfigErrc::invalid_value, "base URL '" + options.base_url + "' is not scheme://host[:port]"};
    if (!url->tls && !is_loopback(url->host))
        return {ConfigErrc::invalid_value, "plain http is allowed only to a loopback host, not '" + url->host + "'"};
    if (options.phone_number_id.empty()) return {ConfigErrc::missing, "the Cloud API needs a phone number id"};
    if (options.access_token.empty()) return {ConfigErrc::missing, "the Cloud API needs an access token"};
    if (options.phone_number_id.find_first_not_of("0123456789") != std::string::npos)
        return {ConfigErrc::invalid_value, "the phone number id must be digits"};
    auto impl = std::make_unique<Impl>();
    impl->url = *url;
    impl->target = "/" + options.api_version + "/" + options.phone_number_id + "/messages";
    if (url->tls) {
        crypto::TlsClientOptions tls_options;
        tls_options.ca_file = options.ca_file;
        auto ctx = crypto::make_tls_client_context(tls_options);
        if (!ctx) return ctx.error();
        impl->tls.emplace(static_cast<SSL_CTX*>(ctx->release()));
    }
    impl->options = std::move(options);
    return std::unique_ptr<CloudApiTransport>(new CloudApiTransport(std::move(impl)));
}

std::string CloudApiTransport::request_body(const transport::OutboundMessage& m) {
    using nlohmann::json;
    json body = {{"messaging_product", "whatsapp"}, {"recipient_type", "individual"}, {"to", m.to.e164()}};
    const bool is_template = m.kind == messaging::MessageKind::marketing_template ||
                             m.kind == messaging::MessageKind::utility_template ||
                             m.kind == messaging::MessageKind::authentication_template;
    if (is_template) {
        json parameters = json::array();
        for (const std::string& p : m.template_message.body_parameters) parameters.push_back({{"type", "text"}, {"text", p}});
        json t = {{"name", m.template_message.name}, {"language", {{"code", m.template_message.language}}}};
        if (!parameters.empty()) t["components"] = json::array({{{"type", "body"}, {"parameters", parameters}}});
        body["type"] = "template";
        body["template"] = std::move(t);
    } else {
        body["type"] = "text";
        body["text"] = {{"preview_url", false}, {"body", m.text}};
    }
    if (!m.correlation_id.empty()) body["biz_opaque_callback_data"] = m.correlation_id;
    return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<transport::ProviderAnswer> CloudApiTransport::deliver(const transport::OutboundMessage& message) {
    Impl& d = *impl_;
    bhttp::request<bhttp::string_body> req{bhttp::verb::post, d.target, 11};
    req.set(bhttp::field::host, d.url.host);
    req.set(bhttp::field::content_type, "application/json");
    req.set(bhttp::field::authorization, "Bearer " + d.options.access_token);
    req.keep_alive(true);
    req.body() = request_body(message);
    req.prepare_payload();

    bhttp::response<bhttp::string_body> res;
    beast::error_code ec;
    // A reused connection may have been closed by the server: then retry once on a fresh one.
    for (int attempt = 0; attempt < 2; ++attempt) {
        std::unique_ptr<Connection> c;
        bool reused = false;
        {
            std::lock_guard lock(d.mutex);
            if (!d.idle.empty()) {
                c = std::move(d.idle.back());
                d.idle.pop_back();
                reused = true;
            }
        }
        if (!c) {
            auto fresh = d.connect();
            if (!fresh) return fresh.error();
            c = std::move(fresh).value();
        }
        ec = c->plain ? d.exchange(*c->plain, *c, req, res) : d.exchange(*c->secure, *c, req, res);
        if (ec && reused) continue;
        if (ec) return Error(ec, "no answer from the Cloud API");
        if (res.keep_alive()) {
            std::lock_guard lock(d.mutex);
            if (d.idle.size() < d.options.max_idle_connections) d.idle.push_back(std::move(c));
        }
        break;
    }
    if (ec) return Error(ec, "no answer from the Cloud API");

    transport::ProviderAnswer answer;
    const auto body = nlohmann::json::parse(res.body(), nullptr, false);
    if (res.result_int() == 200 && body.is_object()) {
        const auto messages = body.find("messages");
        if (messages != body.end() && messages->is_array() && !messages->empty() && (*messages)[0].contains("id") &&
            (*messages)[0]["id"].is_string()) {
            answer.outcome = transport::Outcome::accepted;
            answer.provider_message_id = (*messages)[0]["id"].get<std::string>();
            return answer;
        }
    }
    if (body.is_object() && body.contains("error") && body["error"].is_object()) {
        const auto& e = body["error"];
        if (e.contains("code") && e["code"].is_number_integer()) answer.error_code = e["code"].get<long>();
        if (e.contains("message") && e["message"].is_string()) answer.error_title = e["message"].get<std::string>();
        answer.outcome = transport::classify_error(answer.error_code);
    } else {
        answer.outcome = res.result_int() >= 500 || res.result_int() == 429 ? transport::Outcome::temporary
                                                                            : transport::Outcome::rejected;
        answer.error_title = "HTTP " + std::to_string(res.result_int()) + " without a Cloud API error body";
    }
    switch (answer.error_code) {  // how long to wait before the next attempt, per Meta's guidance
        case 131056: answer.retry_after = std::chrono::seconds(6); break;   // one message per 6 s per recipient
        case 131049: answer.retry_after = std::chrono::hours(24); break;    // per-user marketing limit
        case 130429: case 80007: case 4: answer.retry_after = std::chrono::seconds(1); break;
        default: if (answer.outcome == transport::Outcome::temporary) answer.retry_after = std::chrono::seconds(1);
    }
    return answer;
}

}  // namespace heroshhi::whatsapp
