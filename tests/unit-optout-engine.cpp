// The opt-out engine: registry, suppression index, send gate, audiences and the Engine facade.
#include <doctest/doctest.h>

#include "support/temp_db.hpp"

#include <heroshhi/engine.hpp>
#include <heroshhi/storage/errors.hpp>
#include <heroshhi/storage/memory_store.hpp>
#include <heroshhi/storage/sqlite_store.hpp>
#include <heroshhi/testing/failing_store.hpp>

#include <atomic>
#include <filesystem>
#include <thread>
#include <unordered_set>

using namespace heroshhi;
using namespace std::chrono_literals;
using messaging::MessageKind;
using optout::EventKind;
using optout::Method;
using optout::Scope;

namespace {

const TenantId acme{"acme"};
const TenantId globex{"globex"};
const Timestamp start_time = from_unix_ms(1'793'628'187'000);  // 2026-11-02T14:03:07Z

PhoneNumber phone(const char* text) { return PhoneNumber::parse(text).value(); }

InboundMessage text_from(const TenantId& tenant, const PhoneNumber& from, std::string text, std::string wamid = {}) {
    InboundMessage m{tenant, from};
    m.text = std::move(text);
    m.provider_message_id = std::move(wamid);
    return m;
}

struct Fixture {
    storage::MemoryStore store;
    ManualClock clock{start_time};
    Engine engine{store, clock};
    PhoneNumber lead = phone("+14155550123");
    rbac::Principal admin{UserId{"u-admin"}, acme, rbac::Role::admin};
};

}  // namespace

TEST_CASE("an opted-out contact is blocked with a notice saying when and how, and how to re-subscribe") {
    Fixture f;
    auto out = f.engine.on_inbound(text_from(acme, f.lead, " Stop!!\n", "wamid.1"));
    REQUIRE(out.has_value());
    CHECK(out->classification.intent == optout::Intent::opt_out);
    REQUIRE(out->event.has_value());
    CHECK(out->event->method == Method::keyword);
    CHECK(out->event->trigger == "STOP");
    CHECK(out->event->scope == Scope::all);

    f.clock.advance(1min);
    for (MessageKind kind : {MessageKind::free_form, MessageKind::marketing_template, MessageKind::utility_template,
                             MessageKind::authentication_template}) {
        CAPTURE(messaging::to_string(kind));
        Decision d = f.engine.check_send(acme, f.lead, kind);
        CHECK_FALSE(d.allowed());
        CHECK(d.reason() == Reason::opted_out);
        CHECK(d.rule() == "optout.blocks_all");
        CHECK(d.notice() ==
              "Blocked: +14155550123 opted out on 2026-11-02 14:03 UTC by replying STOP. "
              "They can re-subscribe by sending START.");
    }
}

TEST_CASE("START re-subscribes, and the opt-out record stays in the history") {
    Fixture f;
    REQUIRE(f.engine.on_inbound(text_from(acme, f.lead, "STOP")).has_value());
    f.clock.advance(10min);
    auto back = f.engine.on_inbound(text_from(acme, f.lead, "start"));
    REQUIRE(back.has_value());
    CHECK(back->classification.intent == optout::Intent::opt_in);
    REQUIRE(back->event.has_value());
    CHECK(back->event->kind == EventKind::opt_in);
    CHECK_FALSE(back->reply.empty());
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::free_form).allowed());

    auto history = f.engine.history(acme, f.lead);
    REQUIRE(history.has_value());
    REQUIRE(history->size() == 2);
    CHECK((*history)[0].kind == EventKind::opt_out);
    CHECK((*history)[0].trigger == "STOP");
    CHECK((*history)[1].kind == EventKind::opt_in);
    auto status = f.engine.status(acme, f.lead);
    REQUIRE(status.has_value());
    CHECK_FALSE(status->opted_out);
    REQUIRE(status->last_optout.has_value());
    CHECK(status->last_optout->at == start_time);
    CHECK(status->event_count == 2);
}

