// The gateway end to end over real sockets on loopback: webhooks (handshake, signatures,
// redelivery, every opt-out path), the REST API (authentication, authorization, tenant isolation,
// errors), rate limits, security headers and limits.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include <heroshhi/http/security_headers.hpp>

#include "support.hpp"

using namespace heroshhi;
using namespace heroshhi::test_support;
using nlohmann::json;

namespace {

json body_of(const gateway::ClientResponse& r) {
    auto j = json::parse(r.body, nullptr, false);
    REQUIRE_MESSAGE(!j.is_discarded(), r.body);
    return j;
}

// Every error body has the same shape: {"error": {"code": "...", "message": "..."}}.
void check_error_shape(const gateway::ClientResponse& r, const std::string& code) {
    const json j = body_of(r);
    REQUIRE(j.contains("error"));
    CHECK(j["error"]["code"] == code);
    CHECK(j["error"]["message"].is_string());
    CHECK_FALSE(j["error"]["message"].get<std::string>().empty());
}

gateway::ClientResponse post(gateway::LoopbackClient& c, const std::string& target, const Headers& h, const std::string& body) {
    auto r = c.request("POST", target, h, body);
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message()));
    return *r;
}

gateway::ClientResponse get(gateway::LoopbackClient& c, const std::string& target, const Headers& h = {}) {
    auto r = c.request("GET", target, h);
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message()));
    return *r;
}

const std::string send_text = R"({"to": "+14155550123", "text": "Hello"})";

}  // namespace

TEST_CASE("the webhook handshake echoes the challenge only for the right verify token") {
    RunningGateway gw;
    gateway::LoopbackClient c(gw.port());
    auto ok = get(c, "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=test-verify-token&hub.challenge=1158201444");
    CHECK(ok.status == 200);
    CHECK(ok.body == "1158201444");
    auto wrong = get(c, "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1158201444");
    CHECK(wrong.status == 403);
    CHECK(wrong.body.find("1158201444") == std::string::npos);
}

TEST_CASE("a STOP webhook blocks sends through the API; START lets them through again") {
    RunningGateway gw;
    gateway::LoopbackClient c(gw.port());
    const std::string owner = gw.key("acme", rbac::Role::owner, "u-owner");

    const std::string stop = inbound_text("14155550123", "wamid.stop.1", "STOP");
    CHECK(post(c, "/webhooks/whatsapp", signed_headers(stop), stop).status == 200);
    // The confirmation leaves after the answer; it is out before the contact writes START (a
    // START first would make it moot: the gate confirms only an opt-out still in force).
    REQUIRE(gw.sent().size() == 1);

    auto refused = post(c, "/v1/messages", bearer(owner), send_text);
    CHECK(refused.status == 403);
    check_error_shape(refused, "opted_out");
    CHECK(body_of(refused)["error"]["message"].get<std::string>().find("STOP") != std::string::npos);

    auto consent = get(c, "/v1/contacts/+14155550123/consent", bearer(owner));
    REQUIRE(consent.status == 200);
    CHECK(body_of(consent)["opted_out"] == true);
    CHECK(body_of(consent)["last_opt_out"]["method"] == "keyword");
    CHECK(body_of(consent)["last_opt_out"]["keyword"] == "STOP");

    const std::string start = inbound_text("14155550123", "wamid.start.1", "START");
    CHECK(post(c, "/webhooks/whatsapp", signed_headers(start), start).status == 200);
    REQUIRE(gw.sent().size() == 2);  // the replies leave after their deliveries' answers: both are out
    auto sent = post(c, "/v1/messages", bearer(owner), send_text);
    CHECK(sent.status == 202);
    CHECK(body_of(sent)["provider_message_id"].get<std::string>().starts_with("wamid.fake."));

    // The fake Graph API saw the opt-out confirmation, the START reply and the send: never a
    // message while the contact was opted out other than the one confirmation.
    const auto received = gw.sent();
    REQUIRE(received.size() == 3);
    CHECK(received[2].body.find("Hello") != std::string::npos);
}

TEST_CASE("a plain inbound message is answered once stored, opens the window, and is counted like any request") {
    RunningGateway gw;
    gateway::LoopbackClient c(gw.port());
    const std::string owner = gw.key("acme", rbac::Role::owner, "u-owner");
    const std::string to_lead = R"({"to": "+14155550125", "text": "Hello"})";
    auto closed = post(c, "/v1/messages", bearer(owner), to_lead);
    CHECK(closed.status == 403);
    check_error_shape(closed, "outside_window");

    // The first delivery loads the tenant; the second takes the path that waits for no thread.
    for (const char* wamid : {"wamid.plain.1", "wamid.plain.2"}) {
        CAPTURE(wamid);
        const std::string hello = inbound_text("14155550125", wamid, "Is the offer still on?");
        Headers headers = signed_headers(hello);
        headers.emplace_back("X-Request-Id", std::string("wh-") + wamid);
        auto r = post(c, "/webhooks/whatsapp", headers, hello);
        CHECK(r.status == 200);
        CHECK(r.body == R"({"ok":true})");
        CHECK(r.header("x-request-id") == std::string("wh-") + wamid);
        CHECK(r.header("ratelimit-policy").starts_with("\"webhook\";q="));
        CHECK(r.header("ratelimit").starts_with("\"webhook\";r="));
        CHECK(r.header("x-frame-options") == "DENY");
        CHECK(r.header("cache-control") == "no-store");
    }
    CHECK(post(c, "/v1/messages", bearer(owner), to_lead).status == 202);

    auto m = get(c, "/metrics");
    CHECK(m.body.find("heroshhi_http_requests_total{route=\"/webhooks/whatsapp\",status=\"200\"} 2") != std::string::npos);
    CHECK(m.body.find("heroshhi_webhook_events_total{kind=\"delivery\",status=\"200\"} 2") != std::string::npos);
}

TEST_CASE("the directory places a business number from its cache alone until the entry is stale or a tenant is written") {
    ManualClock clock(from_unix_ms(unix_now() * 1000));  // now: deliveries are stamped with the real time
    RunningGateway gw([](gateway::Config&) {}, &clock);
    gateway::Directory& d = gw.app().directory();
    CHECK_FALSE(d.cached_tenant_for_number("111000111").has_value());  // registering the tenants cleared it
    REQUIRE(d.tenant_for_number("111000111").value() == std::optional<std::string>("acme"));
    CHECK(d.cached_tenant_for_number("111000111") == std::optional<std::optional<std::string>>("acme"));
    // An unknown number is remembered as unknown, so junk deliveries do not each read the database.
    REQUIRE_FALSE(d.tenant_for_number("999000999").value().has_value());
    const auto unknown = d.cached_tenant_for_number("999000999");
    REQUIRE(unknown.has_value());
    CHECK_FALSE(unknown->has_value());

    clock.advance(gateway::Directory::key_cache_ttl);
    CHECK_FALSE(d.cached_tenant_for_number("111000111").has_value());
    REQUIRE(d.tenant_for_number("111000111").has_value());
    CHECK(d.cached_tenant_for_number("111000111").has_value());
    // A tenant written through the directory may have taken a number: the cache starts again.
    REQUIRE(gw.app().register_tenant({"initech", "initech", "333000333"}).has_value());
    CHECK_FALSE(d.cached_tenant_for_number("111000111").has_value());

    // A delivery for a number the cache does not hold is still stored and answered, and fills the
    // cache (which thread looks it up is checked in unit-whatsapp-webhook-async).
    gateway::LoopbackClient c(gw.port());
    const std::string hello = inbound_text("14155550127", "wamid.cold", "Hello");
    CHECK(post(c, "/webhooks/whatsapp", signed_headers(hello), hello).status == 200);
    CHECK(d.cached_tenant_for_number("111000111") == std::optional<std::optional<std::string>>("acme"));
    const std::string owner = gw.key("acme", rbac::Role::owner, "u-owner");
    CHECK(post(c, "/v1/messages", bearer(owner), R"({"to": "+14155550127", "text": "Hi"})").status == 202);
}

