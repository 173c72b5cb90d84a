// Engine::on_inbound_async: which messages it takes, and that a taken one acts only once stored.
#include <doctest/doctest.h>

#include <heroshhi/crypto/blind_index.hpp>
#include <heroshhi/engine.hpp>
#include <heroshhi/storage/errors.hpp>
#include <heroshhi/storage/memory_store.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "support/deferred_store.hpp"
#include "support/test_keys.hpp"

using namespace heroshhi;
using namespace std::chrono_literals;
using messaging::MessageKind;

using test_support::DeferredStore;

namespace {

const TenantId acme{"acme"};
const Timestamp start_time = from_unix_ms(1'793'628'187'000);  // 2026-11-02T14:03:07Z

PhoneNumber phone(const char* text) { return PhoneNumber::parse(text).value(); }

InboundMessage text_from(const PhoneNumber& from, std::string text) { return InboundMessage{acme, from, std::move(text)}; }

struct Outcomes {
    std::mutex m;
    std::vector<Result<InboundOutcome>> got;
    Engine::InboundDone sink() {
        return [this](Result<InboundOutcome> r) {
            std::lock_guard lock(m);
            got.push_back(std::move(r));
        };
    }
    std::size_t size() {
        std::lock_guard lock(m);
        return got.size();
    }
};

/// An engine over a DeferredStore, able to erase numbers; no tenant loaded yet.
struct Fixture {
    DeferredStore store;
    ManualClock clock{start_time};
    const crypto::BlindIndex index = crypto::BlindIndex::create(test_support::key_of(0xE1)).value();
    Engine engine{store, clock, [this] {
                      EngineOptions o;
                      o.blind_index = &index;
                      return o;
                  }()};
    Outcomes outcomes;
};

}  // namespace

TEST_CASE_FIXTURE(Fixture, "a plain message is taken, and opens the window only once the store has it") {
    REQUIRE(engine.warm(acme).has_value());
    const PhoneNumber lead = phone("+14155550123");

    Engine::InboundDone done = outcomes.sink();
    REQUIRE(engine.on_inbound_async(text_from(lead, "Is the offer still on?"), std::move(done)));
    CHECK(outcomes.size() == 0);
    CHECK(store.waiting() == 1);
    // Not yet stored: the 24-hour window is still closed.
    CHECK(engine.check_send(acme, lead, MessageKind::free_form).reason() == Reason::outside_window);

    store.complete_one();
    REQUIRE(outcomes.size() == 1);
    REQUIRE(outcomes.got[0].has_value());
    CHECK(outcomes.got[0]->classification.intent == optout::Intent::none);
    CHECK_FALSE(outcomes.got[0]->event.has_value());
    CHECK(outcomes.got[0]->reply.empty());
    CHECK(engine.check_send(acme, lead, MessageKind::free_form).allowed());
    auto stored = store.inner.activity().last_inbound(acme, lead);
    REQUIRE(stored.has_value());
    CHECK(*stored == start_time);
}

TEST_CASE_FIXTURE(Fixture, "a write that fails reaches the caller, and the window stays closed") {
    REQUIRE(engine.warm(acme).has_value());
    const PhoneNumber lead = phone("+14155550124");
    REQUIRE(engine.on_inbound_async(text_from(lead, "hello"), outcomes.sink()));
    store.complete_one(Error(storage::StorageErrc::full, "disk full"));
    REQUIRE(outcomes.size() == 1);
    REQUIRE_FALSE(outcomes.got[0].has_value());
    CHECK(outcomes.got[0].error() == storage::StorageErrc::full);
    CHECK(engine.check_send(acme, lead, MessageKind::free_form).reason() == Reason::outside_window);
}

