#include <heroshhi/core/errors.hpp>
#include <heroshhi/crypto/errors.hpp>
#include <heroshhi/crypto/webhook_signature.hpp>
#include <heroshhi/storage/errors.hpp>
#include <heroshhi/whatsapp/webhook.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>

namespace heroshhi::whatsapp {

namespace {

using ReplySink = std::shared_ptr<const std::function<void(const PendingReply&)>>;

// Queues the reply an inbound message asked for, if any. One that cannot be queued is dropped:
// the message is stored, and a full queue drops replies too.
void queue_reply(const ReplySink& sink, const TenantId& tenant, const PhoneNumber& to, const InboundOutcome& out) {
    if (out.reply.empty() || !sink) return;
    try {
        (*sink)(PendingReply{tenant, to, out.reply, out.reply_kind});
    } catch (...) {
    }
}

}  // namespace

struct Webhook::Impl {
    Engine& engine;
    WebhookOptions options;
    crypto::WebhookSignature signature;
    // options.on_reply, moved here: shared with the completions of asynchronous opt-outs (which may
    // run after a caller let go of this webhook, until their answer is given).
    ReplySink on_reply;

    Result<void> record_message(const InboundEvent& m, const TenantId& tenant, WebhookReport& report) {
        auto from = PhoneNumber::parse(m.from);
        if (!from) {
            ++report.ignored;
            return {};
        }
        auto out = engine.on_inbound(inbound(m, tenant, *from));
        if (!out) return out.error();
        ++report.messages;
        if (out->duplicate) ++report.duplicates;
        if (out->event) (out->event->kind == optout::EventKind::opt_out ? report.opt_outs : report.opt_ins)++;
        queue_reply(on_reply, tenant, *from, *out);
        return {};
    }

    Result<void> record_preference(const PreferenceEvent& p, const TenantId& tenant, WebhookReport& report) {
        auto from = PhoneNumber::parse(p.wa_id);
        if (!from || p.category != "marketing_messages") {
            ++report.ignored;
            return {};
        }
        InboundMessage in{tenant, *from, p.value};
        in.type = InboundMessage::Type::preference;
        in.at = p.at;
        // user_preferences events carry no message id: time and value identify a redelivery.
        in.provider_message_id = "pref:" + p.wa_id + ":" + p.value + ":" + std::to_string(to_unix_ms(p.at));
        auto out = engine.on_inbound(in);
        if (!out) return out.error();
        if (out->event) (out->event->kind == optout::EventKind::opt_out ? report.opt_outs : report.opt_ins)++;
        if (out->duplicate) ++report.duplicates;
        return {};
    }

    Result<void> record_status(const StatusEvent& s, const TenantId& tenant, WebhookReport& report) {
        ++report.statuses;
        const auto status = storage::message_status_from_string(s.status);
        if (options.messages && status && !s.id.empty()) {
            // Only forward: a late "sent" after "read" changes nothing (the store decides).
            auto updated = options.messages->update_status_by_provider_id(tenant, s.id, *status, s.at);
            if (!updated) return updated.error();
            if (*updated) ++report.status_updates;
        }
        for (const ProviderError& e : s.errors) {
            auto to = PhoneNumber::parse(s.recipient_id);
            if (!to) continue;
            if (e.code == 131047) {  // the 24-hour window had closed: free-form sends wait for them
                engine.note_window_closed(tenant, *to, s.at);
                continue;
            }
            if (e.code != 131050) continue;  // the recipient stopped marketing messages: record it
            auto recorded = engine.record_platform_optout(tenant, *to, "131050", "status:" + s.id + ":131050");
            if (!recorded) return recorded.error();
            ++report.opt_outs;
        }
        return {};
    }

    /// A POST's body, once its signature is checked: parsed under the limits.
    Result<WebhookPayload> verified(std::string_view raw_body, std::string_view signature_header) const {
        if (auto ok = signature.verify(raw_body, signature_header); !ok) return ok.error();
        return parse_webhook(raw_body, options.limits);
    }

