// The WhatsApp Cloud API webhook payload parser.
#include <doctest/doctest.h>

#include <heroshhi/whatsapp/webhook_payload.hpp>

#include <string>

using namespace heroshhi;
using namespace heroshhi::whatsapp;

namespace {

std::string envelope(const std::string& value, const std::string& field = "messages") {
    return R"({"object":"whatsapp_business_account","entry":[{"id":"880011223344556","changes":[{"field":")" + field +
           R"(","value":)" + value + "}]}]}";
}

const char* const inbound_text = R"({
  "object": "whatsapp_business_account",
  "entry": [{
    "id": "880011223344556",
    "changes": [{
      "field": "messages",
      "value": {
        "messaging_product": "whatsapp",
        "metadata": { "display_phone_number": "4915112345678", "phone_number_id": "771122334455667" },
        "contacts": [{ "profile": { "name": "Ada Kowalski" }, "wa_id": "4917698765432" }],
        "messages": [{
          "from": "4917698765432",
          "id": "wamid.TEST-INBOUND-0001",
          "timestamp": "1767225600",
          "type": "text",
          "text": { "body": "Hallo, is my order 4711 shipped? Grüße" },
          "some_future_field": {"ignored": [1, 2, 3]}
        }]
      }
    }]
  }]
})";

}  // namespace

TEST_CASE("an inbound text message is parsed with its sender, id, time and body") {
    auto p = parse_webhook(inbound_text);
    REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().message()));
    REQUIRE(p->messages.size() == 1);
    const InboundEvent& m = p->messages[0];
    CHECK(m.type == InboundEvent::Type::text);
    CHECK(m.from == "4917698765432");
    CHECK(m.id == "wamid.TEST-INBOUND-0001");
    CHECK(m.phone_number_id == "771122334455667");
    CHECK(m.profile_name == "Ada Kowalski");
    CHECK(m.text == "Hallo, is my order 4711 shipped? Grüße");
    CHECK(to_unix_ms(m.at) == 1'767'225'600'000);
    CHECK(p->skipped.empty());
}

TEST_CASE("a failed status carries its provider error code and details") {
    auto p = parse_webhook(envelope(R"({"messaging_product":"whatsapp","metadata":{"phone_number_id":"77"},
      "statuses":[{"id":"wamid.OUT-42","status":"failed","timestamp":"1767312000","recipient_id":"4917698765432",
      "biz_opaque_callback_data":"crm-msg-9f3a","errors":[{"code":131047,"title":"Re-engagement message",
      "message":"Re-engagement message","error_data":{"details":"More than 24 hours have passed"}}]}]})"));
    REQUIRE(p.has_value());
    REQUIRE(p->statuses.size() == 1);
    const StatusEvent& s = p->statuses[0];
    CHECK(s.id == "wamid.OUT-42");
    CHECK(s.status == "failed");
    CHECK(s.recipient_id == "4917698765432");
    CHECK(s.callback_data == "crm-msg-9f3a");
    REQUIRE(s.errors.size() == 1);
    CHECK(s.errors[0].code == 131047);
    CHECK(s.errors[0].details == "More than 24 hours have passed");
}

