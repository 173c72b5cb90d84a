#include <heroshhi/core/errors.hpp>
#include <heroshhi/messaging/errors.hpp>
#include <heroshhi/messaging/messenger.hpp>
#include <heroshhi/rbac/resource.hpp>

#include <nlohmann/json.hpp>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <new>
#include <thread>

namespace heroshhi::messaging {

std::string_view to_string(TemplateCategory c) noexcept {
    switch (c) {
        case TemplateCategory::marketing: return "marketing";
        case TemplateCategory::utility: return "utility";
        case TemplateCategory::authentication: return "authentication";
    }
    return "unknown";
}

std::optional<TemplateCategory> template_category_from_string(std::string_view s) noexcept {
    for (TemplateCategory c : {TemplateCategory::marketing, TemplateCategory::utility, TemplateCategory::authentication})
        if (to_string(c) == s) return c;
    return std::nullopt;
}

MessageKind message_kind(TemplateCategory c) noexcept {
    switch (c) {
        case TemplateCategory::marketing: return MessageKind::marketing_template;
        case TemplateCategory::utility: return MessageKind::utility_template;
        case TemplateCategory::authentication: return MessageKind::authentication_template;
    }
    return MessageKind::marketing_template;  // the strictest rules, should a bad value get here
}

std::string_view to_string(SendStatus s) noexcept {
    switch (s) {
        case SendStatus::sent: return "sent";
        case SendStatus::refused: return "refused";
        case SendStatus::paced: return "paced";
        case SendStatus::failed: return "failed";
        case SendStatus::duplicate: return "duplicate";
    }
    return "unknown";
}

OutgoingMessage make_text(PhoneNumber to, std::string body) {
    OutgoingMessage m{std::move(to), MessageKind::free_form};
    m.text = std::move(body);
    return m;
}

OutgoingMessage make_template(PhoneNumber to, TemplateCategory category, std::string name, std::string language,
                              std::vector<std::string> parameters) {
    OutgoingMessage m{std::move(to), message_kind(category)};
    m.template_message = {std::move(name), std::move(language), std::move(parameters)};
    return m;
}

OutgoingMessage make_reply(PhoneNumber to, std::string text, MessageKind kind) {
    OutgoingMessage m{std::move(to), kind};
    m.text = std::move(text);
    return m;
}

namespace {

bool is_template(MessageKind k) noexcept {
    return k == MessageKind::marketing_template || k == MessageKind::utility_template ||
           k == MessageKind::authentication_template;
}

std::size_t code_points(std::string_view s) noexcept {
    return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
}

// What a message must hold before anything is checked or stored.
Result<void> validate(MessageKind kind, const std::string& text, const transport::Template& t, std::size_t max_chars) {
    if (is_template(kind)) {
        if (t.name.empty()) return {SendErrc::invalid_message, "a template message needs the template's name"};
        if (t.language.empty()) return {SendErrc::invalid_message, "a template message needs a language code"};
        if (!text.empty()) return {SendErrc::invalid_message, "a template message has no free text; use parameters"};
        return {};
    }
    if (text.empty()) return {SendErrc::invalid_message, "a text message needs a body"};
    if (code_points(text) > max_chars)
        return {SendErrc::invalid_message, "the text is longer than " + std::to_string(max_chars) + " characters"};
    return {};
}

// 128 random bits in hex: ids that do not collide across processes and say nothing about content.
MessageId random_message_id() {
    std::array<unsigned char, 16> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) throw std::bad_alloc();
    static constexpr char hex[] = "0123456789abcdef";
    std::string id = "msg-";
    for (unsigned char b : bytes) {
        id += hex[b >> 4];
        id += hex[b & 15];
    }
    return MessageId{std::move(id)};
}

// The history keeps what was sent: the text, or which template with which parameters.
std::string history_body(const OutgoingMessage& m) {
    if (!is_template(m.kind)) return m.text;
    nlohmann::json j = {{"template", m.template_message.name},
                        {"language", m.template_message.language},
                        {"kind", to_string(m.kind)},
                        {"parameters", m.template_message.body_parameters}};
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool retryable(transport::Outcome o) noexcept {
    return o == transport::Outcome::throttled || o == transport::Outcome::temporary;
}

}  // namespace

struct Messenger::Impl {
    Impl(Engine& e, storage::StoreSet& s, std::unique_ptr<transport::Transport> t, const Clock& c,
         MessengerOptions o, Pacer p)
        : engine(e), stores(s), transport(std::move(t)), clock(c), options(std::move(o)), pacer(std::move(p)) {}

    Engine& engine;
    storage::StoreSet& stores;
    const std::unique_ptr<transport::Transport> transport;
    const Clock& clock;
    const MessengerOptions options;
    Pacer pacer;

