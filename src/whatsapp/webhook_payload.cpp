#include <heroshhi/whatsapp/webhook_payload.hpp>

#include "../detail/json_reader.hpp"

#include <charconv>
#include <iterator>
#include <optional>
#include <unordered_map>
#include <utility>

namespace heroshhi::whatsapp {
namespace {

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

using detail::JsonReader;
using Kind = JsonReader::Kind;

// Calls `f(key)` before each member of the object that comes next; `f` must read or skip the
// member's value. False, with the value skipped, when it is not an object.
template <class F>
bool for_members(JsonReader& r, F&& f) {
    if (r.peek() != Kind::object) {
        r.skip();
        return false;
    }
    if (!r.begin_object()) return false;
    for (std::string_view key; r.member(key);) f(key);
    return true;
}

// Calls `f(index)` before each element of the array that comes next; `f` must read or skip it.
// False, with the value skipped, when it is not an array.
template <class F>
bool for_items(JsonReader& r, F&& f) {
    if (r.peek() != Kind::array) {
        r.skip();
        return false;
    }
    if (!r.begin_array()) return false;
    for (std::size_t i = 0; r.item(); ++i) f(i);
    return true;
}

// A string value into `out`; any other value is skipped and leaves `out` empty.
void read_string(JsonReader& r, std::string& out) {
    if (r.peek() == Kind::string) {
        r.string(out);
    } else {
        out.clear();
        r.skip();
    }
}

// Unix seconds, sent as a string ("1767225600") in messages and statuses and as a number in
// user_preferences; nullopt for anything else, or a time outside years 1970-9999.
std::optional<Timestamp> read_unix_seconds(JsonReader& r) {
    std::optional<std::int64_t> s;
    if (r.peek() == Kind::number) {
        s = r.integer();
    } else if (r.peek() == Kind::string) {
        std::string text;
        r.string(text);
        std::int64_t v = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec == std::errc{} && end == text.data() + text.size()) s = v;
    } else {
        r.skip();
    }
    if (!s || *s < 0 || *s > 253'402'300'799) return std::nullopt;
    return from_unix_ms(*s * 1000);
}

ProviderError read_provider_error(JsonReader& r) {
    ProviderError out;
    std::string message;
    for_members(r, [&](std::string_view key) {
        if (key == "code") {
            out.code = 0;
            if (r.peek() == Kind::number) {
                if (auto code = r.integer()) out.code = static_cast<long>(*code);
            } else {
                r.skip();
            }
        } else if (key == "title") {
            read_string(r, out.title);
        } else if (key == "message") {
            read_string(r, message);
        } else if (key == "error_data") {
            out.details.clear();
            for_members(r, [&](std::string_view k) { k == "details" ? read_string(r, out.details) : r.skip(); });
        } else {
            r.skip();
        }
    });
    if (out.title.empty()) out.title = std::move(message);
    return out;
}

// An `errors` array: its objects, in order (other elements are ignored).
void read_provider_errors(JsonReader& r, std::vector<ProviderError>& out) {
    out.clear();
    for_items(r, [&](std::size_t) {
        if (r.peek() == Kind::object) out.push_back(read_provider_error(r));
        else r.skip();
    });
}

// "entry[0].changes[1]": where a change sits in the body, for the reports below.
std::string change_path(std::size_t entry, std::size_t change) {
    return "entry[" + std::to_string(entry) + "].changes[" + std::to_string(change) + "]";
}

// Where an event sits in the body, e.g. "entry[0].changes[1].value.messages[2]"; spelled out only
// for the report of a skipped event (most deliveries skip none).
struct Where {
    std::size_t entry = 0;
    std::size_t change = 0;
    const char* list = "";
    std::size_t index = 0;

    std::string text() const {
        return change_path(entry, change) + ".value." + list + "[" + std::to_string(index) + "]";
    }
};

// What a messages[] element carried, gathered in whatever order its members come (`type` may
// follow the object it names); InboundEvent is built from it once the element is read.
struct MessageFields {
    struct Reply {
        bool present = false;
        std::string title;
        std::string id;
    };
    static constexpr std::string_view media_types[] = {"image", "video", "audio", "document", "sticker"};