TEST_CASE_FIXTURE(Fixture, "opt-ins, help, an unloaded tenant and a store without the path are not taken, and change nothing") {
    const PhoneNumber lead = phone("+14155550125");
    Engine::InboundDone done = outcomes.sink();

    CHECK_FALSE(engine.on_inbound_async(text_from(lead, "hello"), std::move(done)));  // acme not loaded yet
    REQUIRE(done);  // handed back untouched
    CHECK_FALSE(engine.on_inbound_async(text_from(lead, "STOP"), std::move(done)));
    REQUIRE(done);
    REQUIRE(engine.warm(acme).has_value());
    for (const char* keyword : {"start", "HELP", "yes"}) {
        CAPTURE(keyword);
        CHECK_FALSE(engine.on_inbound_async(text_from(lead, keyword), std::move(done)));
        REQUIRE(done);
    }
    InboundMessage preference{acme, lead, "stop"};
    preference.type = InboundMessage::Type::preference;
    CHECK_FALSE(engine.on_inbound_async(preference, std::move(done)));
    CHECK_FALSE(engine.on_inbound_async(InboundMessage{TenantId{}, lead, "hi"}, std::move(done)));

    store.offers = false;
    CHECK_FALSE(engine.on_inbound_async(text_from(lead, "hello"), std::move(done)));
    REQUIRE(done);
    CHECK_FALSE(engine.on_inbound_async(text_from(lead, "STOP"), std::move(done)));
    REQUIRE(done);
    CHECK(store.waiting() == 0);
    CHECK(outcomes.size() == 0);
    CHECK(engine.history(acme, lead)->empty());
    CHECK(engine.check_send(acme, lead, MessageKind::free_form).reason() == Reason::outside_window);

    // The blocking path still takes every one of them.
    auto stop = engine.on_inbound(text_from(lead, "STOP"));
    REQUIRE(stop.has_value());
    CHECK(stop->event.has_value());
}

TEST_CASE_FIXTURE(Fixture, "an opt-out is taken: its time and event are queued together, and it blocks sends once stored") {
    REQUIRE(engine.warm(acme).has_value());
    const PhoneNumber lead = phone("+14155550130");
    InboundMessage stop = text_from(lead, "STOP");
    stop.provider_message_id = "wamid.stop-1";
    REQUIRE(engine.on_inbound_async(stop, outcomes.sink()));
    REQUIRE(store.waiting() == 2);
    CHECK_FALSE(store.next_is_event());  // the time first, then the event
    CHECK(engine.history(acme, lead)->empty());  // not stored yet

    store.complete_one();  // the time
    CHECK(outcomes.size() == 0);  // answered for only once both are stored
    store.complete_one();  // the event
    REQUIRE(outcomes.size() == 1);
    REQUIRE(outcomes.got[0].has_value());
    const InboundOutcome& out = *outcomes.got[0];
    CHECK(out.classification.intent == optout::Intent::opt_out);
    REQUIRE(out.event.has_value());
    CHECK(out.event->kind == optout::EventKind::opt_out);
    CHECK(out.event->scope == optout::Scope::all);
    CHECK(out.event->trigger == "STOP");  // as on_inbound records it
    CHECK(out.event->sequence > 0);
    CHECK_FALSE(out.duplicate);
    CHECK(out.reply == ReplyTexts::defaults().optout_confirmation.at("en"));
    CHECK(out.reply_kind == MessageKind::optout_confirmation);
    CHECK(engine.check_send(acme, lead, MessageKind::free_form).reason() == Reason::opted_out);
    auto history = engine.history(acme, lead);
    REQUIRE(history.has_value());
    REQUIRE(history->size() == 1);
    CHECK((*history)[0].provider_message_id == "wamid.stop-1");
    CHECK(store.inner.activity().last_inbound(acme, lead)->has_value());

    // Meta redelivers it: taken again, stored once, no second confirmation.
    REQUIRE(engine.on_inbound_async(stop, outcomes.sink()));
    store.complete_one();
    store.complete_one();
    REQUIRE(outcomes.size() == 2);
    REQUIRE(outcomes.got[1].has_value());
    CHECK(outcomes.got[1]->duplicate);
    CHECK_FALSE(outcomes.got[1]->event.has_value());
    CHECK(outcomes.got[1]->reply.empty());
    CHECK(engine.history(acme, lead)->size() == 1);

    // A "Stop promotions" tap: marketing only, with its own confirmation.
    const PhoneNumber other = phone("+14155550131");
    InboundMessage tap{acme, other, "Stop promotions"};
    tap.type = InboundMessage::Type::button;
    REQUIRE(engine.on_inbound_async(tap, outcomes.sink()));
    store.complete_one();
    store.complete_one();
    REQUIRE(outcomes.size() == 3);
    REQUIRE(outcomes.got[2].has_value());
    REQUIRE(outcomes.got[2]->event.has_value());
    CHECK(outcomes.got[2]->event->scope == optout::Scope::marketing);
    CHECK(outcomes.got[2]->reply == ReplyTexts::defaults().marketing_optout_confirmation);
    CHECK(engine.check_send(acme, other, MessageKind::marketing_template).reason() == Reason::marketing_opted_out);
}