    void sleep_for(std::chrono::milliseconds d) const {
        if (d.count() <= 0) return;
        if (options.sleep) options.sleep(d);
        else std::this_thread::sleep_for(d);
    }

    // The wait before call number `attempt` + 1: first_delay × 4^(attempt - 1), capped.
    std::chrono::milliseconds backoff(std::uint32_t attempt) const {
        std::chrono::milliseconds d = options.retry.first_delay;
        for (std::uint32_t i = 1; i < attempt && d < options.retry.max_delay; ++i) d *= 4;
        return std::min(d, options.retry.max_delay);
    }

    // Calls the transport until it answers something final or the attempts run out.
    void call_transport(const transport::OutboundMessage& out, SendResult& result) {
        const RetryOptions& retry = options.retry;
        for (std::uint32_t attempt = 1;; ++attempt) {
            result.attempts = attempt;
            auto answer = transport->deliver(out);
            if (!answer) {
                result.outcome = transport::Outcome::temporary;
                result.error_code = 0;
                result.detail = answer.error().message();
                if (!retry.retry_network_errors || attempt >= retry.max_attempts) return;
                sleep_for(backoff(attempt));
                continue;
            }
            result.outcome = answer->outcome;
            result.error_code = answer->error_code;
            result.detail = answer->error_title;
            result.provider_message_id = answer->provider_message_id;
            if (!retryable(answer->outcome)) return;
            const auto asked = std::chrono::duration_cast<std::chrono::milliseconds>(answer->retry_after);
            result.retry_after = std::max(asked, backoff(attempt));
            if (asked > retry.max_delay || attempt >= retry.max_attempts) return;
            sleep_for(std::min(result.retry_after, retry.max_delay));
        }
    }

    // Steps 2 to 5 of the class comment, after the pacing slot was taken.
    template <class Check>
    Result<SendResult> deliver(const TenantId& tenant, OutgoingMessage& m, const Pacer::Slot& slot, Check&& check) {
        SendResult result;
        result.id = m.id;
        Decision decision = check();
        result.decision = decision;
        if (!decision.allowed()) {
            pacer.cancel(slot);
            result.status = SendStatus::refused;
            return result;
        }

        auto contact = stores.contacts().find_by_phone(tenant, m.to);
        if (!contact) {
            pacer.cancel(slot);
            return contact.error();
        }
        if (*contact) {
            storage::MessageRecord record;
            record.tenant = tenant;
            record.id = m.id;
            record.contact = (*contact)->id;
            record.direction = storage::Direction::outbound;
            record.body = history_body(m);
            record.status = storage::MessageStatus::queued;
            record.created_at = record.updated_at = clock.now();
            auto appended = stores.messages().append(record);
            if (!appended) {
                pacer.cancel(slot);
                return appended.error();
            }
            if (!*appended) {
                pacer.cancel(slot);
                result.status = SendStatus::duplicate;
                result.stored = true;
                return result;
            }
        }

        if (const Timestamp now = clock.now(); slot.at > now)
            sleep_for(std::chrono::duration_cast<std::chrono::milliseconds>(slot.at - now));
        transport::OutboundMessage out{m.to, m.kind};
        out.text = m.text;
        out.template_message = m.template_message;
        out.correlation_id = m.id.value();
        call_transport(out, result);

        const bool accepted = result.outcome == transport::Outcome::accepted;
        result.status = accepted ? SendStatus::sent : SendStatus::failed;
        if (accepted) result.retry_after = std::chrono::milliseconds(0);
        const Timestamp now = clock.now();
        if (*contact) {
            // Accepted: keep the wamid, which the status webhooks that follow carry.
            auto updated = accepted && !result.provider_message_id.empty()
                               ? stores.messages().record_sent(tenant, m.id, result.provider_message_id, now)
                               : stores.messages().update_status(
                                     tenant, m.id, accepted ? storage::MessageStatus::sent : storage::MessageStatus::failed, now);
            result.stored = updated && *updated;
        }
        // Act on what the provider told us about the contact. A failure to store the opt-out is
        // not lost: the engine blocks from memory and writes it again at its next load.
        if (result.outcome == transport::Outcome::marketing_opted_out)
            (void)engine.record_platform_optout(tenant, m.to, std::to_string(result.error_code));
        else if (result.outcome == transport::Outcome::window_closed)
            engine.note_window_closed(tenant, m.to, now);
        else if (result.outcome == transport::Outcome::auth_error)
            return Error(ConfigErrc::invalid_value,
                         "the provider refused the credentials (error " + std::to_string(result.error_code) +
                             "): check the access token and its permissions; message " + m.id.value() + " was not sent");
        return result;
    }