    /// Every event of a verified, parsed delivery: messages, then preferences, then statuses.
    Result<WebhookReport> record(const WebhookPayload& payload) {
        WebhookReport report;
        report.skipped = payload.skipped.size();
        auto each = [&](const auto& events, auto record_one) -> Result<void> {
            for (const auto& event : events) {
                auto tenant = options.tenant_for(event.phone_number_id);
                if (!tenant) return tenant.error();
                if (!*tenant) {
                    ++report.ignored;
                    continue;
                }
                if (auto r = (this->*record_one)(event, **tenant, report); !r) return r.error();
            }
            return {};
        };
        if (auto r = each(payload.messages, &Impl::record_message); !r) return r.error();
        if (auto r = each(payload.preferences, &Impl::record_preference); !r) return r.error();
        if (auto r = each(payload.statuses, &Impl::record_status); !r) return r.error();
        return report;
    }

    /// The InboundMessage the engine gets for a message event.
    static InboundMessage inbound(const InboundEvent& m, const TenantId& tenant, PhoneNumber from) {
        InboundMessage in{tenant, std::move(from)};
        in.provider_message_id = m.id;
        in.at = m.at;
        switch (m.type) {
            case InboundEvent::Type::text: in.text = m.text; break;
            case InboundEvent::Type::button:
            case InboundEvent::Type::interactive:
                in.type = InboundMessage::Type::button;
                in.text = m.text;
                break;
            default: break;  // reactions, media, others: they open the window, they are not keywords
        }
        return in;
    }
};

namespace {

// What a delivery that was not stored is answered. A store failure is a 503, so WhatsApp
// delivers it again; its code says what an operator must fix.
http::Response refusal(const Error& e) {
    if (e.code().category() == crypto::crypto_category())
        return http::Response::error(401, "signature_invalid", "X-Hub-Signature-256 does not match the body.");
    if (e.code().category() == webhook_category())
        return http::Response::error(e == WebhookErrc::too_large ? 413 : 400, "malformed_webhook", e.message());
    if (e == storage::StorageErrc::full)
        return http::Response::error(503, "store_full", "The disk holding the store is full; retry later.");
    if (e == storage::StorageErrc::read_only)
        return http::Response::error(503, "store_read_only", "The store is read-only; retry later.");
    return http::Response::error(503, "store_unavailable", "The delivery could not be stored; retry later.");
}

http::Response signature_missing() {
    return http::Response::error(401, "signature_missing", "X-Hub-Signature-256 is required.");
}

http::Response accepted() {
    http::Response ok;
    ok.body = "{\"ok\":true}";
    return ok;
}

// One delivery whose messages are stored by several writes that finish on other threads: the
// answer goes once the last part is in, 200 if every part was stored, else the first failure.
class Join {
public:
    Join(http::Responder responder, ReplySink on_reply) : responder_(std::move(responder)), on_reply_(std::move(on_reply)) {}

    /// Queues the confirmation of an opt-out the engine stored without blocking work.
    void reply(const InboundOutcome& out) const {
        if (out.event) queue_reply(on_reply_, out.event->tenant, out.event->phone, out);
    }