TEST_CASE("button taps, interactive replies, reactions and media are told apart") {
    auto p = parse_webhook(envelope(R"({"metadata":{"phone_number_id":"77"},"messages":[
      {"from":"1","id":"w1","timestamp":"1","type":"button","context":{"id":"w0"},
       "button":{"payload":"Stop promotions","text":"Stop promotions"}},
      {"from":"1","id":"w2","timestamp":"2","type":"interactive",
       "interactive":{"type":"button_reply","button_reply":{"id":"opt-out","title":"Unsubscribe"}}},
      {"from":"1","id":"w3","timestamp":"3","type":"interactive",
       "interactive":{"type":"list_reply","list_reply":{"id":"row-2","title":"Tuesday","description":"x"}}},
      {"from":"1","id":"w4","timestamp":"4","type":"reaction","reaction":{"message_id":"w0","emoji":"👍"}},
      {"from":"1","id":"w5","timestamp":"5","type":"reaction","reaction":{"message_id":"w0"}},
      {"from":"1","id":"w6","timestamp":"6","type":"image","image":{"caption":"my ID","id":"m1"}},
      {"from":"1","id":"w7","timestamp":"7","type":"location","location":{"latitude":1}}
    ]})"));
    REQUIRE(p.has_value());
    REQUIRE(p->messages.size() == 7);
    CHECK(p->messages[0].type == InboundEvent::Type::button);
    CHECK(p->messages[0].text == "Stop promotions");
    CHECK(p->messages[0].context_id == "w0");
    CHECK(p->messages[1].type == InboundEvent::Type::interactive);
    CHECK(p->messages[1].payload == "opt-out");
    CHECK(p->messages[1].text == "Unsubscribe");
    CHECK(p->messages[2].payload == "row-2");
    CHECK(p->messages[3].type == InboundEvent::Type::reaction);
    CHECK(p->messages[3].text == "👍");
    CHECK(p->messages[4].text.empty());  // a removed reaction has no emoji
    CHECK(p->messages[5].type == InboundEvent::Type::media);
    CHECK(p->messages[5].text == "my ID");
    CHECK(p->messages[6].type == InboundEvent::Type::other);
    CHECK(p->messages[6].type_name == "location");
}

TEST_CASE("user_preferences stop and resume events are parsed with integer timestamps") {
    auto p = parse_webhook(envelope(R"({"metadata":{"phone_number_id":"77"},"user_preferences":[
      {"wa_id":"4917698765432","detail":"User requested to stop marketing messages","category":"marketing_messages",
       "value":"stop","timestamp":1767225600}]})",
                                    "user_preferences"));
    REQUIRE(p.has_value());
    REQUIRE(p->preferences.size() == 1);
    CHECK(p->preferences[0].value == "stop");
    CHECK(p->preferences[0].category == "marketing_messages");
    CHECK(to_unix_ms(p->preferences[0].at) == 1'767'225'600'000);
}

TEST_CASE("events missing what they need are skipped with a reason, the rest is kept") {
    auto p = parse_webhook(envelope(R"({"messages":[
      {"from":"1","timestamp":"1","type":"text","text":{"body":"no id"}},
      {"id":"w2","timestamp":"1","type":"text","text":{"body":"no from"}},
      {"from":"1","id":"w3","timestamp":"soon","type":"text","text":{"body":"bad time"}},
      {"from":"1","id":"w4","timestamp":"1","type":"text"},
      "not an object",
      {"from":"1","id":"w6","timestamp":"1","type":"text","text":{"body":"fine"}}
    ]})"));
    REQUIRE(p.has_value());
    REQUIRE(p->messages.size() == 1);
    CHECK(p->messages[0].id == "w6");
    REQUIRE(p->skipped.size() == 5);
    CHECK(p->skipped[0] == "entry[0].changes[0].value.messages[0]: no id");
    CHECK(p->skipped[2] == "entry[0].changes[0].value.messages[2]: no valid timestamp");
}

