// heroshhi — whatsapp::Webhook: the WhatsApp Cloud API webhook endpoint (GET handshake, signed
// POST deliveries) feeding the engine.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <heroshhi/core/ids.hpp>
#include <heroshhi/core/result.hpp>
#include <heroshhi/engine.hpp>
#include <heroshhi/http/server.hpp>
#include <heroshhi/storage/message_store.hpp>
#include <heroshhi/whatsapp/webhook_payload.hpp>

namespace heroshhi::whatsapp {

/// A reply the engine wants sent after an inbound message (an opt-out confirmation, the
/// re-subscription or help text). The caller sends it through the gate (Engine::check_send).
struct PendingReply {
    TenantId tenant;
    PhoneNumber to;
    std::string text;
    messaging::MessageKind kind;
};

struct WebhookOptions {
    std::string verify_token;  ///< the string entered in Meta's dashboard (GET handshake)
    std::string app_secret;    ///< the app secret: key of X-Hub-Signature-256
    /// The tenant a business number (metadata.phone_number_id) belongs to; events for numbers it
    /// does not know (nullopt) are acknowledged and ignored. An error (the host's directory could
    /// not be read) fails the delivery with 503, so Meta delivers it again: an opt-out is never
    /// acknowledged unread. A lookup that cannot fail may return std::optional<TenantId>. Called
    /// concurrently: must be thread-safe.
    std::function<Result<std::optional<TenantId>>(std::string_view phone_number_id)> tenant_for;
    /// Optional: tenant_for's answer when it is known without waiting (a cache in memory), or
    /// nullopt when only a lookup that may wait would tell. handle_async runs on a server's I/O
    /// thread and asks this instead of tenant_for; a delivery it cannot place goes to blocking
    /// work, where tenant_for is asked (and may fill the cache). Unset: handle_async calls
    /// tenant_for itself, which must then answer quickly. Must be thread-safe.
    std::function<std::optional<std::optional<TenantId>>(std::string_view phone_number_id)> tenant_known;
    /// Called for each reply, after the delivery that caused it was stored. With handle_async, the
    /// confirmation of an opt-out recorded without blocking work is given on the store's thread
    /// (the one that commits writes): it must then only queue the reply (as the gateway's
    /// ReplyQueue does), never send it, call the engine or the store, or block. Thread-safe.
    std::function<void(const PendingReply&)> on_reply;
    WebhookLimits limits;
    /// Where delivery statuses (sent, delivered, read, failed) are applied to the message history,
    /// by the provider message id a Messenger recorded; they only move a message forward. Null:
    /// statuses only act on the contact (131050 opt-out, 131047 window closed).
    storage::MessageStore* messages = nullptr;
};

/// What one POST delivery did.
struct WebhookReport {
    std::size_t messages = 0;
    std::size_t opt_outs = 0;       ///< opt-out events newly recorded (text, button, preference, 131050)
    std::size_t opt_ins = 0;
    std::size_t duplicates = 0;     ///< redelivered opt-out/opt-in messages, recorded before
    std::size_t statuses = 0;
    std::size_t status_updates = 0; ///< statuses that moved a message of the history forward
    std::size_t ignored = 0;        ///< events for unknown business numbers or unparseable senders
    std::size_t skipped = 0;        ///< events the parser left out (missing fields)
};

/// Handles GET (hub.mode/hub.verify_token/hub.challenge, echoed exactly; no signature on GET) and
/// POST (X-Hub-Signature-256 checked over the raw body first: missing or wrong → 401 and nothing
/// stored; malformed → 400 and nothing stored; a store failure → 503 so Meta redelivers; 200 only
/// after every event was stored). Redelivery is harmless: opt-outs are de-duplicated by message id
/// and inbound times only move forward. Thread-safe.
class Webhook {
public:
    /// Fails with ConfigErrc when the verify token, app secret or tenant lookup is missing.
    static Result<std::unique_ptr<Webhook>> create(Engine& engine, WebhookOptions options);
    ~Webhook();

    /// Answers one HTTP request to the webhook URL.
    http::Response handle(const http::Request& request);

    /// handle() for a server's I/O thread (http::Server's asynchronous form), with the same
    /// answers. It verifies and parses on the calling thread; a delivery of plain inbound messages
    /// (no keyword, a loaded tenant: see Engine::on_inbound_async) is handed to the engine without
    /// waiting and answered once every message is durably stored. Everything else (statuses,
    /// preferences, keywords and their replies) is stored where waiting is allowed
    /// (Responder::answer_with), and so is a message whose business number WebhookOptions::
    /// tenant_known cannot place without waiting (without tenant_known, tenant_for is called on
    /// the calling thread).
    void handle_async(http::Request request, http::Responder responder);

    /// The POST work without HTTP: verifies, parses and records. Errors: crypto's signature
    /// errors, WebhookErrc, or the store's error.
    Result<WebhookReport> ingest(std::string_view raw_body, std::string_view signature_header);

    struct Impl;

private:
    explicit Webhook(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace heroshhi::whatsapp
