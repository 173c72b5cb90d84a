// Data-subject rights (privacy::): access and portability exports, the tenant's CSV export,
// rectification, erasure (with the number kept only as a keyed hash, still suppressed, also after a
// restart), bulk delete, restriction, objection, the lawful basis register and the request
// register; on the memory store and on SQLite with and without field encryption.
#include <doctest/doctest.h>

#include "support/forwarding_store.hpp"
#include "support/temp_db.hpp"
#include "support/test_keys.hpp"

#include <heroshhi/crypto/blind_index.hpp>
#include <heroshhi/crypto/key_ring.hpp>
#include <heroshhi/engine.hpp>
#include <heroshhi/privacy/errors.hpp>
#include <heroshhi/privacy/lawful_basis.hpp>
#include <heroshhi/privacy/request_register.hpp>
#include <heroshhi/privacy/rights.hpp>
#include <heroshhi/retention/sweeper.hpp>
#include <heroshhi/sanitize/errors.hpp>
#include <heroshhi/storage/errors.hpp>
#include <heroshhi/storage/memory_store.hpp>
#include <heroshhi/storage/sqlite_store.hpp>
#include <heroshhi/testing/failing_store.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

using namespace heroshhi;
using namespace std::chrono_literals;
using messaging::MessageKind;
using privacy::ExportFormat;
using rbac::Principal;
using rbac::Role;
using test_support::TempDb;
namespace fs = std::filesystem;

namespace {

const TenantId acme{"acme"};
const TenantId globex{"globex"};
const Timestamp start_time = from_unix_ms(1'793'628'187'000);  // 2026-11-02T14:03:07Z, a Monday

PhoneNumber phone(const char* text) { return PhoneNumber::parse(text).value(); }

using test_support::key_of;

crypto::KeyRing ring() {
    crypto::KeySet set;
    set.keys.push_back({crypto::KeyId{1}, key_of(1)});
    set.primary = crypto::KeyId{1};
    return crypto::KeyRing::create(std::move(set)).value();
}

std::string file_bytes(const fs::path& p) {
    if (!fs::exists(p)) return {};
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// An RFC 4180 reader, independent of the writer: fields split by commas, records by CRLF, a
/// quoted field may hold commas, CRLF and doubled quotes. Fails the test on malformed input.
std::vector<std::vector<std::string>> parse_csv(std::string_view text) {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> row;
    std::string field;
    std::size_t i = 0;
    bool at_field_start = true;
    while (i < text.size()) {
        const char c = text[i];
        if (at_field_start && c == '"') {
            ++i;
            for (;;) {
                REQUIRE_MESSAGE(i < text.size(), "unterminated quoted field");
                if (text[i] == '"') {
                    if (i + 1 < text.size() && text[i + 1] == '"') {
                        field += '"';
                        i += 2;
                        continue;
                    }
                    ++i;
                    break;
                }
                field += text[i++];
            }
            REQUIRE_MESSAGE((i == text.size() || text[i] == ',' || text[i] == '\r'), "text after a closing quote");
            at_field_start = false;
            continue;
        }
        if (c == ',') {
            row.push_back(std::move(field));
            field.clear();
            at_field_start = true;
            ++i;
        } else if (c == '\r') {
            REQUIRE_MESSAGE((i + 1 < text.size() && text[i + 1] == '\n'), "a bare CR ends a record");
            row.push_back(std::move(field));
            field.clear();
            rows.push_back(std::move(row));
            row.clear();
            at_field_start = true;
            i += 2;
        } else {
            REQUIRE_MESSAGE(c != '"', "a quote inside an unquoted field");
            REQUIRE_MESSAGE(c != '\n', "a bare LF ends a record");
            field += c;
            at_field_start = false;
            ++i;
        }
    }
    REQUIRE_MESSAGE(row.empty(), "the last record has no CRLF");
    return rows;
}

// ---- the stores under test ----

enum class Kind { memory, sqlite, sqlite_encrypted };
const char* name_of(Kind k) {
    switch (k) {
        case Kind::memory: return "memory store";
        case Kind::sqlite: return "SQLite store";
        case Kind::sqlite_encrypted: return "SQLite store with field encryption";
    }
    return "?";
}
constexpr Kind all_kinds[] = {Kind::memory, Kind::sqlite, Kind::sqlite_encrypted};

struct Backend {
    explicit Backend(Kind k) : kind(k) { open(); }
    void open() {
        if (kind == Kind::memory) {
            store = std::make_unique<storage::MemoryStore>();
            return;
        }
        storage::SqliteOptions o;
        if (kind == Kind::sqlite_encrypted) {
            o.keys = &keys;
            o.blind_index = &store_index;
        }
        auto opened = storage::SqliteStore::open(db.str(), o);
        REQUIRE_MESSAGE(opened.has_value(), (opened ? "" : opened.error().message()));
        store = std::move(opened).value();
    }
    bool sqlite() const { return kind != Kind::memory; }

    Kind kind;
    TempDb db;
    crypto::KeyRing keys = ring();
    crypto::BlindIndex store_index = crypto::BlindIndex::create(key_of(0xB1)).value();
    std::unique_ptr<storage::StoreSet> store;
};

/// A tenant with two leads (Ada in team north, assigned to a sales user; Grace in team south),
/// messages, an engine with a blind index, and the rights and register over them.
struct World {
    explicit World(Kind k) : backend(k) {
        start();
        seed();
    }

    void start(const crypto::BlindIndex* blind = nullptr, storage::StoreSet* over = nullptr) {
        register_.reset();
        rights.reset();
        engine.reset();
        EngineOptions o;
        o.audit_key = "a key the host keeps: 32 bytes!!";
        o.blind_index = blind != nullptr ? blind : &engine_index;
        storage::StoreSet& s = over != nullptr ? *over : *backend.store;
        engine = std::make_unique<Engine>(s, clock, std::move(o));
        rights = std::make_unique<privacy::Rights>(*engine, s, clock, privacy::RightsOptions{{}, 2});
        register_ = std::make_unique<privacy::RequestRegister>(*engine, s, clock);
    }
    /// A process restart: a new store connection and a new engine over the same file.
    void restart() {
        register_.reset();
        rights.reset();
        engine.reset();
        backend.store.reset();
        backend.open();
        start();
    }
    storage::StoreSet& store() { return *backend.store; }

    void seed() {
        storage::Contact a{acme, ContactId{"c-ada"}, ada};
        a.name = "Ada Lovelace";
        a.email = "ada@example.com";
        a.source = "direct";
        a.assignee = UserId{"u-sales-1"};
        a.team = "north";
        a.created_at = a.updated_at = start_time;
        REQUIRE(store().contacts().put(a).has_value());
        storage::Contact g{acme, ContactId{"c-grace"}, grace};
        g.name = "Grace Hopper";
        g.email = "grace@example.com";
        g.source = "webhook";
        g.team = "south";
        g.created_at = g.updated_at = start_time;
        REQUIRE(store().contacts().put(g).has_value());
        add_message("m-1", "c-ada", storage::Direction::inbound, inbound_body, 0s);
        add_message("m-2", "c-ada", storage::Direction::outbound, outbound_body, 1s);
        add_message("m-3", "c-grace", storage::Direction::inbound, "Grace's own question", 2s);
        auto hello = engine->on_inbound(InboundMessage{acme, ada, "hello"});
        REQUIRE(hello.has_value());
        REQUIRE(engine->record_platform_consent({acme, ada, storage::Purpose::marketing, true, start_time, "web_form", std::nullopt})
                    .has_value());
        REQUIRE(engine->record_platform_consent({acme, grace, storage::Purpose::marketing, true, start_time, "web_form", std::nullopt})
                    .has_value());
        REQUIRE(engine->on_inbound(InboundMessage{acme, grace, "hi"}).has_value());
    }
    void add_message(const char* id, const char* contact, storage::Direction d, std::string body, std::chrono::seconds at) {
        storage::MessageRecord m;
        m.tenant = acme;
        m.id = MessageId{id};
        m.contact = ContactId{contact};
        m.direction = d;
        m.body = std::move(body);
        m.status = d == storage::Direction::inbound ? storage::MessageStatus::received : storage::MessageStatus::sent;
        m.created_at = m.updated_at = start_time + at;
        REQUIRE(store().messages().append(m).value());
    }

    std::vector<audit::Entry> trail(const TenantId& tenant = acme) {
        auto all = engine->audit().query(audit::Query(tenant));
        REQUIRE(all.has_value());
        return *all;
    }
    std::vector<audit::Entry> entries(std::string_view action, const TenantId& tenant = acme) {
        std::vector<audit::Entry> out;
        for (auto& e : trail(tenant))
            if (e.action == action) out.push_back(e);
        return out;
    }

    const PhoneNumber ada = phone("+14155550123");
    const PhoneNumber grace = phone("+447946095800");
    const std::string inbound_body = "Is the flat, \"still\" available?\r\nThanks — Ada ✨";
    const std::string outbound_body = "=HYPERLINK(\"http://evil.example\",\"click\")";

    const Principal owner{UserId{"u-owner"}, acme, Role::owner};
    const Principal admin{UserId{"u-admin"}, acme, Role::admin};
    const Principal manager_north{UserId{"u-manager-n"}, acme, Role::manager, "north"};
    const Principal manager_south{UserId{"u-manager-s"}, acme, Role::manager, "south"};
    const Principal sales{UserId{"u-sales-1"}, acme, Role::sales, "north"};
    const Principal other_sales{UserId{"u-sales-2"}, acme, Role::sales, "north"};
    const Principal globex_admin{UserId{"u-admin"}, globex, Role::admin};

    Backend backend;
    ManualClock clock{start_time};
    crypto::BlindIndex engine_index = crypto::BlindIndex::create(key_of(0xE1)).value();
    std::unique_ptr<Engine> engine;
    std::unique_ptr<privacy::Rights> rights;
    std::unique_ptr<privacy::RequestRegister> register_;
};

std::string export_of(World& w, const Principal& by, ExportFormat format, const char* contact = "c-ada") {
    std::ostringstream out;
    auto r = w.rights->export_contact(by, acme, ContactId{contact}, format, out);
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message()));
    REQUIRE(r->allowed());
    return out.str();
}

/// The records Python's csv module reads from `text`: a reader independent of ours and of
/// parse_csv. The text is written to a file as bytes and read with newline='' (as the module's
/// documentation requires for quoted line breaks) and strict=True (malformed input fails); each
/// field comes back hex-encoded, so the bytes are compared exactly. Needs python3 on the PATH
/// (scripts/install-deps.sh installs it).
std::vector<std::vector<std::string>> python_csv(const std::string& text) {
    struct Dir {
        fs::path path;
        ~Dir() {
            std::error_code ignored;
            fs::remove_all(path, ignored);
        }
    } dir{TempDb().path().string() + ".csv.d"};
    fs::create_directories(dir.path);
    {
        std::ofstream(dir.path / "in.csv", std::ios::binary) << text;
        std::ofstream(dir.path / "read.py") << "import csv, sys\n"
                                                "with open(sys.argv[1], newline='', encoding='utf-8-sig') as f, "
                                                "open(sys.argv[2], 'w') as out:\n"
                                                "    for row in csv.reader(f, strict=True):\n"
                                                "        out.write(' '.join('x' + v.encode('utf-8').hex() for v in row) + '\\n')\n";
    }
    const std::string command = "python3 '" + (dir.path / "read.py").string() + "' '" + (dir.path / "in.csv").string() +
                                "' '" + (dir.path / "out.txt").string() + "'";
    REQUIRE_MESSAGE(std::system(command.c_str()) == 0, "python3's csv module could not read the export");
    std::vector<std::vector<std::string>> rows;
    std::ifstream in(dir.path / "out.txt");
    for (std::string line; std::getline(in, line);) {
        std::vector<std::string>& row = rows.emplace_back();
        std::istringstream fields(line);
        for (std::string hex; fields >> hex;) {
            REQUIRE((hex.size() % 2 == 1 && hex[0] == 'x'));
            std::string& value = row.emplace_back();
            for (std::size_t i = 1; i < hex.size(); i += 2)
                value += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
        }
    }
    return rows;
}