    std::string id, from, type_name, context_id;
    std::optional<Timestamp> at;
    bool has_text = false, has_button = false, has_reaction = false;
    std::string text_body, button_text, button_payload, emoji, reacted_to;
    Reply button_reply, list_reply;
    std::string captions[std::size(media_types)];
    bool has_media[std::size(media_types)] = {};

    static std::size_t media_index(std::string_view type) {
        for (std::size_t i = 0; i < std::size(media_types); ++i)
            if (media_types[i] == type) return i;
        return std::size(media_types);
    }
};

/// Reads the body in one pass (no document tree): each value the envelope defines is read where it
/// stands, every other value is skipped, and all of them are checked as JSON. A problem with the
/// envelope is remembered and reported once the whole body proved to be JSON, so a body that is
/// not JSON is always reported as such.
class Reader {
public:
    Reader(std::string_view body, WebhookPayload& out, const WebhookLimits& limits)
        : r_(body, limits.max_depth), body_(body), out_(out), limits_(limits) {}

    Result<void> read() {
        const bool is_object = r_.peek() == Kind::object;
        std::string object;
        bool has_entries = false;
        bool entry_seen = false;
        if (is_object) {
            for_members(r_, [&](std::string_view key) {
                if (key == "object") {
                    read_string(r_, object);
                } else if (key == "entry") {
                    if (entry_seen) problem(WebhookErrc::malformed, "entry appears twice");
                    entry_seen = true;
                    has_entries = read_entries();
                } else {
                    r_.skip();
                }
            });
        } else {
            r_.skip();
        }
        if (!r_.finish()) return json_failure();
        if (!is_object) return {WebhookErrc::malformed, "the body is not a JSON object"};
        if (object != "whatsapp_business_account")
            return {WebhookErrc::not_whatsapp, "object is '" + object.substr(0, 64) + "'"};
        if (!has_entries && !problem_) return {WebhookErrc::malformed, "entry is missing or not an array"};
        if (problem_) return *problem_;
        return {};
    }

private:
    // The first problem with the envelope wins; after it the rest of the body is only checked.
    void problem(WebhookErrc code, std::string detail) {
        if (!problem_) problem_.emplace(code, std::move(detail));
    }
    bool stopped() const { return problem_.has_value() || r_.failed(); }

    Error json_failure() const {
        const JsonReader::Failure& f = *r_.failure();
        if (f.too_deep)
            return {WebhookErrc::too_deep, "nesting deeper than " + std::to_string(limits_.max_depth) +
                                               " levels (at byte " + std::to_string(f.byte) + ")"};
        constexpr char hex_digits[] = "0123456789ABCDEF";
        std::string found;
        if (f.byte <= body_.size()) {
            const auto c = static_cast<unsigned char>(body_[f.byte - 1]);
            if (c == 0) found = " (a NUL byte)";
            else if (c >= 0x20 && c < 0x7F) found = std::string(" ('") + char(c) + "')";
            else found = std::string(" (byte 0x") + hex_digits[c >> 4] + hex_digits[c & 15] + ")";
        } else {
            found = " (the end)";
        }
        return {WebhookErrc::malformed, "not valid JSON at byte " + std::to_string(f.byte) + found + ": " + f.what};
    }

    // True when the body's `entry` is an array (read or skipped).
    bool read_entries() {
        return for_items(r_, [&](std::size_t e) {
            if (stopped()) return r_.skip();
            const std::string where = "entry[" + std::to_string(e) + "]";
            bool has_changes = false;
            bool changes_seen = false;
            const bool is_object = for_members(r_, [&](std::string_view key) {
                if (key != "changes") return r_.skip();
                if (changes_seen) problem(WebhookErrc::malformed, where + ".changes appears twice");
                changes_seen = true;
                has_changes = for_items(r_, [&](std::size_t c) { read_change(e, c); });
            });
            if (!is_object) problem(WebhookErrc::malformed, where + " is not an object");
            else if (!has_changes) problem(WebhookErrc::malformed, where + ".changes is missing or not an array");
        });
    }