    // Step 1, then the rest.
    template <class Check>
    Result<SendResult> send(const TenantId& tenant, OutgoingMessage& m, Check&& check) {
        if (auto ok = validate(m.kind, m.text, m.template_message, options.max_text_chars); !ok) return ok.error();
        if (m.id.empty()) m.id = random_message_id();
        const Pacer::Slot slot = pacer.reserve(m.to.key(), clock.now());
        if (!slot.granted) {
            SendResult result;
            result.id = m.id;
            result.status = SendStatus::paced;
            result.retry_after = slot.wait;
            return result;
        }
        return deliver(tenant, m, slot, std::forward<Check>(check));
    }
};

Messenger::Messenger(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Messenger::~Messenger() = default;

Result<std::unique_ptr<Messenger>> Messenger::create(Engine& engine, storage::StoreSet& stores,
                                                     std::unique_ptr<transport::Transport> transport,
                                                     const Clock& clock, MessengerOptions options) {
    if (!transport) return {ConfigErrc::invalid_value, "the Messenger needs a transport"};
    if (options.retry.max_attempts == 0) return {ConfigErrc::invalid_value, "max_attempts must be at least 1"};
    if (options.retry.first_delay.count() < 0 || options.retry.max_delay.count() < 0)
        return {ConfigErrc::invalid_value, "retry delays cannot be negative"};
    if (options.max_text_chars == 0) return {ConfigErrc::invalid_value, "max_text_chars must be at least 1"};
    auto pacer = Pacer::create(options.pacing);
    if (!pacer) return pacer.error();
    return std::unique_ptr<Messenger>(new Messenger(std::make_unique<Impl>(
        engine, stores, std::move(transport), clock, std::move(options), std::move(pacer).value())));
}

Result<SendResult> Messenger::send(const TenantId& tenant, const rbac::Principal& by, OutgoingMessage message) {
    Impl& d = *impl_;
    return d.send(tenant, message, [&] { return d.engine.check_send(tenant, by, message.to, message.kind, message.request_id); });
}

Result<SendResult> Messenger::send_as_system(const TenantId& tenant, OutgoingMessage message) {
    Impl& d = *impl_;
    return d.send(tenant, message, [&] { return d.engine.check_system_send(tenant, message.to, message.kind, message.request_id); });
}

Result<Attempt<CampaignReport>> Messenger::send_campaign(const rbac::Principal& by, const Campaign& c) {
    Impl& d = *impl_;
    if (c.kind == MessageKind::optout_confirmation)
        return {SendErrc::invalid_message, "an opt-out confirmation is never sent as a campaign"};
    if (c.id.empty()) return {SendErrc::invalid_message, "a campaign needs an id"};
    if (!c.parameters_for)
        if (auto ok = validate(c.kind, c.text, c.template_message, d.options.max_text_chars); !ok) return ok.error();

    rbac::Resource resource{rbac::ResourceType::campaign, c.tenant, c.id};
    resource.team = c.team;
    auto access = d.engine.authorize(by, rbac::Action::send_campaign, resource, c.request_id);
    if (!access) return access.error();
    Attempt<CampaignReport> attempt{std::move(access).value(), std::nullopt};
    if (!attempt.allowed()) return attempt;

    CampaignReport report;
    report.audience = d.engine.filter_audience(c.tenant, c.audience, c.kind);
    const std::vector<std::size_t>& sendable = report.audience.sendable;
    for (std::size_t i = 0; i < sendable.size(); ++i) {
        const std::size_t position = sendable[i];
        OutgoingMessage m{c.audience[position], c.kind};
        m.text = c.text;
        m.template_message = c.template_message;
        if (c.parameters_for) m.template_message.body_parameters = c.parameters_for(position);
        m.id = MessageId{c.id + ":" + std::to_string(position)};
        m.request_id = c.request_id;
        // Authorized and audited as a whole above; the gate is asked again for each recipient,
        // as an opt-out may have arrived since the audience was filtered.
        auto sent = d.send(c.tenant, m, [&] { return d.engine.check_send(c.tenant, m.to, m.kind); });
        if (!sent) {
            report.stopped = sent.error();
            report.stopped_at = position;
            report.not_attempted = sendable.size() - i - 1;
            break;
        }
        switch (sent->status) {
            case SendStatus::sent: ++report.sent; break;
            case SendStatus::failed: ++report.failed; break;
            case SendStatus::refused: ++report.refused; break;
            case SendStatus::paced: ++report.paced; break;
            case SendStatus::duplicate: ++report.duplicates; break;
        }
        report.outcomes.push_back({position, std::move(sent).value()});
    }
    attempt.value = std::move(report);
    return attempt;
}

const MessengerOptions& Messenger::options() const noexcept { return impl_->options; }

}  // namespace heroshhi::messaging
