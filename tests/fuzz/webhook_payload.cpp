// Fuzz target: the WhatsApp webhook body parser (whatsapp::parse_webhook), on raw bytes as they
// would arrive. Properties: a refusal carries one of WebhookErrc's codes and respects the limits;
// every event kept has the fields the engine relies on (ids, sender, a time inside the accepted
// range, a type that matches its type name); no more events than the limit; and what was parsed
// round-trips: written back as a Cloud API envelope (one change per event), it parses to the same
// events, field by field, with nothing skipped. And the body is refused as "not valid JSON" exactly
// when nlohmann's parser (a second, independent JSON reader) refuses it, unless it is nested too
// deeply first.
#include <heroshhi/whatsapp/webhook_payload.hpp>

#include "fuzz_check.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace heroshhi;
using namespace heroshhi::whatsapp;
using nlohmann::json;

// Small limits, so the fuzzer reaches them.
WebhookLimits small_limits() {
    WebhookLimits l;
    l.max_body_bytes = 64 * 1024;
    l.max_depth = 12;
    l.max_events = 64;
    return l;
}

std::string seconds(Timestamp t) { return std::to_string(to_unix_ms(t) / 1000); }

json error_json(const ProviderError& e) {
    return {{"code", e.code}, {"title", e.title}, {"error_data", {{"details", e.details}}}};
}

json errors_json(const std::vector<ProviderError>& errors) {
    json out = json::array();
    for (const ProviderError& e : errors) out.push_back(error_json(e));
    return out;
}

json change(const std::string& number_id, json value) {
    value["messaging_product"] = "whatsapp";
    value["metadata"] = {{"phone_number_id", number_id}};
    return {{"field", "messages"}, {"value", std::move(value)}};
}

json message_json(const InboundEvent& m) {
    json out = {{"from", m.from}, {"id", m.id}, {"timestamp", seconds(m.at)}, {"type", m.type_name}};
    if (!m.context_id.empty() && m.type != InboundEvent::Type::reaction) out["context"] = {{"id", m.context_id}};
    switch (m.type) {
        case InboundEvent::Type::text: out["text"] = {{"body", m.text}}; break;
        case InboundEvent::Type::button: out["button"] = {{"text", m.text}, {"payload", m.payload}}; break;
        case InboundEvent::Type::interactive:
            out["interactive"] = {{"type", "button_reply"}, {"button_reply", {{"id", m.payload}, {"title", m.text}}}};
            break;
        case InboundEvent::Type::reaction: out["reaction"] = {{"emoji", m.text}, {"message_id", m.context_id}}; break;
        case InboundEvent::Type::media: out[m.type_name] = {{"caption", m.text}}; break;
        case InboundEvent::Type::other: break;
    }
    return out;
}

/// The payload written back as a Cloud API body: one change per event, so each message carries its
/// own business number and its sender's profile name.
std::string envelope(const WebhookPayload& p) {
    json changes = json::array();
    for (const InboundEvent& m : p.messages) {
        json value = {{"messages", json::array({message_json(m)})}};
        if (!m.profile_name.empty())
            value["contacts"] = json::array({{{"wa_id", m.from}, {"profile", {{"name", m.profile_name}}}}});
        changes.push_back(change(m.phone_number_id, std::move(value)));
    }
    for (const StatusEvent& s : p.statuses)
        changes.push_back(change(s.phone_number_id,
                                 {{"statuses", json::array({{{"id", s.id},
                                                             {"status", s.status},
                                                             {"timestamp", seconds(s.at)},
                                                             {"recipient_id", s.recipient_id},
                                                             {"biz_opaque_callback_data", s.callback_data},
                                                             {"errors", errors_json(s.errors)}}})}}));
    for (const PreferenceEvent& u : p.preferences)
        changes.push_back(change(u.phone_number_id,
                                 {{"user_preferences", json::array({{{"wa_id", u.wa_id},
                                                                     {"category", u.category},
                                                                     {"value", u.value},
                                                                     {"timestamp", to_unix_ms(u.at) / 1000}}})}}));
    if (!p.errors.empty()) changes.push_back(change("", {{"errors", errors_json(p.errors)}}));
    const json body = {{"object", "whatsapp_business_account"},
                       {"entry", json::array({{{"id", "1"}, {"changes", std::move(changes)}}})}};
    return body.dump();
}

bool same(const ProviderError& a, const ProviderError& b) {
    return a.code == b.code && a.title == b.title && a.details == b.details;
}

bool same(const std::vector<ProviderError>& a, const std::vector<ProviderError>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (!same(a[i], b[i])) return false;
    return true;
}

bool same(const InboundEvent& a, const InboundEvent& b) {
    return a.phone_number_id == b.phone_number_id && a.from == b.from && a.profile_name == b.profile_name &&
           a.id == b.id && a.at == b.at && a.type == b.type && a.type_name == b.type_name && a.text == b.text &&
           a.payload == b.payload && a.context_id == b.context_id;
}

