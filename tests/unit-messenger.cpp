// The Messenger: the only way to send. Checks, history, pacing, retries and the provider's codes.
#include <doctest/doctest.h>

#include <heroshhi/audit/query.hpp>
#include <heroshhi/core/errors.hpp>
#include <heroshhi/engine.hpp>
#include <heroshhi/messaging/errors.hpp>
#include <heroshhi/messaging/messenger.hpp>
#include <heroshhi/messaging/pacer.hpp>
#include <heroshhi/storage/errors.hpp>
#include <heroshhi/storage/memory_store.hpp>
#include <heroshhi/testing/fake_graph_api.hpp>
#include <heroshhi/testing/recording_transport.hpp>
#include <heroshhi/whatsapp/cloud_api_transport.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <mutex>
#include <thread>

#include "support/forwarding_store.hpp"

using namespace heroshhi;
using namespace std::chrono_literals;
using messaging::MessageKind;
using messaging::SendStatus;
using messaging::TemplateCategory;
using rbac::Principal;
using rbac::Role;
using transport::Outcome;

namespace {

const TenantId acme{"acme"};
const Timestamp start_time = from_unix_ms(1'793'628'187'000);  // 2026-11-02T14:03:07Z

PhoneNumber phone(const char* text) { return PhoneNumber::parse(text).value(); }

const Principal owner{UserId{"u-owner"}, acme, Role::owner};
const Principal sales{UserId{"u-sales"}, acme, Role::sales, "north"};
const Principal other_manager{UserId{"u-mgr"}, acme, Role::manager, "south"};

/// A MemoryStore whose message history can be made to fail on its own.
class HistoryFailingStore final : public test_support::MemoryBackedStore, private storage::MessageStore {
public:
    storage::MessageStore& messages() override { return *this; }

    std::atomic<bool> failing{false};

private:
    Result<bool> append(const storage::MessageRecord& m) override {
        if (failing) return {storage::StorageErrc::unavailable, "history down"};
        return inner.messages().append(m);
    }
    Result<bool> update_status(const TenantId& t, const MessageId& id, storage::MessageStatus s, Timestamp at) override {
        if (failing) return {storage::StorageErrc::unavailable, "history down"};
        return inner.messages().update_status(t, id, s, at);
    }
    Result<bool> record_sent(const TenantId& t, const MessageId& id, std::string_view provider_id, Timestamp at) override {
        if (failing) return {storage::StorageErrc::unavailable, "history down"};
        return inner.messages().record_sent(t, id, provider_id, at);
    }
    Result<std::optional<MessageId>> update_status_by_provider_id(const TenantId& t, std::string_view provider_id,
                                                                storage::MessageStatus s, Timestamp at) override {
        if (failing) return {storage::StorageErrc::unavailable, "history down"};
        return inner.messages().update_status_by_provider_id(t, provider_id, s, at);
    }
    Result<void> scan_for_contact(const TenantId& t, const ContactId& c,
                                  const std::function<void(const storage::MessageRecord&)>& visit) const override {
        return inner.messages().scan_for_contact(t, c, visit);
    }
    Result<std::vector<storage::MessageRecord>> list_for_contact(const TenantId& t, const ContactId& c,
                                                                 std::size_t limit) const override {
        return inner.messages().list_for_contact(t, c, limit);
    }
};

/// Records the waits the Messenger asks for and moves the clock instead of sleeping.
struct Sleeper {
    explicit Sleeper(ManualClock& c) : clock(c) {}

    ManualClock& clock;
    std::mutex mutex;
    std::vector<std::chrono::milliseconds> waits;

    void operator()(std::chrono::milliseconds d) {
        std::lock_guard lock(mutex);
        waits.push_back(d);
        clock.advance(d);
    }
};

struct Fixture {
    HistoryFailingStore store;
    ManualClock clock{start_time};
    Engine engine{store, clock, [] {
                      EngineOptions o;
                      o.audit_key = "a key the host keeps: 32 bytes!!";
                      return o;
                  }()};
    Sleeper sleeper{clock};
    testing::RecordingTransport* transport = nullptr;  // owned by the messenger
    std::unique_ptr<messaging::Messenger> messenger;

    PhoneNumber lead = phone("+14155550123");      // contact c-1, assigned to u-sales, wrote a minute ago
    PhoneNumber stranger = phone("+14155550999");  // no contact

    explicit Fixture(messaging::MessengerOptions options = {}) {
        add_contact("c-1", lead, "u-sales");
        REQUIRE(store.inner.activity().record_inbound(acme, lead, start_time - 1min));
        REQUIRE(engine.warm(acme));
        make_messenger(std::move(options));
    }

    void make_messenger(messaging::MessengerOptions options) {
        auto t = std::make_unique<testing::RecordingTransport>();
        transport = t.get();
        options.sleep = [this](std::chrono::milliseconds d) { sleeper(d); };
        messenger = messaging::Messenger::create(engine, store, std::move(t), clock, std::move(options)).value();
    }

