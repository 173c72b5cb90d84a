// heroshhi gateway — demo mode.
#include "demo.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <ostream>

#include <heroshhi/crypto/webhook_signature.hpp>
#include <heroshhi/http/server.hpp>
#include <heroshhi/testing/fake_graph_api.hpp>

#include "app.hpp"
#include "loopback_client.hpp"

namespace heroshhi::gateway {
namespace {

constexpr const char* demo_app_secret = "demo-app-secret";
constexpr const char* demo_verify_token = "demo-verify-token";
constexpr const char* demo_graph_token = "demo-graph-token";
constexpr const char* demo_number_id = "100000000000001";
constexpr const char* demo_contact = "14155550123";  // the contact's wa_id (+1 415 555 0123)

// A Cloud API delivery of one inbound text message from the demo contact.
std::string inbound_text(std::string_view wamid, std::string_view text, long long unix_seconds) {
    return std::string(R"({"object":"whatsapp_business_account","entry":[{"id":"200000000000002","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":")") +
           demo_number_id + R"("},"contacts":[{"profile":{"name":"Demo Contact"},"wa_id":")" + demo_contact +
           R"("}],"messages":[{"from":")" + demo_contact + R"(","id":")" + std::string(wamid) +
           R"(","timestamp":")" + std::to_string(unix_seconds) + R"(","type":"text","text":{"body":")" +
           std::string(text) + R"("}}]}}]}]})";
}

// Writes "1 <base64 of 32 random bytes>" to `path` (mode 0600) unless it exists: the demo's data
// key and blind-index key, so its database is encrypted at rest like a real deployment's.
bool ensure_key_file(const std::string& path) {
    if (std::filesystem::exists(path)) return true;
    unsigned char key[32];
    unsigned char text[64];
    if (RAND_bytes(key, sizeof key) != 1) return false;
    const int n = EVP_EncodeBlock(text, key, sizeof key);
    OPENSSL_cleanse(key, sizeof key);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) return false;
    const std::string line = "1 " + std::string(reinterpret_cast<char*>(text), static_cast<std::size_t>(n)) + "\n";
    OPENSSL_cleanse(text, sizeof text);
    const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    ::close(fd);
    return ok;
}

struct Step {
    std::string title;
    std::string method;
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;       // sent as is
    std::string body_file;  // for the curl line: --data-binary @file
    int expected_status;
};

std::string curl_line(const Step& s, std::uint16_t port) {
    std::string line = "curl -s -i -X " + s.method + " 'http://127.0.0.1:" + std::to_string(port) + s.target + "'";
    for (const auto& [k, v] : s.headers) line += " -H '" + k + ": " + v + "'";
    if (!s.body_file.empty()) line += " --data-binary @" + s.body_file;
    else if (!s.body.empty()) line += " -d '" + s.body + "'";
    return line;
}

}  // namespace

void block_stop_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int wait_for_stop_signal() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int signal = 0;
    sigwait(&set, &signal);
    return signal;
}