bool same(const StatusEvent& a, const StatusEvent& b) {
    return a.phone_number_id == b.phone_number_id && a.id == b.id && a.status == b.status && a.at == b.at &&
           a.recipient_id == b.recipient_id && a.callback_data == b.callback_data && same(a.errors, b.errors);
}

bool same(const PreferenceEvent& a, const PreferenceEvent& b) {
    return a.phone_number_id == b.phone_number_id && a.wa_id == b.wa_id && a.category == b.category &&
           a.value == b.value && a.at == b.at;
}

template <class T>
bool same_events(const std::vector<T>& a, const std::vector<T>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (!same(a[i], b[i])) return false;
    return true;
}

/// Whether an array or object opens at depth `max_depth` or deeper (brackets in strings do not count).
bool deeper_than(std::string_view body, std::size_t max_depth) {
    std::size_t depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < body.size(); ++i) {
        const char c = body[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (depth >= max_depth) return true;
            ++depth;
        } else if ((c == '}' || c == ']') && depth > 0) {
            --depth;
        }
    }
    return false;
}

/// The refusal agrees with nlohmann's verdict on the same bytes. (nlohmann stops at a raw NUL, as
/// at the end of a C string, so bodies holding one are left out.)
void check_json_verdict(std::string_view body, const Result<WebhookPayload>& parsed, const WebhookLimits& limits) {
    if (body.size() > limits.max_body_bytes || body.find('\0') != std::string_view::npos) return;
    const bool valid = json::accept(body.begin(), body.end());
    const bool not_json = !parsed && parsed.error() == WebhookErrc::malformed &&
                          parsed.error().message().find("not valid JSON") != std::string::npos;
    const bool too_deep = !parsed && parsed.error() == WebhookErrc::too_deep;
    if (too_deep) FUZZ_CHECK(deeper_than(body, limits.max_depth));
    else FUZZ_CHECK(not_json == !valid);
}

bool in_range(Timestamp t) { return to_unix_ms(t) >= 0 && to_unix_ms(t) <= 253'402'300'799'000; }

bool type_matches(const InboundEvent& m) {
    using T = InboundEvent::Type;
    const std::string& n = m.type_name;
    const bool media = n == "image" || n == "video" || n == "audio" || n == "document" || n == "sticker";
    switch (m.type) {
        case T::text: return n == "text";
        case T::button: return n == "button";
        case T::interactive: return n == "interactive";
        case T::reaction: return n == "reaction";
        case T::media: return media;
        case T::other: return n != "text" && n != "button" && n != "interactive" && n != "reaction" && !media;
    }
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    const WebhookLimits limits = small_limits();
    auto parsed = parse_webhook(body, limits);
    check_json_verdict(body, parsed, limits);
    if (!parsed) {
        const auto code = parsed.error().code();
        FUZZ_CHECK(code == WebhookErrc::too_large || code == WebhookErrc::malformed || code == WebhookErrc::too_deep ||
                   code == WebhookErrc::too_many || code == WebhookErrc::not_whatsapp);
        if (code == WebhookErrc::too_large) FUZZ_CHECK(size > limits.max_body_bytes);
        return 0;
    }
    const WebhookPayload& p = *parsed;
    FUZZ_CHECK(size <= limits.max_body_bytes);
    FUZZ_CHECK(p.messages.size() + p.statuses.size() + p.preferences.size() + p.skipped.size() <= limits.max_events);
    for (const InboundEvent& m : p.messages) {
        FUZZ_CHECK(!m.id.empty() && !m.from.empty());
        FUZZ_CHECK(in_range(m.at) && to_unix_ms(m.at) % 1000 == 0);
        FUZZ_CHECK(type_matches(m));
        if (m.type != InboundEvent::Type::button && m.type != InboundEvent::Type::interactive)
            FUZZ_CHECK(m.payload.empty());
    }
    for (const StatusEvent& s : p.statuses) FUZZ_CHECK(!s.id.empty() && !s.status.empty() && in_range(s.at));
    for (const PreferenceEvent& u : p.preferences) FUZZ_CHECK(!u.wa_id.empty() && !u.value.empty() && in_range(u.at));
    for (const std::string& why : p.skipped) FUZZ_CHECK(why.rfind("entry[", 0) == 0);

    auto again = parse_webhook(envelope(p), WebhookLimits{});
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(again->skipped.empty());
    FUZZ_CHECK(same_events(again->messages, p.messages));
    FUZZ_CHECK(same_events(again->statuses, p.statuses));
    FUZZ_CHECK(same_events(again->preferences, p.preferences));
    FUZZ_CHECK(same(again->errors, p.errors));
    return 0;
}
