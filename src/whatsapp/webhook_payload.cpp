#include <heroshhi/whatsapp/webhook_payload.hpp>

#include <nlohmann/json.hpp>

#include <charconv>
#include <map>
#include <optional>

namespace heroshhi::whatsapp {
namespace {

using nlohmann::json;

class WebhookCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "heroshhi.webhook"; }
    std::string message(int ev) const override {
        switch (static_cast<WebhookErrc>(ev)) {
            case WebhookErrc::too_large: return "webhook body too large";
            case WebhookErrc::malformed: return "malformed webhook body";
            case WebhookErrc::too_deep: return "webhook body nested too deeply";
            case WebhookErrc::too_many: return "too many events in one webhook";
            case WebhookErrc::not_whatsapp: return "not a WhatsApp Business Account webhook";
        }
        return "unknown webhook error";
    }
};

// A string member, or "" when absent or not a string.
std::string str(const json& o, const char* key) {
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

const json* obj(const json& o, const char* key) {
    auto it = o.find(key);
    return it != o.end() && it->is_object() ? &*it : nullptr;
}

const json* arr(const json& o, const char* key) {
    auto it = o.find(key);
    return it != o.end() && it->is_array() ? &*it : nullptr;
}

// Unix seconds, sent as a string ("1767225600") in messages and statuses and as a number in
// user_preferences.
std::optional<Timestamp> unix_seconds(const json& o, const char* key) {
    auto it = o.find(key);
    if (it == o.end()) return std::nullopt;
    std::int64_t s = 0;
    if (it->is_number_integer()) {
        s = it->get<std::int64_t>();
    } else if (it->is_string()) {
        const auto& text = it->get_ref<const std::string&>();
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), s);
        if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    } else {
        return std::nullopt;
    }
    if (s < 0 || s > 253'402'300'799) return std::nullopt;  // up to year 9999
    return from_unix_ms(s * 1000);
}

ProviderError provider_error(const json& e) {
    ProviderError out;
    if (auto it = e.find("code"); it != e.end() && it->is_number_integer()) out.code = it->get<long>();
    out.title = str(e, "title");
    if (out.title.empty()) out.title = str(e, "message");
    if (const json* data = obj(e, "error_data")) out.details = str(*data, "details");
    return out;
}

std::vector<ProviderError> provider_errors(const json& o) {
    std::vector<ProviderError> out;
    if (const json* errors = arr(o, "errors"))
        for (const json& e : *errors)
            if (e.is_object()) out.push_back(provider_error(e));
    return out;
}

// Where an event sits in the body, e.g. "entry[0].changes[1].value.messages[2]"; spelled out only
// for the report of a skipped event (most deliveries skip none).
struct Where {
    std::size_t entry = 0;
    std::size_t change = 0;
    const char* list = "";
    std::size_t index = 0;

    std::string text() const {
        return "entry[" + std::to_string(entry) + "].changes[" + std::to_string(change) + "].value." + list + "[" +
               std::to_string(index) + "]";
    }
};

class Reader {
public:
    Reader(WebhookPayload& out, const WebhookLimits& limits) : out_(out), limits_(limits) {}

    Result<void> read(const json& root) {
        if (!root.is_object()) return {WebhookErrc::malformed, "the body is not a JSON object"};
        if (str(root, "object") != "whatsapp_business_account")
            return {WebhookErrc::not_whatsapp, "object is '" + str(root, "object").substr(0, 64) + "'"};
        const json* entries = arr(root, "entry");
        if (entries == nullptr) return {WebhookErrc::malformed, "entry is missing or not an array"};
        for (std::size_t e = 0; e < entries->size(); ++e) {
            const json& entry = (*entries)[e];
            auto where = [e] { return "entry[" + std::to_string(e) + "]"; };
            if (!entry.is_object()) return {WebhookErrc::malformed, where() + " is not an object"};
            const json* changes = arr(entry, "changes");
            if (changes == nullptr) return {WebhookErrc::malformed, where() + ".changes is missing or not an array"};
            for (std::size_t c = 0; c < changes->size(); ++c) {
                const json& change = (*changes)[c];
                const json* value = change.is_object() ? obj(change, "value") : nullptr;
                if (value == nullptr)
                    return {WebhookErrc::malformed,
                            where() + ".changes[" + std::to_string(c) + "].value is missing or not an object"};
                read_value(*value, e, c);
                if (events_ > limits_.max_events)
                    return {WebhookErrc::too_many, "more than " + std::to_string(limits_.max_events) + " events"};
            }
        }
        return {};
    }

private:
    void skip(const Where& where, const char* why) { out_.skipped.push_back(where.text() + ": " + why); }