TEST_CASE("a missing or wrong signature is refused with 401 and stores nothing") {
    RunningGateway gw;
    gateway::LoopbackClient c(gw.port());
    const std::string owner = gw.key("acme", rbac::Role::owner, "u-owner");
    const std::string stop = inbound_text("14155550123", "wamid.stop.2", "STOP");

    auto unsigned_ = post(c, "/webhooks/whatsapp", {{"Content-Type", "application/json"}}, stop);
    CHECK(unsigned_.status == 401);
    auto forged = post(c, "/webhooks/whatsapp", {{"X-Hub-Signature-256", signature_for(stop, "another-secret")}}, stop);
    CHECK(forged.status == 401);
    auto tampered_body = stop;
    tampered_body.replace(tampered_body.find("STOP"), 4, "STAY");
    CHECK(post(c, "/webhooks/whatsapp", signed_headers(stop), tampered_body).status == 401);

    auto consent = get(c, "/v1/contacts/+14155550123/consent", bearer(owner));
    CHECK(body_of(consent)["opted_out"] == false);
    CHECK(body_of(consent)["events"] == 0);
    CHECK(body_of(post(c, "/v1/messages", bearer(owner), send_text))["error"]["code"] != "opted_out");
}

TEST_CASE("malformed JSON gets 400 with a message and stores nothing") {
    RunningGateway gw;
    gateway::LoopbackClient c(gw.port());
    const std::string bad = R"({"object":"whatsapp_business_account","entry":[)";
    auto r = post(c, "/webhooks/whatsapp", signed_headers(bad), bad);
    CHECK(r.status == 400);
    check_error_shape(r, "malformed_webhook");
}

TEST_CASE("a redelivered webhook is recorded once") {
    RunningGateway gw;
    gateway::LoopbackClient c(gw.port());
    const std::string owner = gw.key("acme", rbac::Role::owner, "u-owner");
    const std::string stop = inbound_text("14155550123", "wamid.stop.dup", "STOP");
    for (int i = 0; i < 3; ++i) CHECK(post(c, "/webhooks/whatsapp", signed_headers(stop), stop).status == 200);
    CHECK(body_of(get(c, "/v1/contacts/+14155550123/consent", bearer(owner)))["events"] == 1);
    CHECK(gw.sent().size() == 1);  // one confirmation, not three
}

TEST_CASE("a STOP is answered once stored, before its confirmation goes out; an unanswering Graph API holds up no delivery") {
    RunningGateway gw;
    gateway::LoopbackClient c(gw.port());
    gw.graph().hold();  // the Graph API answers nothing until released
    const std::string stop = inbound_text("14155550140", "wamid.stop.140", "STOP");
    CHECK(post(c, "/webhooks/whatsapp", signed_headers(stop), stop).status == 200);
    // Answered while the confirmation still waits for the Graph API: nothing sent yet.
    CHECK(get(c, "/metrics").body.find("heroshhi_sends_total{outcome=\"sent\"}") == std::string::npos);
    // Other deliveries go on meanwhile, a second STOP and its confirmation included.
    const std::string hello = inbound_text("14155550141", "wamid.in.141", "hello");
    CHECK(post(c, "/webhooks/whatsapp", signed_headers(hello), hello).status == 200);
    const std::string stop2 = inbound_text("14155550142", "wamid.stop.142", "STOP");
    CHECK(post(c, "/webhooks/whatsapp", signed_headers(stop2), stop2).status == 200);
    CHECK(get(c, "/metrics").body.find("heroshhi_sends_total{outcome=\"sent\"}") == std::string::npos);
    CHECK(gw.graph().received().empty());
    // Then both confirmations go out (two recipients: in no promised order).
    gw.graph().release();
    const auto received = gw.sent();
    REQUIRE(received.size() == 2);
    const std::string both = received[0].body + received[1].body;
    CHECK(both.find("14155550140") != std::string::npos);
    CHECK(both.find("14155550142") != std::string::npos);
    CHECK(get(c, "/metrics").body.find("heroshhi_sends_total{outcome=\"sent\"} 2") != std::string::npos);
}

TEST_CASE("Stop promotions, user_preferences stop and error 131050 block marketing but not utility templates") {
    RunningGateway gw;
    gateway::LoopbackClient c(gw.port());
    const std::string owner = gw.key("acme", rbac::Role::owner, "u-owner");
    const auto ts = std::to_string(unix_now());
    const std::vector<std::pair<std::string, std::string>> cases{
        {"14155550141", envelope("111000111", R"("messages":[{"from":"14155550141","id":"w-btn","timestamp":")" + ts +
                                                  R"(","type":"button","button":{"payload":"Stop promotions","text":"Stop promotions"}}])")},
        {"14155550142", envelope("111000111", R"("user_preferences":[{"wa_id":"14155550142","category":"marketing_messages","value":"stop","timestamp":)" +
                                                  ts + "}]")},
        {"14155550143", envelope("111000111", R"("statuses":[{"id":"wamid.out.1","status":"failed","timestamp":")" + ts +
                                                  R"(","recipient_id":"14155550143","errors":[{"code":131050,"title":"stopped marketing"}]}])")},
    };
    for (const auto& item : cases) {
        const std::string& wa_id = item.first;  // not a structured binding: clang 14 cannot capture those
        const std::string& body = item.second;
        CAPTURE(wa_id);
        REQUIRE(post(c, "/webhooks/whatsapp", signed_headers(body), body).status == 200);
        const std::string marketing = R"({"to": "+)" + wa_id +
                                      R"(", "template": {"name": "promo", "language": "en_US", "category": "marketing"}})";
        const std::string utility = R"({"to": "+)" + wa_id +
                                    R"(", "template": {"name": "receipt", "language": "en_US", "category": "utility", "parameters": ["42"]}})";
        auto m = post(c, "/v1/messages", bearer(owner), marketing);
        CHECK(m.status == 403);
        CHECK(body_of(m)["error"]["code"] == "marketing_opted_out");
        CHECK(post(c, "/v1/messages", bearer(owner), utility).status == 202);
        CHECK(body_of(get(c, "/v1/contacts/+" + wa_id + "/consent", bearer(owner)))["marketing_opted_out"] == true);
    }
}

