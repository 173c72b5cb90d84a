// Webhook::handle_async: the same answers as handle(), plain deliveries answered only once their
// writes are durable, everything else handed to blocking work.
#include <doctest/doctest.h>

#include <heroshhi/crypto/webhook_signature.hpp>
#include <heroshhi/storage/errors.hpp>
#include <heroshhi/whatsapp/webhook.hpp>

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "support/deferred_store.hpp"
#include "support/webhook_requests.hpp"

using namespace heroshhi;
using messaging::MessageKind;
using test_support::DeferredStore;

namespace {

const TenantId acme{"acme"};
const char* const secret = "app-secret-for-async-tests";

using test_support::text_event;
using test_support::webhook_envelope;
using test_support::webhook_post;

std::string messages(const std::vector<std::string>& each) {
    std::string list;
    for (const auto& m : each) list += (list.empty() ? "" : ",") + m;
    return webhook_envelope(R"("messages":[)" + list + "]");
}

// One request's answer, and the blocking jobs its responder was asked to run (kept until the
// test runs them, so the test sees which path a delivery took).
struct Exchange {
    std::optional<http::Response> answer;
    std::vector<std::function<void()>> jobs;

    http::Responder responder() {
        return http::Responder([this](http::Response r) { answer = std::move(r); },
                               [this](std::function<void()> job) { jobs.push_back(std::move(job)); });
    }
    void run_jobs() {
        auto taken = std::move(jobs);
        jobs.clear();
        for (auto& job : taken) job();
    }
};

struct Fixture {
    DeferredStore store;
    ManualClock clock{from_unix_ms(1'767'225'660'000)};
    Engine engine{store, clock};
    std::vector<whatsapp::PendingReply> replies;
    std::unique_ptr<whatsapp::Webhook> webhook;
    crypto::WebhookSignature signer = crypto::WebhookSignature::create(secret).value();
    bool directory_down = false;
    // With `with_cache`: a host's cache of the lookup (WebhookOptions::tenant_known), filled by
    // tenant_for, which counts its calls.
    std::map<std::string, std::optional<TenantId>, std::less<>> cache;
    int lookups = 0;

    explicit Fixture(bool with_cache = false) {
        whatsapp::WebhookOptions o;
        o.verify_token = "verify-me";
        o.app_secret = secret;
        o.tenant_for = [this](std::string_view id) -> Result<std::optional<TenantId>> {
            ++lookups;
            if (directory_down) return Error(storage::StorageErrc::unavailable, "directory down");
            std::optional<TenantId> tenant;
            if (id == "771122334455667") tenant = acme;
            cache.insert_or_assign(std::string(id), tenant);
            return tenant;
        };
        if (with_cache)
            o.tenant_known = [this](std::string_view id) -> std::optional<std::optional<TenantId>> {
                if (auto it = cache.find(id); it != cache.end()) return it->second;
                return std::nullopt;
            };
        o.on_reply = [this](const whatsapp::PendingReply& r) { replies.push_back(r); };
        webhook = whatsapp::Webhook::create(engine, o).value();
        REQUIRE(engine.warm(acme).has_value());
    }

    http::Request request(const std::string& body, std::string signature = "sign") {
        return webhook_post(signer, body, std::move(signature));
    }
    void post(Exchange& x, const std::string& body, std::string signature = "sign") {
        webhook->handle_async(request(body, std::move(signature)), x.responder());
    }
    bool window_open(const char* number) {
        return engine.check_send(acme, PhoneNumber::parse(number).value(), MessageKind::free_form).allowed();
    }
};

}  // namespace

TEST_CASE("a delivery of plain messages is answered 200 only once every write is durable") {
    Fixture f;
    Exchange x;
    f.post(x, messages({text_event("wamid.1", "Hello", "14155550101"), text_event("wamid.2", "Price?", "14155550102"),
                        text_event("wamid.3", "hi", "not-a-number")}));
    CHECK_FALSE(x.answer.has_value());
    CHECK(x.jobs.empty());  // nothing blocking
    CHECK(f.store.waiting() == 2);  // the unparseable sender is ignored, as handle() does
    f.store.complete_one();
    CHECK_FALSE(x.answer.has_value());
    f.store.complete_one();
    REQUIRE(x.answer.has_value());
    CHECK(x.answer->status == 200);
    CHECK(x.answer->body == R"({"ok":true})");
    CHECK(f.window_open("+14155550101"));
    CHECK(f.window_open("+14155550102"));
}

