// Storage faults under the send path: a store that fails on its Nth call (for every N a send goes
// through), a read-only SQLite database, and a full disk (a file-size limit, RLIMIT_FSIZE, with
// SIGXFSZ ignored). Every send decision fails closed — nothing reaches the transport that the
// gate could not clear and the history could not record — and nothing already stored changes or
// breaks: the file's rows are the same, SQLite's integrity check passes and the audit chain
// verifies. A webhook whose tenant lookup fails is not acknowledged (503, delivered again). The
// gateway's answers to the same faults: tests/gateway/unit-gateway-faults.cpp.
#include <doctest/doctest.h>

#include "support/completions.hpp"
#include "support/faults.hpp"
#include "support/raw_db.hpp"
#include "support/temp_db.hpp"
#include "support/webhook_requests.hpp"

#include <heroshhi/audit/log.hpp>
#include <heroshhi/core/clock.hpp>
#include <heroshhi/engine.hpp>
#include <heroshhi/messaging/messenger.hpp>
#include <heroshhi/storage/errors.hpp>
#include <heroshhi/storage/memory_store.hpp>
#include <heroshhi/storage/sqlite_store.hpp>
#include <heroshhi/testing/failing_store.hpp>
#include <heroshhi/testing/recording_transport.hpp>
#include <heroshhi/crypto/webhook_signature.hpp>
#include <heroshhi/whatsapp/webhook.hpp>

#include <algorithm>
#include <atomic>
#include <initializer_list>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using namespace heroshhi;
using namespace std::chrono_literals;
using messaging::MessageKind;

namespace {

const Timestamp start_time = from_unix_ms(1'767'225'600'000);
const TenantId acme{"acme"};
const PhoneNumber lead = PhoneNumber::parse("+14155550123").value();     // contact c-1, window open
const PhoneNumber blocked = PhoneNumber::parse("+14155550124").value();  // contact c-2, opted out
const PhoneNumber newcomer = PhoneNumber::parse("+14155550125").value();
const rbac::Principal owner(UserId("u-owner"), acme, rbac::Role::owner);

EngineOptions engine_options() {
    EngineOptions o;
    o.audit_key = "a key the host keeps: 32 bytes!!";
    return o;
}

InboundMessage text_from(const PhoneNumber& from, std::string text, std::string id) {
    InboundMessage m{acme, from, std::move(text)};
    m.provider_message_id = std::move(id);
    return m;
}

/// Two contacts, the second opted out by keyword, the first wrote a minute ago (window open).
void seed(storage::StoreSet& stores, ManualClock& clock) {
    Engine engine(stores, clock, engine_options());
    for (const auto& [id, p] : {std::pair{"c-1", lead}, std::pair{"c-2", blocked}}) {
        storage::Contact c{acme, ContactId{id}, p};
        c.created_at = c.updated_at = start_time;
        REQUIRE(stores.contacts().put(c).has_value());
    }
    REQUIRE(engine.on_inbound(text_from(lead, "hello", "wamid.seed.1")).has_value());
    REQUIRE(engine.on_inbound(text_from(blocked, "STOP", "wamid.seed.2")).has_value());
    REQUIRE(engine.check_send(acme, owner, lead, MessageKind::utility_template).allowed());  // an audit entry
}

struct Sender {
    testing::RecordingTransport* transport = nullptr;  // owned by the messenger
    std::unique_ptr<messaging::Messenger> messenger;