TEST_CASE("API calls need a valid key; errors have one shape") {
    RunningGateway gw;
    gateway::LoopbackClient c(gw.port());
    auto none = post(c, "/v1/messages", {{"Content-Type", "application/json"}}, send_text);
    CHECK(none.status == 401);
    check_error_shape(none, "unauthorized");
    CHECK(none.header("www-authenticate") == "Bearer");
    const std::string owner = gw.key("acme", rbac::Role::owner, "u-owner");
    std::string forged = owner;
    forged.back() = forged.back() == '0' ? '1' : '0';
    check_error_shape(post(c, "/v1/messages", bearer(forged), send_text), "unauthorized");
    REQUIRE(gw.app().directory().revoke_key(owner.substr(4, 16)).value());
    check_error_shape(post(c, "/v1/messages", bearer(owner), send_text), "unauthorized");

    const std::string admin = gw.key("acme", rbac::Role::admin, "u-admin");
    check_error_shape(get(c, "/v1/nowhere", bearer(admin)), "not_found");
    check_error_shape(c.request("DELETE", "/v1/messages", bearer(admin)).value(), "method_not_allowed");
    check_error_shape(post(c, "/v1/messages", bearer(admin), "{not json"), "invalid_body");
    check_error_shape(post(c, "/v1/messages", bearer(admin), R"({"to": {"$ne": null}, "text": "x"})"), "invalid_body");
    check_error_shape(post(c, "/v1/messages", bearer(admin), R"({"to": "+14155550123"})"), "invalid_body");
    check_error_shape(post(c, "/v1/messages", bearer(admin), R"({"to": "12", "text": "x"})"), "invalid_body");
}

TEST_CASE("leads: intake, validation, duplicates, reading, and no way into another tenant") {
    RunningGateway gw;
    gateway::LoopbackClient c(gw.port());
    const std::string acme = gw.key("acme", rbac::Role::owner, "u-acme");
    const std::string globex = gw.key("globex", rbac::Role::owner, "u-globex");

    auto made = post(c, "/v1/leads", bearer(acme), R"({"name": "Ada <script>", "phone": "+44 20 7946 0958", "email": "ada@example.com"})");
    REQUIRE(made.status == 201);
    const std::string id = body_of(made)["id"];
    auto read = get(c, "/v1/leads/" + id, bearer(acme));
    REQUIRE(read.status == 200);
    CHECK(body_of(read)["phone"] == "+442079460958");
    CHECK(body_of(read)["name"] == "Ada <script>");  // stored as given; encoded where rendered

    auto duplicate = post(c, "/v1/leads", bearer(acme), R"({"name": "Ada", "phone": "+442079460958"})");
    CHECK(duplicate.status == 409);
    check_error_shape(duplicate, "duplicate_lead");
    CHECK(body_of(duplicate)["error"]["message"].get<std::string>().find(id) != std::string::npos);
    // A manager of another team may not read the owner's lead: told the number is taken, not which
    // lead has it.
    const std::string manager = gw.key("acme", rbac::Role::manager, "u-west", "west");
    auto hidden = post(c, "/v1/leads", bearer(manager), R"({"name": "Ada", "phone": "+442079460958"})");
    CHECK(hidden.status == 409);
    check_error_shape(hidden, "duplicate_lead");
    CHECK(body_of(hidden)["error"]["message"].get<std::string>().find(id) == std::string::npos);
    check_error_shape(post(c, "/v1/leads", bearer(acme), R"({"name": "", "phone": "+442079460958"})"), "invalid_lead");
    check_error_shape(post(c, "/v1/leads", bearer(acme), R"({"name": "B", "phone": "+1"})"), "invalid_lead");
    check_error_shape(post(c, "/v1/leads", bearer(acme), R"({"name": {"$gt": ""}, "phone": "+14155550199"})"), "invalid_body");

    // Another tenant's key never reaches acme's lead, by id or by number.
    CHECK(get(c, "/v1/leads/" + id, bearer(globex)).status == 404);
    auto foreign_consent = get(c, "/v1/contacts/+442079460958/consent", bearer(globex));
    CHECK(body_of(foreign_consent).value("contact_id", "") == "");
    auto foreign_delete = post(c, "/v1/leads/bulk-delete", bearer(globex), R"({"ids": [")" + id + R"("]})");
    REQUIRE(foreign_delete.status == 200);
    CHECK(body_of(foreign_delete)["deleted"].empty());
    CHECK(get(c, "/v1/leads/" + id, bearer(acme)).status == 200);
}

