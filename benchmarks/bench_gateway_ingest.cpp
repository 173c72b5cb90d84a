// Signed webhook ingest through the gateway over loopback keep-alive connections (verify the
// signature, parse, classify, store durably in SQLite, answer 200), beside a bare Boost.Beast
// server that answers 200 to the same requests, measured in the same run.
//
// Figures: requests/s (items_per_second) and p99 latency (counter p99_us), with 2 client threads,
// each keeping one connection and sending requests back to back.
#include <utility>  // before asio (Boost 1.74 with g++ 12)

#include <benchmark/benchmark.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <thread>
#include <vector>

#include <heroshhi/crypto/webhook_signature.hpp>
#include <heroshhi/http/server.hpp>

#include "app.hpp"
#include "loopback_client.hpp"

namespace {

using namespace heroshhi;
namespace asio = boost::asio;
namespace beast = boost::beast;

constexpr int client_threads = 2;
constexpr int requests_per_thread = 500;
constexpr const char* secret = "bench-secret";

// One signed delivery of an inbound text message (every 20th is a STOP from a new contact).
std::pair<std::string, std::string> delivery(int n) {
    const std::string wa_id = "1415555" + std::to_string(1000 + n % 9000);
    const std::string text = n % 20 == 0 ? "STOP" : "Hi, is the offer still on? Order " + std::to_string(n);
    const std::string body =
        R"({"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"111000111"},"contacts":[{"profile":{"name":"B"},"wa_id":")" +
        wa_id + R"("}],"messages":[{"from":")" + wa_id + R"(","id":"wamid.bench.)" + std::to_string(n) +
        "." + std::to_string(std::random_device{}()) + R"(","timestamp":"1767225600","type":"text","text":{"body":")" + text +
        R"("}}]}}]}]})";
    static const auto signer = crypto::WebhookSignature::create(secret);
    return {body, *signer->header_value(body)};
}

// Sends every prepared request from `client_threads` threads; returns per-request latencies (µs).
std::vector<double> load(std::uint16_t port, const std::vector<std::pair<std::string, std::string>>& requests,
                         std::atomic<int>& errors) {
    std::vector<std::vector<double>> per_thread(client_threads);
    std::vector<std::thread> threads;
    for (int t = 0; t < client_threads; ++t)
        threads.emplace_back([&, t] {
            gateway::LoopbackClient client(port);
            for (int i = t; i < static_cast<int>(requests.size()); i += client_threads) {
                const auto& [body, signature] = requests[static_cast<std::size_t>(i)];
                const auto start = std::chrono::steady_clock::now();
                auto r = client.request("POST", "/webhooks/whatsapp",
                                        {{"Content-Type", "application/json"}, {"X-Hub-Signature-256", signature}}, body);
                per_thread[static_cast<std::size_t>(t)].push_back(
                    std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
                if (!r || r->status != 200) errors.fetch_add(1);
            }
        });
    for (auto& th : threads) th.join();
    std::vector<double> all;
    for (auto& v : per_thread) all.insert(all.end(), v.begin(), v.end());
    return all;
}

void report(benchmark::State& state, std::vector<double>& latencies, double seconds, int errors) {
    std::sort(latencies.begin(), latencies.end());
    state.SetIterationTime(seconds);
    state.counters["p99_us"] = latencies[latencies.size() * 99 / 100];
    state.counters["p50_us"] = latencies[latencies.size() / 2];
    state.counters["errors"] = errors;
    state.SetItemsProcessed(state.items_processed() + static_cast<std::int64_t>(latencies.size()));
}

void BM_gateway_signed_ingest(benchmark::State& state) {
    const auto db = std::filesystem::temp_directory_path() / ("heroshhi-bench-ingest-" + std::to_string(::getpid()) + ".db");
    gateway::AppOptions options;
    options.config.sqlite = db.string();
    options.config.app_secret = secret;
    options.config.verify_token = "v";
    options.config.webhook_per_minute = 10'000'000;
    options.transport_for = [](const gateway::Tenant&) -> Result<std::unique_ptr<transport::Transport>> {
        return Error(std::make_error_code(std::errc::not_supported), "no sends in this benchmark");
    };
    auto app = gateway::App::open(options);
    if (!app || !(*app)->directory().put_tenant({"acme", "acme", "111000111"})) {
        state.SkipWithError("cannot open the gateway");
        return;
    }
    http::ServerOptions server_options;
    server_options.threads = 2;
    gateway::App* handler = app->get();
    auto server = http::Server::start(server_options, [handler](const http::Request& r) { return handler->handle(r); });
    int n = 0;
    for (auto _ : state) {
        state.PauseTiming();
        std::vector<std::pair<std::string, std::string>> requests;
        for (int i = 0; i < client_threads * requests_per_thread; ++i) requests.push_back(delivery(n++));
        state.ResumeTiming();
        std::atomic<int> errors{0};
        const auto start = std::chrono::steady_clock::now();
        auto latencies = load((*server)->port(), requests, errors);
        report(state, latencies, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), errors);
    }
    (*server)->stop();
    app->reset();
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db.string() + suffix);
}
BENCHMARK(BM_gateway_signed_ingest)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(5);

// The baseline: Beast reading each request and answering 200 with a small JSON body, one thread
// per connection, no TLS, no checks.
void BM_bare_beast_200(benchmark::State& state) {
    asio::io_context io;
    asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
    const std::uint16_t port = acceptor.local_endpoint().port();
    std::atomic<bool> stopping{false};
    std::vector<std::thread> connections;
    std::thread accepting([&] {
        while (!stopping) {
            asio::ip::tcp::socket socket(io);
            beast::error_code ec;
            acceptor.accept(socket, ec);
            if (ec || stopping) break;
            connections.emplace_back([s = std::move(socket)]() mutable {
                beast::flat_buffer buffer;
                for (;;) {
                    beast::http::request<beast::http::string_body> req;
                    beast::error_code rec;
                    beast::http::read(s, buffer, req, rec);
                    if (rec) return;
                    beast::http::response<beast::http::string_body> res{beast::http::status::ok, req.version()};
                    res.set(beast::http::field::content_type, "application/json");
                    res.body() = R"({"ok":true})";
                    res.keep_alive(req.keep_alive());
                    res.prepare_payload();
                    beast::http::write(s, res, rec);
                    if (rec) return;
                }
            });
        }
    });
    int n = 0;
    for (auto _ : state) {
        state.PauseTiming();
        std::vector<std::pair<std::string, std::string>> requests;
        for (int i = 0; i < client_threads * requests_per_thread; ++i) requests.push_back(delivery(n++));
        state.ResumeTiming();
        std::atomic<int> errors{0};
        const auto start = std::chrono::steady_clock::now();
        auto latencies = load(port, requests, errors);
        report(state, latencies, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), errors);
    }
    stopping = true;
    { gateway::LoopbackClient poke(port); (void)poke.request("GET", "/"); }  // wake the acceptor
    accepting.join();
    for (auto& c : connections) c.join();
}
BENCHMARK(BM_bare_beast_200)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(5);

}  // namespace

BENCHMARK_MAIN();