    void add_contact(const char* id, const PhoneNumber& p, const char* assignee = nullptr, bool restricted = false) {
        storage::Contact c{acme, ContactId{id}, p};
        if (assignee != nullptr) c.assignee = UserId{assignee};
        c.team = "north";
        c.restricted = restricted;
        c.created_at = c.updated_at = start_time;
        REQUIRE(store.inner.contacts().put(c));
    }

    void grant_consent(const PhoneNumber& p) {
        REQUIRE(store.inner.consents().append({acme, p, storage::Purpose::marketing, true, start_time, "web_form", {}}));
    }

    std::vector<storage::MessageRecord> history(const char* contact) {
        return store.inner.messages().list_for_contact(acme, ContactId{contact}, 100).value();
    }

    std::vector<audit::Entry> audit_entries(std::string action) {
        audit::Query q{acme};
        q.action = std::move(action);
        return engine.audit().query(q).value();
    }
};

}  // namespace

TEST_CASE("a send refused by the gate never reaches the transport, is audited, and stores nothing") {
    Fixture f;
    REQUIRE(f.engine.on_inbound({acme, f.lead, "STOP"}));
    auto r = f.messenger->send(acme, owner, messaging::make_text(f.lead, "Still interested?"));
    REQUIRE(r.has_value());
    CHECK(r->status == SendStatus::refused);
    REQUIRE(r->decision.has_value());
    CHECK(r->decision->reason() == Reason::opted_out);
    CHECK(r->decision->notice().find("opted out") != std::string::npos);
    CHECK(r->attempts == 0);
    CHECK(f.transport->sent().empty());
    CHECK(f.history("c-1").empty());
    auto entries = f.audit_entries("send.free_form");
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].outcome == Reason::opted_out);
    CHECK(entries[0].actor.user == owner.user);
    CHECK(entries[0].target_id == "c-1");
}

TEST_CASE("a send the role does not allow never reaches the transport and is audited") {
    Fixture f;
    f.add_contact("c-2", phone("+14155550124"), "someone-else");
    auto r = f.messenger->send(acme, sales, messaging::make_text(phone("+14155550124"), "hi"));
    REQUIRE(r.has_value());
    CHECK(r->status == SendStatus::refused);
    CHECK(r->decision->reason() == Reason::not_authorized);
    CHECK(f.transport->sent().empty());
    auto entries = f.audit_entries("send.free_form");
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].outcome == Reason::not_authorized);
    CHECK(entries[0].target_id == "c-2");
}

TEST_CASE("an allowed send is stored as queued before the transport is called, then marked sent") {
    // A transport that looks at the history while it is being asked to deliver.
    struct Probe final : transport::Transport {
        storage::MessageStore* history = nullptr;
        std::optional<storage::MessageStatus> seen;
        std::string correlation;
        Result<transport::ProviderAnswer> deliver(const transport::OutboundMessage& m) override {
            auto records = history->list_for_contact(acme, ContactId{"c-1"}, 10).value();
            if (!records.empty()) seen = records.back().status;
            correlation = m.correlation_id;
            transport::ProviderAnswer a;
            a.outcome = Outcome::accepted;
            a.provider_message_id = "wamid.probe";
            return a;
        }
    };
    Fixture f;
    auto probe = std::make_unique<Probe>();
    Probe* p = probe.get();
    p->history = &f.store.inner.messages();
    auto messenger = messaging::Messenger::create(f.engine, f.store, std::move(probe), f.clock).value();

    auto r = messenger->send(acme, sales, messaging::make_text(f.lead, "Your visit is at 10:00"));
    REQUIRE(r.has_value());
    CHECK(r->status == SendStatus::sent);
    CHECK(r->provider_message_id == "wamid.probe");
    CHECK(r->stored);
    CHECK(r->attempts == 1);
    CHECK(p->seen == storage::MessageStatus::queued);
    CHECK(p->correlation == r->id.value());
    CHECK(r->id.value().rfind("msg-", 0) == 0);

    auto records = f.history("c-1");
    REQUIRE(records.size() == 1);
    CHECK(records[0].id == r->id);
    CHECK(records[0].direction == storage::Direction::outbound);
    CHECK(records[0].status == storage::MessageStatus::sent);
    CHECK(records[0].body == "Your visit is at 10:00");
    auto entries = f.audit_entries("send.free_form");
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].allowed());
    CHECK(entries[0].actor.user == sales.user);
}