TEST_CASE("one failed write makes the whole delivery a 503 with the store's code; so does a failed tenant lookup") {
    Fixture f;
    Exchange x;
    f.post(x, messages({text_event("wamid.1", "Hello", "14155550101"), text_event("wamid.2", "Price?", "14155550102")}));
    f.store.complete_one(Error(storage::StorageErrc::full, "disk full"));
    f.store.complete_one();
    REQUIRE(x.answer.has_value());
    CHECK(x.answer->status == 503);
    CHECK(x.answer->body.find("store_full") != std::string::npos);

    Exchange y;
    f.directory_down = true;
    f.post(y, messages({text_event("wamid.3", "Hello", "14155550103")}));
    REQUIRE(y.answer.has_value());
    CHECK(y.answer->status == 503);
    CHECK(f.store.waiting() == 0);
}

TEST_CASE("refusals and the handshake are answered at once, with handle()'s answers, storing nothing") {
    Fixture f;
    const std::string body = messages({text_event("wamid.1", "Hello", "14155550101")});
    struct Case {
        const char* name;
        http::Request request;
        int status;  // what handle() answers too
    };
    http::Request handshake;
    handshake.method = "GET";
    handshake.target = "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=42";
    http::Request put = f.request(body);
    put.method = "PUT";
    const std::vector<Case> cases = {
        {"unsigned", f.request(body, ""), 401},
        {"wrongly signed", f.request(body, "sha256=" + std::string(64, '0')), 401},
        {"signed with the body changed", [&] {
             http::Request r = f.request(body);
             r.body[r.body.size() - 3] = ' ';
             return r;
         }(), 401},
        {"malformed", f.request("{\"object\":"), 400},
        {"handshake", handshake, 200},
        {"other method", put, 405},
    };
    for (const Case& c : cases) {
        CAPTURE(c.name);
        Exchange x;
        f.webhook->handle_async(c.request, x.responder());
        REQUIRE(x.answer.has_value());
        CHECK(x.answer->status == c.status);
        const http::Response expected = f.webhook->handle(c.request);
        CHECK(x.answer->status == expected.status);
        CHECK(x.answer->body == expected.body);
        CHECK(x.jobs.empty());
        if (std::string_view(c.name) == "handshake") CHECK(x.answer->body == "42");  // the challenge, echoed
    }
    CHECK(f.store.waiting() == 0);
    CHECK_FALSE(f.window_open("+14155550101"));
}

TEST_CASE("a keyword the engine does not take, and the messages after it, are stored by blocking work with its reply") {
    Fixture f;
    Exchange x;
    f.post(x, messages({text_event("wamid.1", "Hello", "14155550101"), text_event("wamid.2", "HELP", "14155550102"),
                        text_event("wamid.3", "later", "14155550103")}));
    CHECK(f.store.waiting() == 1);  // the first one, before the keyword
    REQUIRE(x.jobs.size() == 1);
    x.run_jobs();
    CHECK_FALSE(x.answer.has_value());  // the first write is still owed
    REQUIRE(f.replies.size() == 1);
    CHECK(f.replies[0].text == ReplyTexts::defaults().help);
    f.store.complete_one();
    REQUIRE(x.answer.has_value());
    CHECK(x.answer->status == 200);
    CHECK(f.window_open("+14155550101"));
    CHECK(f.window_open("+14155550103"));
}

TEST_CASE("a STOP is stored without blocking work, and asks for its confirmation once stored") {
    Fixture f;
    Exchange x;
    f.post(x, messages({text_event("wamid.1", "Hello", "14155550101"), text_event("wamid.2", "STOP", "14155550102"),
                        text_event("wamid.3", "later", "14155550103")}));
    CHECK(x.jobs.empty());
    CHECK(f.store.waiting() == 4);  // a time each, and the STOP's event
    CHECK(f.replies.empty());
    const PhoneNumber stopped = PhoneNumber::parse("+14155550102").value();
    while (f.store.waiting() > 1) f.store.complete_one();
    CHECK_FALSE(x.answer.has_value());  // one write still owed
    f.store.complete_one();
    REQUIRE(x.answer.has_value());
    CHECK(x.answer->status == 200);
    REQUIRE(f.replies.size() == 1);
    CHECK(f.replies[0].to == stopped);
    CHECK(f.replies[0].kind == MessageKind::optout_confirmation);
    CHECK(f.engine.check_send(acme, stopped, MessageKind::utility_template).reason() == Reason::opted_out);
    CHECK(f.window_open("+14155550101"));
    CHECK(f.window_open("+14155550103"));

    // Its event not stored: the delivery fails (Meta retries it), no confirmation, sends blocked.
    Exchange y;
    const PhoneNumber other = PhoneNumber::parse("+14155550104").value();
    f.post(y, messages({text_event("wamid.4", "STOP", "14155550104")}));
    REQUIRE(f.store.waiting() == 2);
    f.store.complete_one();
    f.store.complete_one(Error(storage::StorageErrc::full, "disk full"));
    REQUIRE(y.answer.has_value());
    CHECK(y.answer->status == 503);
    CHECK(f.replies.size() == 1);
    CHECK(f.engine.check_send(acme, other, MessageKind::utility_template).reason() == Reason::opted_out);
}