    void read_change(std::size_t entry, std::size_t change) {
        if (stopped()) return r_.skip();
        bool has_value = false;
        bool value_seen = false;
        for_members(r_, [&](std::string_view key) {
            if (key != "value") return r_.skip();
            if (value_seen) problem(WebhookErrc::malformed, change_path(entry, change) + ".value appears twice");
            value_seen = true;
            has_value = read_value(entry, change);
        });
        if (!has_value) problem(WebhookErrc::malformed, change_path(entry, change) + ".value is missing or not an object");
    }

    // One change's value: its events, then the business number and the senders' profile names
    // (which may come after the events) given to them. False when the value is not an object.
    bool read_value(std::size_t entry, std::size_t change) {
        const std::size_t first_message = out_.messages.size();
        const std::size_t first_status = out_.statuses.size();
        const std::size_t first_preference = out_.preferences.size();
        std::string number_id;
        std::vector<std::pair<std::string, std::string>> names;  // wa_id, profile name; the last wins
        unsigned seen = 0;
        const auto once = [&](unsigned bit, std::string_view key) {
            if (seen & bit)
                problem(WebhookErrc::malformed, change_path(entry, change) + ".value." + std::string(key) + " appears twice");
            seen |= bit;
        };
        const bool is_object = for_members(r_, [&](std::string_view key) {
            if (stopped()) return r_.skip();
            if (key == "messages") {
                once(1, key);
                for_items(r_, [&](std::size_t i) { read_message({entry, change, "messages", i}); });
            } else if (key == "statuses") {
                once(2, key);
                for_items(r_, [&](std::size_t i) { read_status({entry, change, "statuses", i}); });
            } else if (key == "user_preferences") {
                once(4, key);
                for_items(r_, [&](std::size_t i) { read_preference({entry, change, "user_preferences", i}); });
            } else if (key == "metadata") {
                once(8, key);
                for_members(r_, [&](std::string_view k) { k == "phone_number_id" ? read_string(r_, number_id) : r_.skip(); });
            } else if (key == "contacts") {
                once(16, key);
                for_items(r_, [&](std::size_t) { read_contact(names); });
            } else if (key == "errors") {
                once(32, key);
                std::vector<ProviderError> errors;
                read_provider_errors(r_, errors);
                for (ProviderError& e : errors) out_.errors.push_back(std::move(e));
            } else {
                r_.skip();
            }
        });
        if (!is_object) return false;
        // Each sender's profile name: the last one given for its wa_id. A few contacts (the usual
        // one) are scanned; many are looked up through a map, as a body may hold thousands of
        // contacts and messages.
        constexpr std::size_t scan_at_most = 8;
        std::unordered_map<std::string_view, const std::string*> name_of;
        if (names.size() > scan_at_most && first_message < out_.messages.size()) {
            name_of.reserve(names.size());
            for (const auto& [wa_id, name] : names) name_of.insert_or_assign(wa_id, &name);
        }
        const auto profile_name = [&](const std::string& from) -> const std::string* {
            if (names.size() > scan_at_most) {
                auto it = name_of.find(from);
                return it != name_of.end() ? it->second : nullptr;
            }
            for (auto it = names.rbegin(); it != names.rend(); ++it)
                if (it->first == from) return &it->second;
            return nullptr;
        };
        for (std::size_t i = first_message; i < out_.messages.size(); ++i) {
            InboundEvent& m = out_.messages[i];
            m.phone_number_id = number_id;
            if (const std::string* name = profile_name(m.from)) m.profile_name = *name;
        }
        for (std::size_t i = first_status; i < out_.statuses.size(); ++i) out_.statuses[i].phone_number_id = number_id;
        for (std::size_t i = first_preference; i < out_.preferences.size(); ++i)
            out_.preferences[i].phone_number_id = number_id;
        return true;
    }

