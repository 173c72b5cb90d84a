// The gateway on a full disk (a file-size limit, RLIMIT_FSIZE, with SIGXFSZ ignored, so every page
// write of the database fails): webhooks and API writes answer 503 with a store error code and
// store nothing (WhatsApp delivers again), every send fails closed (nothing reaches the Graph
// API), the database is unchanged, intact and its audit chain verifies; when space returns the
// same running gateway takes the redelivery. The library-level faults (a store failing on the Nth
// call, a read-only database): tests/unit-storage-faults.cpp.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <heroshhi/audit/log.hpp>
#include <heroshhi/storage/sqlite_store.hpp>

#include "../support/faults.hpp"
#include "support.hpp"

using namespace heroshhi;
using namespace heroshhi::test_support;
using nlohmann::json;

namespace {

gateway::ClientResponse call(gateway::LoopbackClient& c, const std::string& method, const std::string& target,
                             const Headers& h = {}, const std::string& body = {}) {
    auto r = c.request(method, target, h, body);
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message()));
    return *r;
}

std::string error_code(const gateway::ClientResponse& r) {
    auto j = json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.contains("error")) return "(no error body: " + r.body + ")";
    return j["error"]["code"].get<std::string>();
}

/// A storage fault's answer: 503 and a store code. Under the file-size limit SQLite sees EFBIG,
/// which it reports as an I/O error (store_unavailable); a disk out of space (ENOSPC) is
/// SQLITE_FULL (store_full).
bool store_fault(const gateway::ClientResponse& r) {
    const std::string code = error_code(r);
    return r.status == 503 && (code == "store_full" || code == "store_unavailable");
}

gateway::ClientResponse webhook(gateway::LoopbackClient& c, const std::string& body) {
    return call(c, "POST", "/webhooks/whatsapp", signed_headers(body), body);
}

}  // namespace

TEST_CASE("on a full disk the gateway answers 503 with a store code, sends nothing, and breaks nothing stored") {
    RunningGateway gw;
    gateway::LoopbackClient c(gw.port());
    const std::string owner = gw.key("acme", rbac::Role::owner, "u-owner");
    // Before the fault: a lead who wrote a minute ago (window open) and a number that opted out.
    REQUIRE(call(c, "POST", "/v1/leads", bearer(owner), R"({"name": "Ada", "phone": "+14155550123"})").status == 201);
    REQUIRE(webhook(c, inbound_text("14155550123", "wamid.hello", "hello")).status == 200);
    REQUIRE(webhook(c, inbound_text("14155550124", "wamid.stop.1", "STOP")).status == 200);
    const std::size_t graph_before = gw.graph().received().size();
    const std::string before = dump(gw.db_path());

    const std::string stop = inbound_text("14155550125", "wamid.stop.2", "STOP");
    int faults = 0;
    {
        FileSizeLimit full(1);
        auto refused = webhook(c, stop);
        CHECK_MESSAGE(store_fault(refused), refused.body);
        auto manual = call(c, "POST", "/v1/contacts/+14155550126/opt-out", bearer(owner), "{}");
        CHECK_MESSAGE(store_fault(manual), manual.body);
        auto send = call(c, "POST", "/v1/messages", bearer(owner), R"({"to": "+14155550123", "text": "Hello"})");
        CHECK_MESSAGE(store_fault(send), send.body);
        auto to_opted_out = call(c, "POST", "/v1/messages", bearer(owner), R"({"to": "+14155550124", "text": "Hello"})");
        CHECK((to_opted_out.status == 503 || to_opted_out.status == 403));
        auto lead = call(c, "POST", "/v1/leads", bearer(owner), R"({"name": "Bob", "phone": "+14155550127"})");
        CHECK_MESSAGE(store_fault(lead), lead.body);
        faults = 5;
    }
    CHECK(gw.graph().received().size() == graph_before);
    CHECK(dump(gw.db_path()) == before);
    {
        RawDb raw(gw.db_path(), SQLITE_OPEN_READONLY);
        CHECK(raw.query("PRAGMA integrity_check") == "ok");
    }

    // Space is back: the redelivered webhook is taken, sends go out, the chain verifies.
    CHECK(webhook(c, stop).status == 200);
    auto status = call(c, "GET", "/v1/contacts/+14155550125/consent", bearer(owner));
    REQUIRE(status.status == 200);
    CHECK(json::parse(status.body)["opted_out"] == true);
    CHECK(json::parse(status.body)["events"] == 1);
    CHECK(call(c, "POST", "/v1/messages", bearer(owner), R"({"to": "+14155550123", "text": "Hello"})").status == 202);
    auto verified = call(c, "GET", "/v1/audit/verify", bearer(owner));
    REQUIRE(verified.status == 200);
    CHECK(json::parse(verified.body)["intact"] == true);
    MESSAGE("full disk: " << faults << " requests refused with 503, 0 rows changed");
}