TEST_CASE("YES re-subscribes only a contact who is opted out") {
    Fixture f;
    auto plain = f.engine.on_inbound(text_from(acme, f.lead, "Yes"));
    REQUIRE(plain.has_value());
    CHECK_FALSE(plain->event.has_value());
    CHECK(plain->classification.intent == optout::Intent::none);
    CHECK(f.engine.history(acme, f.lead)->empty());

    REQUIRE(f.engine.on_inbound(text_from(acme, f.lead, "UNSUBSCRIBE")).has_value());
    CHECK_FALSE(f.engine.check_send(acme, f.lead, MessageKind::free_form).allowed());
    auto yes = f.engine.on_inbound(text_from(acme, f.lead, "yes"));
    REQUIRE(yes.has_value());
    REQUIRE(yes->event.has_value());
    CHECK(yes->event->kind == EventKind::opt_in);
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::free_form).allowed());
}

TEST_CASE("START from a contact who never opted out records nothing") {
    Fixture f;
    auto out = f.engine.on_inbound(text_from(acme, f.lead, "START"));
    REQUIRE(out.has_value());
    CHECK_FALSE(out->event.has_value());
    CHECK(f.engine.history(acme, f.lead)->empty());
}

TEST_CASE("a keyword inside a sentence is an ordinary message, not an opt-out") {
    Fixture f;
    for (const char* text : {"stop by tomorrow", "we have to stop this bill", "don't stop", "Stop it!"}) {
        CAPTURE(text);
        auto out = f.engine.on_inbound(text_from(acme, f.lead, text));
        REQUIRE(out.has_value());
        CHECK_FALSE(out->event.has_value());
        CHECK(out->reply.empty());
    }
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::free_form).allowed());
}

TEST_CASE("a redelivered opt-out webhook is recorded once and answered once") {
    Fixture f;
    auto first = f.engine.on_inbound(text_from(acme, f.lead, "STOP", "wamid.same"));
    auto again = f.engine.on_inbound(text_from(acme, f.lead, "STOP", "wamid.same"));
    REQUIRE(first.has_value());
    REQUIRE(again.has_value());
    CHECK(first->event.has_value());
    CHECK_FALSE(first->duplicate);
    CHECK(again->duplicate);
    CHECK_FALSE(again->event.has_value());
    CHECK(again->reply.empty());
    CHECK(f.engine.history(acme, f.lead)->size() == 1);
}

TEST_CASE("the opt-out confirmation is allowed once, within minutes, and nothing else is") {
    Fixture f;
    auto out = f.engine.on_inbound(text_from(acme, f.lead, "STOP"));
    REQUIRE(out.has_value());
    CHECK(out->reply_kind == MessageKind::optout_confirmation);
    CHECK(out->reply.find("unsubscribed") != std::string::npos);

    SUBCASE("once") {
        f.clock.advance(30s);
        Decision first = f.engine.check_send(acme, f.lead, MessageKind::optout_confirmation);
        CHECK(first.allowed());
        CHECK(first.rule() == "optout.confirmation_once");
        Decision second = f.engine.check_send(acme, f.lead, MessageKind::optout_confirmation);
        CHECK_FALSE(second.allowed());
        CHECK(second.reason() == Reason::confirmation_used);
        CHECK(f.engine.check_send(acme, f.lead, MessageKind::free_form).reason() == Reason::opted_out);
    }
    SUBCASE("not after the window") {
        f.clock.advance(5min + 1s);
        CHECK(f.engine.check_send(acme, f.lead, MessageKind::optout_confirmation).reason() == Reason::confirmation_used);
    }
    SUBCASE("concurrent senders get it exactly once") {
        std::atomic<int> allowed{0};
        std::vector<std::thread> threads;
        for (int i = 0; i < 8; ++i)
            threads.emplace_back([&] {
                if (f.engine.check_send(acme, f.lead, MessageKind::optout_confirmation).allowed()) ++allowed;
            });
        for (auto& t : threads) t.join();
        CHECK(allowed == 1);
    }
}

