// Test support for the gateway: a running `heroshhi serve` (App + http::Server on a free loopback
// port) over a temporary SQLite file and a fake Graph API, and signed webhook bodies.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <heroshhi/core/clock.hpp>
#include <heroshhi/crypto/webhook_signature.hpp>
#include <heroshhi/http/server.hpp>
#include <heroshhi/testing/fake_graph_api.hpp>

#include "../support/temp_db.hpp"
#include "app.hpp"
#include "loopback_client.hpp"

namespace heroshhi::test_support {

inline constexpr const char* app_secret = "test-app-secret";
inline constexpr const char* verify_token = "test-verify-token";
inline constexpr const char* graph_token = "test-graph-token";

using Headers = std::vector<std::pair<std::string, std::string>>;

class RunningGateway {
public:
    /// `tweak` adjusts the configuration before the app opens (rate limits...).
    template <class Tweak>
    explicit RunningGateway(Tweak tweak, const Clock* clock = nullptr) {
        auto fake = testing::FakeGraphApi::start(graph_token);
        REQUIRE(fake.has_value());
        fake_ = std::move(*fake);
        gateway::AppOptions options;
        options.config.sqlite = db_.str();
        options.config.app_secret = app_secret;
        options.config.verify_token = verify_token;
        options.config.graph_token = graph_token;
        options.config.graph_base_url = fake_->base_url();
        options.clock = clock;
        tweak(options.config);
        auto app = gateway::App::open(std::move(options));
        REQUIRE_MESSAGE(app.has_value(), (app ? "" : app.error().message()));
        app_ = std::move(*app);
        for (const char* t : {"acme", "globex"})
            REQUIRE(app_->register_tenant({t, t, std::string(t) == "acme" ? "111000111" : "222000222"}).has_value());
        http::ServerOptions server_options;
        server_options.port = 0;
        gateway::App* handler = app_.get();
        // The server's asynchronous form, as `heroshhi serve` runs it.
        auto server = http::Server::start(server_options, [handler](http::Request r, http::Responder out) {
            handler->handle_async(std::move(r), std::move(out));
        });
        REQUIRE(server.has_value());
        server_ = std::move(*server);
    }
    RunningGateway() : RunningGateway([](gateway::Config&) {}) {}
    ~RunningGateway() { server_->stop(); }

    std::uint16_t port() const { return server_->port(); }
    gateway::App& app() { return *app_; }
    testing::FakeGraphApi& graph() { return *fake_; }
    /// What the fake Graph API has received once every reply asked for so far has gone out:
    /// replies (opt-out confirmations, START and HELP answers) leave after their delivery is
    /// answered, from the app's reply queue.
    std::vector<testing::FakeGraphApi::Received> sent() {
        REQUIRE(app_->wait_for_replies(std::chrono::seconds(10)));
        return fake_->received();
    }
    std::string db_path() const { return db_.str(); }

    /// A fresh API key of `role` in `tenant`.
    std::string key(const std::string& tenant, rbac::Role role, const std::string& user, const std::string& team = {}) {
        auto issued = app_->directory().create_key(rbac::Principal(UserId(user), TenantId(tenant), role, team));
        REQUIRE(issued.has_value());
        return issued->token;
    }

private:
    TempDb db_;
    std::unique_ptr<testing::FakeGraphApi> fake_;
    std::unique_ptr<gateway::App> app_;
    std::unique_ptr<http::Server> server_;
};

inline Headers bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}, {"Content-Type", "application/json"}}; }

inline std::string signature_for(const std::string& body, const std::string& secret = app_secret) {
    auto signer = crypto::WebhookSignature::create(secret);
    REQUIRE(signer.has_value());
    return *signer->header_value(body);
}

inline Headers signed_headers(const std::string& body) {
    return {{"Content-Type", "application/json"}, {"X-Hub-Signature-256", signature_for(body)}};
}

/// A Cloud API envelope around one `value` for the business number `number_id`.
inline std::string envelope(const std::string& number_id, const std::string& value_members) {
    return R"({"object":"whatsapp_business_account","entry":[{"id":"9","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":")" +
           number_id + "\"}," + value_members + "}}]}]}";
}

inline long long unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// An inbound text message from `wa_id` to acme's number.
inline std::string inbound_text(const std::string& wa_id, const std::string& wamid, const std::string& text,
                                const std::string& number_id = "111000111") {
    return envelope(number_id, R"("contacts":[{"profile":{"name":"X"},"wa_id":")" + wa_id + R"("}],"messages":[{"from":")" +
                                   wa_id + R"(","id":")" + wamid + R"(","timestamp":")" + std::to_string(unix_now()) +
                                   R"(","type":"text","text":{"body":")" + text + R"("}}])");
}

}  // namespace heroshhi::test_support