TEST_CASE("roles: sales cannot export or bulk delete; managers export their team's leads only") {
    RunningGateway gw;
    gateway::LoopbackClient c(gw.port());
    const std::string owner = gw.key("acme", rbac::Role::owner, "u-owner");
    const std::string sales = gw.key("acme", rbac::Role::sales, "u-sales", "north");
    const std::string manager = gw.key("acme", rbac::Role::manager, "u-manager", "north");
    check_error_shape(post(c, "/v1/leads", bearer(sales), R"({"name": "Mine", "phone": "+14155550100"})"), "not_authorized");
    REQUIRE(post(c, "/v1/leads", bearer(owner), R"j({"name": "=HYPERLINK(\"http://x\")", "phone": "+14155550101", "assignee": "u-sales", "team": "north"})j").status == 201);
    REQUIRE(post(c, "/v1/leads", bearer(owner), R"({"name": "Other team", "phone": "+14155550102", "assignee": "u-south"})").status == 201);

    check_error_shape(get(c, "/v1/exports/leads.csv", bearer(sales)), "not_authorized");
    check_error_shape(post(c, "/v1/leads/bulk-delete", bearer(sales), R"({"ids": ["x"]})"), "not_authorized");

    auto all = get(c, "/v1/exports/leads.csv", bearer(owner));
    REQUIRE(all.status == 200);
    CHECK(all.header("content-type") == "text/csv; charset=utf-8");
    CHECK(all.body.find("Other team") != std::string::npos);
    CHECK(all.body.find("\"'=HYPERLINK(\"\"http://x\"\")\"") != std::string::npos);  // neutralised formula
    auto team = get(c, "/v1/exports/leads.csv", bearer(manager));
    REQUIRE(team.status == 200);
    CHECK(team.body.find("HYPERLINK") != std::string::npos);
    CHECK(team.body.find("Other team") == std::string::npos);

    // The rest of the customer's data: messages (a manager's team), opt-out and consent records
    // (the whole tenant's: owners and admins).
    REQUIRE(post(c, "/v1/contacts/+14155550102/opt-out", bearer(owner), R"({"method": "manual", "note": "=1+1"})").status == 201);
    auto messages = get(c, "/v1/exports/messages.csv", bearer(manager));
    REQUIRE(messages.status == 200);
    CHECK(messages.body.starts_with("\xEF\xBB\xBFid,contact_id,direction,status,body,"));
    auto optouts = get(c, "/v1/exports/optouts.csv", bearer(owner));
    REQUIRE(optouts.status == 200);
    CHECK(optouts.header("content-disposition") == "attachment; filename=\"optouts.csv\"");
    CHECK(optouts.body.find("\"'+14155550102\"") != std::string::npos);
    CHECK(optouts.body.find(",\"'=1+1\",") != std::string::npos);  // the note, neutralised
    check_error_shape(get(c, "/v1/exports/optouts.csv", bearer(manager)), "not_authorized");
    check_error_shape(get(c, "/v1/exports/consents.csv", bearer(sales)), "not_authorized");
    CHECK(get(c, "/v1/exports/consents.csv", bearer(owner)).body.starts_with("\xEF\xBB\xBFphone,purpose,granted,at,source,actor\r\n"));
}

TEST_CASE("manual and API opt-outs are recorded with their method, authorized and audited") {
    RunningGateway gw;
    gateway::LoopbackClient c(gw.port());
    const std::string admin = gw.key("acme", rbac::Role::admin, "u-admin");
    auto r = post(c, "/v1/contacts/+14155550177/opt-out", bearer(admin), R"({"method": "manual", "note": "asked by phone"})");
    REQUIRE(r.status == 201);
    CHECK(body_of(r)["event"]["method"] == "manual");
    CHECK(body_of(r)["event"]["actor"] == "u-admin");
    CHECK(post(c, "/v1/messages", bearer(admin), R"({"to": "+14155550177", "text": "hi"})").status == 403);

    auto trail = get(c, "/v1/audit?action=opt_out.manual", bearer(admin));
    REQUIRE(trail.status == 200);
    CHECK(trail.header("content-type") == "application/x-ndjson");
    CHECK(trail.body.find("\"opt_out.manual\"") != std::string::npos);
    CHECK(trail.body.find("14155550177") == std::string::npos);  // ids only, never the number
    auto verified = get(c, "/v1/audit/verify", bearer(admin));
    CHECK(body_of(verified)["intact"] == true);
    CHECK(body_of(verified)["checked"].get<int>() >= 2);
}

TEST_CASE("the API is rate limited per key with RateLimit headers while webhooks keep flowing") {
    RunningGateway gw([](gateway::Config& c) { c.api_per_minute = 3; });
    gateway::LoopbackClient c(gw.port());
    const std::string owner = gw.key("acme", rbac::Role::owner, "u-owner");
    for (int i = 0; i < 3; ++i) {
        auto r = get(c, "/v1/audit/verify", bearer(owner));
        CHECK(r.status == 200);
        CHECK(r.header("ratelimit-policy") == "\"api\";q=3;w=60");
        CHECK(r.header("ratelimit").starts_with("\"api\";r=" + std::to_string(2 - i)));
    }
    auto limited = get(c, "/v1/audit/verify", bearer(owner));
    CHECK(limited.status == 429);
    check_error_shape(limited, "rate_limited");
    CHECK(std::stoi(limited.header("retry-after")) >= 1);
    CHECK(limited.header("ratelimit").starts_with("\"api\";r=0"));
    // Another key has its own budget, and webhooks are another class.
    CHECK(get(c, "/v1/audit/verify", bearer(gw.key("acme", rbac::Role::owner, "u-two"))).status == 200);
    const std::string stop = inbound_text("14155550123", "wamid.rl", "STOP");
    CHECK(post(c, "/webhooks/whatsapp", signed_headers(stop), stop).status == 200);
}

TEST_CASE("webhooks have their own limit: past it a delivery gets 429 with the headers and is not stored") {
    RunningGateway gw([](gateway::Config& c) { c.webhook_per_minute = 2; });
    gateway::LoopbackClient c(gw.port());
    const std::string owner = gw.key("acme", rbac::Role::owner, "u-owner");
    // Plain messages take the route's asynchronous form; the limit is checked before it.
    for (int i = 0; i < 2; ++i) {
        const std::string hello = inbound_text("14155550126", "wamid.wrl." + std::to_string(i), "Hello");
        auto r = post(c, "/webhooks/whatsapp", signed_headers(hello), hello);
        CHECK(r.status == 200);
        CHECK(r.header("ratelimit-policy") == "\"webhook\";q=2;w=60");
    }
    const std::string stop = inbound_text("14155550123", "wamid.wrl.stop", "STOP");
    auto limited = post(c, "/webhooks/whatsapp", signed_headers(stop), stop);
    CHECK(limited.status == 429);
    check_error_shape(limited, "rate_limited");
    CHECK(std::stoi(limited.header("retry-after")) >= 1);
    CHECK(limited.header("ratelimit").starts_with("\"webhook\";r=0"));
    CHECK(limited.header("x-frame-options") == "DENY");
    CHECK_FALSE(limited.header("x-request-id").empty());
    // The refused STOP was not recorded (Meta delivers it again later), and the API has its own budget.
    auto consent = get(c, "/v1/contacts/+14155550123/consent", bearer(owner));
    CHECK(consent.status == 200);
    CHECK(body_of(consent)["events"] == 0);
    auto m = get(c, "/metrics");
    CHECK(m.body.find("heroshhi_http_requests_total{route=\"/webhooks/whatsapp\",status=\"429\"} 1") != std::string::npos);
}

TEST_CASE("failed authentications are limited per client address") {
    RunningGateway gw([](gateway::Config& c) { c.auth_per_minute = 2; });
    gateway::LoopbackClient c(gw.port());
    CHECK(post(c, "/v1/messages", bearer("hsk_guess"), send_text).status == 401);
    CHECK(post(c, "/v1/messages", bearer("hsk_guess"), send_text).status == 401);
    auto limited = post(c, "/v1/messages", bearer("hsk_guess"), send_text);
    CHECK(limited.status == 429);
    CHECK(limited.header("ratelimit-policy") == "\"auth\";q=2;w=60");
}

TEST_CASE("every response carries the security headers and no server details") {
    RunningGateway gw([](gateway::Config& c) { c.api_per_minute = 1; });
    gateway::LoopbackClient c(gw.port());
    const std::string owner = gw.key("acme", rbac::Role::owner, "u-owner");
    std::vector<gateway::ClientResponse> answers{
        get(c, "/healthz"), get(c, "/metrics"), get(c, "/nowhere"), post(c, "/v1/messages", {}, send_text),
        get(c, "/v1/audit/verify", bearer(owner)), get(c, "/v1/audit/verify", bearer(owner)),
        post(c, "/webhooks/whatsapp", {}, "{}"), get(c, "/webhooks/whatsapp?hub.mode=subscribe")};
    for (const auto& r : answers) {
        CAPTURE(r.status);
        for (const auto& h : http::security_headers()) {
            std::string name(h.first);
            std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
            CHECK_MESSAGE(r.header(name) == h.second, name);
        }
        CHECK(r.header("server").empty());
        CHECK(r.header("x-powered-by").empty());
        CHECK_FALSE(r.header("x-request-id").empty());
        if (r.header("content-type") == "application/json") CHECK(r.header("cache-control") == "no-store");
    }
    CHECK(answers[4].status == 200);
    CHECK(answers[5].status == 429);
}

TEST_CASE("a request id given by the client is echoed; a made-up one is replaced") {
    RunningGateway gw;
    gateway::LoopbackClient c(gw.port());
    CHECK(get(c, "/healthz", {{"X-Request-Id", "abc-123"}}).header("x-request-id") == "abc-123");
    CHECK(get(c, "/healthz", {{"X-Request-Id", "bad id!"}}).header("x-request-id").starts_with("req_"));
}

TEST_CASE("bodies and headers over the limits are refused before any handler runs") {
    RunningGateway gw;
    gateway::LoopbackClient c(gw.port());
    const std::string huge(3 * 1024 * 1024 + 1, 'x');
    auto big = c.request("POST", "/webhooks/whatsapp", {{"X-Hub-Signature-256", signature_for(huge)}}, huge);
    REQUIRE(big.has_value());
    CHECK(big->status == 413);
    gateway::LoopbackClient c2(gw.port());
    auto fat = c2.request("GET", "/healthz", {{"X-Filler", std::string(16 * 1024, 'a')}});
    REQUIRE(fat.has_value());
    CHECK(fat->status == 431);
}

TEST_CASE("signed form webhooks take leads in; bad signatures, operators and invalid fields are refused") {
    RunningGateway gw;
    gateway::LoopbackClient c(gw.port());
    auto integration = gw.app().directory().create_integration("acme", "webhook");
    REQUIRE(integration.has_value());
    const std::string target = "/webhooks/forms/" + integration->id;
    auto sign = [&](const std::string& body) {
        return Headers{{"X-Heroshhi-Signature", signature_for(body, integration->secret)}};
    };
    const std::string lead = R"({"name": "Grace", "phone": "+14155550188", "source": "direct"})";
    auto r = post(c, target, sign(lead), lead);
    REQUIRE(r.status == 201);
    const std::string owner = gw.key("acme", rbac::Role::owner, "u-owner");
    auto read = get(c, "/v1/leads/" + body_of(r)["id"].get<std::string>(), bearer(owner));
    CHECK(body_of(read)["source"] == "webhook");  // the integration's tag, whatever the form says

    check_error_shape(post(c, target, {{"X-Heroshhi-Signature", signature_for(lead, "wrong")}}, lead), "bad_signature");
    check_error_shape(post(c, "/webhooks/forms/int_unknown", sign(lead), lead), "bad_signature");
    const std::string op = R"({"name": "G", "phone": "+14155550189", "$where": "1"})";
    check_error_shape(post(c, target, sign(op), op), "invalid_body");
    const std::string invalid = R"({"name": "G", "phone": "not a number"})";
    check_error_shape(post(c, target, sign(invalid), invalid), "invalid_lead");
    CHECK(post(c, target, sign(lead), lead).status == 200);  // the same lead again: not a second contact
}

TEST_CASE("healthz and metrics answer without a key; metrics count requests, decisions and opt-outs") {
    RunningGateway gw;
    gateway::LoopbackClient c(gw.port());
    CHECK(body_of(get(c, "/healthz"))["status"] == "ok");
    const std::string owner = gw.key("acme", rbac::Role::owner, "u-owner");
    const std::string stop = inbound_text("14155550123", "wamid.m", "STOP");
    post(c, "/webhooks/whatsapp", signed_headers(stop), stop);
    post(c, "/v1/messages", bearer(owner), send_text);
    post(c, "/v1/contacts/+14155550124/opt-out", bearer(owner), "");
    auto m = get(c, "/metrics");
    REQUIRE(m.status == 200);
    CHECK(m.header("content-type").starts_with("text/plain"));
    CHECK(m.body.find("# TYPE heroshhi_http_requests_total counter") != std::string::npos);
    CHECK(m.body.find("heroshhi_http_requests_total{route=\"/v1/messages\",status=\"403\"} 1") != std::string::npos);
    CHECK(m.body.find("heroshhi_decisions_total{reason=\"opted_out\"} 1") != std::string::npos);
    CHECK(m.body.find("heroshhi_optouts_total{method=\"api\"} 1") != std::string::npos);
    CHECK(m.body.find("\nheroshhi_replies_dropped_total 0\n") != std::string::npos);  // none dropped
}

TEST_CASE("with key files configured, the gateway's database holds no phone number or message text in clear") {
    TempDb keys;
    const std::string data_keys = keys.str() + ".keys", index_key = keys.str() + ".index";
    for (const auto& [path, line] : {std::pair{data_keys, "7 1WpBh+xEc1VZxGcfIUblwJggwt3bR9RflYUlZo0Kbv4=\n"},
                                      std::pair{index_key, "1 +vGh0rdmWHdjTtGm2ZpgNPHFrU44eYBTaD5P0NpPZbI=\n"}}) {
        std::ofstream(path) << line;
        std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                                     std::filesystem::perm_options::replace);
    }
    std::string db;
    {
        RunningGateway gw([&](gateway::Config& c) {
            c.key_file = data_keys;
            c.index_key_file = index_key;
        });
        db = gw.db_path();
        gateway::LoopbackClient c(gw.port());
        const std::string owner = gw.key("acme", rbac::Role::owner, "u-owner");
        const std::string stop = inbound_text("14155550123", "wamid.enc", "STOP");
        REQUIRE(post(c, "/webhooks/whatsapp", signed_headers(stop), stop).status == 200);
        REQUIRE(post(c, "/v1/leads", bearer(owner), R"({"name": "Zelda Quintessa", "phone": "+14155550166"})").status == 201);
        CHECK(post(c, "/v1/messages", bearer(owner), send_text).status == 403);  // still found by its tag
        std::string bytes;
        for (const char* suffix : {"", "-wal"}) {
            std::ifstream in(db + suffix, std::ios::binary);
            bytes += std::string(std::istreambuf_iterator<char>(in), {});
        }
        REQUIRE(bytes.size() > 4096);
        CHECK(bytes.find("14155550123") == std::string::npos);
        CHECK(bytes.find("14155550166") == std::string::npos);
        CHECK(bytes.find("Zelda Quintessa") == std::string::npos);
    }
    for (const auto& p : {data_keys, index_key}) std::filesystem::remove(p);
}

