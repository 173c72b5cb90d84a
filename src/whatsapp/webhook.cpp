#include <heroshhi/core/errors.hpp>
#include <heroshhi/crypto/errors.hpp>
#include <heroshhi/crypto/webhook_signature.hpp>
#include <heroshhi/storage/errors.hpp>
#include <heroshhi/whatsapp/webhook.hpp>

namespace heroshhi::whatsapp {

struct Webhook::Impl {
    Engine& engine;
    WebhookOptions options;
    crypto::WebhookSignature signature;

    Result<void> record_message(const InboundEvent& m, const TenantId& tenant, WebhookReport& report) {
        auto from = PhoneNumber::parse(m.from);
        if (!from) {
            ++report.ignored;
            return {};
        }
        InboundMessage in{tenant, *from};
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
        auto out = engine.on_inbound(in);
        if (!out) return out.error();
        ++report.messages;
        if (out->duplicate) ++report.duplicates;
        if (out->event) (out->event->kind == optout::EventKind::opt_out ? report.opt_outs : report.opt_ins)++;
        if (!out->reply.empty() && options.on_reply)
            options.on_reply(PendingReply{tenant, *from, out->reply, out->reply_kind});
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
};

Webhook::Webhook(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Webhook::~Webhook() = default;

Result<std::unique_ptr<Webhook>> Webhook::create(Engine& engine, WebhookOptions options) {
    if (options.verify_token.empty()) return {ConfigErrc::missing, "the webhook needs a verify token"};
    if (options.app_secret.empty()) return {ConfigErrc::missing, "the webhook needs the app secret"};
    if (!options.tenant_for) return {ConfigErrc::missing, "the webhook needs a tenant lookup"};
    auto signature = crypto::WebhookSignature::create(options.app_secret);
    if (!signature) return signature.error();
    return std::unique_ptr<Webhook>(
        new Webhook(std::make_unique<Impl>(Impl{engine, std::move(options), std::move(signature).value()})));
}

Result<WebhookReport> Webhook::ingest(std::string_view raw_body, std::string_view signature_header) {
    Impl& d = *impl_;
    if (auto ok = d.signature.verify(raw_body, signature_header); !ok) return ok.error();
    auto payload = parse_webhook(raw_body, d.options.limits);
    if (!payload) return payload.error();
    WebhookReport report;
    report.skipped = payload->skipped.size();
    auto tenant_of = [&](const std::string& number_id) { return d.options.tenant_for(number_id); };
    for (const InboundEvent& m : payload->messages) {
        auto tenant = tenant_of(m.phone_number_id);
        if (!tenant) return tenant.error();
        if (!*tenant) {
            ++report.ignored;
            continue;
        }
        if (auto r = d.record_message(m, **tenant, report); !r) return r.error();
    }
    for (const PreferenceEvent& p : payload->preferences) {
        auto tenant = tenant_of(p.phone_number_id);
        if (!tenant) return tenant.error();
        if (!*tenant) {
            ++report.ignored;
            continue;
        }
        if (auto r = d.record_preference(p, **tenant, report); !r) return r.error();
    }
    for (const StatusEvent& s : payload->statuses) {
        auto tenant = tenant_of(s.phone_number_id);
        if (!tenant) return tenant.error();
        if (!*tenant) {
            ++report.ignored;
            continue;
        }
        if (auto r = d.record_status(s, **tenant, report); !r) return r.error();
    }
    return report;
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
    if (signature.empty())
        return http::Response::error(401, "signature_missing", "X-Hub-Signature-256 is required.");
    auto report = ingest(request.body, signature);
    if (!report) {
        const Error& e = report.error();
        if (e.code().category() == crypto::crypto_category())
            return http::Response::error(401, "signature_invalid", "X-Hub-Signature-256 does not match the body.");
        if (e.code().category() == webhook_category())
            return http::Response::error(e == WebhookErrc::too_large ? 413 : 400, "malformed_webhook", e.message());
        // Not stored: 503, so WhatsApp delivers it again; the code says what an operator must fix.
        if (e == storage::StorageErrc::full)
            return http::Response::error(503, "store_full", "The disk holding the store is full; retry later.");
        if (e == storage::StorageErrc::read_only)
            return http::Response::error(503, "store_read_only", "The store is read-only; retry later.");
        return http::Response::error(503, "store_unavailable", "The delivery could not be stored; retry later.");
    }
    http::Response ok;
    ok.body = "{\"ok\":true}";
    return ok;
}

}  // namespace heroshhi::whatsapp