TEST_CASE("templates carry category, language and parameters; ids are generated or given") {
    Fixture f;
    auto m = messaging::make_template(f.lead, TemplateCategory::utility, "visit_reminder", "de_DE", {"Ada", "10:00"});
    m.id = MessageId{"crm-msg-7"};
    auto r = f.messenger->send(acme, owner, m);
    REQUIRE(r.has_value());
    CHECK(r->status == SendStatus::sent);
    CHECK(r->id.value() == "crm-msg-7");
    auto sent = f.transport->sent();
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].kind == MessageKind::utility_template);
    CHECK(sent[0].template_message.name == "visit_reminder");
    CHECK(sent[0].template_message.language == "de_DE");
    CHECK(sent[0].template_message.body_parameters == std::vector<std::string>{"Ada", "10:00"});
    CHECK(sent[0].correlation_id == "crm-msg-7");
    auto body = nlohmann::json::parse(f.history("c-1").at(0).body);
    CHECK(body["template"] == "visit_reminder");
    CHECK(body["kind"] == "utility_template");

    SUBCASE("the same id again is a duplicate and is not sent twice") {
        f.clock.advance(10s);
        auto again = f.messenger->send(acme, owner, m);
        REQUIRE(again.has_value());
        CHECK(again->status == SendStatus::duplicate);
        CHECK(f.transport->sent().size() == 1);
    }
    SUBCASE("generated ids differ") {
        f.clock.advance(10s);
        auto a = f.messenger->send(acme, owner, messaging::make_text(f.lead, "one"));
        f.clock.advance(10s);
        auto b = f.messenger->send(acme, owner, messaging::make_text(f.lead, "two"));
        REQUIRE(a.has_value());
        REQUIRE(b.has_value());
        CHECK(a->id != b->id);
        CHECK(a->id.value().size() == 4 + 32);
    }
    SUBCASE("category names round-trip") {
        for (auto c : {TemplateCategory::marketing, TemplateCategory::utility, TemplateCategory::authentication})
            CHECK(messaging::template_category_from_string(messaging::to_string(c)) == c);
        CHECK_FALSE(messaging::template_category_from_string("promo").has_value());
        CHECK(messaging::message_kind(TemplateCategory::marketing) == MessageKind::marketing_template);
    }
}

TEST_CASE("a malformed message is an error and nothing is checked or sent") {
    Fixture f;
    CHECK(f.messenger->send(acme, owner, messaging::make_text(f.lead, "")).error() == messaging::SendErrc::invalid_message);
    CHECK(f.messenger->send(acme, owner, messaging::make_template(f.lead, TemplateCategory::utility, "", "en_US"))
              .error() == messaging::SendErrc::invalid_message);
    CHECK(f.messenger->send(acme, owner, messaging::make_template(f.lead, TemplateCategory::utility, "x", ""))
              .error() == messaging::SendErrc::invalid_message);
    std::string long_text;
    for (int i = 0; i < 4097; ++i) long_text += "é";  // characters, not bytes, are counted
    CHECK(f.messenger->send(acme, owner, messaging::make_text(f.lead, long_text)).error() ==
          messaging::SendErrc::invalid_message);
    CHECK(f.messenger->send(acme, owner, messaging::make_text(f.lead, long_text.substr(0, 4096 * 2))).has_value());
    CHECK(f.transport->sent().size() == 1);
    CHECK(f.audit_entries("send.free_form").size() == 1);
}

TEST_CASE("if the history cannot be written, nothing is sent") {
    Fixture f;
    f.store.failing = true;
    auto r = f.messenger->send(acme, owner, messaging::make_text(f.lead, "hello"));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == storage::StorageErrc::unavailable);
    CHECK(f.transport->sent().empty());
    f.store.failing = false;
    // The pacing slot was given back: the retry goes out at once.
    auto again = f.messenger->send(acme, owner, messaging::make_text(f.lead, "hello"));
    REQUIRE(again.has_value());
    CHECK(again->status == SendStatus::sent);
}

TEST_CASE("a system send runs the gate and is audited with the system as actor") {
    Fixture f;
    auto out = f.engine.on_inbound({acme, f.lead, "STOP"}).value();
    REQUIRE(out.reply_kind == MessageKind::optout_confirmation);
    auto first = f.messenger->send_as_system(acme, messaging::make_reply(f.lead, out.reply, out.reply_kind));
    REQUIRE(first.has_value());
    CHECK(first->status == SendStatus::sent);
    f.clock.advance(10s);
    auto second = f.messenger->send_as_system(acme, messaging::make_reply(f.lead, out.reply, out.reply_kind));
    REQUIRE(second.has_value());
    CHECK(second->status == SendStatus::refused);
    CHECK(second->decision->reason() == Reason::confirmation_used);
    auto other = f.messenger->send_as_system(acme, messaging::make_text(f.lead, "We miss you"));
    CHECK(other->status == SendStatus::refused);
    CHECK(other->decision->reason() == Reason::opted_out);
    CHECK(f.transport->sent().size() == 1);

    auto entries = f.audit_entries("send.optout_confirmation");
    REQUIRE(entries.size() == 2);
    CHECK(entries[0].actor.is_system());
    CHECK(entries[0].allowed());
    CHECK(entries[1].outcome == Reason::confirmation_used);
    REQUIRE(f.audit_entries("send.free_form").size() == 1);
}