namespace {

std::string status_webhook(const std::string& wamid, const std::string& status, const std::string& wa_id,
                           long long ts, const std::string& errors = {}) {
    return envelope("111000111", R"("statuses":[{"id":")" + wamid + R"(","status":")" + status + R"(","timestamp":")" +
                                     std::to_string(ts) + R"(","recipient_id":")" + wa_id + "\"" +
                                     (errors.empty() ? "" : ",\"errors\":" + errors) + "}]");
}

}  // namespace

TEST_CASE("status webhooks move a sent message forward through its history, never back") {
    RunningGateway gw;
    gateway::LoopbackClient c(gw.port());
    const std::string owner = gw.key("acme", rbac::Role::owner, "u-owner");
    auto lead = post(c, "/v1/leads", bearer(owner), R"({"name": "Hedy", "phone": "+14155550150"})");
    REQUIRE(lead.status == 201);
    const std::string id = body_of(lead)["id"];
    const std::string hello = inbound_text("14155550150", "wamid.in.150", "Hello!");
    REQUIRE(post(c, "/webhooks/whatsapp", signed_headers(hello), hello).status == 200);  // opens the window
    auto sent = post(c, "/v1/messages", bearer(owner), R"({"to": "+14155550150", "text": "Hi Hedy"})");
    REQUIRE(sent.status == 202);
    const std::string wamid = body_of(sent)["provider_message_id"];

    auto history_status = [&] {
        auto h = get(c, "/v1/leads/" + id + "/messages", bearer(owner));
        REQUIRE(h.status == 200);
        const json history = body_of(h);  // kept alive for the loop
        for (const auto& m : history["messages"])
            if (m["provider_message_id"] == wamid) return m["status"].get<std::string>();
        return std::string("absent");
    };
    CHECK(history_status() == "sent");
    const long long t = unix_now();
    for (const auto& step : std::vector<std::pair<std::string, std::string>>{
             {"delivered", "delivered"}, {"read", "read"}, {"sent", "read"}, {"delivered", "read"}, {"failed", "read"}}) {
        const std::string body = status_webhook(wamid, step.first, "14155550150", t);
        REQUIRE(post(c, "/webhooks/whatsapp", signed_headers(body), body).status == 200);
        CHECK_MESSAGE(history_status() == step.second, step.first);
    }
    // A status for a message of ours that skipped steps, and one that failed.
    auto second = post(c, "/v1/messages", bearer(owner), R"({"to": "+14155550150", "text": "Still there?"})");
    REQUIRE(second.status == 202);
    const std::string failed = status_webhook(body_of(second)["provider_message_id"], "failed", "14155550150", t,
                                              R"([{"code":131026,"title":"Message undeliverable"}])");
    REQUIRE(post(c, "/webhooks/whatsapp", signed_headers(failed), failed).status == 200);
    auto h = body_of(get(c, "/v1/leads/" + id + "/messages", bearer(owner)))["messages"];
    REQUIRE(h.size() == 2);  // outbound only: inbound text is not kept for a webhook-only contact
    CHECK(h[1]["status"] == "failed");
}