TEST_CASE("bodies that are not a Cloud API webhook are refused with a clear error") {
    struct Row {
        std::string body;
        WebhookErrc code;
        const char* detail;
    };
    const Row rows[] = {
        {"", WebhookErrc::malformed, "byte"},
        {"{\"object\":", WebhookErrc::malformed, "byte"},
        {"[1,2]", WebhookErrc::malformed, "not a JSON object"},
        {R"({"object":"page","entry":[]})", WebhookErrc::not_whatsapp, "'page'"},
        {R"({"object":"whatsapp_business_account"})", WebhookErrc::malformed, "entry"},
        {R"({"object":"whatsapp_business_account","entry":[{"changes":[{"value":3}]}]})", WebhookErrc::malformed,
         "entry[0].changes[0].value"},
        {"{\"object\":\"whatsapp_business_account\",\"entry\":[]}\xff", WebhookErrc::malformed, "byte"},
        // nlohmann's reader takes a raw NUL as the end: the bytes after it must not go unread.
        {std::string("{\"object\":\"whatsapp_business_account\",\"entry\":[]}\0garbage", 57), WebhookErrc::malformed, "NUL"},
        // A number beyond double's range once escaped as an exception (found by the fuzz target).
        {R"({"object":"whatsapp_business_account","entry":[],"x":66.6666666646e666})", WebhookErrc::malformed,
         "out of range"},
    };
    for (const Row& r : rows) {
        CAPTURE(r.body);
        auto p = parse_webhook(r.body);
        REQUIRE_FALSE(p.has_value());
        CHECK(p.error() == r.code);
        CHECK(p.error().message().find(r.detail) != std::string::npos);
    }
}

TEST_CASE("size, depth and event-count limits are enforced") {
    WebhookLimits limits;
    limits.max_body_bytes = 64;
    auto big = parse_webhook(std::string(65, ' '), limits);
    REQUIRE_FALSE(big.has_value());
    CHECK(big.error() == WebhookErrc::too_large);

    std::string deep = envelope(std::string(100, '[') + std::string(100, ']'));
    auto d = parse_webhook(deep);
    REQUIRE_FALSE(d.has_value());
    CHECK(d.error() == WebhookErrc::too_deep);

    // Nesting well past any stack: refused without building it.
    std::string very_deep = std::string(200'000, '[') + std::string(200'000, ']');
    auto vd = parse_webhook(very_deep);
    REQUIRE_FALSE(vd.has_value());
    CHECK(vd.error() == WebhookErrc::too_deep);

    std::string many = R"({"messages":[)";
    for (int i = 0; i < 20; ++i) many += std::string(i ? "," : "") + R"({"from":"1","id":"w","timestamp":"1","type":"x"})";
    many += "]}";
    WebhookLimits few;
    few.max_events = 10;
    auto m = parse_webhook(envelope(many), few);
    REQUIRE_FALSE(m.has_value());
    CHECK(m.error() == WebhookErrc::too_many);
    CHECK(parse_webhook(envelope(many)).has_value());
}

TEST_CASE("members are read in whatever order they come") {
    // `type` after the object it names; the business number and the senders' names after the
    // messages; escaped member names.
    auto p = parse_webhook(envelope(R"({
      "messages":[{"text":{"body":"STOP"},"timestamp":"1767225600","id":"wamid.A","from":"4917698765432","type":"text"},
                  {"interactive":{"list_reply":{"id":"row-2","title":"Later"}},"type":"interactive","id":"wamid.B",
                   "from":"4915550001","timestamp":"1767225601"},
                  {"image":{"caption":"receipt"},"type":"image","id":"wamid.C","from":"4915550001","timestamp":"1767225602"}],
      "contacts":[{"wa_id":"4917698765432","profile":{"name":"Ada"}}],
      "metad\u0061ta":{"phone_number_id":"771122334455667"}})"));
    REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().message()));
    REQUIRE(p->messages.size() == 3);
    CHECK(p->messages[0].type == InboundEvent::Type::text);
    CHECK(p->messages[0].text == "STOP");
    CHECK(p->messages[0].profile_name == "Ada");
    CHECK(p->messages[1].type == InboundEvent::Type::interactive);
    CHECK(p->messages[1].text == "Later");
    CHECK(p->messages[1].payload == "row-2");
    CHECK(p->messages[1].profile_name.empty());
    CHECK(p->messages[2].type == InboundEvent::Type::media);
    CHECK(p->messages[2].text == "receipt");
    for (const InboundEvent& m : p->messages) CHECK(m.phone_number_id == "771122334455667");
}