    void read_value(const json& value, std::size_t entry, std::size_t change) {
        std::string number_id;
        if (const json* meta = obj(value, "metadata")) number_id = str(*meta, "phone_number_id");

        std::map<std::string, std::string> names;  // wa_id -> profile name
        if (const json* contacts = arr(value, "contacts"))
            for (const json& c : *contacts)
                if (c.is_object())
                    if (const json* profile = obj(c, "profile")) names[str(c, "wa_id")] = str(*profile, "name");

        if (const json* messages = arr(value, "messages"))
            for (std::size_t i = 0; i < messages->size(); ++i)
                read_message((*messages)[i], number_id, names, {entry, change, "messages", i});
        if (const json* statuses = arr(value, "statuses"))
            for (std::size_t i = 0; i < statuses->size(); ++i)
                read_status((*statuses)[i], number_id, {entry, change, "statuses", i});
        if (const json* prefs = arr(value, "user_preferences"))
            for (std::size_t i = 0; i < prefs->size(); ++i)
                read_preference((*prefs)[i], number_id, {entry, change, "user_preferences", i});
        for (ProviderError& e : provider_errors(value)) out_.errors.push_back(std::move(e));
    }

    void read_message(const json& m, const std::string& number_id, const std::map<std::string, std::string>& names,
                      const Where& where) {
        ++events_;
        if (!m.is_object()) return skip(where, "not an object");
        InboundEvent ev;
        ev.phone_number_id = number_id;
        ev.id = str(m, "id");
        ev.from = str(m, "from");
        if (ev.id.empty()) return skip(where, "no id");
        if (ev.from.empty()) return skip(where, "no from");
        auto at = unix_seconds(m, "timestamp");
        if (!at) return skip(where, "no valid timestamp");
        ev.at = *at;
        if (auto it = names.find(ev.from); it != names.end()) ev.profile_name = it->second;
        ev.type_name = str(m, "type");
        if (const json* context = obj(m, "context")) ev.context_id = str(*context, "id");

        if (ev.type_name == "text") {
            const json* text = obj(m, "text");
            if (text == nullptr) return skip(where, "type text without a text object");
            ev.type = InboundEvent::Type::text;
            ev.text = str(*text, "body");
        } else if (ev.type_name == "button") {
            const json* button = obj(m, "button");
            if (button == nullptr) return skip(where, "type button without a button object");
            ev.type = InboundEvent::Type::button;
            ev.text = str(*button, "text");
            ev.payload = str(*button, "payload");
        } else if (ev.type_name == "interactive") {
            const json* inter = obj(m, "interactive");
            const json* reply = nullptr;
            if (inter != nullptr) {
                reply = obj(*inter, "button_reply");
                if (reply == nullptr) reply = obj(*inter, "list_reply");
            }
            if (reply == nullptr) return skip(where, "type interactive without a button_reply or list_reply");
            ev.type = InboundEvent::Type::interactive;
            ev.text = str(*reply, "title");
            ev.payload = str(*reply, "id");
        } else if (ev.type_name == "reaction") {
            const json* reaction = obj(m, "reaction");
            if (reaction == nullptr) return skip(where, "type reaction without a reaction object");
            ev.type = InboundEvent::Type::reaction;
            ev.text = str(*reaction, "emoji");
            ev.context_id = str(*reaction, "message_id");
        } else if (ev.type_name == "image" || ev.type_name == "video" || ev.type_name == "audio" ||
                   ev.type_name == "document" || ev.type_name == "sticker") {
            ev.type = InboundEvent::Type::media;
            if (const json* media = obj(m, ev.type_name.c_str())) ev.text = str(*media, "caption");
        } else {
            ev.type = InboundEvent::Type::other;
        }
        out_.messages.push_back(std::move(ev));
    }

