// The WhatsApp webhook endpoint: handshake, signatures, and every kind of event into the engine.
#include <doctest/doctest.h>

#include <heroshhi/crypto/webhook_signature.hpp>
#include <heroshhi/storage/memory_store.hpp>
#include <heroshhi/testing/failing_store.hpp>
#include <heroshhi/whatsapp/webhook.hpp>

#include <mutex>
#include <vector>

#include "support/webhook_requests.hpp"

using namespace heroshhi;
using messaging::MessageKind;

namespace {

const TenantId acme{"acme"};
const char* const secret = "app-secret-for-tests";

using test_support::text_event;
using test_support::webhook_envelope;
using test_support::webhook_post;

std::string text_message(const std::string& id, const std::string& body, const std::string& from = "14155550123") {
    return webhook_envelope(R"("messages":[)" + text_event(id, body, from) + "]");
}

struct Fixture {
    storage::MemoryStore inner;
    testing::FailingStore store{inner};
    ManualClock clock{from_unix_ms(1'767'225'660'000)};
    Engine engine{store, clock};
    std::mutex mutex;
    std::vector<whatsapp::PendingReply> replies;
    std::unique_ptr<whatsapp::Webhook> webhook;
    crypto::WebhookSignature signer = crypto::WebhookSignature::create(secret).value();
    PhoneNumber lead = PhoneNumber::parse("+14155550123").value();

    Fixture() {
        whatsapp::WebhookOptions o;
        o.verify_token = "verify-me";
        o.app_secret = secret;
        o.tenant_for = [](std::string_view id) -> std::optional<TenantId> {
            if (id == "771122334455667") return acme;
            return std::nullopt;
        };
        o.on_reply = [this](const whatsapp::PendingReply& r) {
            std::lock_guard lock(mutex);
            replies.push_back(r);
        };
        webhook = whatsapp::Webhook::create(engine, o).value();
    }

    http::Response post(const std::string& body, std::string signature = "sign") {
        return webhook->handle(webhook_post(signer, body, std::move(signature)));
    }
};

}  // namespace

TEST_CASE("the verification handshake echoes the challenge only for the right token") {
    Fixture f;
    http::Request r;
    r.method = "GET";
    r.target = "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444";
    auto ok = f.webhook->handle(r);
    CHECK(ok.status == 200);
    CHECK(ok.body == "1158201444");
    r.target = "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1158201444";
    CHECK(f.webhook->handle(r).status == 403);
}

TEST_CASE("a signed STOP opts the contact out and asks for the confirmation reply") {
    Fixture f;
    auto res = f.post(text_message("wamid.1", "Stop."));
    CHECK(res.status == 200);
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::utility_template).reason() == Reason::opted_out);
    REQUIRE(f.replies.size() == 1);
    CHECK(f.replies[0].kind == MessageKind::optout_confirmation);
    CHECK(f.replies[0].to == f.lead);
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::optout_confirmation).allowed());
}

TEST_CASE("an unsigned or wrongly signed delivery is refused with 401 and nothing is stored") {
    Fixture f;
    const std::string body = text_message("wamid.1", "STOP");
    CHECK(f.post(body, "").status == 401);
    CHECK(f.post(body, "sha256=" + std::string(64, '0')).status == 401);
    CHECK(f.post(body, "sha1=abc").status == 401);
    auto other = f.signer.header_value(body + " ").value();
    CHECK(f.post(body, other).status == 401);
    CHECK(f.engine.history(acme, f.lead)->empty());
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::utility_template).allowed());
}

TEST_CASE("malformed JSON is a 400 with a message and stores nothing") {
    Fixture f;
    auto res = f.post("{\"object\":\"whatsapp_business_account\",\"entry\":[");
    CHECK(res.status == 400);
    CHECK(res.body.find("malformed_webhook") != std::string::npos);
}

TEST_CASE("a redelivered webhook is recorded once and answered once") {
    Fixture f;
    const std::string body = text_message("wamid.same", "UNSUBSCRIBE");
    CHECK(f.post(body).status == 200);
    CHECK(f.post(body).status == 200);
    CHECK(f.engine.history(acme, f.lead)->size() == 1);
    CHECK(f.replies.size() == 1);
    auto report = f.webhook->ingest(body, f.signer.header_value(body).value());
    REQUIRE(report.has_value());
    CHECK(report->duplicates == 1);
    CHECK(report->opt_outs == 0);
}

TEST_CASE("a Stop promotions tap, a user_preferences stop and error 131050 are marketing opt-outs") {
    Fixture f;
    CHECK(f.post(webhook_envelope(R"("messages":[{"from":"14155550123","id":"w1","timestamp":"1767225600","type":"button",
        "button":{"payload":"Stop promotions","text":"Stop promotions"}}])")).status == 200);
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::marketing_template).reason() == Reason::marketing_opted_out);
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::utility_template).allowed());

    const PhoneNumber b = PhoneNumber::parse("+14155550124").value();
    CHECK(f.post(webhook_envelope(R"("user_preferences":[{"wa_id":"14155550124","category":"marketing_messages","value":"stop","timestamp":1767225600}])"))
              .status == 200);
    CHECK(f.engine.check_send(acme, b, MessageKind::marketing_template).reason() == Reason::marketing_opted_out);

    const PhoneNumber c = PhoneNumber::parse("+14155550125").value();
    const std::string failed = webhook_envelope(R"("statuses":[{"id":"wamid.out","status":"failed","timestamp":"1767225600",
        "recipient_id":"14155550125","errors":[{"code":131050,"title":"stopped marketing"}]}])");
    CHECK(f.post(failed).status == 200);
    CHECK(f.post(failed).status == 200);  // redelivered: still one event
    CHECK(f.engine.check_send(acme, c, MessageKind::marketing_template).reason() == Reason::marketing_opted_out);
    CHECK(f.engine.history(acme, c)->size() == 1);
}

TEST_CASE("an inbound message opens the 24-hour window; events for unknown numbers are ignored") {
    Fixture f;
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::free_form).reason() == Reason::outside_window);
    CHECK(f.post(text_message("wamid.9", "Is the flat still available?")).status == 200);
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::free_form).allowed());

    auto report = f.webhook->ingest(webhook_envelope(R"("messages":[{"from":"1","id":"x","timestamp":"1","type":"text","text":{"body":"STOP"}}])",
                                             "999"),
                                    f.signer.header_value(webhook_envelope(R"("messages":[{"from":"1","id":"x","timestamp":"1","type":"text","text":{"body":"STOP"}}])", "999")).value());
    REQUIRE(report.has_value());
    CHECK(report->ignored == 1);
}

TEST_CASE("when the store fails the delivery gets 503, and the redelivery is stored once healed") {
    Fixture f;
    REQUIRE(f.engine.warm(acme).has_value());
    f.store.fail_now();
    const std::string body = text_message("wamid.42", "STOP");
    CHECK(f.post(body).status == 503);
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::utility_template).reason() == Reason::opted_out);  // fail closed
    f.store.heal();
    CHECK(f.post(body).status == 200);
    CHECK(f.engine.history(acme, f.lead)->size() == 1);
}