TEST_CASE("a number without a contact is sent to without history, and audited by pseudonym") {
    Fixture f;
    auto out = f.engine.on_inbound({acme, f.stranger, "help"}).value();
    REQUIRE_FALSE(out.reply.empty());
    auto r = f.messenger->send_as_system(acme, messaging::make_reply(f.stranger, out.reply, out.reply_kind));
    REQUIRE(r.has_value());
    CHECK(r->status == SendStatus::sent);
    CHECK_FALSE(r->stored);
    auto entries = f.audit_entries("send.free_form");
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].target_id.rfind("phone:", 0) == 0);
}

TEST_CASE("131050 records a marketing opt-out, so later marketing is refused before the transport") {
    Fixture f;
    f.grant_consent(f.lead);
    REQUIRE(f.engine.warm(acme));
    f.transport->fail_next(f.lead, 131050);
    auto promo = messaging::make_template(f.lead, TemplateCategory::marketing, "spring_sale", "en_US");
    auto r = f.messenger->send(acme, owner, promo);
    REQUIRE(r.has_value());
    CHECK(r->status == SendStatus::failed);
    CHECK(r->outcome == Outcome::marketing_opted_out);
    CHECK(r->error_code == 131050);
    CHECK(r->attempts == 1);
    CHECK(f.history("c-1").at(0).status == storage::MessageStatus::failed);
    auto status = f.engine.status(acme, f.lead).value();
    CHECK(status.marketing_opted_out);
    CHECK_FALSE(status.opted_out);
    CHECK(status.last_optout->method == optout::Method::platform);
    CHECK(status.last_optout->trigger == "131050");

    f.clock.advance(10s);
    auto again = f.messenger->send(acme, owner, promo);
    CHECK(again->status == SendStatus::refused);
    CHECK(again->decision->reason() == Reason::marketing_opted_out);
    f.clock.advance(10s);
    auto utility = f.messenger->send(acme, owner, messaging::make_template(f.lead, TemplateCategory::utility, "receipt", "en_US"));
    CHECK(utility->status == SendStatus::sent);
    CHECK(f.transport->sent().size() == 2);
}

TEST_CASE("131047 closes the window: free-form is refused until the contact writes again") {
    Fixture f;
    f.transport->fail_next(f.lead, 131047);
    auto r = f.messenger->send(acme, owner, messaging::make_text(f.lead, "Are you there?"));
    REQUIRE(r.has_value());
    CHECK(r->status == SendStatus::failed);
    CHECK(r->outcome == Outcome::window_closed);
    CHECK(r->attempts == 1);

    f.clock.advance(10s);
    auto text = f.messenger->send(acme, owner, messaging::make_text(f.lead, "Hello?"));
    CHECK(text->status == SendStatus::refused);
    CHECK(text->decision->reason() == Reason::outside_window);
    CHECK(text->decision->notice().find("WhatsApp reported the 24-hour window closed") != std::string::npos);
    auto tmpl = f.messenger->send(acme, owner, messaging::make_template(f.lead, TemplateCategory::utility, "follow_up", "en_US"));
    CHECK(tmpl->status == SendStatus::sent);

    f.clock.advance(10s);
    REQUIRE(f.engine.on_inbound({acme, f.lead, "Yes, still here"}));
    f.clock.advance(10s);
    auto after = f.messenger->send(acme, owner, messaging::make_text(f.lead, "Great"));
    CHECK(after->status == SendStatus::sent);
    CHECK(f.transport->sent().size() == 3);
}

TEST_CASE("throttling and temporary errors are retried with exponential backoff, then sent") {
    Fixture f;
    SUBCASE("130429 throughput") {
        f.transport->fail_next(f.lead, 130429, 2);
        auto r = f.messenger->send(acme, owner, messaging::make_text(f.lead, "x"));
        REQUIRE(r.has_value());
        CHECK(r->status == SendStatus::sent);
        CHECK(r->attempts == 3);
        CHECK(f.sleeper.waits == std::vector<std::chrono::milliseconds>{1s, 4s});
    }
    SUBCASE("131056 pair rate: at least the 6 s the provider asks for") {
        f.transport->fail_next(f.lead, 131056, 1, 6s);
        auto r = f.messenger->send(acme, owner, messaging::make_text(f.lead, "x"));
        CHECK(r->status == SendStatus::sent);
        CHECK(r->attempts == 2);
        CHECK(f.sleeper.waits == std::vector<std::chrono::milliseconds>{6s});
    }
    SUBCASE("131000 temporary") {
        f.transport->fail_next(f.lead, 131000, 1);
        auto r = f.messenger->send(acme, owner, messaging::make_text(f.lead, "x"));
        CHECK(r->status == SendStatus::sent);
        CHECK(r->attempts == 2);
    }
    SUBCASE("a network error") {
        f.transport->unreachable_next(f.lead, 1);
        auto r = f.messenger->send(acme, owner, messaging::make_text(f.lead, "x"));
        CHECK(r->status == SendStatus::sent);
        CHECK(r->attempts == 2);
    }
    CHECK(f.history("c-1").at(0).status == storage::MessageStatus::sent);
}