TEST_CASE("a contact who never opted out gets no confirmation") {
    Fixture f;
    REQUIRE(f.engine.on_inbound(text_from(acme, f.lead, "hello")).has_value());
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::optout_confirmation).reason() == Reason::confirmation_used);
}

TEST_CASE("the confirmation reply speaks the language of the keyword") {
    Fixture f;
    auto out = f.engine.on_inbound(text_from(acme, f.lead, "PARAR"));
    REQUIRE(out.has_value());
    CHECK(out->classification.language == "pt");
    CHECK(out->reply == ReplyTexts::defaults().optout_confirmation.at("pt"));
}

TEST_CASE("a Stop promotions button tap blocks marketing templates only") {
    Fixture f;
    InboundMessage tap{acme, f.lead};
    tap.text = "Stop promotions";
    tap.type = InboundMessage::Type::button;
    auto out = f.engine.on_inbound(tap);
    REQUIRE(out.has_value());
    REQUIRE(out->event.has_value());
    CHECK(out->event->scope == Scope::marketing);
    CHECK(out->event->method == Method::button);
    CHECK(out->event->trigger == "Stop promotions");

    Decision marketing = f.engine.check_send(acme, f.lead, MessageKind::marketing_template);
    CHECK(marketing.reason() == Reason::marketing_opted_out);
    CHECK(marketing.notice() ==
          "Blocked: +14155550123 opted out of marketing messages on 2026-11-02 14:03 UTC by tapping "
          "\"Stop promotions\". Utility and service messages are still allowed.");
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::utility_template).allowed());
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::free_form).allowed());
}

TEST_CASE("a user_preferences stop and provider error 131050 are marketing-only platform opt-outs") {
    Fixture f;
    InboundMessage pref{acme, f.lead};
    pref.text = "stop";
    pref.type = InboundMessage::Type::preference;
    auto out = f.engine.on_inbound(pref);
    REQUIRE(out.has_value());
    REQUIRE(out->event.has_value());
    CHECK(out->event->scope == Scope::marketing);
    CHECK(out->event->method == Method::platform);
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::marketing_template).reason() == Reason::marketing_opted_out);

    const PhoneNumber other = phone("+14155550999");
    auto e = f.engine.record_platform_optout(acme, other, "131050", "wamid.err");
    REQUIRE(e.has_value());
    CHECK(e->scope == Scope::marketing);
    CHECK(f.engine.check_send(acme, other, MessageKind::marketing_template).reason() == Reason::marketing_opted_out);
    CHECK(f.engine.check_send(acme, other, MessageKind::utility_template).allowed());

    pref.text = "resume";
    auto resumed = f.engine.on_inbound(pref);
    REQUIRE(resumed.has_value());
    REQUIRE(resumed->event.has_value());
    CHECK(resumed->event->kind == EventKind::opt_in);
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::marketing_template).reason() == Reason::no_consent);
}

TEST_CASE("manual and API opt-outs record the acting user and block sends") {
    Fixture f;
    const rbac::Principal admin{UserId{"u-admin-1"}, acme, rbac::Role::admin};
    auto manual = f.engine.opt_out_manually(acme, admin, f.lead);
    REQUIRE(manual.has_value());
    REQUIRE(manual->allowed());
    CHECK(manual->value->method == Method::manual);
    CHECK(manual->value->actor == UserId{"u-admin-1"});
    Decision d = f.engine.check_send(acme, f.lead, MessageKind::utility_template);
    CHECK(d.reason() == Reason::opted_out);
    CHECK(d.notice().find("recorded manually by a team member") != std::string::npos);

    const PhoneNumber other = phone("+442079460958");
    const rbac::Principal api_client{UserId{"api-client-9"}, acme, rbac::Role::admin};
    auto api = f.engine.opt_out_via_api(acme, api_client, other, {.scope = Scope::marketing});
    REQUIRE(api.has_value());
    REQUIRE(api->allowed());
    CHECK(api->value->method == Method::api);
    CHECK(api->value->actor == UserId{"api-client-9"});
    CHECK(f.engine.check_send(acme, other, MessageKind::marketing_template).reason() == Reason::marketing_opted_out);
    CHECK(f.engine.check_send(acme, other, MessageKind::utility_template).allowed());
}