    void read_status(const json& s, const std::string& number_id, const Where& where) {
        ++events_;
        if (!s.is_object()) return skip(where, "not an object");
        StatusEvent ev;
        ev.phone_number_id = number_id;
        ev.id = str(s, "id");
        ev.status = str(s, "status");
        if (ev.id.empty()) return skip(where, "no id");
        if (ev.status.empty()) return skip(where, "no status");
        auto at = unix_seconds(s, "timestamp");
        if (!at) return skip(where, "no valid timestamp");
        ev.at = *at;
        ev.recipient_id = str(s, "recipient_id");
        ev.callback_data = str(s, "biz_opaque_callback_data");
        ev.errors = provider_errors(s);
        out_.statuses.push_back(std::move(ev));
    }

    void read_preference(const json& p, const std::string& number_id, const Where& where) {
        ++events_;
        if (!p.is_object()) return skip(where, "not an object");
        PreferenceEvent ev;
        ev.phone_number_id = number_id;
        ev.wa_id = str(p, "wa_id");
        ev.category = str(p, "category");
        ev.value = str(p, "value");
        if (ev.wa_id.empty()) return skip(where, "no wa_id");
        if (ev.value.empty()) return skip(where, "no value");
        auto at = unix_seconds(p, "timestamp");
        if (!at) return skip(where, "no valid timestamp");
        ev.at = *at;
        out_.preferences.push_back(std::move(ev));
    }

    WebhookPayload& out_;
    const WebhookLimits& limits_;
    std::size_t events_ = 0;
};

/// Whether no array or object in `body` opens at nesting depth `max_depth` or deeper (brackets
/// inside strings do not count). Exact for valid JSON; for invalid JSON the parser fails either way.
bool within_depth(std::string_view body, std::size_t max_depth) {
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
            if (depth >= max_depth) return false;
            ++depth;
        } else if ((c == '}' || c == ']') && depth > 0) {
            --depth;
        }
    }
    return true;
}

}  // namespace

const std::error_category& webhook_category() noexcept {
    static const WebhookCategory c;
    return c;
}

Result<WebhookPayload> parse_webhook(std::string_view body, const WebhookLimits& limits) {
    if (body.size() > limits.max_body_bytes)
        return {WebhookErrc::too_large, std::to_string(body.size()) + " bytes, at most " +
                                            std::to_string(limits.max_body_bytes) + " are accepted"};
    // nlohmann's reader takes a raw NUL as the end of the input; JSON never holds one unescaped.
    if (const auto nul = body.find('\0'); nul != std::string_view::npos)
        return {WebhookErrc::malformed, "not valid JSON at byte " + std::to_string(nul + 1) + " (a NUL byte)"};
    // Values nested deeper than the limit are discarded while parsing (so no deep structure is
    // ever built), and the body is then refused. Most bodies are shallow: a scan of the brackets
    // shows it, and they are parsed without the per-value callback; the answer is the same.
    json root;
    if (within_depth(body, limits.max_depth)) {
        try {
            root = json::parse(body.begin(), body.end());
        } catch (const json::parse_error& e) {
            return {WebhookErrc::malformed, "not valid JSON at byte " + std::to_string(e.byte)};
        } catch (const json::exception&) {  // a number beyond double's range, e.g. 1e666 (found by fuzzing)
            return {WebhookErrc::malformed, "not valid JSON (a number is out of range)"};
        }
        WebhookPayload out;
        if (auto ok = Reader(out, limits).read(root); !ok) return ok.error();
        return out;
    }
    bool too_deep = false;
    const json::parser_callback_t limit_depth = [&](int depth, json::parse_event_t event, json&) {
        if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
            std::size_t(depth) >= limits.max_depth) {
            too_deep = true;
            return false;
        }
        return true;
    };
    try {
        root = json::parse(body.begin(), body.end(), limit_depth);
    } catch (const json::parse_error& e) {
        // e.byte is the 1-based position of the problem; the library's message names the token.
        return {WebhookErrc::malformed, "not valid JSON at byte " + std::to_string(e.byte)};
    } catch (const json::exception&) {  // a number beyond double's range, e.g. 1e666 (found by fuzzing)
        return {WebhookErrc::malformed, "not valid JSON (a number is out of range)"};
    }
    if (too_deep) return {WebhookErrc::too_deep, "nesting deeper than " + std::to_string(limits.max_depth) + " levels"};

    WebhookPayload out;
    if (auto ok = Reader(out, limits).read(root); !ok) return ok.error();
    return out;
}

}  // namespace heroshhi::whatsapp