TEST_CASE("backoff is bounded: attempts and each wait are capped, and the send fails") {
    messaging::MessengerOptions o;
    o.retry.max_attempts = 4;
    o.retry.max_delay = 10s;
    Fixture f(o);
    SUBCASE("throttled every time") {
        f.transport->fail_with(f.lead, 130429);
        auto r = f.messenger->send(acme, owner, messaging::make_text(f.lead, "x"));
        REQUIRE(r.has_value());
        CHECK(r->status == SendStatus::failed);
        CHECK(r->outcome == Outcome::throttled);
        CHECK(r->attempts == 4);
        CHECK(f.sleeper.waits == std::vector<std::chrono::milliseconds>{1s, 4s, 10s});
        CHECK(r->retry_after >= 10s);
        CHECK(f.transport->sent().size() == 4);
        CHECK(f.history("c-1").at(0).status == storage::MessageStatus::failed);
    }
    SUBCASE("the network never answers") {
        f.transport->unreachable_next(f.lead, 10);
        auto r = f.messenger->send(acme, owner, messaging::make_text(f.lead, "x"));
        REQUIRE(r.has_value());
        CHECK(r->status == SendStatus::failed);
        CHECK(r->outcome == Outcome::temporary);
        CHECK(r->attempts == 4);
        CHECK_FALSE(r->detail.empty());
    }
    SUBCASE("a wait longer than the cap (131049: 24 h) is not waited for") {
        f.transport->fail_next(f.lead, 131049, 1, std::chrono::hours(24));
        auto r = f.messenger->send(acme, owner, messaging::make_text(f.lead, "x"));
        CHECK(r->status == SendStatus::failed);
        CHECK(r->attempts == 1);
        CHECK(r->retry_after == std::chrono::hours(24));
        CHECK(f.sleeper.waits.empty());
    }
}

TEST_CASE("network errors are not retried when at-most-once is asked for") {
    messaging::MessengerOptions o;
    o.retry.retry_network_errors = false;
    Fixture f(o);
    f.transport->unreachable_next(f.lead, 1);
    auto r = f.messenger->send(acme, owner, messaging::make_text(f.lead, "x"));
    CHECK(r->status == SendStatus::failed);
    CHECK(r->attempts == 1);
}

TEST_CASE("template errors and undeliverable numbers are not retried") {
    for (long code : {132000L, 132001L, 132012L, 132015L, 131026L}) {
        CAPTURE(code);
        Fixture f;
        f.transport->fail_next(f.lead, code, 5);
        auto r = f.messenger->send(acme, owner, messaging::make_template(f.lead, TemplateCategory::utility, "t", "en_US"));
        REQUIRE(r.has_value());
        CHECK(r->status == SendStatus::failed);
        CHECK(r->outcome == Outcome::rejected);
        CHECK(r->error_code == code);
        CHECK(r->attempts == 1);
        CHECK(f.sleeper.waits.empty());
        CHECK(f.history("c-1").at(0).status == storage::MessageStatus::failed);
        CHECK_FALSE(f.engine.status(acme, f.lead).value().marketing_opted_out);
    }
}

TEST_CASE("authentication errors surface as configuration errors") {
    for (long code : {190L, 0L, 10L, 200L}) {
        CAPTURE(code);
        Fixture f;
        f.transport->fail_next(f.lead, code, 5);
        auto r = f.messenger->send(acme, owner, messaging::make_text(f.lead, "x"));
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error() == ConfigErrc::invalid_value);
        CHECK(r.error().detail().find("error " + std::to_string(code)) != std::string::npos);
        CHECK(f.transport->sent().size() == 1);
        CHECK(f.history("c-1").at(0).status == storage::MessageStatus::failed);
    }
}

TEST_CASE("pacing: a second message to the same recipient within 6 s is answered paced") {
    Fixture f;
    REQUIRE(f.messenger->send(acme, owner, messaging::make_text(f.lead, "one"))->sent());
    f.clock.advance(2s);
    auto paced = f.messenger->send(acme, owner, messaging::make_text(f.lead, "two"));
    REQUIRE(paced.has_value());
    CHECK(paced->status == SendStatus::paced);
    CHECK(paced->retry_after == 4s);
    CHECK_FALSE(paced->decision.has_value());
    CHECK(f.transport->sent().size() == 1);
    CHECK(f.history("c-1").size() == 1);
    CHECK(f.audit_entries("send.free_form").size() == 1);  // not checked, so not audited

    auto other = phone("+14155550125");
    f.add_contact("c-3", other);
    REQUIRE(f.engine.on_inbound({acme, other, "hello"}));
    CHECK(f.messenger->send(acme, owner, messaging::make_text(other, "hi"))->sent());  // others are not held up

    f.clock.advance(4s);
    CHECK(f.messenger->send(acme, owner, messaging::make_text(f.lead, "two"))->sent());
}