TEST_CASE("free-form messages need the 24-hour window; templates do not") {
    Fixture f;
    Decision never = f.engine.check_send(acme, f.lead, MessageKind::free_form);
    CHECK(never.reason() == Reason::outside_window);
    CHECK(never.rule() == "whatsapp.service_window");
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::utility_template).allowed());

    REQUIRE(f.engine.on_inbound(text_from(acme, f.lead, "Is it still available?")).has_value());
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::free_form).allowed());
    f.clock.advance(24h - 1ms);
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::free_form).allowed());
    f.clock.advance(1ms);
    Decision closed = f.engine.check_send(acme, f.lead, MessageKind::free_form);
    CHECK(closed.reason() == Reason::outside_window);
    CHECK(closed.notice().find("more than 24 hours ago") != std::string::npos);
}

TEST_CASE("marketing templates need recorded consent") {
    Fixture f;
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::marketing_template).reason() == Reason::no_consent);
    REQUIRE(f.engine.record_platform_consent({acme, f.lead, storage::Purpose::marketing, true, start_time, "web_form", {}})
                .has_value());
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::marketing_template).allowed());
    auto withdrawn =
        f.engine.record_consent(f.admin, {acme, f.lead, storage::Purpose::marketing, false, start_time, "dashboard", {}});
    REQUIRE(withdrawn.has_value());
    REQUIRE(withdrawn->allowed());
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::marketing_template).reason() == Reason::no_consent);
}

TEST_CASE("a contact under restriction of processing gets nothing") {
    Fixture f;
    storage::Contact c{acme, ContactId{"c-1"}, f.lead};
    REQUIRE(f.store.contacts().put(c).has_value());
    REQUIRE(f.engine.record_platform_consent({acme, f.lead, storage::Purpose::marketing, true, start_time, "web_form", {}})
                .has_value());
    REQUIRE(f.engine.restrict_processing(acme, f.admin, ContactId{"c-1"}, true).value().allowed());
    for (MessageKind kind : {MessageKind::free_form, MessageKind::marketing_template, MessageKind::utility_template})
        CHECK(f.engine.check_send(acme, f.lead, kind).reason() == Reason::restricted);
    REQUIRE(f.engine.restrict_processing(acme, f.admin, ContactId{"c-1"}, false).value().allowed());
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::marketing_template).allowed());
    CHECK(f.engine.restrict_processing(acme, f.admin, ContactId{"missing"}, true).error() ==
          storage::StorageErrc::not_found);
}

TEST_CASE("one tenant's opt-out does not block another tenant") {
    Fixture f;
    REQUIRE(f.engine.on_inbound(text_from(acme, f.lead, "STOP")).has_value());
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::utility_template).reason() == Reason::opted_out);
    CHECK(f.engine.check_send(globex, f.lead, MessageKind::utility_template).allowed());
}

TEST_CASE("when the store cannot be read the gate fails closed") {
    storage::MemoryStore inner;
    testing::FailingStore failing(inner);
    failing.fail_now();
    ManualClock clock{start_time};
    Engine engine(failing, clock);
    const PhoneNumber lead = phone("+14155550123");
    Decision d = engine.check_send(acme, lead, MessageKind::utility_template);
    CHECK_FALSE(d.allowed());
    CHECK(d.reason() == Reason::store_unavailable);
    CHECK(d.rule() == "gate.tenant_not_loaded");
    auto audience = engine.filter_audience(acme, std::vector<PhoneNumber>{lead}, MessageKind::utility_template);
    CHECK(audience.sendable.empty());
    CHECK(audience.store_unavailable == 1);

    // While the store is down, reloads back off instead of hitting the store on every check.
    const long refused = failing.refused();
    for (int i = 0; i < 100; ++i) CHECK_FALSE(engine.check_send(acme, lead, MessageKind::utility_template).allowed());
    CHECK(failing.refused() == refused);

    failing.heal();
    CHECK_FALSE(engine.check_send(acme, lead, MessageKind::utility_template).allowed());  // still backing off
    clock.advance(std::chrono::seconds(10));
    CHECK(engine.check_send(acme, lead, MessageKind::utility_template).allowed());
}

