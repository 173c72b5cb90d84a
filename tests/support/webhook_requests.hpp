// WhatsApp webhook deliveries for tests that drive whatsapp::Webhook without a server: the
// envelope, a text message event, and the signed POST that carries a body.
#pragma once

#include <heroshhi/crypto/webhook_signature.hpp>
#include <heroshhi/http/server.hpp>

#include <string>

namespace heroshhi::test_support {

/// A delivery of one change whose value holds `value` (e.g. `"messages":[...]`) for the business
/// number `number_id`.
inline std::string webhook_envelope(const std::string& value, const std::string& number_id = "771122334455667") {
    return R"({"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":")" +
           number_id + R"("},)" + value + "}}]}]}";
}

/// One inbound text message event (an element of "messages").
inline std::string text_event(const std::string& id, const std::string& body, const std::string& from = "14155550123") {
    return R"({"from":")" + from + R"(","id":")" + id + R"(","timestamp":"1767225600","type":"text","text":{"body":")" +
           body + R"("}})";
}

/// The POST of `body` to the webhook URL. `signature`: "sign" signs it with `signer`; empty sends
/// no signature header; anything else is sent as the header's value.
inline http::Request webhook_post(const crypto::WebhookSignature& signer, const std::string& body,
                                  std::string signature = "sign") {
    http::Request r;
    r.method = "POST";
    r.target = "/webhooks/whatsapp";
    r.body = body;
    if (signature == "sign") signature = signer.header_value(body).value();
    if (!signature.empty()) r.headers.emplace("x-hub-signature-256", signature);
    return r;
}

}  // namespace heroshhi::test_support