    Sender(Engine& engine, storage::StoreSet& stores, const Clock& clock) {
        auto t = std::make_unique<testing::RecordingTransport>();
        transport = t.get();
        messenger = messaging::Messenger::create(engine, stores, std::move(t), clock).value();
    }
    std::size_t delivered_to(const PhoneNumber& p) const {
        std::size_t n = 0;
        for (const auto& m : transport->sent()) n += m.to == p;
        return n;
    }
};

/// SQLite's integrity check and the tenant's audit chain, on a fresh connection.
void check_intact(const std::string& path) {
    {
        test_support::RawDb db(path, SQLITE_OPEN_READONLY);
        CHECK(db.query("PRAGMA integrity_check") == "ok");
    }
    auto store = storage::SqliteStore::open(path);
    REQUIRE(store.has_value());
    ManualClock clock{start_time};
    audit::Log log((*store)->audit(), clock);
    auto verified = log.verify(acme);
    REQUIRE(verified.has_value());
    CHECK(verified->intact());
    CHECK(verified->checked > 0);
}

/// With the database unable to take writes: the opted-out contact is refused as before, a send to
/// the open contact fails (its history cannot be written, so it is not sent), a STOP from a new
/// number is refused with one of `expected` and still blocks that number in this process.
void sends_fail_closed(Engine& engine, Sender& sender, std::initializer_list<storage::StorageErrc> expected) {
    auto to_blocked = sender.messenger->send(acme, owner, messaging::make_text(blocked, "hi"));
    CHECK((!to_blocked || to_blocked->status == messaging::SendStatus::refused));
    auto to_lead = sender.messenger->send(acme, owner, messaging::make_text(lead, "hi"));
    CHECK((!to_lead || to_lead->status == messaging::SendStatus::refused));
    CHECK(sender.transport->sent().empty());
    auto stop = engine.on_inbound(text_from(newcomer, "STOP", "wamid.fault.1"));
    REQUIRE_FALSE(stop.has_value());
    CHECK_MESSAGE(std::find(expected.begin(), expected.end(), stop.error()) != expected.end(), stop.error().message());
    CHECK_FALSE(engine.check_send(acme, newcomer, MessageKind::utility_template).allowed());
}

}  // namespace

TEST_CASE("a store failing on its Nth call never lets a send through that it could not clear and record") {
    // For every N until a send goes through without a fault: a cold engine (it must load the
    // tenant) over a store that fails from call N on, sending to the opted-out contact and to the
    // open one. Invariants: nothing reaches the opted-out contact; every message the transport saw
    // is in the contact's history.
    long faults = 0;
    int attempts = 0;
    bool clean_run = false;
    for (long n = 0; !clean_run && n < 500; ++n) {
        CAPTURE(n);
        storage::MemoryStore inner;
        ManualClock clock{start_time};
        seed(inner, clock);
        testing::FailingStore failing(inner, n);
        Engine engine(failing, clock, engine_options());
        Sender sender(engine, failing, clock);
        auto to_blocked = sender.messenger->send(acme, owner, messaging::make_text(blocked, "hi"));
        auto to_lead = sender.messenger->send(acme, owner, messaging::make_text(lead, "hi"));
        attempts += 2;
        CHECK(sender.delivered_to(blocked) == 0);
        CHECK((!to_blocked || to_blocked->status == messaging::SendStatus::refused));
        auto history = inner.messages().list_for_contact(acme, ContactId{"c-1"}, 100);
        REQUIRE(history.has_value());
        CHECK(sender.delivered_to(lead) <= history->size());
        if (to_lead && to_lead->status == messaging::SendStatus::sent) CHECK(sender.delivered_to(lead) == 1);
        faults += failing.refused();
        clean_run = failing.refused() == 0;
    }
    CHECK(clean_run);
    MESSAGE("failing store: " << attempts << " sends attempted, " << faults << " store calls refused");
}

TEST_CASE("a read-only database refuses every write, the sends fail closed, and the file is unchanged") {
    test_support::TempDb file;
    ManualClock clock{start_time};
    {
        auto store = storage::SqliteStore::open(file.str()).value();
        seed(*store, clock);
    }
    const std::string before = test_support::dump(file.str());
    {
        storage::SqliteOptions options;
        options.read_only = true;
        auto store = storage::SqliteStore::open(file.str(), options).value();
        Engine engine(*store, clock, engine_options());
        REQUIRE(engine.warm(acme).has_value());  // reads work
        CHECK(engine.check_send(acme, blocked, MessageKind::utility_template).reason() == Reason::opted_out);
        Sender sender(engine, *store, clock);
        sends_fail_closed(engine, sender, {storage::StorageErrc::read_only});
    }
    CHECK(test_support::dump(file.str()) == before);
    check_intact(file.str());
}