TEST_CASE("an opt-out the store refused survives a reload and is written once the store is back") {
    storage::MemoryStore inner;
    testing::FailingStore failing(inner);
    ManualClock clock{start_time};
    Engine engine(failing, clock);
    const PhoneNumber lead = phone("+14155550123");
    REQUIRE(engine.warm(acme).has_value());
    failing.fail_now();
    REQUIRE_FALSE(engine.on_inbound(text_from(acme, lead, "STOP")).has_value());
    failing.heal();
    REQUIRE(engine.warm(acme).has_value());  // a reload from the store, which does not have it yet
    CHECK(engine.check_send(acme, lead, MessageKind::utility_template).reason() == Reason::opted_out);
    auto history = engine.history(acme, lead);
    REQUIRE(history.has_value());
    CHECK(history->size() == 1);  // written during the reload
    REQUIRE(engine.warm(acme).has_value());
    CHECK(engine.history(acme, lead)->size() == 1);  // and only once
}

TEST_CASE("a Stop promotions tap is confirmed as marketing-only; a platform preference change is not answered") {
    Fixture f;
    InboundMessage tap{acme, f.lead, "Stop promotions"};
    tap.type = InboundMessage::Type::button;
    auto out = f.engine.on_inbound(tap);
    REQUIRE(out.has_value());
    CHECK(out->reply == ReplyTexts::defaults().marketing_optout_confirmation);
    InboundMessage pref{acme, phone("+14155550999"), "stop"};
    pref.type = InboundMessage::Type::preference;
    auto silent = f.engine.on_inbound(pref);
    REQUIRE(silent.has_value());
    REQUIRE(silent->event.has_value());
    CHECK(silent->reply.empty());
}

TEST_CASE("an opt-out that cannot be stored still blocks sends in this process, and the error is reported") {
    storage::MemoryStore inner;
    testing::FailingStore failing(inner);
    ManualClock clock{start_time};
    Engine engine(failing, clock);
    const PhoneNumber lead = phone("+14155550123");
    REQUIRE(engine.warm(acme).has_value());
    failing.fail_now();
    auto out = engine.on_inbound(text_from(acme, lead, "STOP", "wamid.x"));
    REQUIRE_FALSE(out.has_value());
    CHECK(out.error() == storage::StorageErrc::unavailable);
    CHECK(engine.check_send(acme, lead, MessageKind::utility_template).reason() == Reason::opted_out);
    // The redelivered webhook is stored once the store is back.
    failing.heal();
    REQUIRE(engine.on_inbound(text_from(acme, lead, "STOP", "wamid.x")).has_value());
    CHECK(engine.history(acme, lead)->size() == 1);
}

TEST_CASE("an opt-in that cannot be stored changes nothing") {
    storage::MemoryStore inner;
    testing::FailingStore failing(inner);
    ManualClock clock{start_time};
    Engine engine(failing, clock);
    const PhoneNumber lead = phone("+14155550123");
    REQUIRE(engine.on_inbound(text_from(acme, lead, "STOP")).has_value());
    failing.fail_now();
    CHECK_FALSE(engine.on_inbound(text_from(acme, lead, "START")).has_value());
    CHECK(engine.check_send(acme, lead, MessageKind::utility_template).reason() == Reason::opted_out);
}