/// The CSV access export as section → record → field → value.
using LongForm = std::map<std::string, std::map<std::string, std::map<std::string, std::string>>>;
LongForm long_form(const std::string& csv) {
    const auto rows = parse_csv(csv);
    CHECK(python_csv(csv) == rows);  // the hand-written reader agrees with Python's
    REQUIRE(!rows.empty());
    CHECK(rows[0] == std::vector<std::string>{"section", "record", "field", "value"});
    LongForm out;
    for (std::size_t i = 1; i < rows.size(); ++i) {
        REQUIRE(rows[i].size() == 4);
        out[rows[i][0]][rows[i][1]][rows[i][2]] = rows[i][3];
    }
    return out;
}

/// Every form of the number that could sit in a file (see unit-sqlite-encryption.cpp).
std::vector<std::string> number_forms(const PhoneNumber& p) {
    std::vector<std::string> forms{p.e164(), p.digits()};
    const std::uint64_t key = p.key();
    std::string be8, le8;
    for (int i = 7; i >= 0; --i) be8 += static_cast<char>((key >> (8 * i)) & 0xFF);
    for (int i = 0; i < 8; ++i) le8 += static_cast<char>((key >> (8 * i)) & 0xFF);
    forms.push_back(be8);
    forms.push_back(be8.substr(2));
    forms.push_back(le8);
    return forms;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The lawful basis register and the deadlines

TEST_CASE("the lawful basis register is the policy's activity table") {
    using privacy::Activity;
    using privacy::LegalBasis;
    const auto reg = privacy::lawful_basis_register();
    REQUIRE(reg.size() == 5);
    const std::map<Activity, LegalBasis> expected{{Activity::lead_management, LegalBasis::contract},
                                                  {Activity::whatsapp_messaging, LegalBasis::contract},
                                                  {Activity::analytics, LegalBasis::legitimate_interest},
                                                  {Activity::audit_logging, LegalBasis::legitimate_interest},
                                                  {Activity::marketing, LegalBasis::consent}};
    for (const auto& row : reg) {
        CAPTURE(privacy::to_string(row.activity));
        CHECK(expected.at(row.activity) == row.basis);
        CHECK(!row.purpose.empty());
        CHECK(!row.retention.empty());
        CHECK(&privacy::processing_activity(row.activity) == &row);
        CHECK(privacy::activity_from_string(privacy::to_string(row.activity)) == row.activity);
        // Objection applies to legitimate interest and to marketing; withdrawal stops marketing.
        CHECK(row.objectable == (row.basis == LegalBasis::legitimate_interest || row.activity == Activity::marketing));
        CHECK(row.stops_on_withdrawal == (row.activity == Activity::marketing));
    }
    CHECK(privacy::processing_activity(Activity::lead_management).purpose == "Core CRM functionality");
    CHECK(privacy::processing_activity(Activity::audit_logging).retention.find("1 year") != std::string_view::npos);
    CHECK_FALSE(privacy::objection_applies(Activity::whatsapp_messaging));
}

TEST_CASE("a request is acknowledged within 2 business days and due a month later, Monday when that is a weekend") {
    auto at = [](const char* iso) { return parse_iso8601(iso).value(); };
    // Acknowledge by the end of the second weekday after the day of receipt.
    CHECK(privacy::acknowledge_deadline(at("2026-11-02T10:00:00Z")) == at("2026-11-04T23:59:59.999Z"));  // Mon → Wed
    CHECK(privacy::acknowledge_deadline(at("2026-11-05T23:00:00Z")) == at("2026-11-09T23:59:59.999Z"));  // Thu → Mon
    CHECK(privacy::acknowledge_deadline(at("2026-11-06T08:00:00Z")) == at("2026-11-10T23:59:59.999Z"));  // Fri → Tue
    CHECK(privacy::acknowledge_deadline(at("2026-11-07T08:00:00Z")) == at("2026-11-10T23:59:59.999Z"));  // Sat → Tue
    CHECK(privacy::acknowledge_deadline(at("2026-11-08T08:00:00Z")) == at("2026-11-10T23:59:59.999Z"));  // Sun → Tue
    // One month: the same day of the next month, the month's end when it has none, then past a weekend.
    CHECK(privacy::due_deadline(at("2026-11-02T10:00:00Z"), false) == at("2026-12-02T23:59:59.999Z"));
    CHECK(privacy::due_deadline(at("2026-01-15T10:00:00Z"), false) == at("2026-02-16T23:59:59.999Z"));  // 15 Feb is a Sunday
    CHECK(privacy::due_deadline(at("2026-03-31T10:00:00Z"), false) == at("2026-04-30T23:59:59.999Z"));
    CHECK(privacy::due_deadline(at("2027-01-31T10:00:00Z"), false) == at("2027-03-01T23:59:59.999Z"));  // 28 Feb, a Sunday
    // Extended by two further months.
    CHECK(privacy::due_deadline(at("2027-01-31T10:00:00Z"), true) == at("2027-04-30T23:59:59.999Z"));

    privacy::SubjectRequest r;
    r.received_at = at("2026-11-06T08:00:00Z");
    r.acknowledge_by = privacy::acknowledge_deadline(r.received_at);
    r.due_by = privacy::due_deadline(r.received_at, false);
    CHECK(privacy::lateness(r, at("2026-11-10T23:59:59.999Z")) == privacy::Lateness::on_time);
    CHECK(privacy::lateness(r, at("2026-11-11T00:00:00Z")) == privacy::Lateness::acknowledgement);
    r.status = privacy::RequestStatus::acknowledged;
    CHECK(privacy::lateness(r, at("2026-11-11T00:00:00Z")) == privacy::Lateness::on_time);
    CHECK(privacy::lateness(r, at("2026-12-07T23:59:59.999Z")) == privacy::Lateness::on_time);  // 6 Dec is a Sunday
    CHECK(privacy::lateness(r, at("2026-12-08T00:00:00Z")) == privacy::Lateness::completion);
    r.status = privacy::RequestStatus::completed;
    CHECK(privacy::lateness(r, at("2027-06-01T00:00:00Z")) == privacy::Lateness::on_time);

    CHECK(privacy::valid_subject("contact:c-1"));
    CHECK(privacy::valid_subject("phone:0123456789abcdef0123456789abcdef"));
    CHECK_FALSE(privacy::valid_subject("+14155550123"));
    CHECK_FALSE(privacy::valid_subject("phone:+14155550123"));
    CHECK_FALSE(privacy::valid_subject("contact:"));
}

// ---------------------------------------------------------------------------------------------
// The request register

TEST_CASE("a manager handles the requests of their team's contacts, and no others") {
    for (Kind kind : all_kinds) {
        SUBCASE(name_of(kind)) {
            World w(kind);
            privacy::RequestRegister& reg = *w.register_;
            // Ada is in team north, Grace in team south.
            auto north = reg.open(w.manager_north, acme, privacy::RequestType::restriction, "contact:c-ada", std::nullopt, "N-1");
            REQUIRE(north.has_value());
            CHECK(north->allowed());
            CHECK(north->access.rule() == "manager.team_requests");
            auto south = reg.open(w.manager_north, acme, privacy::RequestType::restriction, "contact:c-grace", std::nullopt, "S-1");
            REQUIRE(south.has_value());
            CHECK_FALSE(south->allowed());
            REQUIRE(reg.open(w.admin, acme, privacy::RequestType::access, "contact:c-grace", std::nullopt, "S-1")->allowed());
            // A number's pseudonym names no team: owners and admins only.
            auto by_number = reg.open(w.manager_north, acme, privacy::RequestType::access, reg.pseudonym_subject(w.grace));
            REQUIRE(by_number.has_value());
            CHECK_FALSE(by_number->allowed());

            // Each manager sees and moves on their team's request, not the other's.
            CHECK(reg.get(w.manager_north, acme, "N-1")->allowed());
            CHECK(reg.acknowledge(w.manager_north, acme, "N-1")->allowed());
            CHECK_FALSE(reg.get(w.manager_north, acme, "S-1")->allowed());
            CHECK_FALSE(reg.acknowledge(w.manager_north, acme, "S-1")->allowed());
            CHECK_FALSE(reg.get(w.manager_south, acme, "N-1")->allowed());
            CHECK_FALSE(reg.close(w.manager_south, acme, "N-1", privacy::RequestStatus::completed)->allowed());
            CHECK(reg.close(w.manager_south, acme, "S-1", privacy::RequestStatus::completed)->allowed());
            CHECK_FALSE(reg.list(w.manager_north, acme, {"", 10})->allowed());  // the whole register: not a team's
            // Sales users of the team are not request handlers.
            CHECK_FALSE(reg.get(w.sales, acme, "N-1")->allowed());
            // A missing request: refused for a manager (no team), not_found for an admin.
            CHECK_FALSE(reg.get(w.manager_north, acme, "nope")->allowed());
            auto missing = reg.get(w.admin, acme, "nope");
            REQUIRE_FALSE(missing.has_value());
            CHECK(missing.error() == privacy::PrivacyErrc::not_found);

            // The team is the contact's now: Ada moving to team south moves her request too.
            auto ada = w.store().contacts().get(acme, ContactId{"c-ada"}).value().value();
            ada.team = "south";
            REQUIRE(w.store().contacts().put(ada).has_value());
            CHECK_FALSE(reg.get(w.manager_north, acme, "N-1")->allowed());
            CHECK(reg.get(w.manager_south, acme, "N-1")->allowed());
        }
    }
}

TEST_CASE("the request register logs requests with their deadlines, moves them on and lists the overdue ones") {
    for (Kind kind : all_kinds) {
        SUBCASE(name_of(kind)) {
            World w(kind);
            privacy::RequestRegister& reg = *w.register_;

            // Subjects are contact ids or pseudonyms, never numbers.
            auto plain = reg.open(w.admin, acme, privacy::RequestType::access, "+14155550123");
            REQUIRE_FALSE(plain.has_value());
            CHECK(plain.error() == privacy::PrivacyErrc::invalid_request);
            const std::string pseudonym = reg.pseudonym_subject(w.ada);
            CHECK(pseudonym == w.engine->pseudonym(w.ada));
            CHECK(pseudonym.find(w.ada.digits()) == std::string::npos);

            // Who may log one: owners and admins; managers only for their team's contacts (the
            // case below); not sales users; not another tenant.
            for (const Principal* p : {&w.manager_south, &w.sales, &w.globex_admin}) {
                auto refused = reg.open(*p, acme, privacy::RequestType::erasure, "contact:c-ada");
                REQUIRE(refused.has_value());
                CHECK_FALSE(refused->allowed());
            }
            auto opened = reg.open(w.admin, acme, privacy::RequestType::erasure, "contact:c-ada", std::nullopt, "T-1");
            REQUIRE(opened.has_value());
            REQUIRE(opened->allowed());
            CHECK(opened->value->received_at == start_time);
            CHECK(opened->value->acknowledge_by == parse_iso8601("2026-11-04T23:59:59.999Z").value());
            CHECK(opened->value->due_by == parse_iso8601("2026-12-02T23:59:59.999Z").value());
            CHECK(opened->value->status == privacy::RequestStatus::received);
            auto again = reg.open(w.admin, acme, privacy::RequestType::access, "contact:c-ada", std::nullopt, "T-1");
            REQUIRE_FALSE(again.has_value());
            CHECK(again.error() == privacy::PrivacyErrc::invalid_request);
            auto by_number = reg.open(w.owner, acme, privacy::RequestType::access, pseudonym);
            REQUIRE(by_number.has_value());
            REQUIRE(by_number->allowed());
            CHECK(by_number->value->id.rfind("dsr-", 0) == 0);

            // Nothing is overdue yet; after the acknowledgement deadline both are.
            auto none = reg.overdue(w.admin, acme);
            REQUIRE(none.has_value());
            CHECK(none->value->empty());
            w.clock.set(parse_iso8601("2026-11-05T00:00:00Z").value());
            auto late = reg.overdue(w.admin, acme);
            REQUIRE(late.has_value());
            REQUIRE(late->value->size() == 2);
            CHECK(late->value->front().late == privacy::Lateness::acknowledgement);

            auto acked = reg.acknowledge(w.admin, acme, "T-1");
            REQUIRE(acked.has_value());
            CHECK(acked->value->status == privacy::RequestStatus::acknowledged);
            CHECK(acked->value->acknowledged_at == w.clock.now());
            auto extended = reg.extend(w.owner, acme, "T-1");
            REQUIRE(extended.has_value());
            CHECK(extended->value->extended);
            CHECK(extended->value->due_by == parse_iso8601("2027-02-02T23:59:59.999Z").value());
            CHECK(extended->value->handled_by == w.owner.user);
            auto twice = reg.extend(w.owner, acme, "T-1");
            REQUIRE_FALSE(twice.has_value());
            CHECK(twice.error() == privacy::PrivacyErrc::invalid_request);

            // A month on, the other one (never acknowledged, not extended) is late to complete and
            // can no longer be extended.
            w.clock.set(parse_iso8601("2026-12-03T00:00:00Z").value());
            auto overdue = reg.overdue(w.admin, acme);
            REQUIRE(overdue.has_value());
            REQUIRE(overdue->value->size() == 1);
            CHECK(overdue->value->front().request.id == by_number->value->id);
            CHECK(overdue->value->front().late == privacy::Lateness::completion);
            auto too_late = reg.extend(w.owner, acme, by_number->value->id);
            REQUIRE_FALSE(too_late.has_value());
            CHECK(too_late.error() == privacy::PrivacyErrc::invalid_request);

            auto completed = reg.close(w.admin, acme, "T-1", privacy::RequestStatus::completed);
            REQUIRE(completed.has_value());
            CHECK(completed->value->closed_at == w.clock.now());
            auto reopened = reg.acknowledge(w.admin, acme, "T-1");
            REQUIRE_FALSE(reopened.has_value());
            CHECK(reopened.error() == privacy::PrivacyErrc::invalid_request);
            auto refused = reg.close(w.admin, acme, by_number->value->id, privacy::RequestStatus::refused);
            REQUIRE(refused.has_value());
            auto nothing_late = reg.overdue(w.admin, acme);
            REQUIRE(nothing_late.has_value());
            CHECK(nothing_late->value->empty());
            auto listed = reg.list(w.admin, acme, {});
            REQUIRE(listed.has_value());
            CHECK(listed->value->size() == 2);
            auto missing = reg.get(w.admin, acme, "T-404");
            REQUIRE_FALSE(missing.has_value());
            CHECK(missing.error() == privacy::PrivacyErrc::not_found);

            // Every step is in the trail, denials included, naming the request and never the subject.
            CHECK(w.entries("privacy.request.open").size() == 6);
            CHECK(w.entries("privacy.request.open", acme).front().outcome == Reason::not_authorized);
            CHECK(w.entries("privacy.request.extend").size() == 3);
            CHECK(w.entries("privacy.request.complete").front().target_id == "T-1");
            for (const auto& e : w.trail())
                CHECK(e.target_id.find(w.ada.digits()) == std::string::npos);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Access and portability

TEST_CASE("the access export holds everything about the contact, as JSON and as CSV that round-trips") {
    for (Kind kind : all_kinds) {
        SUBCASE(name_of(kind)) {
            World w(kind);
            // An opt-out recorded for the number before anyone looked it up by contact, and one by the contact.
            REQUIRE(w.engine->on_inbound(InboundMessage{acme, w.ada, "STOP"}).has_value());
            auto manual = w.engine->opt_out_manually(acme, w.admin, w.ada, {optout::Scope::marketing, "asked by phone"});
            REQUIRE(manual.has_value());
            const audit::Entry before_contact = w.engine->audit()
                                                    .append([&] {
                                                        audit::Entry e;
                                                        e.tenant = acme;
                                                        e.actor = audit::Actor::system();
                                                        e.action = "webhook.optout";
                                                        e.target_type = "contact";
                                                        e.target_id = w.engine->pseudonym(w.ada);
                                                        return e;
                                                    }())
                                                    .value();

            SUBCASE("JSON") {
                const std::string text = export_of(w, w.admin, ExportFormat::json);
                const auto doc = nlohmann::json::parse(text);
                CHECK(doc["format"] == "heroshhi.subject_access.v1");
                CHECK(doc["tenant"] == "acme");
                CHECK(doc["contact"]["name"] == "Ada Lovelace");
                CHECK(doc["contact"]["phone"] == "+14155550123");
                CHECK(doc["contact"]["email"] == "ada@example.com");
                CHECK(doc["contact"]["assignee"] == "u-sales-1");
                CHECK(doc["contact"]["restricted"] == false);
                REQUIRE(doc["processing_activities"].size() == 5);
                for (const auto& a : doc["processing_activities"]) {
                    CHECK(!a["purpose"].get<std::string>().empty());
                    CHECK(!a["legal_basis"].get<std::string>().empty());
                    CHECK(!a["retention"].get<std::string>().empty());
                }
                CHECK(doc["processing_activities"][4]["activity"] == "marketing");
                CHECK(doc["processing_activities"][4]["legal_basis"] == "consent");
                CHECK(doc["processing_activities"][4]["objected"] == true);
                REQUIRE(doc["inbound_activity"].size() == 1);
                REQUIRE(doc["messages"].size() == 2);
                CHECK(doc["messages"][0]["body"] == w.inbound_body);
                CHECK(doc["messages"][1]["body"] == w.outbound_body);
                CHECK(doc["messages"][1]["direction"] == "outbound");
                REQUIRE(doc["optout_events"].size() == 2);
                CHECK(doc["optout_events"][0]["trigger"] == "STOP");
                CHECK(doc["optout_events"][1]["method"] == "manual");
                CHECK(doc["optout_events"][1]["scope"] == "marketing");
                REQUIRE(doc["consent_records"].size() == 1);
                CHECK(doc["consent_records"][0]["granted"] == true);
                // By contact id (this export's own entry among them) and by the number's pseudonym.
                std::vector<std::string> actions;
                for (const auto& e : doc["audit_entries"]) actions.push_back(e["action"]);
                CHECK(std::count(actions.begin(), actions.end(), "privacy.access.json") == 1);
                CHECK(std::count(actions.begin(), actions.end(), "opt_out.manual") == 1);
                CHECK(std::count(actions.begin(), actions.end(), "webhook.optout") == 1);
                CHECK(text.find(before_contact.target_id) != std::string::npos);
                // Grace's data is not in Ada's export.
                CHECK(text.find("Grace") == std::string::npos);
            }
            SUBCASE("CSV through an RFC 4180 reader") {
                const std::string csv = export_of(w, w.admin, ExportFormat::csv);
                const LongForm f = long_form(csv);
                CHECK(f.at("export").at("").at("format") == "heroshhi.subject_access.v1");
                CHECK(f.at("contact").at("c-ada").at("name") == "Ada Lovelace");
                // Cells a spreadsheet would evaluate are neutralised with a leading quote.
                CHECK(f.at("contact").at("c-ada").at("phone") == "'+14155550123");
                CHECK(f.at("messages").at("m-1").at("body") == w.inbound_body);
                CHECK(f.at("messages").at("m-2").at("body") == "'" + w.outbound_body);
                CHECK(f.at("processing_activities").size() == 5);
                CHECK(f.at("processing_activities").at("analytics").at("legal_basis") == "legitimate_interest");
                CHECK(f.at("processing_activities").at("lead_management").at("retention").find("30 days") !=
                      std::string::npos);
                CHECK(f.at("optout_events").size() == 2);
                CHECK(f.at("consent_records").at("1").at("granted") == "true");
                CHECK(f.at("audit_entries").size() >= 3);
                CHECK(csv.find("Grace") == std::string::npos);
            }
        }
    }
}

TEST_CASE("an access export is streamed in bounded chunks, however long the history") {
    World w(Kind::sqlite);
    const std::string line(200, 'x');
    for (int i = 0; i < 3000; ++i)
        w.add_message(("h-" + std::to_string(10000 + i)).c_str(), "c-ada", storage::Direction::inbound, line,
                      std::chrono::seconds(10 + i));
    std::vector<std::size_t> chunks;
    std::size_t total = 0;
    auto r = w.rights->export_contact(w.admin, acme, ContactId{"c-ada"}, ExportFormat::json,
                                      privacy::Sink([&](std::string_view c) {
                                          chunks.push_back(c.size());
                                          total += c.size();
                                          return true;
                                      }));
    REQUIRE(r.has_value());
    REQUIRE(r->allowed());
    CHECK(r->value->messages == 3002);
    CHECK(total > 3000 * 200);
    CHECK(chunks.size() > 5);
    CHECK(*std::max_element(chunks.begin(), chunks.end()) < 64 * 1024 + 4096);

    SUBCASE("a sink that refuses stops the export with export_failed") {
        int calls = 0;
        auto refused = w.rights->export_contact(w.admin, acme, ContactId{"c-ada"}, ExportFormat::csv,
                                                privacy::Sink([&](std::string_view) { return ++calls < 2; }));
        REQUIRE_FALSE(refused.has_value());
        CHECK(refused.error() == privacy::PrivacyErrc::export_failed);
        CHECK(calls == 2);
    }
}

TEST_CASE("the tenant's leads export as CSV, restricted and deleted leads left out, a manager's for their team") {
    for (Kind kind : all_kinds) {
        SUBCASE(name_of(kind)) {
            World w(kind);
            storage::Contact evil{acme, ContactId{"c-evil"}, phone("+14155550199")};
            evil.name = "=cmd|' /C calc'!A0";
            evil.email = "evil@example.com";
            evil.team = "north";
            evil.source = "webhook";
            REQUIRE(w.store().contacts().put(evil).has_value());
            storage::Contact gone{acme, ContactId{"c-gone"}, phone("+14155550198")};
            gone.name = "Deleted Lead";
            gone.deleted_at = start_time;
            REQUIRE(w.store().contacts().put(gone).has_value());
            REQUIRE(w.rights->restrict_processing(w.admin, acme, ContactId{"c-grace"}, true).value().allowed());

            std::ostringstream out;
            auto all = w.rights->export_leads_csv(w.admin, acme, out);
            REQUIRE(all.has_value());
            REQUIRE(all->allowed());
            CHECK(all->value->leads == 2);
            CHECK(all->value->restricted_skipped == 1);
            const auto rows = parse_csv(out.str());
            CHECK(python_csv(out.str()) == rows);
            REQUIRE(rows.size() == 3);
            CHECK(rows[0][0] == "id");
            CHECK(rows[0].size() == 10);
            CHECK(rows[1][0] == "c-ada");
            CHECK(rows[1][1] == "Ada Lovelace");
            CHECK(rows[1][2] == "'+14155550123");
            CHECK(rows[2][0] == "c-evil");
            CHECK(rows[2][1] == "'" + evil.name);

            // Managers export their own team's leads only; sales users never export.
            std::ostringstream north;
            auto team = w.rights->export_leads_csv(w.manager_north, acme, north, {"north", false});
            REQUIRE(team.has_value());
            REQUIRE(team->allowed());
            CHECK(team->value->leads == 2);
            for (auto [who, opts] : {std::pair{&w.manager_north, privacy::LeadExportOptions{}},
                                     std::pair{&w.manager_north, privacy::LeadExportOptions{"south", false}},
                                     std::pair{&w.sales, privacy::LeadExportOptions{"north", false}},
                                     std::pair{&w.globex_admin, privacy::LeadExportOptions{}}}) {
                std::ostringstream ignored;
                auto refused = w.rights->export_leads_csv(*who, acme, ignored, opts);
                REQUIRE(refused.has_value());
                CHECK_FALSE(refused->allowed());
                CHECK(ignored.str().empty());
            }
            const auto audited = w.entries("privacy.export.leads");
            CHECK(audited.size() == 6);
            CHECK(std::count_if(audited.begin(), audited.end(), [](const auto& e) { return e.allowed(); }) == 2);
        }
    }
}

TEST_CASE("the tenant's messages, opt-out and consent records export as CSV too, restricted contacts left out") {
    for (Kind kind : all_kinds) {
        SUBCASE(name_of(kind)) {
            World w(kind);
            REQUIRE(w.engine->on_inbound(InboundMessage{acme, w.grace, "STOP"}).has_value());
            // Cleo opts out, then is erased: her events stay only as a keyed hash.
            const PhoneNumber cleo = phone("+14155550142");
            storage::Contact c{acme, ContactId{"c-cleo"}, cleo};
            c.name = "Cleo";
            c.team = "north";
            REQUIRE(w.store().contacts().put(c).has_value());
            REQUIRE(w.engine->on_inbound(InboundMessage{acme, cleo, "STOP"}).has_value());
            REQUIRE(w.rights->erase(w.admin, acme, ContactId{"c-cleo"}).value().allowed());

            auto table = [&](const Principal& by, privacy::TenantTable t, privacy::LeadExportOptions o = {}) {
                std::string text;
                auto r = w.rights->export_table_csv(by, acme, t, [&](std::string_view chunk) {
                    text.append(chunk);
                    return true;
                }, o);
                return std::pair{std::move(r), std::move(text)};
            };
            auto [messages, messages_csv] = table(w.admin, privacy::TenantTable::messages);
            REQUIRE(messages.has_value());
            REQUIRE(messages->allowed());
            CHECK(messages->value->rows == 3);
            auto rows = python_csv(messages_csv);
            CHECK(rows == parse_csv(messages_csv));
            REQUIRE(rows.size() == 4);
            CHECK(rows[0] == std::vector<std::string>{"id", "contact_id", "direction", "status", "body",
                                                      "provider_message_id", "created_at", "updated_at"});
            std::set<std::string> bodies;
            for (std::size_t i = 1; i < rows.size(); ++i) bodies.insert(rows[i][4]);
            CHECK(bodies.count(w.inbound_body) == 1);
            CHECK(bodies.count("Grace's own question") == 1);

            auto [north, north_csv] = table(w.manager_north, privacy::TenantTable::messages, {"north", false});
            REQUIRE(north.has_value());
            REQUIRE(north->allowed());
            CHECK(north->value->rows == 2);  // Ada's two; Grace is in team south
            CHECK(north_csv.find("Grace's own question") == std::string::npos);

            auto [optouts, optouts_csv] = table(w.admin, privacy::TenantTable::optout_events);
            REQUIRE(optouts.has_value());
            REQUIRE(optouts->allowed());
            rows = python_csv(optouts_csv);
            CHECK(rows == parse_csv(optouts_csv));
            REQUIRE(rows.size() >= 4);  // Grace's STOP, Cleo's STOP and erasure opt-out (erased)
            CHECK(rows[0] == std::vector<std::string>{"sequence", "phone", "kind", "scope", "method", "keyword",
                                                      "channel", "actor", "at", "erased"});
            std::size_t grace_rows = 0, erased_rows = 0;
            for (std::size_t i = 1; i < rows.size(); ++i) {
                if (rows[i][1] == "'" + w.grace.e164()) {
                    ++grace_rows;
                    CHECK(rows[i][5] == "STOP");
                    CHECK(rows[i][9] == "false");
                }
                if (rows[i][9] == "true") {
                    ++erased_rows;
                    CHECK(rows[i][1].empty());  // the number is gone, the record stays
                }
            }
            CHECK(grace_rows == 1);
            CHECK(erased_rows >= 2);
            CHECK(optouts_csv.find(cleo.e164()) == std::string::npos);

            auto [consents, consents_csv] = table(w.admin, privacy::TenantTable::consent_records);
            REQUIRE(consents.has_value());
            REQUIRE(consents->allowed());
            CHECK(consents->value->rows == 2);  // Ada's and Grace's grants; Cleo's went with her
            CHECK(python_csv(consents_csv)[0] == std::vector<std::string>{"phone", "purpose", "granted", "at", "source", "actor"});

            // Restricting Grace leaves her out of every table.
            REQUIRE(w.rights->restrict_processing(w.admin, acme, ContactId{"c-grace"}, true).value().allowed());
            for (auto t : {privacy::TenantTable::messages, privacy::TenantTable::optout_events,
                           privacy::TenantTable::consent_records}) {
                auto [r, text] = table(w.admin, t);
                REQUIRE(r.has_value());
                CHECK(text.find(w.grace.e164()) == std::string::npos);
                CHECK(text.find("Grace's own question") == std::string::npos);
            }

            // The per-number tables are the whole tenant's: no team filter, so managers may not.
            auto [mgr, mgr_csv] = table(w.manager_north, privacy::TenantTable::optout_events);
            REQUIRE(mgr.has_value());
            CHECK_FALSE(mgr->allowed());
            CHECK(mgr_csv.empty());
            auto [filtered, ignored] = table(w.admin, privacy::TenantTable::consent_records, {"north", false});
            REQUIRE_FALSE(filtered.has_value());
            CHECK(filtered.error() == privacy::PrivacyErrc::invalid_request);
            auto [by_sales, nothing] = table(w.sales, privacy::TenantTable::messages, {"north", false});
            REQUIRE(by_sales.has_value());
            CHECK_FALSE(by_sales->allowed());
            CHECK(w.entries("privacy.export.messages").size() == 4);
            CHECK(w.entries("privacy.export.optouts").size() == 3);
            CHECK(w.entries("privacy.export.consents").size() == 2);
        }
    }
}

TEST_CASE("the CSV exports read back field for field through Python's csv module") {
    World w(Kind::memory);
    // Commas, quotes, CR, LF and CRLF inside fields; formula-leading characters; non-ASCII.
    storage::Contact odd{acme, ContactId{"c-odd, \"quoted\""}, phone("+14155550197")};
    odd.name = "Doe, \"Jo\"\r\nsecond line\nthird\rfourth";
    odd.email = "@SUM(1+1)";
    odd.source = "-2+3";
    odd.team = "=north, \"east\"";
    REQUIRE(w.store().contacts().put(odd).has_value());
    std::ostringstream out;
    auto leads = w.rights->export_leads_csv(w.admin, acme, out);
    REQUIRE(leads.has_value());
    REQUIRE(leads->allowed());
    const auto rows = python_csv(out.str());
    REQUIRE(rows.size() == 4);  // the header, Ada, Grace, the odd one
    const auto& header = rows[0];
    const auto column = [&](std::string_view name) {
        const auto at = std::find(header.begin(), header.end(), name);
        REQUIRE(at != header.end());
        return static_cast<std::size_t>(at - header.begin());
    };
    const auto found = std::find_if(rows.begin(), rows.end(), [](const auto& r) { return r[0] == "c-odd, \"quoted\""; });
    REQUIRE(found != rows.end());
    for (const auto& r : rows) CHECK(r.size() == header.size());
    const auto& row = *found;
    CHECK(row[column("name")] == odd.name);             // quoted, line breaks kept as they were
    CHECK(row[column("phone")] == "'+14155550197");     // neutralised, not evaluated
    CHECK(row[column("email")] == "'" + odd.email);
    CHECK(row[column("source")] == "'" + odd.source);
    CHECK(row[column("team")] == "'" + odd.team);
    CHECK(rows == parse_csv(out.str()));

    // The access export: Ada's messages hold quotes, a comma, CRLF, non-ASCII and a formula.
    const std::string csv = export_of(w, w.admin, ExportFormat::csv);
    const auto access = python_csv(csv);
    CHECK(access == parse_csv(csv));
    std::set<std::string> values;
    for (const auto& r : access) {
        CHECK(r.size() == 4);
        values.insert(r.back());
    }
    CHECK(values.count(w.inbound_body) == 1);
    CHECK(values.count("'" + w.outbound_body) == 1);
}

// ---------------------------------------------------------------------------------------------
// Rectification

TEST_CASE("rectification validates and normalises the fields, keeps no old value, and is audited without values") {
    for (Kind kind : all_kinds) {
        SUBCASE(name_of(kind)) {
            World w(kind);
            privacy::Rectification change;
            change.email = "not an address";
            auto bad = w.rights->rectify(w.sales, acme, ContactId{"c-ada"}, change);
            REQUIRE_FALSE(bad.has_value());
            CHECK(bad.error() == sanitize::SanitizeErrc::invalid_email);
            CHECK(w.entries("privacy.rectify").empty());  // refused before anything was recorded

            change.name = "  Ada King  ";
            change.email = "Ada.King@Example.COM";
            change.phone = "(415) 555-0177";
            change.phone_region = "US";
            auto other = w.rights->rectify(w.other_sales, acme, ContactId{"c-ada"}, change);
            REQUIRE(other.has_value());
            CHECK_FALSE(other->allowed());
            auto fixed = w.rights->rectify(w.sales, acme, ContactId{"c-ada"}, change);
            REQUIRE_MESSAGE(fixed.has_value(), (fixed ? "" : fixed.error().message()));
            REQUIRE(fixed->allowed());
            CHECK(fixed->value->name == "Ada King");
            CHECK(fixed->value->email == "ada.king@example.com");
            CHECK(fixed->value->phone.e164() == "+14155550177");
            auto stored = w.store().contacts().get(acme, ContactId{"c-ada"});
            REQUIRE(stored.has_value());
            CHECK((*stored)->name == "Ada King");

            const auto audited = w.entries("privacy.rectify");
            REQUIRE(audited.size() == 2);
            CHECK(audited[1].allowed());
            CHECK(audited[1].target_id == "c-ada");
            if (w.backend.kind == Kind::sqlite) {
                // The old name and address are gone from the file and its log.
                const std::string bytes = file_bytes(w.backend.db.str()) + file_bytes(w.backend.db.str() + "-wal");
                CHECK(bytes.find("Ada King") != std::string::npos);
                CHECK(bytes.find("Ada Lovelace") == std::string::npos);
                CHECK(bytes.find("ada@example.com") == std::string::npos);
            }
            privacy::Rectification remove_phone;
            remove_phone.phone = "";
            auto removed = w.rights->rectify(w.admin, acme, ContactId{"c-ada"}, remove_phone);
            REQUIRE_FALSE(removed.has_value());
            CHECK(removed.error() == privacy::PrivacyErrc::invalid_request);
        }
    }
}

TEST_CASE("a rectified number is erased as an erasure would: opt-outs kept only as a hash, the rest gone") {
    for (Kind kind : all_kinds) {
        SUBCASE(name_of(kind)) {
            World w(kind);
            REQUIRE(w.engine->on_inbound(InboundMessage{acme, w.ada, "STOP"}).has_value());
            REQUIRE(w.engine->on_inbound(InboundMessage{acme, w.ada, "START"}).has_value());
            privacy::Rectification change;
            change.phone = "+14155550177";
            auto fixed = w.rights->rectify(w.admin, acme, ContactId{"c-ada"}, change);
            REQUIRE_MESSAGE(fixed.has_value(), (fixed ? "" : fixed.error().message()));
            REQUIRE(fixed->allowed());
            CHECK(fixed->value->phone.e164() == "+14155550177");

            CHECK(w.store().optouts().history(acme, w.ada).value().empty());
            std::size_t erased = 0;
            REQUIRE(w.store().optouts().scan_erased(acme, [&](const optout::ErasedOptOutEvent&) { ++erased; }).has_value());
            CHECK(erased >= 3);  // STOP, START and the erasure's own opt-out
            CHECK(w.store().consents().records(acme, w.ada).value().empty());
            CHECK_FALSE(w.store().activity().last_inbound(acme, w.ada).value().has_value());
            // The old number stays suppressed; the corrected one is free to message.
            CHECK(w.engine->check_send(acme, w.ada, MessageKind::utility_template).reason() == Reason::opted_out);
            CHECK(w.engine->check_send(acme, phone("+14155550177"), MessageKind::utility_template).allowed());
            if (kind == Kind::sqlite) {
                REQUIRE(w.store().scrub().has_value());
                const std::string bytes = file_bytes(w.backend.db.str()) + file_bytes(w.backend.db.str() + "-wal");
                CHECK(bytes.find("14155550177") != std::string::npos);
                CHECK(bytes.find("14155550123") == std::string::npos);
            }
        }
    }
}

TEST_CASE("without the engine's blind index a number cannot be rectified, and nothing changes") {
    World w(Kind::memory);
    EngineOptions o;
    o.audit_key = "a key the host keeps: 32 bytes!!";
    Engine bare(w.store(), w.clock, std::move(o));
    privacy::Rights rights(bare, w.store(), w.clock);
    privacy::Rectification change;
    change.phone = "+14155550177";
    auto refused = rights.rectify(w.admin, acme, ContactId{"c-ada"}, change);
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error() == storage::StorageErrc::key_unavailable);
    CHECK(w.store().contacts().get(acme, ContactId{"c-ada"}).value()->phone == w.ada);
    privacy::Rectification name_only;
    name_only.name = "Ada King";
    CHECK(rights.rectify(w.admin, acme, ContactId{"c-ada"}, name_only).value().allowed());  // no number: fine
}

// ---------------------------------------------------------------------------------------------
// Erasure

TEST_CASE("erasure removes the contact's data, keeps the number only as a keyed hash, and it stays suppressed") {
    for (Kind kind : all_kinds) {
        SUBCASE(name_of(kind)) {
            World w(kind);
            REQUIRE(w.engine->check_send(acme, w.ada, MessageKind::utility_template).allowed());
            // Ada once opted out and came back: both events are history to keep.
            REQUIRE(w.engine->on_inbound(InboundMessage{acme, w.ada, "STOP"}).has_value());
            REQUIRE(w.engine->on_inbound(InboundMessage{acme, w.ada, "START"}).has_value());
            REQUIRE(w.engine->check_send(acme, w.ada, MessageKind::utility_template).allowed());

            auto erased = w.rights->erase(w.manager_north, acme, ContactId{"c-ada"}, "req-7");
            REQUIRE_MESSAGE(erased.has_value(), (erased ? "" : erased.error().message()));
            REQUIRE(erased->allowed());
            CHECK(erased->value->messages == 2);
            CHECK(erased->value->number.optout_events == 3);  // STOP, START and the erasure's own
            CHECK(erased->value->number.consent_records == 1);
            CHECK(erased->value->number.inbound_activity);
            CHECK_FALSE(erased->value->number_shared);
            CHECK(erased->value->scrubbed);

            storage::StoreSet& s = w.store();
            CHECK_FALSE(s.contacts().get(acme, ContactId{"c-ada"}).value().has_value());
            CHECK_FALSE(s.contacts().find_by_phone(acme, w.ada).value().has_value());
            CHECK(s.messages().list_for_contact(acme, ContactId{"c-ada"}, 100).value().empty());
            CHECK(s.optouts().history(acme, w.ada).value().empty());
            CHECK(s.consents().records(acme, w.ada).value().empty());
            CHECK_FALSE(s.activity().last_inbound(acme, w.ada).value().has_value());
            std::vector<optout::ErasedOptOutEvent> kept;
            REQUIRE(s.optouts().scan_erased(acme, [&](const optout::ErasedOptOutEvent& e) { kept.push_back(e); }).has_value());
            REQUIRE(kept.size() == 3);
            CHECK(kept[0].trigger == "STOP");
            CHECK(kept[1].trigger == "START");
            CHECK(kept[2].channel == "erasure");
            CHECK(kept[2].at == w.clock.now());
            for (const auto& k : kept) CHECK(k.tag == w.engine_index.phone(acme, w.ada).value());
            // Grace is untouched.
            CHECK(s.messages().list_for_contact(acme, ContactId{"c-grace"}, 10).value().size() == 1);
            CHECK(w.engine->check_send(acme, w.grace, MessageKind::utility_template).allowed());

            auto refused_everything = [&] {
                for (MessageKind k : {MessageKind::free_form, MessageKind::marketing_template,
                                      MessageKind::utility_template, MessageKind::authentication_template,
                                      MessageKind::optout_confirmation})
                    CHECK_FALSE(w.engine->check_send(acme, w.ada, k).allowed());
                CHECK(w.engine->check_send(acme, w.ada, MessageKind::utility_template).reason() == Reason::opted_out);
                const PhoneNumber audience[] = {w.ada, w.grace};
                const auto result = w.engine->filter_audience(acme, audience, MessageKind::utility_template);
                CHECK(result.sendable == std::vector<std::size_t>{1});
                CHECK(result.opted_out == 1);
            };
            refused_everything();

            // The audit entry names the contact and the request, no value.
            const auto audited = w.entries("privacy.erase");
            REQUIRE(audited.size() == 1);
            CHECK(audited[0].target_id == "c-ada");
            CHECK(audited[0].request_id == "req-7");
            CHECK(audited[0].actor.user == w.manager_north.user);

            if (w.backend.sqlite()) {
                SUBCASE("the files hold no trace of the number, the name or the messages") {
                    const std::string path = w.backend.db.str();
                    const std::string bytes = file_bytes(path) + file_bytes(path + "-wal");
                    std::vector<std::string> found;
                    auto look = [&](const std::string& needle, const std::string& what) {
                        if (bytes.find(needle) != std::string::npos) found.push_back(what);
                    };
                    const char* forms[] = {"E.164", "wa_id digits", "8-byte big-endian key", "6-byte big-endian key",
                                           "8-byte little-endian key"};
                    const auto numbers = number_forms(w.ada);
                    for (std::size_t i = 0; i < numbers.size(); ++i) look(numbers[i], forms[i]);
                    look("Ada Lovelace", "name");
                    look("ada@example.com", "email");
                    look("still\"\" available", "inbound body");
                    look("still\" available", "inbound body");
                    look("evil.example", "outbound body");
                    if (w.backend.kind == Kind::sqlite_encrypted) {
                        const auto store_tag = w.backend.store_index.phone(acme, w.ada).value();
                        look(std::string(store_tag.begin(), store_tag.end()), "the store's blind-index tag");
                    }
                    CHECK(found == std::vector<std::string>{});
                    if (w.backend.kind == Kind::sqlite) {
                        // The same look finds Grace, who was not erased: the check can fail.
                        CHECK(bytes.find("Grace Hopper") != std::string::npos);
                        CHECK(bytes.find(w.grace.e164()) != std::string::npos);
                    }
                }
                SUBCASE("after a restart the number is still refused, from the tag") {
                    w.restart();
                    refused_everything();
                    // It may come back: START re-subscribes it (recorded under the number again).
                    REQUIRE(w.engine->on_inbound(InboundMessage{acme, w.ada, "START"}).has_value());
                    CHECK(w.engine->check_send(acme, w.ada, MessageKind::utility_template).allowed());
                    w.restart();
                    CHECK(w.engine->check_send(acme, w.ada, MessageKind::utility_template).allowed());
                }
                SUBCASE("an engine without the blind index refuses every send of the tenant (fails closed)") {
                    w.register_.reset();
                    w.rights.reset();
                    w.engine.reset();
                    Engine blind(w.store(), w.clock, EngineOptions{});
                    const auto d = blind.check_send(acme, w.grace, MessageKind::utility_template);
                    CHECK(d.reason() == Reason::store_unavailable);
                }
            }
        }
    }
}

TEST_CASE("a legal hold blocks erasure with a clear reason, and the refusal is audited") {
    World w(Kind::sqlite);
    auto c = w.store().contacts().get(acme, ContactId{"c-ada"}).value().value();
    c.legal_hold = true;
    REQUIRE(w.store().contacts().put(c).has_value());
    auto held = w.rights->erase(w.admin, acme, ContactId{"c-ada"});
    REQUIRE_FALSE(held.has_value());
    CHECK(held.error() == privacy::PrivacyErrc::legal_hold);
    CHECK(held.error().detail().find("legal hold") != std::string::npos);
    const auto audited = w.entries("privacy.erase");
    REQUIRE(audited.size() == 1);
    CHECK(audited[0].outcome == Reason::legal_hold);
    CHECK(audited[0].rule == "privacy.legal_hold");
    CHECK(w.store().contacts().get(acme, ContactId{"c-ada"}).value().has_value());
    CHECK(w.store().messages().list_for_contact(acme, ContactId{"c-ada"}, 10).value().size() == 2);
    CHECK(w.engine->check_send(acme, w.ada, MessageKind::utility_template).allowed());
}

namespace {

/// A store set that keeps no accounts (a host's own database without them): everything else forwarded.
class NoAccounts final : public test_support::ForwardingStoreSet {
public:
    using ForwardingStoreSet::ForwardingStoreSet;
};

void hold_tenant(World& w, bool hold) {
    storage::AccountStore* accounts = w.store().accounts();
    REQUIRE(accounts != nullptr);
    storage::Account a{acme};
    a.opened_at = start_time - 1000h;
    a.legal_hold = hold;
    REQUIRE(accounts->put(a).has_value());
}

}  // namespace

TEST_CASE("a legal hold on the whole tenant blocks erasure, bulk delete and rectification with a clear reason") {
    for (Kind kind : all_kinds) {
        SUBCASE(name_of(kind)) {
            World w(kind);
            hold_tenant(w, true);
            auto opened = w.register_->open(w.admin, acme, privacy::RequestType::erasure, "contact:c-ada", std::nullopt,
                                            "T-9");
            REQUIRE(opened.has_value());
            REQUIRE(opened->allowed());

            auto erased = w.rights->erase(w.admin, acme, ContactId{"c-ada"}, "T-9");
            REQUIRE_FALSE(erased.has_value());
            CHECK(erased.error() == privacy::PrivacyErrc::legal_hold);
            CHECK(erased.error().detail().find("tenant 'acme' is under a legal hold") != std::string::npos);
            auto erase_entries = w.entries("privacy.erase");
            REQUIRE(erase_entries.size() == 1);
            CHECK(erase_entries[0].outcome == Reason::legal_hold);
            CHECK(erase_entries[0].rule == "privacy.legal_hold.tenant");
            CHECK(erase_entries[0].request_id == "T-9");
            CHECK(erase_entries[0].target_id == "c-ada");
            // The register records the refusal: the host closes the request with the reason given.
            auto closed = w.register_->close(w.admin, acme, "T-9", privacy::RequestStatus::refused);
            REQUIRE(closed.has_value());
            REQUIRE(closed->allowed());
            CHECK(closed->value->status == privacy::RequestStatus::refused);

            const ContactId both[] = {ContactId{"c-ada"}, ContactId{"c-grace"}};
            auto bulk = w.rights->bulk_delete(w.owner, acme, both, "T-10");
            REQUIRE_FALSE(bulk.has_value());
            CHECK(bulk.error() == privacy::PrivacyErrc::legal_hold);
            CHECK(bulk.error().detail().find("legal hold") != std::string::npos);
            auto bulk_entries = w.entries("privacy.bulk_delete");
            REQUIRE(bulk_entries.size() == 1);
            CHECK(bulk_entries[0].outcome == Reason::legal_hold);
            CHECK(bulk_entries[0].rule == "privacy.legal_hold.tenant");
            CHECK(w.entries("privacy.bulk_delete.lead").empty());

            privacy::Rectification change;
            change.name = "Ada King";
            auto rectified = w.rights->rectify(w.admin, acme, ContactId{"c-ada"}, change);
            REQUIRE_FALSE(rectified.has_value());
            CHECK(rectified.error() == privacy::PrivacyErrc::legal_hold);
            auto rectify_entries = w.entries("privacy.rectify");
            REQUIRE(rectify_entries.size() == 1);
            CHECK(rectify_entries[0].rule == "privacy.legal_hold.tenant");

            // Nothing changed.
            for (const char* id : {"c-ada", "c-grace"}) {
                auto c = w.store().contacts().get(acme, ContactId{id}).value();
                REQUIRE(c.has_value());
                CHECK_FALSE(c->deleted_at.has_value());
            }
            CHECK(w.store().contacts().get(acme, ContactId{"c-ada"}).value()->name == "Ada Lovelace");
            CHECK(w.store().messages().list_for_contact(acme, ContactId{"c-ada"}, 10).value().size() == 2);
            CHECK(w.store().consents().records(acme, w.ada).value().size() == 1);

            // Someone not allowed anyway is told so, not about the hold.
            auto by_sales = w.rights->erase(w.sales, acme, ContactId{"c-ada"});
            REQUIRE(by_sales.has_value());
            CHECK_FALSE(by_sales->allowed());

            // Lifted, the same erasure goes through.
            hold_tenant(w, false);
            auto after = w.rights->erase(w.admin, acme, ContactId{"c-ada"});
            REQUIRE(after.has_value());
            CHECK(after->allowed());
            CHECK_FALSE(w.store().contacts().get(acme, ContactId{"c-ada"}).value().has_value());
        }
    }
}

TEST_CASE("a legal hold on the contact blocks erasure and rectification; bulk delete keeps that lead") {
    for (Kind kind : all_kinds) {
        SUBCASE(name_of(kind)) {
            World w(kind);
            auto c = w.store().contacts().get(acme, ContactId{"c-ada"}).value().value();
            c.legal_hold = true;
            REQUIRE(w.store().contacts().put(c).has_value());
            auto erased = w.rights->erase(w.owner, acme, ContactId{"c-ada"}, "T-2");
            REQUIRE_FALSE(erased.has_value());
            CHECK(erased.error() == privacy::PrivacyErrc::legal_hold);
            CHECK(erased.error().detail().find("contact 'c-ada' is under a legal hold") != std::string::npos);
            privacy::Rectification change;
            change.email = "ada@elsewhere.example";
            auto rectified = w.rights->rectify(w.owner, acme, ContactId{"c-ada"}, change, "T-3");
            REQUIRE_FALSE(rectified.has_value());
            CHECK(rectified.error() == privacy::PrivacyErrc::legal_hold);
            for (const char* action : {"privacy.erase", "privacy.rectify"}) {
                CAPTURE(action);
                const auto entries = w.entries(action);
                REQUIRE(entries.size() == 1);
                CHECK(entries[0].outcome == Reason::legal_hold);
                CHECK(entries[0].rule == "privacy.legal_hold");
            }
            CHECK(w.store().contacts().get(acme, ContactId{"c-ada"}).value()->email == "ada@example.com");
            // Grace is not held: rectifying her goes through.
            auto grace = w.rights->rectify(w.owner, acme, ContactId{"c-grace"}, change);
            REQUIRE(grace.has_value());
            CHECK(grace->allowed());
        }
    }
}

TEST_CASE("without an account store a tenant hold cannot be ruled out, so erasure and bulk delete fail closed") {
    World w(Kind::memory);
    NoAccounts plain(w.store());
    w.start(nullptr, &plain);
    auto erased = w.rights->erase(w.admin, acme, ContactId{"c-ada"});
    REQUIRE_FALSE(erased.has_value());
    CHECK(erased.error() == storage::StorageErrc::unavailable);
    CHECK(erased.error().detail().find("cannot be ruled out") != std::string::npos);
    const ContactId one[] = {ContactId{"c-ada"}};
    auto bulk = w.rights->bulk_delete(w.admin, acme, one);
    REQUIRE_FALSE(bulk.has_value());
    CHECK(bulk.error() == storage::StorageErrc::unavailable);
    auto c = w.store().contacts().get(acme, ContactId{"c-ada"}).value();
    REQUIRE(c.has_value());
    CHECK_FALSE(c->deleted_at.has_value());
    CHECK(w.entries("privacy.erase").empty());
}

TEST_CASE("only the owner terminates the account; it is closed once, audited, and deleted 30 days later") {
    for (Kind kind : all_kinds) {
        SUBCASE(name_of(kind)) {
            World w(kind);
            for (const Principal* p : {&w.admin, &w.manager_north, &w.sales, &w.globex_admin}) {
                auto refused = w.rights->terminate_account(*p, acme, "T-1");
                REQUIRE(refused.has_value());
                CHECK_FALSE(refused->allowed());
            }
            auto before = w.store().accounts()->get(acme);
            REQUIRE(before.has_value());
            CHECK_FALSE((before->has_value() && (*before)->closed_at.has_value()));

            auto closed = w.rights->terminate_account(w.owner, acme, "T-1");
            REQUIRE(closed.has_value());
            REQUIRE(closed->allowed());
            CHECK(closed->value->closed_at == start_time);
            CHECK(closed->value->deletion_after == start_time + std::chrono::days(30));
            CHECK_FALSE(closed->value->already_closed);
            auto stored = w.store().accounts()->get(acme).value();
            REQUIRE(stored.has_value());
            CHECK(stored->closed_at == start_time);

            w.clock.advance(std::chrono::hours(5));
            auto again = w.rights->terminate_account(w.owner, acme);
            REQUIRE(again.has_value());
            REQUIRE(again->allowed());
            CHECK(again->value->already_closed);
            CHECK(again->value->closed_at == start_time);  // the first closure stands

            const auto audited = w.entries("privacy.terminate_account");
            REQUIRE(audited.size() == 6);
            for (std::size_t i = 0; i < 3; ++i) CHECK_FALSE(audited[i].allowed());
            CHECK(audited[3].outcome == Reason::cross_tenant);
            CHECK(audited[4].allowed());
            CHECK(audited[4].target_type == "account");
            CHECK(audited[4].request_id == "T-1");

            // The sweep deletes the leads only from the deletion date on.
            retention::RetentionStores& rs = kind == Kind::memory
                                                  ? static_cast<storage::MemoryStore&>(w.store()).retention()
                                                  : static_cast<storage::SqliteStore&>(w.store()).retention();
            auto sweeper =
                retention::Sweeper::create(retention::Policy::defaults(), rs, w.engine->audit(), w.clock).value();
            REQUIRE(sweeper.run(start_time + std::chrono::days(30) - 1s).has_value());
            CHECK(w.store().contacts().get(acme, ContactId{"c-ada"}).value().has_value());
            REQUIRE(sweeper.run(start_time + std::chrono::days(30)).has_value());
            CHECK_FALSE(w.store().contacts().get(acme, ContactId{"c-ada"}).value().has_value());
        }
    }
}

TEST_CASE("owners and admins place and lift legal holds, on the tenant or a contact; the holds block erasure") {
    World w(Kind::sqlite);
    // Nobody else may: a manager of Ada's own team, her sales user, another tenant.
    for (const Principal* p : {&w.manager_north, &w.sales, &w.globex_admin}) {
        auto tenant_hold = w.rights->set_tenant_legal_hold(*p, acme, true);
        REQUIRE(tenant_hold.has_value());
        CHECK_FALSE(tenant_hold->allowed());
        auto contact_hold = w.rights->set_legal_hold(*p, acme, ContactId{"c-ada"}, true);
        REQUIRE(contact_hold.has_value());
        CHECK_FALSE(contact_hold->allowed());
    }
    CHECK_FALSE(w.store().contacts().get(acme, ContactId{"c-ada"}).value()->legal_hold);

    auto placed = w.rights->set_legal_hold(w.admin, acme, ContactId{"c-ada"}, true, "LH-1");
    REQUIRE(placed.has_value());
    REQUIRE(placed->allowed());
    CHECK(*placed->value);
    CHECK_FALSE(*w.rights->set_legal_hold(w.admin, acme, ContactId{"c-ada"}, true)->value);  // already held
    auto erased = w.rights->erase(w.owner, acme, ContactId{"c-ada"});
    REQUIRE_FALSE(erased.has_value());
    CHECK(erased.error() == privacy::PrivacyErrc::legal_hold);
    auto lifted = w.rights->set_legal_hold(w.owner, acme, ContactId{"c-ada"}, false);
    REQUIRE(lifted.has_value());
    CHECK(*lifted->value);

    auto tenant_placed = w.rights->set_tenant_legal_hold(w.admin, acme, true, "LH-2");
    REQUIRE(tenant_placed.has_value());
    REQUIRE(tenant_placed->allowed());
    CHECK(*tenant_placed->value);
    CHECK(w.store().accounts()->get(acme).value()->legal_hold);
    erased = w.rights->erase(w.owner, acme, ContactId{"c-ada"});
    REQUIRE_FALSE(erased.has_value());
    CHECK(erased.error() == privacy::PrivacyErrc::legal_hold);
    REQUIRE(*w.rights->set_tenant_legal_hold(w.owner, acme, false)->value);
    erased = w.rights->erase(w.owner, acme, ContactId{"c-ada"});
    REQUIRE(erased.has_value());
    CHECK(erased->allowed());

    // Each attempt is in the trail, with the contact or the account as target and no value.
    const auto place = w.entries("privacy.legal_hold.place");
    const auto lift = w.entries("privacy.legal_hold.lift");
    CHECK(place.size() == 9);  // 6 refused, the contact twice, the tenant once
    CHECK(lift.size() == 2);
    std::size_t on_ada = 0;
    for (const auto& e : place)
        if (e.target_type == "contact" && e.target_id == "c-ada") ++on_ada;
    CHECK(on_ada == 5);
    CHECK(std::count_if(place.begin(), place.end(), [](const audit::Entry& e) { return e.request_id == "LH-2"; }) == 1);
}

TEST_CASE("without an account store, termination and tenant holds fail closed and record nothing") {
    World w(Kind::memory);
    NoAccounts plain(w.store());
    w.start(nullptr, &plain);
    auto closed = w.rights->terminate_account(w.owner, acme);
    REQUIRE_FALSE(closed.has_value());
    CHECK(closed.error() == storage::StorageErrc::unavailable);
    auto held = w.rights->set_tenant_legal_hold(w.owner, acme, true);
    REQUIRE_FALSE(held.has_value());
    CHECK(held.error() == storage::StorageErrc::unavailable);
    CHECK(w.entries("privacy.terminate_account").empty());
    CHECK(w.entries("privacy.legal_hold.place").empty());
}

TEST_CASE("erasure is refused to sales users, other teams' managers and other tenants, and audited") {
    World w(Kind::memory);
    for (const Principal* p : {&w.sales, &w.manager_south, &w.globex_admin}) {
        auto refused = w.rights->erase(*p, acme, ContactId{"c-ada"});
        REQUIRE(refused.has_value());
        CHECK_FALSE(refused->allowed());
    }
    CHECK(w.store().contacts().get(acme, ContactId{"c-ada"}).value().has_value());
    const auto audited = w.entries("privacy.erase");
    REQUIRE(audited.size() == 3);
    CHECK(audited[2].outcome == Reason::cross_tenant);
    for (const auto& e : audited) CHECK_FALSE(e.allowed());
    auto missing = w.rights->erase(w.admin, acme, ContactId{"c-nobody"});
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error() == privacy::PrivacyErrc::not_found);
}

TEST_CASE("whether a contact exists is told only to those who may act on any of the tenant's contacts") {
    World w(Kind::memory);
    // Each operation, on a contact that exists but is not the principal's, and on one that does
    // not exist: a sales user not assigned to Ada and the manager of another team must get the
    // same answer for both (a denial), never not_found or a validation error.
    privacy::Rectification bad_email;
    bad_email.email = "not an address";
    std::ostringstream sink;
    using Outcome = Result<bool>;  // allowed(), or the error
    auto each = [&](const Principal& by, const char* id) {
        const ContactId c{id};
        auto answer = [](const auto& r) -> Outcome {
            if (!r) return r.error();
            return r->allowed();
        };
        return std::vector<Outcome>{
            answer(w.rights->export_contact(by, acme, c, ExportFormat::json, sink)),
            answer(w.rights->rectify(by, acme, c, bad_email)),
            answer(w.rights->erase(by, acme, c)),
            answer(w.rights->restrict_processing(by, acme, c, true)),
            answer(w.rights->object(by, acme, c, privacy::Objection::analytics)),
            answer(w.rights->object(by, acme, c, privacy::Objection::marketing)),
            answer(w.rights->withdraw_objection(by, acme, c, privacy::Objection::analytics)),
        };
    };
    for (const Principal* p : {&w.other_sales, &w.manager_south}) {
        CAPTURE(p->user.value());
        const auto existing = each(*p, "c-ada");
        const auto missing = each(*p, "c-nobody");
        REQUIRE(existing.size() == missing.size());
        for (std::size_t i = 0; i < existing.size(); ++i) {
            CAPTURE(i);
            REQUIRE(existing[i].has_value());
            REQUIRE(missing[i].has_value());
            CHECK_FALSE(*existing[i]);
            CHECK_FALSE(*missing[i]);
        }
    }
    // Nothing changed for Ada, and each refusal on the missing id is in the trail.
    const auto ada_now = w.store().contacts().get(acme, ContactId{"c-ada"}).value();
    REQUIRE(ada_now.has_value());
    CHECK_FALSE(ada_now->restricted);
    CHECK(ada_now->email == "ada@example.com");
    std::size_t refused_on_missing = 0;
    for (const auto& e : w.trail())
        if (e.target_id == "c-nobody" && !e.allowed()) ++refused_on_missing;
    CHECK(refused_on_missing == 14);

    // The owner may act on any contact: it learns that there is none (and a bad value on Ada).
    for (const auto& answer : each(w.owner, "c-nobody")) {
        REQUIRE_FALSE(answer.has_value());
        CHECK(answer.error() == privacy::PrivacyErrc::not_found);
    }
    auto invalid = w.rights->rectify(w.owner, acme, ContactId{"c-ada"}, bad_email);
    REQUIRE_FALSE(invalid.has_value());
    CHECK(invalid.error() != privacy::PrivacyErrc::not_found);  // the schema's error: Ada exists
}

TEST_CASE("an erasure that failed half-way finishes when repeated") {
    // Fail at every possible call in turn; after healing, a second erasure completes it.
    for (long fail_after = 0; fail_after < 40; ++fail_after) {
        CAPTURE(fail_after);
        World w(Kind::memory);
        testing::FailingStore failing(w.store(), fail_after);
        w.start(nullptr, &failing);
        auto first = w.rights->erase(w.admin, acme, ContactId{"c-ada"});
        failing.heal();
        w.clock.advance(10s);  // past the engine's reload backoff
        if (!first.has_value()) {
            auto second = w.rights->erase(w.admin, acme, ContactId{"c-ada"});
            REQUIRE_MESSAGE(second.has_value(), (second ? "" : second.error().message()));
            CHECK(second->allowed());
        }
        CHECK_FALSE(w.store().contacts().get(acme, ContactId{"c-ada"}).value().has_value());
        CHECK(w.store().optouts().history(acme, w.ada).value().empty());
        CHECK(w.store().consents().records(acme, w.ada).value().empty());
        CHECK_FALSE(w.engine->check_send(acme, w.ada, MessageKind::utility_template).allowed());
        w.start();  // a fresh engine over the healed store: suppressed from the tag
        CHECK(w.engine->check_send(acme, w.ada, MessageKind::utility_template).reason() == Reason::opted_out);
    }
}

TEST_CASE("erasing one of two contacts that share a number keeps the number's records for the other") {
    World w(Kind::memory);
    storage::Contact twin{acme, ContactId{"c-ada-2"}, w.ada};
    twin.name = "Ada (work)";
    REQUIRE(w.store().contacts().put(twin).has_value());
    auto erased = w.rights->erase(w.admin, acme, ContactId{"c-ada"});
    REQUIRE(erased.has_value());
    REQUIRE(erased->allowed());
    CHECK(erased->value->number_shared);
    CHECK(erased->value->number.consent_records == 0);
    CHECK(w.store().consents().records(acme, w.ada).value().size() == 1);
    CHECK(w.store().contacts().find_by_phone(acme, w.ada).value()->id == ContactId{"c-ada-2"});
}

TEST_CASE("an engine cannot erase a number without a blind index") {
    World w(Kind::memory);
    w.register_.reset();
    w.rights.reset();
    w.engine.reset();
    Engine plain(w.store(), w.clock, EngineOptions{});
    privacy::Rights rights(plain, w.store(), w.clock);
    auto r = rights.erase(w.admin, acme, ContactId{"c-ada"});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == storage::StorageErrc::key_unavailable);
    // Nothing of the number was lost, and the contact is only hidden.
    CHECK(w.store().consents().records(acme, w.ada).value().size() == 1);
    CHECK(w.store().activity().last_inbound(acme, w.ada).value().has_value());
    CHECK(w.store().contacts().get(acme, ContactId{"c-ada"}).value().has_value());
}

// ---------------------------------------------------------------------------------------------
// Bulk delete, restriction, objection

TEST_CASE("bulk delete soft-deletes the leads except those on legal hold, for owners and admins only") {
    for (Kind kind : all_kinds) {
        SUBCASE(name_of(kind)) {
            World w(kind);
            auto g = w.store().contacts().get(acme, ContactId{"c-grace"}).value().value();
            g.legal_hold = true;
            REQUIRE(w.store().contacts().put(g).has_value());
            const ContactId ids[] = {ContactId{"c-ada"}, ContactId{"c-grace"}, ContactId{"c-nobody"}};
            for (const Principal* p : {&w.manager_north, &w.sales, &w.globex_admin}) {
                auto refused = w.rights->bulk_delete(*p, acme, ids);
                REQUIRE(refused.has_value());
                CHECK_FALSE(refused->allowed());
            }
            auto done = w.rights->bulk_delete(w.admin, acme, ids);
            REQUIRE(done.has_value());
            REQUIRE(done->allowed());
            CHECK(done->value->deleted == 1);
            CHECK(done->value->held == std::vector<ContactId>{ContactId{"c-grace"}});
            CHECK(done->value->missing == std::vector<ContactId>{ContactId{"c-nobody"}});
            CHECK(w.store().contacts().get(acme, ContactId{"c-ada"}).value()->deleted_at == w.clock.now());
            CHECK_FALSE(w.store().contacts().get(acme, ContactId{"c-grace"}).value()->deleted_at);
            auto again = w.rights->bulk_delete(w.owner, acme, ids);
            REQUIRE(again.has_value());
            CHECK(again->value->deleted == 0);
            CHECK(again->value->already_deleted == 1);

            CHECK(w.entries("privacy.bulk_delete").size() == 5);
            const auto per_lead = w.entries("privacy.bulk_delete.lead");
            REQUIRE(per_lead.size() == 3);  // Ada, Grace; then Grace again
            CHECK(per_lead[0].target_id == "c-ada");
            CHECK(per_lead[0].allowed());
            CHECK(per_lead[1].outcome == Reason::legal_hold);
        }
    }
}

TEST_CASE("restriction blocks every send and the tenant export until lifted; the subject's access goes on") {
    for (Kind kind : all_kinds) {
        SUBCASE(name_of(kind)) {
            World w(kind);
            auto on = w.rights->restrict_processing(w.sales, acme, ContactId{"c-ada"}, true);
            REQUIRE(on.has_value());
            REQUIRE(on->allowed());
            CHECK(*on->value);
            CHECK(w.engine->check_send(acme, w.ada, MessageKind::utility_template).reason() == Reason::restricted);
            CHECK(w.engine->check_send(acme, w.ada, MessageKind::free_form).reason() == Reason::restricted);
            auto twice = w.rights->restrict_processing(w.admin, acme, ContactId{"c-ada"}, true);
            REQUIRE(twice.has_value());
            CHECK_FALSE(*twice->value);
            std::ostringstream leads;
            auto exported = w.rights->export_leads_csv(w.admin, acme, leads);
            REQUIRE(exported.has_value());
            CHECK(exported->value->restricted_skipped == 1);
            CHECK(leads.str().find("c-ada") == std::string::npos);
            const std::string own = export_of(w, w.admin, ExportFormat::json);
            CHECK(nlohmann::json::parse(own)["contact"]["restricted"] == true);

            if (w.backend.sqlite()) {
                w.restart();
                CHECK(w.engine->check_send(acme, w.ada, MessageKind::utility_template).reason() == Reason::restricted);
            }
            auto denied = w.rights->restrict_processing(w.other_sales, acme, ContactId{"c-ada"}, false);
            REQUIRE(denied.has_value());
            CHECK_FALSE(denied->allowed());
            auto off = w.rights->restrict_processing(w.manager_north, acme, ContactId{"c-ada"}, false);
            REQUIRE(off.has_value());
            REQUIRE(off->allowed());
            CHECK(w.engine->check_send(acme, w.ada, MessageKind::utility_template).allowed());
            CHECK(w.entries("privacy.restrict").size() == 2);
            CHECK(w.entries("privacy.restrict.lift").size() == 2);
        }
    }
}

TEST_CASE("an objection to marketing is a marketing opt-out; one to analytics is a flag that can be withdrawn") {
    for (Kind kind : all_kinds) {
        SUBCASE(name_of(kind)) {
            World w(kind);
            REQUIRE(w.engine->check_send(acme, w.ada, MessageKind::marketing_template).allowed());
            auto marketing = w.rights->object(w.sales, acme, ContactId{"c-ada"}, privacy::Objection::marketing, "req-9");
            REQUIRE(marketing.has_value());
            REQUIRE(marketing->allowed());
            CHECK(w.engine->check_send(acme, w.ada, MessageKind::marketing_template).reason() ==
                  Reason::marketing_opted_out);
            CHECK(w.engine->check_send(acme, w.ada, MessageKind::utility_template).allowed());
            const auto history = w.store().optouts().history(acme, w.ada).value();
            REQUIRE(history.size() == 1);
            CHECK(history[0].scope == optout::Scope::marketing);
            CHECK(history[0].actor == w.sales.user);
            CHECK(w.entries("opt_out.manual").back().request_id == "req-9");
            auto lift = w.rights->withdraw_objection(w.admin, acme, ContactId{"c-ada"}, privacy::Objection::marketing);
            REQUIRE_FALSE(lift.has_value());
            CHECK(lift.error() == privacy::PrivacyErrc::not_objectable);

            auto analytics = w.rights->object(w.sales, acme, ContactId{"c-ada"}, privacy::Objection::analytics);
            REQUIRE(analytics.has_value());
            REQUIRE(analytics->allowed());
            CHECK(*analytics->value);
            CHECK(w.store().contacts().get(acme, ContactId{"c-ada"}).value()->analytics_objection);
            auto denied = w.rights->object(w.other_sales, acme, ContactId{"c-ada"}, privacy::Objection::analytics);
            REQUIRE(denied.has_value());
            CHECK_FALSE(denied->allowed());
            const std::string csv = export_of(w, w.admin, ExportFormat::csv);
            const LongForm f = long_form(csv);
            CHECK(f.at("processing_activities").at("analytics").at("objected") == "true");
            CHECK(f.at("processing_activities").at("marketing").at("objected") == "true");
            auto withdrawn = w.rights->withdraw_objection(w.admin, acme, ContactId{"c-ada"}, privacy::Objection::analytics);
            REQUIRE(withdrawn.has_value());
            CHECK(*withdrawn->value);
            CHECK_FALSE(w.store().contacts().get(acme, ContactId{"c-ada"}).value()->analytics_objection);
            CHECK(w.entries("privacy.object.analytics").size() == 2);
            CHECK(w.entries("privacy.object.analytics.withdraw").size() == 1);
        }
    }
}

TEST_CASE("every access export is authorized per role and audited, denials included") {
    World w(Kind::memory);
    struct Expect {
        const Principal* who;
        const char* contact;
        bool allowed;
    };
    const Expect cases[] = {
        {&w.owner, "c-ada", true},          {&w.admin, "c-grace", true},     {&w.manager_north, "c-ada", true},
        {&w.manager_north, "c-grace", false}, {&w.manager_south, "c-grace", true}, {&w.sales, "c-ada", false},
        {&w.globex_admin, "c-ada", false},
    };
    for (const Expect& e : cases) {
        CAPTURE(e.who->user.value());
        CAPTURE(e.contact);
        std::ostringstream out;
        auto r = w.rights->export_contact(*e.who, acme, ContactId{e.contact}, ExportFormat::json, out);
        REQUIRE(r.has_value());
        CHECK(r->allowed() == e.allowed);
        CHECK(out.str().empty() != e.allowed);
    }
    const auto audited = w.entries("privacy.access.json");
    REQUIRE(audited.size() == std::size(cases));
    CHECK(audited.back().outcome == Reason::cross_tenant);
    CHECK(audited[5].outcome == Reason::not_authorized);
    CHECK(audited[5].rule == "sales.no_bulk_delete_or_export");
    CHECK(w.trail(globex).empty());
}

// ---------------------------------------------------------------------------------------------
// Each processing path names its activity; objection and withdrawal checked against its basis

TEST_CASE("every processing path names an activity of the lawful basis register") {
    using privacy::Activity;
    using privacy::ProcessingPath;
    std::set<std::string_view> names;
    std::set<Activity> registered;
    for (const auto& row : privacy::lawful_basis_register()) registered.insert(row.activity);
    const auto paths = privacy::processing_paths();
    REQUIRE(paths.size() == 10);
    for (const auto& p : paths) {
        CAPTURE(p.name);
        CHECK(names.insert(p.name).second);
        CHECK(registered.count(p.activity) == 1);
        CHECK(privacy::activity_of(p.path) == p.activity);
        for (std::string_view prefix : p.audit_actions) CHECK(privacy::path_of_audit_action(prefix) == p.path);
        CHECK(p.audit_actions.empty() == (p.path == ProcessingPath::analytics_aggregation));
    }
    CHECK(privacy::activity_of(ProcessingPath::marketing_send) == Activity::marketing);
    CHECK(privacy::activity_of(ProcessingPath::service_send) == Activity::whatsapp_messaging);
    CHECK(privacy::activity_of(ProcessingPath::analytics_aggregation) == Activity::analytics);
    CHECK(privacy::activity_of(ProcessingPath::audit_logging) == Activity::audit_logging);
    CHECK(privacy::path_of(MessageKind::marketing_template) == ProcessingPath::marketing_send);
    for (MessageKind k : {MessageKind::free_form, MessageKind::utility_template, MessageKind::authentication_template,
                          MessageKind::optout_confirmation})
        CHECK(privacy::path_of(k) == ProcessingPath::service_send);
    CHECK(privacy::path_of_audit_action("send.marketing_template") == ProcessingPath::marketing_send);
    CHECK(privacy::path_of_audit_action("send.utility_template") == ProcessingPath::service_send);
    CHECK(privacy::path_of_audit_action("privacy.access.json") == ProcessingPath::data_export);
    CHECK(privacy::path_of_audit_action("privacy.erase") == ProcessingPath::lead_management);
    CHECK_FALSE(privacy::path_of_audit_action("host.something").has_value());
    // Exact names match only themselves; a prefix needs its dot.
    CHECK(privacy::path_of_audit_action("export") == ProcessingPath::data_export);
    CHECK(privacy::path_of_audit_action("send_campaign") == ProcessingPath::marketing_send);
    CHECK(privacy::path_of_audit_action("restriction.apply") == ProcessingPath::lead_management);
    CHECK_FALSE(privacy::path_of_audit_action("readme").has_value());
    CHECK_FALSE(privacy::path_of_audit_action("restriction.applyx").has_value());
    CHECK(privacy::activity_of(privacy::Objection::marketing) == Activity::marketing);
    CHECK(privacy::activity_of(privacy::Objection::analytics) == Activity::analytics);
}

TEST_CASE("every audit entry the library writes names its processing path, and so its activity") {
    World w(Kind::memory);
    auto& memory = dynamic_cast<storage::MemoryStore&>(w.store());
    // Each path, once: sends (by a member and by the system), consent, inbound STOP and START, a
    // manual opt-out, the rights, the register, exports, a sweep with an audit purge.
    w.clock.advance(1s);
    (void)w.engine->check_send(acme, w.admin, w.grace, MessageKind::utility_template);
    (void)w.engine->check_send(acme, w.admin, w.grace, MessageKind::marketing_template);
    (void)w.engine->check_system_send(acme, w.grace, MessageKind::free_form);
    REQUIRE(w.engine->record_consent(w.admin, {acme, w.grace, storage::Purpose::marketing, false, w.clock.now(), "phone", std::nullopt})
                .has_value());
    REQUIRE(w.engine->on_inbound(InboundMessage{acme, w.ada, "STOP"}).has_value());
    REQUIRE(w.engine->on_inbound(InboundMessage{acme, w.ada, "START"}).has_value());
    REQUIRE(w.engine->opt_out_manually(acme, w.admin, w.grace).has_value());
    privacy::Rectification change;
    change.name = "Grace B. Hopper";
    REQUIRE(w.rights->rectify(w.admin, acme, ContactId{"c-grace"}, change).has_value());
    REQUIRE(w.rights->restrict_processing(w.admin, acme, ContactId{"c-grace"}, true).has_value());
    REQUIRE(w.rights->object(w.admin, acme, ContactId{"c-grace"}, privacy::Objection::analytics).has_value());
    REQUIRE(w.rights->withdraw_objection(w.admin, acme, ContactId{"c-grace"}, privacy::Objection::analytics).has_value());
    // The engine's own restriction, and the host's authorized actions (one of each rbac::Action).
    REQUIRE(w.engine->restrict_processing(acme, w.admin, ContactId{"c-grace"}, true).has_value());
    REQUIRE(w.engine->restrict_processing(acme, w.admin, ContactId{"c-grace"}, false).has_value());
    for (rbac::Action a : rbac::all_actions)
        REQUIRE(w.engine->authorize(w.admin, a, rbac::Resource{rbac::ResourceType::contact, acme, "c-grace"}).has_value());
    std::ostringstream out;
    REQUIRE(w.rights->export_contact(w.admin, acme, ContactId{"c-ada"}, ExportFormat::json, out).has_value());
    REQUIRE(w.rights->export_leads_csv(w.admin, acme, out).has_value());
    REQUIRE(w.register_->open(w.admin, acme, privacy::RequestType::erasure, "contact:c-ada", std::nullopt, "T-1").has_value());
    REQUIRE(w.rights->erase(w.admin, acme, ContactId{"c-ada"}, "T-1").has_value());
    REQUIRE(w.register_->close(w.admin, acme, "T-1", privacy::RequestStatus::completed).has_value());
    const ContactId grace[] = {ContactId{"c-grace"}};
    REQUIRE(w.rights->bulk_delete(w.admin, acme, grace).has_value());
    std::set<std::string> actions;
    const auto collect = [&] {
        for (const audit::Entry& e : w.trail()) actions.insert(e.action);
    };
    collect();
    // A sweep 400 days on: the lead goes (folded into aggregates), the old audit entries are purged.
    w.clock.advance(std::chrono::days{400});
    auto sweeper = retention::Sweeper::create(retention::Policy::defaults(), memory.retention(), w.engine->audit(), w.clock);
    REQUIRE(sweeper.has_value());
    auto swept = sweeper->run(w.clock.now());
    REQUIRE(swept.has_value());
    CHECK(swept->total(retention::Category::lead).hard_deleted == 1);
    CHECK_FALSE(memory.retention().aggregates().list(acme, std::chrono::sys_days{}, std::chrono::sys_days{std::chrono::days{100'000}})
                    .value()
                    .empty());

    collect();
    std::set<privacy::ProcessingPath> seen{privacy::ProcessingPath::analytics_aggregation};  // checked just above
    for (const std::string& action : actions) {
        const auto path = privacy::path_of_audit_action(action);
        CHECK_MESSAGE(path.has_value(), "no processing path for audit action " << action);
        if (path) seen.insert(*path);
    }
    CHECK(actions.count("audit.purge") == 1);
    CHECK(actions.count("retention.sweep") == 1);
    CHECK(actions.count("restriction.apply") == 1);
    CHECK(actions.count("restriction.lift") == 1);
    for (rbac::Action a : rbac::all_actions) CHECK(actions.count(std::string(rbac::to_string(a))) == 1);
    // Every path of the library was exercised, and each named a registered activity.
    CHECK(seen.size() == privacy::processing_paths().size());
}

TEST_CASE("objection and consent withdrawal stop exactly the activities the register opens to them") {
    using privacy::Activity;
    using privacy::Stop;
    for (const auto& row : privacy::lawful_basis_register()) {
        CAPTURE(privacy::to_string(row.activity));
        const privacy::SubjectChoices objected_to_all{true, true, true};
        const privacy::SubjectChoices no_consent{false, false, false};
        const Stop on_objection = privacy::stopped_by(row.activity, objected_to_all);
        const bool objection_reachable = row.activity == Activity::marketing || row.activity == Activity::analytics;
        CHECK((on_objection == Stop::objection) == (row.objectable && objection_reachable));
        CHECK((privacy::stopped_by(row.activity, no_consent) == Stop::no_consent) == row.stops_on_withdrawal);
        if (row.basis == privacy::LegalBasis::contract) {
            CHECK(on_objection == Stop::none);  // contractual processing goes on whatever is objected
            CHECK(privacy::stopped_by(row.activity, no_consent) == Stop::none);
        }
    }
    // Through the gate: an objection to marketing stops marketing sends, not service ones; a
    // withdrawal of consent stops marketing; an objection to analytics stops no send.
    World w(Kind::memory);
    REQUIRE(w.rights->object(w.admin, acme, ContactId{"c-grace"}, privacy::Objection::analytics).has_value());
    CHECK(w.engine->check_send(acme, w.grace, MessageKind::marketing_template).allowed());
    REQUIRE(w.engine->record_consent(w.admin, {acme, w.grace, storage::Purpose::marketing, false, w.clock.now(), "phone", std::nullopt})
                .has_value());
    CHECK(w.engine->check_send(acme, w.grace, MessageKind::marketing_template).reason() == Reason::no_consent);
    CHECK(w.engine->check_send(acme, w.grace, MessageKind::utility_template).allowed());
    REQUIRE(w.rights->object(w.admin, acme, ContactId{"c-ada"}, privacy::Objection::marketing).has_value());
    CHECK(w.engine->check_send(acme, w.ada, MessageKind::marketing_template).reason() == Reason::marketing_opted_out);
    CHECK(w.engine->check_send(acme, w.ada, MessageKind::utility_template).allowed());
}