TEST_CASE("pacing: a refused send gives its slot back") {
    Fixture f;
    f.add_contact("c-2", phone("+14155550124"), "someone-else");
    auto refused = f.messenger->send(acme, sales, messaging::make_text(phone("+14155550124"), "x"));
    CHECK(refused->status == SendStatus::refused);
    REQUIRE(f.engine.on_inbound({acme, phone("+14155550124"), "hi"}));
    CHECK(f.messenger->send(acme, owner, messaging::make_text(phone("+14155550124"), "x"))->sent());
}

TEST_CASE("pacing: the number's throughput is kept by waiting for short slots") {
    messaging::MessengerOptions o;
    o.pacing.sender_per_second = 4;  // a slot every 250 ms
    Fixture f(o);
    std::vector<PhoneNumber> numbers;
    for (int i = 0; i < 6; ++i) {
        numbers.push_back(phone(("+1415555020" + std::to_string(i)).c_str()));
        REQUIRE(f.engine.on_inbound({acme, numbers.back(), "hi"}));
    }
    for (const auto& n : numbers) CHECK(f.messenger->send(acme, owner, messaging::make_text(n, "x"))->sent());
    // The clock only moves when the messenger waits: each send after the first waited 250 ms.
    CHECK(f.sleeper.waits == std::vector<std::chrono::milliseconds>(5, 250ms));
}

TEST_CASE("pacer: slots, bursts, the maximum wait and cancellation") {
    messaging::PacingOptions o;
    o.recipient_interval = 6s;
    o.recipient_burst = 2;
    o.sender_per_second = 1000;
    o.max_wait = 0ms;
    auto pacer = messaging::Pacer::create(o).value();
    const Timestamp t0 = start_time;
    CHECK(pacer.reserve(1, t0).granted);
    CHECK(pacer.reserve(1, t0 + 1ms).granted);  // the burst of two
    auto third = pacer.reserve(1, t0 + 2ms);
    CHECK_FALSE(third.granted);
    CHECK(third.wait == 6s - 2ms);  // a slot frees 6 s after the first message
    CHECK(pacer.reserve(2, t0 + 2ms).granted);
    auto later = pacer.reserve(1, t0 + 6s + 1ms);
    CHECK(later.granted);
    pacer.cancel(later);
    CHECK(pacer.reserve(1, t0 + 6s + 1ms).granted);  // the cancelled slot is free again
    CHECK(pacer.tracked() == 2);

    CHECK(messaging::Pacer::create({.recipient_interval = 0ms}).error() == ConfigErrc::invalid_value);
    CHECK(messaging::Pacer::create({.sender_per_second = 0}).error() == ConfigErrc::invalid_value);
    CHECK(messaging::Pacer::create({.recipient_burst = 0}).error() == ConfigErrc::invalid_value);
}

TEST_CASE("pacer: recipients whose slot has passed are forgotten as the table grows") {
    auto pacer = messaging::Pacer::create({.sender_per_second = 1'000'000, .sender_burst = 100'000}).value();
    for (std::uint64_t k = 1; k <= 2048; ++k) REQUIRE(pacer.reserve(k, start_time).granted);
    CHECK(pacer.tracked() == 2048);
    CHECK(pacer.reserve(5000, start_time + 7s).granted);  // all 2,048 are due again by now
    CHECK(pacer.tracked() == 1);
}

TEST_CASE("a window-closed report older than the contact's last message changes nothing") {
    Fixture f;
    f.clock.advance(30s);
    REQUIRE(f.engine.on_inbound({acme, f.lead, "Are you open today?"}));
    f.engine.note_window_closed(acme, f.lead, start_time);  // reported before they wrote
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::free_form).allowed());
    f.engine.note_window_closed(acme, f.lead, f.clock.now());
    auto d = f.engine.check_send(acme, f.lead, MessageKind::free_form);
    CHECK(d.reason() == Reason::outside_window);
    CHECK(d.rule() == "whatsapp.service_window");
    // Templates and the audience filter follow the same facts.
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::utility_template).allowed());
    const std::vector<PhoneNumber> list{f.lead};
    CHECK(f.engine.filter_audience(acme, list, MessageKind::free_form).outside_window == 1);
}

TEST_CASE("concurrent sends to one recipient: one goes out, the rest are paced") {
    messaging::MessengerOptions o;
    o.pacing.max_wait = 0ms;
    Fixture f(o);
    std::atomic<int> sent{0}, paced{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i)
        threads.emplace_back([&] {
            auto r = f.messenger->send(acme, owner, messaging::make_text(f.lead, "x"));
            if (r && r->status == SendStatus::sent) ++sent;
            if (r && r->status == SendStatus::paced) ++paced;
        });
    for (auto& t : threads) t.join();
    CHECK(sent == 1);
    CHECK(paced == 7);
    CHECK(f.transport->sent().size() == 1);
}