TEST_CASE_FIXTURE(Fixture, "an opt-out whose event cannot be stored fails, and still blocks sends (fail closed)") {
    REQUIRE(engine.warm(acme).has_value());
    const PhoneNumber lead = phone("+14155550132");
    REQUIRE(engine.on_inbound_async(text_from(lead, "STOP"), outcomes.sink()));
    store.complete_one();  // the time is stored
    store.complete_one(Error(storage::StorageErrc::full, "disk full"));  // the event is not
    REQUIRE(outcomes.size() == 1);
    REQUIRE_FALSE(outcomes.got[0].has_value());
    CHECK(outcomes.got[0].error() == storage::StorageErrc::full);
    CHECK(engine.check_send(acme, lead, MessageKind::free_form).reason() == Reason::opted_out);
    CHECK(engine.history(acme, lead)->empty());
    // The next load writes it again, as after a failed on_inbound.
    REQUIRE(engine.reload(acme).has_value());
    CHECK(engine.history(acme, lead)->size() == 1);
    CHECK(engine.check_send(acme, lead, MessageKind::free_form).reason() == Reason::opted_out);
}

TEST_CASE_FIXTURE(Fixture, "an opt-in that arrives while an opt-out is in flight waits for it, and re-subscribes; no opt-out is taken meanwhile") {
    REQUIRE(engine.warm(acme).has_value());
    const PhoneNumber lead = phone("+14155550133");
    REQUIRE(engine.on_inbound_async(text_from(lead, "STOP"), outcomes.sink()));
    std::atomic<bool> started{false}, finished{false};
    std::optional<Result<InboundOutcome>> start;
    std::thread blocking([&] {
        started = true;
        start = engine.on_inbound(text_from(lead, "START"));
        finished = true;
    });
    while (!started) std::this_thread::yield();
    std::this_thread::sleep_for(50ms);
    CHECK_FALSE(finished.load());  // waiting for the STOP to land, the tenant's lock held
    // Meanwhile another number's STOP is not taken: the tenant's lock is held.
    Engine::InboundDone other = outcomes.sink();
    CHECK_FALSE(engine.on_inbound_async(text_from(phone("+14155550135"), "STOP"), std::move(other)));
    CHECK(other);  // handed back untouched
    CHECK(store.waiting() == 2);  // nothing more was queued
    store.complete_one();
    store.complete_one();
    blocking.join();
    REQUIRE(start.has_value());
    REQUIRE(start->has_value());
    REQUIRE((*start)->event.has_value());
    CHECK((*start)->event->kind == optout::EventKind::opt_in);
    CHECK(engine.check_send(acme, lead, MessageKind::free_form).allowed());
    auto history = engine.history(acme, lead);
    REQUIRE(history.has_value());
    REQUIRE(history->size() == 2);
    CHECK((*history)[0].kind == optout::EventKind::opt_out);
    CHECK((*history)[1].kind == optout::EventKind::opt_in);
}