TEST_CASE("opt-outs, consent and the window survive a restart on SQLite") {
    test_support::TempDb file;
    ManualClock clock{start_time};
    const PhoneNumber lead = phone("+14155550123");
    const PhoneNumber marketing_lead = phone("+14155550124");
    {
        auto store = storage::SqliteStore::open(file.str());
        REQUIRE(store.has_value());
        Engine engine(**store, clock);
        REQUIRE(engine.on_inbound(text_from(acme, lead, "STOP", "wamid.1")).has_value());
        clock.advance(1h);
        REQUIRE(engine.on_inbound(text_from(acme, lead, "START", "wamid.2")).has_value());
        clock.advance(1h);
        REQUIRE(engine.on_inbound(text_from(acme, lead, "Stop.", "wamid.3")).has_value());
        REQUIRE(engine.on_inbound(text_from(acme, marketing_lead, "hi", "wamid.4")).has_value());
        REQUIRE(engine.record_platform_consent({acme, marketing_lead, storage::Purpose::marketing, true, clock.now(), "form", {}})
                    .has_value());
    }
    auto store = storage::SqliteStore::open(file.str());
    REQUIRE(store.has_value());
    Engine engine(**store, clock);
    CHECK(engine.check_send(acme, lead, MessageKind::utility_template).reason() == Reason::opted_out);
    auto history = engine.history(acme, lead);
    REQUIRE(history.has_value());
    CHECK(history->size() == 3);
    CHECK(engine.check_send(acme, marketing_lead, MessageKind::marketing_template).allowed());
    CHECK(engine.check_send(acme, marketing_lead, MessageKind::free_form).allowed());
    // A redelivery after the restart is still recognised.
    auto again = engine.on_inbound(text_from(acme, lead, "START", "wamid.2"));
    REQUIRE(again.has_value());
    CHECK(again->duplicate);
    CHECK(engine.check_send(acme, lead, MessageKind::utility_template).reason() == Reason::opted_out);
}

TEST_CASE("derive_status folds events in order") {
    const PhoneNumber p = phone("+14155550123");
    auto ev = [&](EventKind k, Scope s) {
        optout::OptOutEvent e{acme, p};
        e.kind = k;
        e.scope = s;
        return e;
    };
    std::vector<optout::OptOutEvent> events{ev(EventKind::opt_out, Scope::marketing)};
    auto s = optout::derive_status(events);
    CHECK(s.marketing_opted_out);
    CHECK_FALSE(s.opted_out);
    events.push_back(ev(EventKind::opt_out, Scope::all));
    s = optout::derive_status(events);
    CHECK(s.opted_out);
    events.push_back(ev(EventKind::opt_in, Scope::marketing));
    s = optout::derive_status(events);
    CHECK(s.opted_out);
    CHECK(s.marketing_opted_out);
    events.push_back(ev(EventKind::opt_in, Scope::all));
    s = optout::derive_status(events);
    CHECK_FALSE(s.opted_out);
    CHECK_FALSE(s.marketing_opted_out);
    CHECK(s.last_optout.has_value());
    CHECK(s.event_count == 4);
}