TEST_CASE("statuses and preference changes go to blocking work whole") {
    Fixture f;
    Exchange x;
    f.post(x, webhook_envelope(R"("statuses":[{"id":"wamid.out.1","status":"delivered","timestamp":"1767225600","recipient_id":"14155550104"}])"));
    CHECK_FALSE(x.answer.has_value());
    REQUIRE(x.jobs.size() == 1);
    x.run_jobs();
    REQUIRE(x.answer.has_value());
    CHECK(x.answer->status == 200);

    Exchange y;
    f.post(y, webhook_envelope(R"("user_preferences":[{"wa_id":"14155550105","detail":"User requested to stop marketing messages","category":"marketing_messages","value":"stop","timestamp":1767225600}])"));
    REQUIRE(y.jobs.size() == 1);
    y.run_jobs();
    REQUIRE(y.answer.has_value());
    CHECK(y.answer->status == 200);
    CHECK(f.engine.check_send(acme, PhoneNumber::parse("+14155550105").value(), MessageKind::marketing_template).reason() ==
          Reason::marketing_opted_out);
}

TEST_CASE("a blocking part dropped unrun still answers (500), so no delivery waits forever") {
    Fixture f;
    Exchange x;
    f.post(x, messages({text_event("wamid.1", "HELP", "14155550106")}));
    REQUIRE(x.jobs.size() == 1);
    x.jobs.clear();  // the server stopped before running it
    REQUIRE(x.answer.has_value());
    CHECK(x.answer->status == 500);
}

TEST_CASE("with tenant_known, a number it cannot place goes to blocking work, which looks it up; placed ones never wait") {
    Fixture f(true);
    Exchange x;
    f.post(x, messages({text_event("wamid.1", "Hello", "14155550101"), text_event("wamid.2", "Hi", "14155550102")}));
    CHECK(f.lookups == 0);  // not on the calling thread
    CHECK(f.store.waiting() == 0);
    REQUIRE(x.jobs.size() == 1);
    x.run_jobs();
    CHECK(f.lookups == 2);  // one a message, where waiting is allowed
    REQUIRE(x.answer.has_value());
    CHECK(x.answer->status == 200);
    CHECK(f.window_open("+14155550101"));
    CHECK(f.window_open("+14155550102"));

    // Now the number is placed at once: the plain message is handed to the store, no lookup.
    const int lookups = f.lookups;
    Exchange y;
    f.post(y, messages({text_event("wamid.3", "Hello again", "14155550103")}));
    CHECK(y.jobs.empty());
    CHECK(f.lookups == lookups);
    CHECK(f.store.waiting() == 1);
    CHECK_FALSE(y.answer.has_value());
    f.store.complete_one();
    REQUIRE(y.answer.has_value());
    CHECK(y.answer->status == 200);
    CHECK(f.window_open("+14155550103"));

    // A number known not to be ours: acknowledged at once and ignored, nothing stored.
    f.cache["771122334455667"] = std::nullopt;
    Exchange z;
    f.post(z, messages({text_event("wamid.4", "Hello", "14155550104")}));
    REQUIRE(z.answer.has_value());
    CHECK(z.answer->status == 200);
    CHECK(z.jobs.empty());
    CHECK(f.store.waiting() == 0);
    CHECK_FALSE(f.window_open("+14155550104"));

    // The blocking path's lookup failing is the delivery's 503, as without the cache.
    f.cache.clear();
    f.directory_down = true;
    Exchange w;
    f.post(w, messages({text_event("wamid.5", "Hello", "14155550105")}));
    REQUIRE(w.jobs.size() == 1);
    w.run_jobs();
    REQUIRE(w.answer.has_value());
    CHECK(w.answer->status == 503);
    CHECK_FALSE(f.window_open("+14155550105"));
}