    void read_contact(std::vector<std::pair<std::string, std::string>>& names) {
        std::string wa_id;
        std::string name;
        bool has_profile = false;
        for_members(r_, [&](std::string_view key) {
            if (key == "wa_id") {
                read_string(r_, wa_id);
            } else if (key == "profile") {
                name.clear();
                has_profile = for_members(r_, [&](std::string_view k) { k == "name" ? read_string(r_, name) : r_.skip(); });
            } else {
                r_.skip();
            }
        });
        if (has_profile) names.emplace_back(std::move(wa_id), std::move(name));
    }

    // Counts an event against the limit; true (with the event skipped) once reading has stopped.
    bool over_limit() {
        if (!stopped() && ++events_ > limits_.max_events)
            problem(WebhookErrc::too_many, "more than " + std::to_string(limits_.max_events) + " events");
        if (!stopped()) return false;
        r_.skip();
        return true;
    }

    void skip_event(const Where& where, const char* why) { out_.skipped.push_back(where.text() + ": " + why); }

    void read_message(const Where& where) {
        if (over_limit()) return;
        if (r_.peek() != Kind::object) {
            r_.skip();
            return skip_event(where, "not an object");
        }
        MessageFields f;
        const auto reply = [&](MessageFields::Reply& into) {
            into.title.clear();
            into.id.clear();
            into.present = for_members(r_, [&](std::string_view k) {
                if (k == "title") read_string(r_, into.title);
                else if (k == "id") read_string(r_, into.id);
                else r_.skip();
            });
        };
        for_members(r_, [&](std::string_view key) {
            if (key == "id") {
                read_string(r_, f.id);
            } else if (key == "from") {
                read_string(r_, f.from);
            } else if (key == "type") {
                read_string(r_, f.type_name);
            } else if (key == "timestamp") {
                f.at = read_unix_seconds(r_);
            } else if (key == "context") {
                f.context_id.clear();
                for_members(r_, [&](std::string_view k) { k == "id" ? read_string(r_, f.context_id) : r_.skip(); });
            } else if (key == "text") {
                f.text_body.clear();
                f.has_text = for_members(r_, [&](std::string_view k) { k == "body" ? read_string(r_, f.text_body) : r_.skip(); });
            } else if (key == "button") {
                f.button_text.clear();
                f.button_payload.clear();
                f.has_button = for_members(r_, [&](std::string_view k) {
                    if (k == "text") read_string(r_, f.button_text);
                    else if (k == "payload") read_string(r_, f.button_payload);
                    else r_.skip();
                });
            } else if (key == "interactive") {
                f.button_reply = {};
                f.list_reply = {};
                for_members(r_, [&](std::string_view k) {
                    if (k == "button_reply") reply(f.button_reply);
                    else if (k == "list_reply") reply(f.list_reply);
                    else r_.skip();
                });
            } else if (key == "reaction") {
                f.emoji.clear();
                f.reacted_to.clear();
                f.has_reaction = for_members(r_, [&](std::string_view k) {
                    if (k == "emoji") read_string(r_, f.emoji);
                    else if (k == "message_id") read_string(r_, f.reacted_to);
                    else r_.skip();
                });
            } else if (const std::size_t m = MessageFields::media_index(key); m < std::size(MessageFields::media_types)) {
                f.captions[m].clear();
                f.has_media[m] =
                    for_members(r_, [&](std::string_view k) { k == "caption" ? read_string(r_, f.captions[m]) : r_.skip(); });
            } else {
                r_.skip();
            }
        });
        if (r_.failed()) return;

        InboundEvent ev;
        if (f.id.empty()) return skip_event(where, "no id");
        if (f.from.empty()) return skip_event(where, "no from");
        if (!f.at) return skip_event(where, "no valid timestamp");
        ev.id = std::move(f.id);
        ev.from = std::move(f.from);
        ev.at = *f.at;
        ev.context_id = std::move(f.context_id);
        ev.type_name = std::move(f.type_name);
        const std::size_t media = MessageFields::media_index(ev.type_name);
        if (ev.type_name == "text") {
            if (!f.has_text) return skip_event(where, "type text without a text object");
            ev.type = InboundEvent::Type::text;
            ev.text = std::move(f.text_body);
        } else if (ev.type_name == "button") {
            if (!f.has_button) return skip_event(where, "type button without a button object");
            ev.type = InboundEvent::Type::button;
            ev.text = std::move(f.button_text);
            ev.payload = std::move(f.button_payload);
        } else if (ev.type_name == "interactive") {
            MessageFields::Reply& r = f.button_reply.present ? f.button_reply : f.list_reply;
            if (!r.present) return skip_event(where, "type interactive without a button_reply or list_reply");
            ev.type = InboundEvent::Type::interactive;
            ev.text = std::move(r.title);
            ev.payload = std::move(r.id);
        } else if (ev.type_name == "reaction") {
            if (!f.has_reaction) return skip_event(where, "type reaction without a reaction object");
            ev.type = InboundEvent::Type::reaction;
            ev.text = std::move(f.emoji);
            ev.context_id = std::move(f.reacted_to);
        } else if (media < std::size(MessageFields::media_types)) {
            ev.type = InboundEvent::Type::media;
            if (f.has_media[media]) ev.text = std::move(f.captions[media]);
        } else {
            ev.type = InboundEvent::Type::other;
        }
        out_.messages.push_back(std::move(ev));
    }