TEST_CASE("a campaign excludes opted-out, restricted and unconsented contacts and reports each outcome") {
    Fixture f;
    const auto a = phone("+14155550201"), b = phone("+14155550202"), c = phone("+14155550203"),
               d = phone("+14155550204"), e = phone("+14155550205"), g = phone("+14155550206");
    f.add_contact("c-a", a);
    f.add_contact("c-b", b);
    f.add_contact("c-c", c, nullptr, /*restricted=*/true);
    f.add_contact("c-d", d);
    f.add_contact("c-e", e);
    f.add_contact("c-g", g);
    for (const auto& p : {a, b, c, d, g}) f.grant_consent(p);  // e has none
    REQUIRE(f.engine.warm(acme));
    REQUIRE(f.engine.on_inbound({acme, b, "STOP"}));
    REQUIRE(f.engine.record_platform_optout(acme, d, "user_preferences"));
    f.transport->fail_next(g, 132001);

    messaging::Campaign campaign{acme, "spring-2026", MessageKind::marketing_template};
    campaign.audience = {a, b, c, d, e, a, g};
    campaign.template_message = {"spring_sale", "en_US", {}};
    campaign.parameters_for = [](std::size_t position) { return std::vector<std::string>{"P" + std::to_string(position)}; };
    campaign.request_id = "req-42";

    auto attempt = f.messenger->send_campaign(owner, campaign);
    REQUIRE(attempt.has_value());
    REQUIRE(attempt->allowed());
    const messaging::CampaignReport& report = *attempt->value;
    CHECK(report.audience.opted_out == 1);
    CHECK(report.audience.restricted == 1);
    CHECK(report.audience.marketing_opted_out == 1);
    CHECK(report.audience.no_consent == 1);
    CHECK(report.audience.duplicates == 1);
    CHECK(report.audience.sendable == std::vector<std::size_t>{0, 6});
    CHECK(report.sent == 1);
    CHECK(report.failed == 1);
    CHECK_FALSE(report.stopped.has_value());
    REQUIRE(report.outcomes.size() == 2);
    CHECK(report.outcomes[0].position == 0);
    CHECK(report.outcomes[0].result.status == SendStatus::sent);
    CHECK(report.outcomes[0].result.id.value() == "spring-2026:0");
    CHECK(report.outcomes[1].position == 6);
    CHECK(report.outcomes[1].result.error_code == 132001);

    auto sent = f.transport->sent();
    REQUIRE(sent.size() == 2);
    CHECK(sent[0].to == a);
    CHECK(sent[0].template_message.body_parameters == std::vector<std::string>{"P0"});
    CHECK(sent[1].to == g);
    auto entries = f.audit_entries("send_campaign");
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].target_id == "spring-2026");
    CHECK(entries[0].request_id == "req-42");

    SUBCASE("running it again sends nothing twice") {
        f.clock.advance(1min);
        auto again = f.messenger->send_campaign(owner, campaign);
        CHECK(again->value->duplicates == 2);
        CHECK(f.transport->sent().size() == 2);
    }
}

TEST_CASE("a campaign re-checks each recipient: an opt-out arriving mid-campaign is honoured") {
    Fixture f;
    const auto a = phone("+14155550201"), b = phone("+14155550202");
    f.add_contact("c-a", a);
    f.add_contact("c-b", b);
    messaging::Campaign campaign{acme, "c1", MessageKind::utility_template};
    campaign.audience = {a, b};
    campaign.template_message = {"notice", "en_US", {}};
    campaign.parameters_for = [&](std::size_t position) {
        if (position == 1) REQUIRE(f.engine.on_inbound({acme, b, "STOP"}));  // while a is being sent to
        return std::vector<std::string>{};
    };
    auto attempt = f.messenger->send_campaign(owner, campaign);
    REQUIRE(attempt.has_value());
    CHECK(attempt->value->sent == 1);
    CHECK(attempt->value->refused == 1);
    CHECK(attempt->value->outcomes[1].result.decision->reason() == Reason::opted_out);
    CHECK(f.transport->sent().size() == 1);
}

TEST_CASE("a campaign the role does not allow sends nothing and is audited") {
    Fixture f;
    messaging::Campaign campaign{acme, "north-promo", MessageKind::utility_template};
    campaign.team = "north";
    campaign.audience = {f.lead};
    campaign.template_message = {"notice", "en_US", {}};
    for (const Principal* p : {&sales, &other_manager}) {
        auto attempt = f.messenger->send_campaign(*p, campaign);
        REQUIRE(attempt.has_value());
        CHECK_FALSE(attempt->allowed());
        CHECK_FALSE(attempt->value.has_value());
    }
    CHECK(f.transport->sent().empty());
    CHECK(f.audit_entries("send_campaign").size() == 2);
    messaging::Campaign confirmation{acme, "x", MessageKind::optout_confirmation};
    confirmation.text = "bye";
    CHECK(f.messenger->send_campaign(owner, confirmation).error() == messaging::SendErrc::invalid_message);
}