TEST_CASE_FIXTURE(Fixture, "an opt-out is not taken by a store without asynchronous appends: its time is stored, the caller records it") {
    REQUIRE(engine.warm(acme).has_value());
    const PhoneNumber lead = phone("+14155550134");
    store.offers_appends = false;
    Engine::InboundDone done = outcomes.sink();
    CHECK_FALSE(engine.on_inbound_async(text_from(lead, "STOP"), std::move(done)));
    REQUIRE(done);  // handed back: the caller records it the blocking way
    // The time was queued before the event was refused; it is stored, and answers nobody.
    REQUIRE(store.waiting() == 1);
    store.complete_one();
    CHECK(outcomes.size() == 0);
    auto stop = engine.on_inbound(text_from(lead, "STOP"));
    REQUIRE(stop.has_value());
    CHECK(stop->event.has_value());
    CHECK(engine.check_send(acme, lead, MessageKind::free_form).reason() == Reason::opted_out);
}

TEST_CASE("the engine waits for the completions it handed out before it goes") {
    DeferredStore store;
    ManualClock clock{start_time};
    std::atomic<bool> completed{false};
    std::thread committer;
    {
        Engine engine{store, clock};
        REQUIRE(engine.warm(acme).has_value());
        REQUIRE(engine.on_inbound_async(text_from(phone("+14155550126"), "hello"),
                                        [&](Result<InboundOutcome> r) { completed = r.has_value(); }));
        committer = std::thread([&] {
            std::this_thread::sleep_for(150ms);
            store.complete_one();
        });
    }  // ~Engine blocks until the completion has run
    CHECK(completed.load());
    committer.join();
}

TEST_CASE_FIXTURE(Fixture, "once a number was erased, inbound messages take the blocking way (an erased number is known by its history)") {
    REQUIRE(engine.warm(acme).has_value());
    const PhoneNumber erased = phone("+14155550127");
    REQUIRE(engine.on_inbound(text_from(erased, "STOP")).has_value());
    Engine::InboundDone done = outcomes.sink();
    REQUIRE(engine.on_inbound_async(text_from(phone("+14155550128"), "hello"), std::move(done)));
    store.complete_one();
    done = outcomes.sink();
    REQUIRE(engine.erase_number(acme, erased, UserId{"dpo"}).has_value());
    CHECK_FALSE(engine.on_inbound_async(text_from(erased, "hello"), std::move(done)));
    REQUIRE(done);
    CHECK(store.waiting() == 0);
    // Another number of the same tenant is not erased: it stays on the asynchronous path.
    REQUIRE(engine.on_inbound_async(text_from(phone("+14155550128"), "hello again"), std::move(done)));
    store.complete_one();
    // The erased number writes again: the blocking path knows it by its history (still opted
    // out), and from then on its plain messages need nothing more.
    REQUIRE(engine.on_inbound(text_from(erased, "hello")).has_value());
    CHECK(engine.check_send(acme, erased, MessageKind::utility_template).reason() == Reason::opted_out);
    done = outcomes.sink();
    CHECK(engine.on_inbound_async(text_from(erased, "and again"), std::move(done)));
    store.complete_one();
    CHECK(outcomes.size() == 3);
}

TEST_CASE_FIXTURE(Fixture, "a number erased in one tenant leaves another tenant's plain messages on the asynchronous path") {
    const TenantId globex{"globex"};
    REQUIRE(engine.warm(acme).has_value());
    REQUIRE(engine.warm(globex).has_value());
    const PhoneNumber erased = phone("+14155550130");
    REQUIRE(engine.on_inbound(text_from(erased, "STOP")).has_value());
    REQUIRE(engine.erase_number(acme, erased, UserId{"dpo"}).has_value());

    Engine::InboundDone done = outcomes.sink();
    CHECK_FALSE(engine.on_inbound_async(text_from(erased, "hello"), std::move(done)));  // acme's erased number: blocking
    REQUIRE(done);
    CHECK(engine.on_inbound_async(InboundMessage{globex, phone("+14155550131"), "hello"}, std::move(done)));
    REQUIRE(store.waiting() == 1);
    store.complete_one();
    REQUIRE(outcomes.size() == 1);
    CHECK(outcomes.got[0].has_value());
}