int run_demo(const DemoOptions& options, std::ostream& out, std::ostream& err) {
    auto fake = testing::FakeGraphApi::start(demo_graph_token);
    if (!fake) {
        err << "heroshhi serve --demo: cannot start the fake Graph API: " << fake.error().message() << '\n';
        return 1;
    }
    AppOptions app_options;
    app_options.config.sqlite = options.sqlite;
    app_options.config.port = options.port;
    app_options.config.app_secret = demo_app_secret;
    app_options.config.verify_token = demo_verify_token;
    app_options.config.graph_token = demo_graph_token;
    app_options.config.graph_base_url = (*fake)->base_url();
    app_options.config.auth_per_minute = 120;  // a newcomer trying keys by hand on loopback
    app_options.config.key_file = options.sqlite + ".keys";
    app_options.config.index_key_file = options.sqlite + ".index-key";
    if (!ensure_key_file(app_options.config.key_file) || !ensure_key_file(app_options.config.index_key_file)) {
        err << "heroshhi serve --demo: cannot write the demo's key files next to " << options.sqlite << '\n';
        return 1;
    }
    auto app = App::open(app_options);
    if (!app) {
        err << "heroshhi serve --demo: " << app.error().message() << '\n';
        return 1;
    }
    if (auto t = (*app)->register_tenant({"demo", "Demo Co", demo_number_id}); !t) {
        err << "heroshhi serve --demo: " << t.error().message() << '\n';
        return 1;
    }
    auto key = (*app)->directory().create_key(rbac::Principal(UserId("demo-owner"), TenantId("demo"), rbac::Role::owner));
    if (!key) {
        err << "heroshhi serve --demo: " << key.error().message() << '\n';
        return 1;
    }

    block_stop_signals();
    http::ServerOptions server_options;
    server_options.port = options.port;
    App* handler = app->get();
    auto server = http::Server::start(server_options, [handler](http::Request r, http::Responder out) {
        handler->handle_async(std::move(r), std::move(out));
    });
    if (!server) {
        err << "heroshhi serve --demo: " << server.error().message() << '\n';
        return 1;
    }
    const std::uint16_t port = (*server)->port();

    // Signed webhook bodies, fresh each run (the wamids carry the time, so reruns on the same
    // database are new messages, not redeliveries).
    std::error_code ec;
    std::filesystem::create_directories(options.files, ec);
    const long long now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    auto signer = crypto::WebhookSignature::create(demo_app_secret);
    const std::string stop = inbound_text("wamid.demo.stop." + std::to_string(now), "STOP", now);
    const std::string start = inbound_text("wamid.demo.start." + std::to_string(now), "START", now + 1);
    const std::string stop_file = options.files + "/stop.json", start_file = options.files + "/start.json";
    std::ofstream(stop_file, std::ios::binary) << stop;
    std::ofstream(start_file, std::ios::binary) << start;
    const std::string bearer = "Bearer " + key->token;
    const std::string send = R"({"to": "+14155550123", "text": "Hello from the demo"})";
    const std::vector<std::pair<std::string, std::string>> json_type{{"Content-Type", "application/json"}};
    auto signed_headers = [&](const std::string& body) {
        auto h = json_type;
        h.emplace_back("X-Hub-Signature-256", *signer->header_value(body));
        return h;
    };
    auto api_headers = json_type;
    api_headers.emplace_back("Authorization", bearer);
    const std::vector<Step> steps{
        {"1. The contact writes STOP (a signed webhook, as Meta sends it)", "POST", "/webhooks/whatsapp",
         signed_headers(stop), stop, stop_file, 200},
        {"2. A send to them is refused, with the opt-out notice", "POST", "/v1/messages", api_headers, send, {}, 403},
        {"3. Their consent status says why", "GET", "/v1/contacts/+14155550123/consent", {{"Authorization", bearer}}, {}, {}, 200},
        {"4. The contact writes START", "POST", "/webhooks/whatsapp", signed_headers(start), start, start_file, 200},
        {"5. Now the send goes out (to the fake Graph API)", "POST", "/v1/messages", api_headers, send, {}, 202},
        {"6. The audit trail is intact", "GET", "/v1/audit/verify", {{"Authorization", bearer}}, {}, {}, 200},
    };

    out << "heroshhi gateway (demo) listening on http://127.0.0.1:" << port << "\n"
        << "  store: " << options.sqlite << " (encrypted at rest; keys in " << options.sqlite << ".keys and .index-key)\n"
        << "  tenant: demo   API key (owner): " << key->token << "\n"
        << "  fake Graph API: " << (*fake)->base_url() << "   webhook verify token: " << demo_verify_token << "\n\n"
        << "Try it (copy and paste):\n\n";
    for (const Step& s : steps) out << "# " << s.title << "\n" << curl_line(s, port) << "\n\n";

    int status = 0;
    if (options.walkthrough) {
        out << "Walkthrough (the same requests, made now):\n";
        LoopbackClient client(port);
        for (const Step& s : steps) {
            auto response = client.request(s.method, s.target, s.headers, s.body);
            if (!response) {
                out << "  " << s.title << ": no answer (" << response.error().message() << ")\n";
                status = 1;
                continue;
            }
            const bool ok = response->status == s.expected_status;
            if (!ok) status = 1;
            out << "  " << s.title << "\n    -> " << response->status << ' ' << response->body
                << (ok ? "" : "   (UNEXPECTED: wanted " + std::to_string(s.expected_status) + ")") << "\n";
            // A webhook's reply leaves after the answer, from the app's reply queue: let it go
            // before the next step, as a person following the walkthrough would.
            if (s.target == "/webhooks/whatsapp") (void)handler->wait_for_replies(std::chrono::seconds(10));
        }
        out << "  Messages the fake Graph API received: " << (*fake)->received().size()
            << " (the opt-out confirmation, the START reply and the demo send)\n\n";
    }
    out.flush();
    if (options.keep_serving) {
        out << "Serving until Ctrl-C." << std::endl;
        wait_for_stop_signal();
        out << "Stopping: finishing requests in flight." << std::endl;
    }
    (*server)->stop();
    return status;
}

}  // namespace heroshhi::gateway