TEST_CASE("an audience keeps order, drops duplicates and counts every exclusion") {
    Fixture f;
    const PhoneNumber a = phone("+14155550001"), b = phone("+14155550002"), c = phone("+14155550003"),
                      d = phone("+14155550004"), e = phone("+14155550005");
    for (const PhoneNumber& p : {a, b, c, e})
        REQUIRE(f.engine.record_platform_consent({acme, p, storage::Purpose::marketing, true, start_time, "form", {}})
                    .has_value());
    REQUIRE(f.engine.on_inbound(text_from(acme, b, "STOP")).has_value());
    InboundMessage tap{acme, c};
    tap.text = "Stop promotions";
    tap.type = InboundMessage::Type::button;
    REQUIRE(f.engine.on_inbound(tap).has_value());
    storage::Contact restricted{acme, ContactId{"r"}, e};
    REQUIRE(f.store.contacts().put(restricted).has_value());
    REQUIRE(f.engine.restrict_processing(acme, f.admin, ContactId{"r"}, true).value().allowed());

    const PhoneNumber a_again = PhoneNumber::parse("(415) 555-0001", "US").value();
    std::vector<PhoneNumber> list{e, d, a, b, a_again, c};
    auto marketing = f.engine.filter_audience(acme, list, MessageKind::marketing_template);
    REQUIRE(marketing.sendable.size() == 1);
    CHECK(list[marketing.sendable[0]] == a);
    CHECK(marketing.sendable[0] == 2);
    CHECK(marketing.restricted == 1);
    CHECK(marketing.no_consent == 1);
    CHECK(marketing.opted_out == 1);
    CHECK(marketing.marketing_opted_out == 1);
    CHECK(marketing.duplicates == 1);
    CHECK(marketing.excluded() == 5);

    auto utility = f.engine.filter_audience(acme, list, MessageKind::utility_template);
    REQUIRE(utility.sendable.size() == 3);
    CHECK(utility.sendable == std::vector<std::size_t>{1, 2, 5});  // d, a (first position), c

    messaging::Audience audience(f.engine.gate(), f.engine.index(), f.clock);
    std::vector<std::string> raw{"+1 415 555 0001", "not a number", "4155550004", "+1 (415) 555-0001"};
    auto from_raw = audience.filter_raw(acme, raw, MessageKind::utility_template, "US");
    CHECK(from_raw.sendable == std::vector<std::size_t>{0, 2});
    CHECK(from_raw.invalid_number == 1);
    CHECK(from_raw.duplicates == 1);
}

TEST_CASE("a large audience gives the same answer as checking each contact in turn") {
    Fixture f;
    std::vector<PhoneNumber> list;
    for (std::uint64_t i = 0; i < 40'000; ++i) list.push_back(PhoneNumber::from_key(14'150'000'000ULL + i * 13).value());
    for (std::uint64_t i = 0; i < 5'000; ++i) list.push_back(list[i * 7]);  // duplicates, later in the list
    for (std::size_t i = 0; i < 40'000; i += 9) {
        optout::OptOutEvent e{acme, list[i]};
        e.trigger = "STOP";
        e.scope = i % 2 ? Scope::all : Scope::marketing;
        REQUIRE(f.store.optouts().append(e).has_value());
    }
    for (std::size_t i = 0; i < 40'000; i += 5)
        REQUIRE(f.store.consents().append({acme, list[i], storage::Purpose::marketing, true, start_time, "form", {}}).has_value());

    for (MessageKind kind : {MessageKind::marketing_template, MessageKind::utility_template}) {
        CAPTURE(messaging::to_string(kind));
        auto result = f.engine.filter_audience(acme, list, kind);
        // The reference: one gate check per first occurrence, in order.
        std::vector<std::size_t> expected;
        std::size_t opted_out = 0, marketing = 0, no_consent = 0, duplicates = 0;
        std::unordered_set<std::uint64_t> seen;
        for (std::size_t i = 0; i < list.size(); ++i) {
            if (!seen.insert(list[i].key()).second) {
                ++duplicates;
                continue;
            }
            switch (f.engine.gate().check(acme, list[i], kind).reason()) {
                case Reason::allowed: expected.push_back(i); break;
                case Reason::opted_out: ++opted_out; break;
                case Reason::marketing_opted_out: ++marketing; break;
                case Reason::no_consent: ++no_consent; break;
                default: FAIL("unexpected reason");
            }
        }
        CHECK(result.sendable == expected);
        CHECK(result.opted_out == opted_out);
        CHECK(result.marketing_opted_out == marketing);
        CHECK(result.no_consent == no_consent);
        CHECK(result.duplicates == duplicates);
        CHECK(duplicates == 5'000);
        CHECK(result.sendable.size() + result.excluded() == list.size());
    }
}
