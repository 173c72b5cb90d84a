// The Cloud API transport against the local fake Graph API, over real sockets.
#include <doctest/doctest.h>

#include <heroshhi/core/errors.hpp>
#include <heroshhi/testing/fake_graph_api.hpp>
#include <heroshhi/whatsapp/cloud_api_transport.hpp>

#include <nlohmann/json.hpp>

using namespace heroshhi;
using namespace std::chrono_literals;
using transport::Outcome;

namespace {

struct Fixture {
    std::unique_ptr<testing::FakeGraphApi> fake = testing::FakeGraphApi::start("token-123").value();
    std::unique_ptr<whatsapp::CloudApiTransport> transport = make("token-123");

    std::unique_ptr<whatsapp::CloudApiTransport> make(std::string token, std::chrono::milliseconds timeout = 5s) {
        whatsapp::CloudApiOptions o;
        o.base_url = fake->base_url();
        o.phone_number_id = "771122334455667";
        o.access_token = std::move(token);
        o.timeout = timeout;
        return whatsapp::CloudApiTransport::create(o).value();
    }
};

transport::OutboundMessage text_to(const char* to, std::string text) {
    transport::OutboundMessage m{PhoneNumber::parse(to).value(), messaging::MessageKind::free_form};
    m.text = std::move(text);
    return m;
}

}  // namespace

TEST_CASE("a text message is posted with the bearer token and accepted with the provider id") {
    Fixture f;
    auto m = text_to("+14155550123", "Your visit is confirmed for 10:00 \"tomorrow\"");
    m.correlation_id = "crm-msg-1";
    auto answer = f.transport->deliver(m);
    REQUIRE_MESSAGE(answer.has_value(), (answer ? "" : answer.error().message()));
    CHECK(answer->outcome == Outcome::accepted);
    CHECK(answer->provider_message_id == "wamid.fake.1");
    auto got = f.fake->received();
    REQUIRE(got.size() == 1);
    CHECK(got[0].target == "/v25.0/771122334455667/messages");
    CHECK(got[0].authorization == "Bearer token-123");
    auto body = nlohmann::json::parse(got[0].body);
    CHECK(body["messaging_product"] == "whatsapp");
    CHECK(body["to"] == "+14155550123");
    CHECK(body["type"] == "text");
    CHECK(body["text"]["body"] == "Your visit is confirmed for 10:00 \"tomorrow\"");
    CHECK(body["biz_opaque_callback_data"] == "crm-msg-1");
}

TEST_CASE("a template carries its name, language and body parameters") {
    transport::OutboundMessage m{PhoneNumber::parse("+14155550123").value(), messaging::MessageKind::utility_template};
    m.template_message = {"visit_reminder", "en_US", {"Ada", "10:00"}};
    auto body = nlohmann::json::parse(whatsapp::CloudApiTransport::request_body(m));
    CHECK(body["type"] == "template");
    CHECK(body["template"]["name"] == "visit_reminder");
    CHECK(body["template"]["language"]["code"] == "en_US");
    CHECK(body["template"]["components"][0]["parameters"][1]["text"] == "10:00");
    CHECK_FALSE(body.contains("text"));
}

TEST_CASE("provider errors are classified: marketing opt-out, closed window, throttling, bad token") {
    Fixture f;
    f.fake->fail("+14155550150", 131050);
    f.fake->fail("+14155550147", 131047);
    f.fake->fail("+14155550156", 131056);
    auto marketing = f.transport->deliver(text_to("+14155550150", "x"));
    REQUIRE(marketing.has_value());
    CHECK(marketing->outcome == Outcome::marketing_opted_out);
    CHECK(marketing->error_code == 131050);
    CHECK(f.transport->deliver(text_to("+14155550147", "x"))->outcome == Outcome::window_closed);
    auto pair = f.transport->deliver(text_to("+14155550156", "x"));
    CHECK(pair->outcome == Outcome::throttled);
    CHECK(pair->retry_after == 6s);
    auto wrong = f.make("wrong-token")->deliver(text_to("+14155550123", "x"));
    REQUIRE(wrong.has_value());
    CHECK(wrong->outcome == Outcome::auth_error);
    CHECK(wrong->error_code == 190);
}

TEST_CASE("connections are reused between messages") {
    Fixture f;
    for (int i = 0; i < 5; ++i) REQUIRE(f.transport->deliver(text_to("+14155550123", "x"))->outcome == Outcome::accepted);
    auto got = f.fake->received();
    REQUIRE(got.size() == 5);
    for (const auto& r : got) CHECK(r.client == got[0].client);
}

TEST_CASE("a silent server makes delivery fail with an error, not hang") {
    Fixture f;
    f.fake->delay(1500ms);
    auto slow = f.make("token-123", 300ms);
    const auto start = std::chrono::steady_clock::now();
    auto answer = slow->deliver(text_to("+14155550123", "x"));
    CHECK_FALSE(answer.has_value());
    CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("an unreachable provider is an error, and bad configuration is refused") {
    whatsapp::CloudApiOptions o;
    o.base_url = "http://127.0.0.1:1";  // nothing listens there
    o.phone_number_id = "771122334455667";
    o.access_token = "t";
    o.timeout = 2s;
    auto t = whatsapp::CloudApiTransport::create(o).value();
    CHECK_FALSE(t->deliver(text_to("+14155550123", "x")).has_value());

    o.base_url = "http://graph.facebook.com";
    auto plain = whatsapp::CloudApiTransport::create(o);
    REQUIRE_FALSE(plain.has_value());
    CHECK(plain.error().message().find("plain http is allowed only to a loopback host") != std::string::npos);
    o.base_url = "ftp://x";
    CHECK(whatsapp::CloudApiTransport::create(o).error() == ConfigErrc::invalid_value);
    o.base_url = "https://graph.facebook.com";
    o.access_token.clear();
    CHECK(whatsapp::CloudApiTransport::create(o).error() == ConfigErrc::missing);
}