TEST_CASE("error 131047 marks the window closed: later free-form sends are refused until the contact writes") {
    RunningGateway gw;
    gateway::LoopbackClient c(gw.port());
    const std::string owner = gw.key("acme", rbac::Role::owner, "u-owner");
    const std::string hi = inbound_text("14155550160", "wamid.in.160", "hi");
    REQUIRE(post(c, "/webhooks/whatsapp", signed_headers(hi), hi).status == 200);
    gw.graph().fail_next("+14155550160", 131047, 1);
    auto first = post(c, "/v1/messages", bearer(owner), R"({"to": "+14155550160", "text": "one"})");
    CHECK(first.status == 502);
    check_error_shape(first, "provider_window_closed");
    const auto seen = gw.graph().received().size();
    auto second = post(c, "/v1/messages", bearer(owner), R"({"to": "+14155550160", "text": "two"})");
    CHECK(second.status == 403);
    check_error_shape(second, "outside_window");
    CHECK(gw.graph().received().size() == seen);  // refused before the transport
    // A template is still allowed outside the window.
    CHECK(post(c, "/v1/messages", bearer(owner),
               R"({"to": "+14155550160", "template": {"name": "receipt", "category": "utility"}})").status == 202);
}

TEST_CASE("a campaign sends to the sendable part of its audience and counts the rest by reason") {
    RunningGateway gw;
    gateway::LoopbackClient c(gw.port());
    const std::string owner = gw.key("acme", rbac::Role::owner, "u-owner");
    const std::string sales = gw.key("acme", rbac::Role::sales, "u-sales");
    const std::string stop = inbound_text("14155550171", "wamid.stop.171", "STOP");
    REQUIRE(post(c, "/webhooks/whatsapp", signed_headers(stop), stop).status == 200);
    REQUIRE(post(c, "/v1/contacts/+14155550172/opt-out", bearer(owner), R"({"scope": "marketing"})").status == 201);
    for (const char* phone : {"+14155550170", "+14155550172", "+14155550173"})  // leads keep a history
        REQUIRE(post(c, "/v1/leads", bearer(owner), std::string(R"({"name": "L", "phone": ")") + phone + "\"}").status == 201);
    const auto before = gw.sent().size();  // the confirmation of 0171's STOP included
    const std::string campaign = R"({"id": "spring", "to": ["+14155550170", "+14155550171", "+14155550172",
        "+1 415 555 0170", "nonsense", "+14155550173"], "template": {"name": "spring_sale", "category": "utility"}})";
    auto r = post(c, "/v1/campaigns", bearer(owner), campaign);
    REQUIRE(r.status == 200);
    const json report = body_of(r);
    CHECK(report["sent"] == 3);  // 0170, 0172 (marketing opt-out does not stop utility), 0173
    CHECK(report["excluded"]["opted_out"] == 1);
    CHECK(report["excluded"]["duplicates"] == 1);
    CHECK(report["excluded"]["invalid_number"] == 1);
    CHECK(report["invalid_positions"] == json::array({4}));
    const auto received = gw.sent();
    CHECK(received.size() == before + 3);
    for (std::size_t i = before; i < received.size(); ++i)
        CHECK(received[i].body.find("14155550171") == std::string::npos);  // the opted-out contact got nothing

    // Marketing: the marketing opt-out is excluded too, and so are those without consent.
    auto m = post(c, "/v1/campaigns", bearer(owner), R"({"id": "promo", "to": ["+14155550172"], "template": {"name": "promo", "category": "marketing"}})");
    REQUIRE(m.status == 200);
    CHECK(body_of(m)["sent"] == 0);
    CHECK(body_of(m)["excluded"]["marketing_opted_out"] == 1);
    // Sending it again sends nothing twice; sales users cannot send campaigns.
    const json again = body_of(post(c, "/v1/campaigns", bearer(owner), campaign));
    CHECK(again["sent"] == 0);
    CHECK(again["duplicates"] == 3);
    check_error_shape(post(c, "/v1/campaigns", bearer(sales), campaign), "not_authorized");
}