TEST_CASE("a fault during a campaign stops it and says what was not attempted") {
    Fixture f;
    const auto a = phone("+14155550201"), b = phone("+14155550202");
    f.add_contact("c-a", a);
    f.add_contact("c-b", b);
    f.transport->fail_next(a, 190);
    messaging::Campaign campaign{acme, "c2", MessageKind::utility_template};
    campaign.audience = {a, b};
    campaign.template_message = {"notice", "en_US", {}};
    auto attempt = f.messenger->send_campaign(owner, campaign);
    REQUIRE(attempt.has_value());
    REQUIRE(attempt->value->stopped.has_value());
    CHECK(*attempt->value->stopped == ConfigErrc::invalid_value);
    CHECK(attempt->value->stopped_at == 0);
    CHECK(attempt->value->not_attempted == 1);
    CHECK(f.transport->sent().size() == 1);
}

TEST_CASE("the messenger refuses a configuration it cannot honour") {
    Fixture f;
    CHECK(messaging::Messenger::create(f.engine, f.store, nullptr, f.clock).error() == ConfigErrc::invalid_value);
    messaging::MessengerOptions o;
    o.retry.max_attempts = 0;
    CHECK(messaging::Messenger::create(f.engine, f.store, std::make_unique<testing::RecordingTransport>(), f.clock, o)
              .error() == ConfigErrc::invalid_value);
}

TEST_CASE("end to end over loopback: the Cloud API transport and the fake Graph API") {
    auto fake = testing::FakeGraphApi::start("token-123").value();
    storage::MemoryStore store;
    ManualClock clock{start_time};
    Engine engine{store, clock};
    const PhoneNumber lead = phone("+14155550123");
    storage::Contact c{acme, ContactId{"c-1"}, lead};
    REQUIRE(store.contacts().put(c));
    REQUIRE(store.consents().append({acme, lead, storage::Purpose::marketing, true, start_time, "web_form", {}}));
    REQUIRE(engine.on_inbound({acme, lead, "hello"}));

    whatsapp::CloudApiOptions co;
    co.base_url = fake->base_url();
    co.phone_number_id = "771122334455667";
    co.access_token = "token-123";
    co.timeout = 5s;
    messaging::MessengerOptions mo;
    mo.sleep = [&](std::chrono::milliseconds d) { clock.advance(d); };
    auto messenger = messaging::Messenger::create(engine, store, whatsapp::CloudApiTransport::create(co).value(), clock, mo).value();

    auto r = messenger->send(acme, owner, messaging::make_text(lead, "Your visit is at 10:00"));
    REQUIRE(r.has_value());
    CHECK(r->status == SendStatus::sent);
    CHECK(r->provider_message_id == "wamid.fake.1");
    auto got = fake->received();
    REQUIRE(got.size() == 1);
    auto body = nlohmann::json::parse(got[0].body);
    CHECK(body["to"] == "+14155550123");
    CHECK(body["text"]["body"] == "Your visit is at 10:00");
    CHECK(body["biz_opaque_callback_data"] == r->id.value());
    CHECK(store.messages().list_for_contact(acme, ContactId{"c-1"}, 10).value().at(0).status ==
          storage::MessageStatus::sent);

    // Throttled once, over the wire: retried after the backoff, then accepted.
    clock.advance(10s);
    fake->fail_next("+14155550123", 130429, 1);
    auto retried = messenger->send(acme, owner, messaging::make_template(lead, TemplateCategory::utility, "receipt", "en_US"));
    CHECK(retried->status == SendStatus::sent);
    CHECK(retried->attempts == 2);

    // 131050 over the wire: the opt-out is recorded and the next marketing send stops at the gate.
    clock.advance(10s);
    fake->fail("+14155550123", 131050);
    auto promo = messaging::make_template(lead, TemplateCategory::marketing, "spring_sale", "en_US");
    CHECK(messenger->send(acme, owner, promo)->outcome == Outcome::marketing_opted_out);
    clock.advance(10s);
    const std::size_t before = fake->received().size();
    CHECK(messenger->send(acme, owner, promo)->decision->reason() == Reason::marketing_opted_out);
    CHECK(fake->received().size() == before);

    // A refused send never reaches the fake either.
    REQUIRE(engine.on_inbound({acme, lead, "STOP"}));
    clock.advance(10s);
    CHECK(messenger->send(acme, owner, messaging::make_text(lead, "wait"))->status == SendStatus::refused);
    CHECK(fake->received().size() == before);
}
