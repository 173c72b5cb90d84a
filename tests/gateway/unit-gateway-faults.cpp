// The gateway on a full disk — a file-size limit (RLIMIT_FSIZE with SIGXFSZ ignored, so every page
// write of the database fails), and where mounting is permitted a tmpfs out of space: webhooks and
// API writes answer 503 with a store error code and store nothing (WhatsApp delivers again), every
// send fails closed (nothing reaches the Graph API), the database is unchanged, intact and its
// audit chain verifies; when space returns the same running gateway takes the redelivery. Over a
// read-only database the gateway does not start. The library-level faults (a store failing on the
// Nth call, a read-only database under the engine): tests/unit-storage-faults.cpp.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <heroshhi/audit/log.hpp>
#include <heroshhi/storage/errors.hpp>
#include <heroshhi/storage/sqlite_store.hpp>

#include <cstdlib>
#include <functional>
#include <optional>

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
bool store_fault(const gateway::ClientResponse& r, bool exactly_full) {
    const std::string code = error_code(r);
    return r.status == 503 && (code == "store_full" || (!exactly_full && code == "store_unavailable"));
}

gateway::ClientResponse webhook(gateway::LoopbackClient& c, const std::string& body) {
    return call(c, "POST", "/webhooks/whatsapp", signed_headers(body), body);
}

/// Seeds a lead with an open window and an opted-out number, makes the disk full, checks every
/// answer, gives the space back and checks the recovery. `exactly_full`: the fault is ENOSPC, so
/// the code must be store_full. Returns the requests refused.
int full_disk_round(RunningGateway& gw, const std::function<void()>& make_full, const std::function<void()>& make_space,
                    bool exactly_full) {
    gateway::LoopbackClient c(gw.port());
    const std::string owner = gw.key("acme", rbac::Role::owner, "u-owner");
    REQUIRE(call(c, "POST", "/v1/leads", bearer(owner), R"({"name": "Ada", "phone": "+14155550123"})").status == 201);
    REQUIRE(webhook(c, inbound_text("14155550123", "wamid.hello", "hello")).status == 200);
    REQUIRE(webhook(c, inbound_text("14155550124", "wamid.stop.1", "STOP")).status == 200);
    const std::size_t graph_before = gw.sent().size();  // the STOP's confirmation has gone out
    const std::string before = dump(gw.db_path());

    const std::string stop = inbound_text("14155550125", "wamid.stop.2", "STOP");
    int refused = 0;
    auto check_refused = [&](const gateway::ClientResponse& r) {
        CHECK_MESSAGE(store_fault(r, exactly_full), r.body);
        refused += r.status == 503;
    };
    make_full();
    check_refused(webhook(c, stop));
    check_refused(call(c, "POST", "/v1/contacts/+14155550126/opt-out", bearer(owner), "{}"));
    // A send is refused by the gate itself when its audit entry cannot be written: that decision's
    // reason is store_unavailable whatever the store's fault.
    auto send = call(c, "POST", "/v1/messages", bearer(owner), R"({"to": "+14155550123", "text": "Hello"})");
    CHECK_MESSAGE(store_fault(send, false), send.body);
    refused += send.status == 503;
    check_refused(call(c, "POST", "/v1/leads", bearer(owner), R"({"name": "Bob", "phone": "+14155550127"})"));
    // The opted-out number stays refused (the decision reads; its audit entry cannot be written).
    auto to_opted_out = call(c, "POST", "/v1/messages", bearer(owner), R"({"to": "+14155550124", "text": "Hello"})");
    CHECK((to_opted_out.status == 503 || to_opted_out.status == 403));
    make_space();
    CHECK(gw.sent().size() == graph_before);
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
    return refused;
}

/// Points std::filesystem::temp_directory_path (so TempDb) at `dir` while it lives.
class TmpdirOverride {
public:
    explicit TmpdirOverride(const std::string& dir) {
        if (const char* old = std::getenv("TMPDIR")) old_ = old;
        setenv("TMPDIR", dir.c_str(), 1);
    }
    ~TmpdirOverride() {
        if (old_) setenv("TMPDIR", old_->c_str(), 1);
        else unsetenv("TMPDIR");
    }
    TmpdirOverride(const TmpdirOverride&) = delete;
    TmpdirOverride& operator=(const TmpdirOverride&) = delete;

private:
    std::optional<std::string> old_;
};

gateway::AppOptions app_options(const std::string& db) {
    gateway::AppOptions o;
    o.config.sqlite = db;
    o.config.app_secret = app_secret;
    o.config.verify_token = verify_token;
    o.config.graph_token = graph_token;
    o.config.graph_base_url = "http://127.0.0.1:9";
    return o;
}

}  // namespace

TEST_CASE("on a full disk (a file-size limit) the gateway answers 503, sends nothing, and breaks nothing stored") {
    RunningGateway gw;
    std::optional<FileSizeLimit> limit;
    const int refused = full_disk_round(gw, [&] { limit.emplace(1); }, [&] { limit.reset(); }, false);
    MESSAGE("file-size limit: " << refused << " requests refused with 503, 0 rows changed");
}

TEST_CASE("on a filesystem out of space the gateway answers 503 store_full and recovers when space returns") {
    TinyFilesystem disk("4m");
    if (!disk.mounted()) {
        MESSAGE("skipped: mounting a tmpfs is not permitted here (the file-size limit case still runs)");
        return;
    }
    std::optional<RunningGateway> gw;
    {
        TmpdirOverride tmp(disk.dir());
        gw.emplace();
    }
    REQUIRE(gw->db_path().starts_with(disk.dir()));
    const int refused = full_disk_round(*gw, [&] { disk.fill(); }, [&] { disk.free(); }, true);
    MESSAGE("tmpfs out of space: " << refused << " requests refused with 503 store_full, 0 rows changed");
}

TEST_CASE("over a read-only database the gateway does not start, says why, and changes nothing") {
    TinyFilesystem disk("8m");
    if (!disk.mounted()) {
        MESSAGE("skipped: mounting is not permitted here");
        return;
    }
    const std::string db = disk.dir() + "/gw.db";
    {
        auto app = gateway::App::open(app_options(db));
        REQUIRE_MESSAGE(app.has_value(), (app ? "" : app.error().message()));
        REQUIRE((*app)->register_tenant({"acme", "acme", "111000111"}).has_value());
    }
    const std::string before = dump(db);
    const std::string view = disk.read_only_view();
    REQUIRE_FALSE(view.empty());
    auto refused = gateway::App::open(app_options(view + "/gw.db"));
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error() == storage::StorageErrc::read_only);
    CHECK_MESSAGE(refused.error().message().find(view + "/gw.db") != std::string::npos, refused.error().message());
    CHECK(dump(db) == before);
}