TEST_CASE("a full disk fails the sends closed, breaks nothing stored, and the store recovers when space returns") {
    test_support::TempDb file;
    ManualClock clock{start_time};
    std::string before;
    {
        auto store = storage::SqliteStore::open(file.str()).value();
        seed(*store, clock);
        Engine engine(*store, clock, engine_options());
        REQUIRE(engine.warm(acme).has_value());
        Sender sender(engine, *store, clock);
        before = test_support::dump(file.str());
        {
            // No file of this process may be written past its first byte: every page write fails.
            // SQLite reports EFBIG as an I/O error (unavailable); ENOSPC would be SQLITE_FULL.
            test_support::FileSizeLimit full(1);
            sends_fail_closed(engine, sender, {storage::StorageErrc::full, storage::StorageErrc::unavailable});
        }
        CHECK(test_support::dump(file.str()) == before);
        // Space is back: the same store takes the redelivered STOP and sends again.
        REQUIRE(engine.on_inbound(text_from(newcomer, "STOP", "wamid.fault.1")).has_value());
        auto sent = sender.messenger->send(acme, owner, messaging::make_text(lead, "hi again"));
        REQUIRE(sent.has_value());
        CHECK(sent->status == messaging::SendStatus::sent);
        CHECK(sender.delivered_to(lead) == 1);
    }
    check_intact(file.str());
    auto store = storage::SqliteStore::open(file.str()).value();
    Engine engine(*store, clock, engine_options());
    CHECK(engine.check_send(acme, blocked, MessageKind::utility_template).reason() == Reason::opted_out);
    CHECK(engine.check_send(acme, newcomer, MessageKind::utility_template).reason() == Reason::opted_out);
    CHECK(engine.history(acme, newcomer)->size() == 1);
}

TEST_CASE("a webhook whose tenant lookup fails answers 503 and stores nothing; the redelivery is recorded once") {
    storage::MemoryStore store;
    ManualClock clock{start_time};
    Engine engine(store, clock, engine_options());
    std::atomic<bool> directory_down{true};
    whatsapp::WebhookOptions o;
    o.verify_token = "verify-me";
    o.app_secret = "app-secret";
    o.tenant_for = [&](std::string_view) -> Result<std::optional<TenantId>> {
        if (directory_down) return Error(storage::StorageErrc::unavailable, "the directory cannot be read");
        return std::optional<TenantId>(acme);
    };
    auto webhook = whatsapp::Webhook::create(engine, o).value();
    const std::string body =
        R"({"object":"whatsapp_business_account","entry":[{"id":"9","changes":[{"field":"messages","value":{)"
        R"("messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"111"},)"
        R"("contacts":[{"profile":{"name":"X"},"wa_id":"14155550123"}],"messages":[{"from":"14155550123",)"
        R"("id":"wamid.dir.1","timestamp":"1767225600","type":"text","text":{"body":"STOP"}}]}}]}]})";
    const http::Request r = test_support::webhook_post(crypto::WebhookSignature::create("app-secret").value(), body);

    // Acknowledging it would lose the opt-out: Meta does not deliver a 200 again.
    const http::Response refused = webhook->handle(r);
    CHECK(refused.status == 503);
    CHECK(refused.body.find("store_unavailable") != std::string::npos);
    CHECK(engine.history(acme, lead)->empty());
    directory_down = false;
    CHECK(webhook->handle(r).status == 200);
    CHECK(webhook->handle(r).status == 200);
    CHECK(engine.history(acme, lead)->size() == 1);
    CHECK(engine.check_send(acme, lead, MessageKind::utility_template).reason() == Reason::opted_out);
}

TEST_CASE("a failing store delivers its failure to an asynchronous inbound write, and forwards the write when healed") {
    auto check = [](storage::StoreSet& inner) {
        testing::FailingStore failing(inner);
        failing.fail_now();
        test_support::Completions done(2);
        REQUIRE(failing.activity().record_inbound_async(acme, lead, start_time, done.done(0)));
        REQUIRE(done.calls(0) == 1);  // taken, and answered at once
        REQUIRE_FALSE(done.outcome(0));
        CHECK(done.outcome(0).error() == storage::StorageErrc::unavailable);
        CHECK(failing.refused() == 1);
        CHECK(inner.activity().last_inbound(acme, lead).value() == std::nullopt);  // nothing written

        failing.heal();
        REQUIRE(failing.activity().record_inbound_async(acme, lead, start_time, done.done(1)));
        REQUIRE(done.wait_all());
        CHECK(done.calls(1) == 1);
        CHECK(done.outcome(1).has_value());
        CHECK(inner.activity().last_inbound(acme, lead).value() == std::optional<Timestamp>(start_time));
    };
    SUBCASE("over the in-memory store") {
        storage::MemoryStore memory;
        check(memory);
    }
    SUBCASE("over an SQLite store") {
        test_support::TempDb db;
        auto store = storage::SqliteStore::open(db.str());
        REQUIRE(store.has_value());
        check(**store);
    }
}