    void read_status(const Where& where) {
        if (over_limit()) return;
        if (r_.peek() != Kind::object) {
            r_.skip();
            return skip_event(where, "not an object");
        }
        StatusEvent ev;
        std::optional<Timestamp> at;
        for_members(r_, [&](std::string_view key) {
            if (key == "id") read_string(r_, ev.id);
            else if (key == "status") read_string(r_, ev.status);
            else if (key == "timestamp") at = read_unix_seconds(r_);
            else if (key == "recipient_id") read_string(r_, ev.recipient_id);
            else if (key == "biz_opaque_callback_data") read_string(r_, ev.callback_data);
            else if (key == "errors") read_provider_errors(r_, ev.errors);
            else r_.skip();
        });
        if (r_.failed()) return;
        if (ev.id.empty()) return skip_event(where, "no id");
        if (ev.status.empty()) return skip_event(where, "no status");
        if (!at) return skip_event(where, "no valid timestamp");
        ev.at = *at;
        out_.statuses.push_back(std::move(ev));
    }

    void read_preference(const Where& where) {
        if (over_limit()) return;
        if (r_.peek() != Kind::object) {
            r_.skip();
            return skip_event(where, "not an object");
        }
        PreferenceEvent ev;
        std::optional<Timestamp> at;
        for_members(r_, [&](std::string_view key) {
            if (key == "wa_id") read_string(r_, ev.wa_id);
            else if (key == "category") read_string(r_, ev.category);
            else if (key == "value") read_string(r_, ev.value);
            else if (key == "timestamp") at = read_unix_seconds(r_);
            else r_.skip();
        });
        if (r_.failed()) return;
        if (ev.wa_id.empty()) return skip_event(where, "no wa_id");
        if (ev.value.empty()) return skip_event(where, "no value");
        if (!at) return skip_event(where, "no valid timestamp");
        ev.at = *at;
        out_.preferences.push_back(std::move(ev));
    }

    JsonReader r_;
    std::string_view body_;
    WebhookPayload& out_;
    const WebhookLimits& limits_;
    std::size_t events_ = 0;
    std::optional<Error> problem_;
};

}  // namespace

const std::error_category& webhook_category() noexcept {
    static const WebhookCategory c;
    return c;
}

Result<WebhookPayload> parse_webhook(std::string_view body, const WebhookLimits& limits) {
    if (body.size() > limits.max_body_bytes)
        return {WebhookErrc::too_large, std::to_string(body.size()) + " bytes, at most " +
                                            std::to_string(limits.max_body_bytes) + " are accepted"};
    WebhookPayload out;
    if (auto ok = Reader(body, out, limits).read(); !ok) return ok.error();
    return out;
}

}  // namespace heroshhi::whatsapp