TEST_CASE("the retention sweep: a dry run reports, the real run deletes, opt-outs stay; account termination") {
    ManualClock clock(Timestamp(std::chrono::seconds(1'790'000'000)));
    RunningGateway gw([](gateway::Config&) {}, &clock);
    gateway::LoopbackClient c(gw.port());
    const std::string owner = gw.key("acme", rbac::Role::owner, "u-owner");
    const std::string admin = gw.key("acme", rbac::Role::admin, "u-admin");
    const std::string sales = gw.key("acme", rbac::Role::sales, "u-sales");
    auto lead = post(c, "/v1/leads", bearer(owner), R"({"name": "Old Lead", "phone": "+14155550190"})");
    REQUIRE(lead.status == 201);
    const std::string id = body_of(lead)["id"];
    REQUIRE(post(c, "/v1/contacts/+14155550190/opt-out", bearer(owner), "").status == 201);
    REQUIRE(body_of(post(c, "/v1/leads/bulk-delete", bearer(owner), R"({"ids": [")" + id + R"("]})"))["deleted"].size() == 1);
    clock.advance(std::chrono::days(31));

    check_error_shape(post(c, "/v1/retention/sweep", bearer(sales), R"({"dry_run": true})"), "not_authorized");
    auto dry = post(c, "/v1/retention/sweep", bearer(admin), R"({"dry_run": true})");
    REQUIRE(dry.status == 200);
    CHECK(body_of(dry)["dry_run"] == true);
    CHECK(body_of(dry)["tenant"]["counts"]["lead"]["hard_deleted"] == 1);
    auto real = post(c, "/v1/retention/sweep", bearer(admin), "");
    REQUIRE(real.status == 200);
    CHECK(body_of(real)["tenant"]["counts"]["lead"]["hard_deleted"] == 1);
    auto again = post(c, "/v1/retention/sweep", bearer(admin), "");
    CHECK(body_of(again)["tenant"]["counts"].value("lead", json::object()).value("hard_deleted", 0) == 0);
    // The opt-out outlives the lead: still refused.
    check_error_shape(post(c, "/v1/messages", bearer(owner), R"({"to": "+14155550190", "template": {"name": "x", "category": "utility"}})"),
                      "opted_out");
    CHECK(get(c, "/metrics").body.find("heroshhi_sweep_rows_total{category=\"lead\"} 1") != std::string::npos);

    // Only the owner terminates, and only with the tenant id as confirmation.
    check_error_shape(post(c, "/v1/account/terminate", bearer(admin), R"({"confirm": "acme"})"), "not_authorized");
    check_error_shape(post(c, "/v1/account/terminate", bearer(owner), R"({"confirm": "globex"})"), "confirmation_required");
    const std::string send = R"({"to": "+14155550191", "template": {"name": "x", "category": "utility"}})";
    REQUIRE(post(c, "/v1/messages", bearer(owner), send).status == 202);
    auto closed = post(c, "/v1/account/terminate", bearer(owner), R"({"confirm": "acme"})");
    REQUIRE(closed.status == 200);
    CHECK(body_of(closed)["deletion_after"].get<std::string>() > body_of(closed)["closed_at"].get<std::string>());

    // A terminated account sends nothing more, single sends and campaigns alike; its data can
    // still be exported until the deletion date.
    auto refused = post(c, "/v1/messages", bearer(owner), send);
    CHECK(refused.status == 403);
    check_error_shape(refused, "account_closed");
    auto campaign = post(c, "/v1/campaigns", bearer(owner),
                         R"({"id": "after-close", "to": ["+14155550191"], "template": {"name": "x", "category": "utility"}})");
    CHECK(campaign.status == 403);
    check_error_shape(campaign, "account_closed");
    CHECK(get(c, "/v1/exports/leads.csv", bearer(owner)).status == 200);
    // An inbound STOP is still recorded (opt-outs outlive the account); its confirmation is not sent.
    const std::string stop = inbound_text("14155550192", "wamid.after-close", "STOP");
    REQUIRE(post(c, "/webhooks/whatsapp", signed_headers(stop), stop).status == 200);
    CHECK(body_of(get(c, "/v1/contacts/+14155550192/consent", bearer(owner)))["opted_out"] == true);
    REQUIRE(gw.app().wait_for_replies(std::chrono::seconds(10)));  // the confirmation's refusal is counted
    CHECK(get(c, "/metrics").body.find("heroshhi_sends_total{outcome=\"account_closed\"} 3") != std::string::npos);
    // Each refused attempt is in the trail, with who tried it.
    const auto refused_in_trail = [&](const std::string& action, const std::string& actor) {
        const std::string lines = get(c, "/v1/audit?action=" + action, bearer(owner)).body;
        std::size_t found = 0;
        for (std::size_t at = 0, end; at < lines.size(); at = end + 1) {
            end = lines.find('\n', at);
            if (end == std::string::npos) end = lines.size();
            const json entry = json::parse(lines.substr(at, end - at));
            if (entry["reason"] == "account_closed" && entry["target_type"] == "account" && entry.dump().find(actor) != std::string::npos)
                ++found;
        }
        return found;
    };
    CHECK(refused_in_trail("send.utility_template", "u-owner") == 1);
    CHECK(refused_in_trail("send_campaign", "u-owner") == 1);
    CHECK(refused_in_trail("send.optout_confirmation", "system") == 1);
}

TEST_CASE("owners and admins place and lift legal holds on a lead or the tenant; a hold refuses erasure") {
    RunningGateway gw;
    gateway::LoopbackClient c(gw.port());
    const std::string admin = gw.key("acme", rbac::Role::admin, "u-admin");
    const std::string sales = gw.key("acme", rbac::Role::sales, "u-sales");
    auto created = post(c, "/v1/leads", bearer(admin), R"({"name": "Held Lead", "phone": "+14155550193", "assignee": "u-sales"})");
    REQUIRE(created.status == 201);
    const std::string id = body_of(created)["id"].get<std::string>();
    const std::string hold = "/v1/leads/" + id + "/legal-hold";

    check_error_shape(post(c, hold, bearer(sales), R"({"held": true})"), "not_authorized");
    check_error_shape(post(c, hold, bearer(admin), R"({"held": "yes"})"), "invalid_body");
    check_error_shape(post(c, "/v1/leads/c_nobody/legal-hold", bearer(admin), R"({"held": true})"), "not_found");
    auto placed = post(c, hold, bearer(admin), R"({"held": true})");
    REQUIRE(placed.status == 200);
    CHECK(body_of(placed)["changed"] == true);
    check_error_shape(post(c, "/v1/leads/" + id + "/erase", bearer(admin), "{}"), "legal_hold");
    CHECK(body_of(post(c, hold, bearer(admin), R"({"held": false})"))["changed"] == true);

    check_error_shape(post(c, "/v1/account/legal-hold", bearer(sales), R"({"held": true})"), "not_authorized");
    REQUIRE(post(c, "/v1/account/legal-hold", bearer(admin), R"({"held": true})").status == 200);
    check_error_shape(post(c, "/v1/leads/" + id + "/erase", bearer(admin), "{}"), "legal_hold");
    auto closed = post(c, "/v1/account/terminate", bearer(gw.key("acme", rbac::Role::owner, "u-owner")), R"({"confirm": "acme"})");
    REQUIRE(closed.status == 200);
    CHECK(body_of(closed)["legal_hold"] == true);
    CHECK(body_of(closed)["already_closed"] == false);
    REQUIRE(post(c, "/v1/account/legal-hold", bearer(admin), R"({"held": false})").status == 200);
    // The hold no longer stops it; this gateway has no index key, so erasure itself fails closed.
    check_error_shape(post(c, "/v1/leads/" + id + "/erase", bearer(admin), "{}"), "erasure_unavailable");

    // Each attempt is in the trail, refusals included.
    const json trail = json::parse("[" + [&] {
        std::string lines = get(c, "/v1/audit?action=privacy.legal_hold.place", bearer(admin)).body, out;
        for (char ch : lines) out += ch == '\n' ? ',' : ch;
        if (!out.empty() && out.back() == ',') out.pop_back();
        return out;
    }() + "]");
    CHECK(trail.size() == 5);  // sales and admin on the lead, admin on the missing one, sales and admin on the tenant
}

TEST_CASE("manual and API opt-ins re-subscribe, keep the history, and are refused to roles that cannot update the contact") {
    RunningGateway gw;
    gateway::LoopbackClient c(gw.port());
    const std::string admin = gw.key("acme", rbac::Role::admin, "u-admin");
    const std::string sales = gw.key("acme", rbac::Role::sales, "u-sales");
    REQUIRE(post(c, "/v1/contacts/+14155550181/opt-out", bearer(admin), R"({"method": "manual"})").status == 201);
    check_error_shape(post(c, "/v1/contacts/+14155550181/opt-in", bearer(sales), R"({"method": "manual"})"), "not_authorized");
    auto in = post(c, "/v1/contacts/+14155550181/opt-in", bearer(admin), R"({"method": "api", "note": "asked by e-mail"})");
    REQUIRE(in.status == 201);
    CHECK(body_of(in)["opted_out"] == false);
    CHECK(body_of(in)["event"]["kind"] == "opt_in");
    CHECK(body_of(in)["event"]["method"] == "api");
    const json consent = body_of(get(c, "/v1/contacts/+14155550181/consent", bearer(admin)));
    CHECK(consent["events"] == 2);
    CHECK(consent["last_opt_out"]["method"] == "manual");
    CHECK(get(c, "/v1/audit?action=opt_in.api", bearer(admin)).body.find("\"opt_in.api\"") != std::string::npos);

    // The trail comes a bounded page at a time: a full page names where the next one starts.
    const std::string everything = get(c, "/v1/audit", bearer(admin)).body;
    std::string paged, after;
    int pages = 0;
    for (;;) {
        auto page = get(c, "/v1/audit?limit=2" + (after.empty() ? std::string() : "&after=" + after), bearer(admin));
        REQUIRE(page.status == 200);
        CHECK(std::count(page.body.begin(), page.body.end(), '\n') <= 2);
        paged += page.body;
        ++pages;
        after = page.header("x-next-after");
        if (after.empty() || pages > 100) break;
    }
    CHECK(pages > 1);
    // The paging requests were audited too, after `everything` was read: compare its prefix.
    CHECK(paged.substr(0, everything.size()) == everything);
    check_error_shape(get(c, "/v1/audit?after=-1", bearer(admin)), "invalid_query");
    CHECK(get(c, "/v1/audit?action=opt_in.manual", bearer(admin)).body.find("\"denied\"") != std::string::npos);
}

TEST_CASE("data-subject rights over the API: access export, restriction, objection, erasure that keeps the number suppressed, the request register") {
    TempDb keys;
    const std::string data_keys = keys.str() + ".keys", index_key = keys.str() + ".index";
    for (const auto& [path, line] : {std::pair{data_keys, "1 1WpBh+xEc1VZxGcfIUblwJggwt3bR9RflYUlZo0Kbv4=\n"},
                                      std::pair{index_key, "1 +vGh0rdmWHdjTtGm2ZpgNPHFrU44eYBTaD5P0NpPZbI=\n"}}) {
        std::ofstream(path) << line;
        std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                                     std::filesystem::perm_options::replace);
    }
    {
        RunningGateway gw([&](gateway::Config& c) {
            c.key_file = data_keys;
            c.index_key_file = index_key;
        });
        gateway::LoopbackClient c(gw.port());
        const std::string admin = gw.key("acme", rbac::Role::admin, "u-admin");
        const std::string sales = gw.key("acme", rbac::Role::sales, "u-sales");
        const std::string globex = gw.key("globex", rbac::Role::owner, "u-globex");
        const std::string id = body_of(post(c, "/v1/leads", bearer(admin), R"({"name": "Erin Subject", "phone": "+14155550199"})"))["id"];
        const std::string hi = inbound_text("14155550199", "wamid.in.199", "hi");
        REQUIRE(post(c, "/webhooks/whatsapp", signed_headers(hi), hi).status == 200);

        auto access = get(c, "/v1/leads/" + id + "/export", bearer(admin));
        REQUIRE(access.status == 200);
        CHECK(access.body.find("Erin Subject") != std::string::npos);
        CHECK(access.body.find("processing_activities") != std::string::npos);
        CHECK(get(c, "/v1/leads/" + id + "/export?format=csv", bearer(admin)).header("content-type") == "text/csv; charset=utf-8");
        check_error_shape(get(c, "/v1/leads/" + id + "/export", bearer(sales)), "not_authorized");
        CHECK(get(c, "/v1/leads/" + id + "/export", bearer(globex)).status != 200);  // another tenant: never

        REQUIRE(post(c, "/v1/leads/" + id + "/restrict", bearer(admin), R"({"restricted": true})").status == 200);
        check_error_shape(post(c, "/v1/messages", bearer(admin), R"({"to": "+14155550199", "text": "x"})"), "restricted");
        REQUIRE(post(c, "/v1/leads/" + id + "/restrict", bearer(admin), R"({"restricted": false})").status == 200);
        CHECK(post(c, "/v1/messages", bearer(admin), R"({"to": "+14155550199", "text": "x"})").status == 202);
        REQUIRE(post(c, "/v1/leads/" + id + "/object", bearer(admin), R"({"purpose": "marketing"})").status == 200);
        check_error_shape(post(c, "/v1/messages", bearer(admin),
                               R"({"to": "+14155550199", "template": {"name": "promo", "category": "marketing"}})"),
                          "marketing_opted_out");

        auto logged = post(c, "/v1/privacy/requests", bearer(admin), R"({"type": "erasure", "contact_id": ")" + id + "\"}");
        REQUIRE(logged.status == 201);
        CHECK(body_of(logged)["subject"] == "contact:" + id);
        CHECK(body_of(logged)["acknowledge_by"].get<std::string>() > body_of(logged)["received_at"].get<std::string>());
        CHECK(body_of(get(c, "/v1/privacy/requests", bearer(admin)))["requests"].size() == 1);

        check_error_shape(post(c, "/v1/leads/" + id + "/erase", bearer(sales), "{}"), "not_authorized");
        auto erased = post(c, "/v1/leads/" + id + "/erase", bearer(admin), "{}");
        REQUIRE(erased.status == 200);
        CHECK(get(c, "/v1/leads/" + id, bearer(admin)).status == 404);
        // Erased, and still never messaged: the keyed hash keeps the number suppressed.
        check_error_shape(post(c, "/v1/messages", bearer(admin),
                               R"({"to": "+14155550199", "template": {"name": "receipt", "category": "utility"}})"),
                          "opted_out");
    }
    for (const auto& p : {data_keys, index_key}) std::filesystem::remove(p);
}

TEST_CASE("the shared-store pacing settings are read from the file and the environment, range-checked") {
    auto config = gateway::Config::from_json(R"({"recheck_ms": 2500, "facts_reload_ms": 30000})");
    REQUIRE(config.has_value());
    CHECK(config->recheck_ms == 2500);
    CHECK(config->facts_reload_ms == 30000);
    CHECK(gateway::Config{}.facts_reload_ms == 60000);
    auto ok = config->apply_environment([](const char* name) -> std::optional<std::string> {
        if (std::string_view(name) == "HEROSHHI_FACTS_RELOAD_MS") return "90000";
        return std::nullopt;
    });
    REQUIRE(ok.has_value());
    CHECK(config->facts_reload_ms == 90000);
    auto zero = gateway::Config::from_json(R"({"facts_reload_ms": 0})");
    REQUIRE_FALSE(zero.has_value());
    CHECK(zero.error().message().find("facts_reload_ms") != std::string::npos);
}

TEST_CASE("io_threads: 0 (one a core) by default, set from the file or the environment, at most 256") {
    CHECK(gateway::Config{}.io_threads == 0);
    auto config = gateway::Config::from_json(R"({"threads": 8, "io_threads": 1})");
    REQUIRE(config.has_value());
    CHECK(config->io_threads == 1);
    REQUIRE(config->apply_environment([](const char* name) -> std::optional<std::string> {
        if (std::string_view(name) == "HEROSHHI_IO_THREADS") return "0";
        return std::nullopt;
    }));
    CHECK(config->io_threads == 0);
    for (const char* bad : {R"({"io_threads": 257})", R"({"io_threads": -1})"}) {
        CAPTURE(bad);
        auto refused = gateway::Config::from_json(bad);
        REQUIRE_FALSE(refused.has_value());
        CHECK(refused.error().message().find("io_threads") != std::string::npos);
    }
    CHECK_FALSE(gateway::Config::from_json(R"({"threads": 0})").has_value());  // 0 is no automatic there
}