    void add_part() { parts_.fetch_add(1, std::memory_order_relaxed); }
    /// Runs `job` where it may block; the job holds a part, so the responder is still owed.
    void run_blocking(std::function<void()> job) const { responder_.run_blocking(std::move(job)); }
    void finish_part(const Result<void>& stored) {
        if (!stored) {
            std::lock_guard lock(mutex_);
            if (!error_) error_ = stored.error();
        }
        if (parts_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
        std::optional<Error> error;
        {
            std::lock_guard lock(mutex_);
            error.swap(error_);
        }
        responder_.answer(error ? refusal(*error) : accepted());
    }

private:
    http::Responder responder_;
    ReplySink on_reply_;
    std::atomic<int> parts_{1};  // the dispatcher's own, until every write was handed out
    std::mutex mutex_;
    std::optional<Error> error_;
};

}  // namespace

Webhook::Webhook(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Webhook::~Webhook() = default;

Result<std::unique_ptr<Webhook>> Webhook::create(Engine& engine, WebhookOptions options) {
    if (options.verify_token.empty()) return {ConfigErrc::missing, "the webhook needs a verify token"};
    if (options.app_secret.empty()) return {ConfigErrc::missing, "the webhook needs the app secret"};
    if (!options.tenant_for) return {ConfigErrc::missing, "the webhook needs a tenant lookup"};
    auto signature = crypto::WebhookSignature::create(options.app_secret);
    if (!signature) return signature.error();
    auto impl = std::make_unique<Impl>(Impl{engine, std::move(options), std::move(signature).value(), nullptr});
    if (impl->options.on_reply)
        impl->on_reply = std::make_shared<const std::function<void(const PendingReply&)>>(std::move(impl->options.on_reply));
    return std::unique_ptr<Webhook>(new Webhook(std::move(impl)));
}

Result<WebhookReport> Webhook::ingest(std::string_view raw_body, std::string_view signature_header) {
    auto payload = impl_->verified(raw_body, signature_header);
    if (!payload) return payload.error();
    return impl_->record(*payload);
}

http::Response Webhook::handle(const http::Request& request) {
    if (request.method == "GET") {
        // The verification handshake: no signature; echo the challenge exactly.
        if (request.query("hub.mode") != "subscribe" || request.query("hub.verify_token") != impl_->options.verify_token)
            return http::Response::error(403, "verification_failed", "hub.mode or hub.verify_token is wrong.");
        http::Response r;
        r.content_type = "text/plain";
        r.body = request.query("hub.challenge");
        return r;
    }
    if (request.method != "POST") return http::Response::error(405, "method_not_allowed", "Use GET or POST.");
    const std::string signature = request.header("X-Hub-Signature-256");
    if (signature.empty()) return signature_missing();
    auto report = ingest(request.body, signature);
    return report ? accepted() : refusal(report.error());
}

void Webhook::handle_async(http::Request request, http::Responder responder) {
    Impl& d = *impl_;
    if (request.method != "POST") return responder.answer(handle(request));  // the handshake: no store
    const std::string signature = request.header("X-Hub-Signature-256");
    if (signature.empty()) return responder.answer(signature_missing());
    auto parsed = d.verified(request.body, signature);
    if (!parsed) return responder.answer(refusal(parsed.error()));
    auto payload = std::make_shared<WebhookPayload>(std::move(parsed).value());

    // Statuses and preference changes are stored where waiting is allowed, in ingest()'s order.
    if (!payload->statuses.empty() || !payload->preferences.empty()) {
        return responder.answer_with([&d, payload = std::move(payload)] {
            auto report = d.record(*payload);
            return report ? accepted() : refusal(report.error());
        });
    }

    // Inbound messages (plain ones, and opt-outs when the engine can take them so) are handed to
    // the engine without waiting: each is answered for when its writes are durable.
    auto join = std::make_shared<Join>(std::move(responder), d.on_reply);
    std::size_t i = 0;
    for (; i < payload->messages.size(); ++i) {
        const InboundEvent& m = payload->messages[i];
        std::optional<TenantId> tenant;
        if (d.options.tenant_known) {
            auto known = d.options.tenant_known(m.phone_number_id);
            if (!known) break;  // a lookup would wait: this one and the rest are stored below
            tenant = std::move(*known);
        } else {
            auto found = d.options.tenant_for(m.phone_number_id);
            if (!found) {
                join->finish_part(found.error());  // the dispatcher's part: 503 once the others are in
                return;
            }
            tenant = std::move(*found);
        }
        auto from = PhoneNumber::parse(m.from);
        if (!tenant || !from) continue;  // ignored, as ingest() does
        // An opt-out taken this way asks for its confirmation once stored, as record_message does.
        Engine::InboundDone done = [join](Result<InboundOutcome> out) {
            if (out) join->reply(*out);
            join->finish_part(out ? Result<void>() : Result<void>(out.error()));
        };
        join->add_part();
        if (!d.engine.on_inbound_async(Impl::inbound(m, *tenant, std::move(from).value()), std::move(done))) {
            join->finish_part({});  // not taken (a keyword, say): this one and the rest are stored below
            break;
        }
    }
    if (i < payload->messages.size()) {  // where waiting is allowed, as ingest() would
        payload->messages.erase(payload->messages.begin(), payload->messages.begin() + std::ptrdiff_t(i));
        join->add_part();
        join->run_blocking([&d, join, rest = std::move(payload)] {
            auto report = d.record(*rest);
            join->finish_part(report ? Result<void>() : Result<void>(report.error()));
        });
    }
    join->finish_part({});
}

}  // namespace heroshhi::whatsapp