TEST_CASE("repeated members: an event's field keeps its last value, a repeated list is refused") {
    // A field written twice takes the last value, as a document parser would store it.
    auto last = parse_webhook(envelope(R"({"metadata":{"phone_number_id":"77"},"messages":[
      {"from":"1","id":"first","id":"second","timestamp":"1","type":"text","text":{"body":"a"},"text":{"other":1}}]})"));
    REQUIRE(last.has_value());
    REQUIRE(last->messages.size() == 1);
    CHECK(last->messages[0].id == "second");
    CHECK(last->messages[0].text.empty());
    // Two contacts entries for one sender: the last name given is the sender's.
    auto renamed = parse_webhook(envelope(R"({"contacts":[{"wa_id":"1","profile":{"name":"Old"}},{"wa_id":"2","profile":{"name":"Other"}},
      {"wa_id":"1","profile":{"name":"New"}}],"messages":[{"from":"1","id":"w","timestamp":"1","type":"text","text":{"body":"a"}}]})"));
    REQUIRE(renamed.has_value());
    REQUIRE(renamed->messages.size() == 1);
    CHECK(renamed->messages[0].profile_name == "New");
    // The same with more contacts than are scanned one by one (looked up through a map).
    std::string many = R"({"contacts":[{"wa_id":"1","profile":{"name":"Old"}})";
    for (int i = 2; i < 20; ++i) many += R"(,{"wa_id":")" + std::to_string(i) + R"(","profile":{"name":"N"}})";
    many += R"(,{"wa_id":"1","profile":{"name":"New"}}],"messages":[{"from":"1","id":"w","timestamp":"1","type":"text","text":{"body":"a"}},
      {"from":"7","id":"w7","timestamp":"1","type":"text","text":{"body":"a"}},{"from":"99","id":"w99","timestamp":"1","type":"text","text":{"body":"a"}}]})";
    auto crowded = parse_webhook(envelope(many));
    REQUIRE(crowded.has_value());
    REQUIRE(crowded->messages.size() == 3);
    CHECK(crowded->messages[0].profile_name == "New");
    CHECK(crowded->messages[1].profile_name == "N");
    CHECK(crowded->messages[2].profile_name.empty());

    // Two lists of events under one key would have one of them dropped unread by a document parser
    // (which one depends on the parser): the body is refused instead.
    const char* const twice[] = {
        R"({"object":"whatsapp_business_account","entry":[],"entry":[]})",
        R"({"object":"whatsapp_business_account","entry":[{"changes":[],"changes":[]}]})",
    };
    for (const char* body : twice) {
        CAPTURE(body);
        auto p = parse_webhook(body);
        REQUIRE_FALSE(p.has_value());
        CHECK(p.error() == WebhookErrc::malformed);
        CHECK(p.error().message().find("appears twice") != std::string::npos);
    }
    auto messages = parse_webhook(envelope(R"({"messages":[],"messages":[]})"));
    REQUIRE_FALSE(messages.has_value());
    CHECK(messages.error().message().find("value.messages appears twice") != std::string::npos);
}

TEST_CASE("a body that is not JSON is reported as such, whatever its envelope says before the fault") {
    const char* const bodies[] = {
        R"({"object":"page","entry":[],})",
        R"({"object":"whatsapp_business_account","entry":[{"changes":[{"value":3}]}],"x":tru})",
        R"({"object":"whatsapp_business_account","entry":[],"entry":[]}})",
    };
    for (const char* body : bodies) {
        CAPTURE(body);
        auto p = parse_webhook(body);
        REQUIRE_FALSE(p.has_value());
        CHECK(p.error() == WebhookErrc::malformed);
        CHECK(p.error().message().find("not valid JSON at byte") != std::string::npos);
    }
    auto p = parse_webhook("{\"object\":\"whatsapp_business_account\",\"entry\":[]]");
    REQUIRE_FALSE(p.has_value());
    CHECK(p.error().message() ==
          "heroshhi.webhook: malformed webhook body: not valid JSON at byte 49 (']'): expected ',' or '}' after a member");
}
