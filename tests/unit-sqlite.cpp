// SQLite-specific behaviour of SqliteStore: persistence, refusing foreign or newer files without
// touching them, WAL, foreign keys, read-only mode, several connections, and no SQL built from
// values (checked in the adapters' source and, at run time, in the SQL the store actually runs). The behaviour every store shares is in the conformance suite (tests/conformance/).
#include <doctest/doctest.h>

#include "support/completions.hpp"
#include "support/raw_db.hpp"
#include "support/temp_db.hpp"

#include <heroshhi/audit/log.hpp>
#include <heroshhi/core/clock.hpp>
#include <heroshhi/storage/errors.hpp>
#include <heroshhi/storage/sqlite_store.hpp>

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <future>
#include <algorithm>
#include <iterator>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <span>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace heroshhi;
using namespace heroshhi::storage;
namespace fs = std::filesystem;

namespace {

const TenantId tenant{"tenant-a"};
const Timestamp t0 = from_unix_ms(1'764'000'000'000);

PhoneNumber phone(std::string_view e164) { return PhoneNumber::parse(e164).value(); }

using test_support::TempDb;

std::string file_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    REQUIRE(in.good());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << bytes;
    REQUIRE(out.good());
}

using test_support::RawDb;

std::unique_ptr<SqliteStore> open_store(const std::string& path, SqliteOptions options = {}) {
    auto store = SqliteStore::open(path, options);
    REQUIRE_MESSAGE(store.has_value(), (store ? std::string() : store.error().message()));
    return std::move(store).value();
}

Contact contact(std::string id, std::string_view number) {
    Contact c(tenant, ContactId{std::move(id)}, phone(number));
    c.name = "Ada Lovelace";
    c.source = "whatsapp";
    c.created_at = c.updated_at = t0;
    return c;
}

MessageRecord message(std::string id, std::string contact_id, std::string body) {
    MessageRecord m;
    m.tenant = tenant;
    m.id = MessageId{std::move(id)};
    m.contact = ContactId{std::move(contact_id)};
    m.body = std::move(body);
    m.created_at = m.updated_at = t0;
    return m;
}

optout::OptOutEvent stop_event(std::string_view number, std::string provider_id) {
    optout::OptOutEvent event(tenant, phone(number));
    event.at = t0;
    event.trigger = "STOP";
    event.provider_message_id = std::move(provider_id);
    return event;
}

/// Makes a file a heroshhi database of the current schema, then closes it.
void make_heroshhi_db(const std::string& path) {
    auto store = open_store(path);
    REQUIRE(store->contacts().put(contact("c1", "+14155550101")).has_value());
}

/// The store's source: tests/data/../../src/storage/sqlite_store.cpp, resolved lexically.
fs::path store_source() {
    return fs::path(HEROSHHI_TEST_DATA_DIR).parent_path().parent_path() / "src" / "storage" / "sqlite_store.cpp";
}

/// Splits C++ source into rough statements (at ';'), with // comments removed, and returns those
/// that put an SQL keyword in a string literal and also build a string at run time.
std::vector<std::string> statements_building_sql(const std::string& source) {
    static const std::regex line_comment(R"(//[^\n]*)");
    static const std::regex string_literal(R"("(?:[^"\\\n]|\\.)*")");
    static const std::regex sql_keyword(R"(\b(SELECT|INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|PRAGMA|WHERE|VALUES|FROM|SET|LIMIT|ORDER BY)\b)");
    static const std::regex building(
        R"("\s*\+|\+\s*"|\+=|\bto_string\s*\(|\bformat\s*\(|\bappend\s*\(|printf\s*\(|<<|\bstrcat\s*\()");
    const std::string code = std::regex_replace(source, line_comment, "");
    std::vector<std::string> offending;
    std::istringstream in(code);
    std::string statement;
    while (std::getline(in, statement, ';')) {
        bool sql_in_literal = false;
        for (auto it = std::sregex_iterator(statement.begin(), statement.end(), string_literal);
             it != std::sregex_iterator(); ++it)
            if (std::regex_search(it->str(), sql_keyword)) sql_in_literal = true;
        if (sql_in_literal && std::regex_search(statement, building)) offending.push_back(statement);
    }
    return offending;
}

/// Every .cpp of the storage adapters (src/storage/), so a new adapter file is checked too.
std::vector<fs::path> storage_sources() {
    std::vector<fs::path> out;
    for (const auto& entry : fs::directory_iterator(store_source().parent_path()))
        if (entry.path().extension() == ".cpp") out.push_back(entry.path());
    std::sort(out.begin(), out.end());
    return out;
}

/// What statements_building_sql cannot see, because it looks at one statement at a time:
///   - a string variable that receives an SQL literal in one statement and has text added to it
///     in another (`std::string q = "SELECT ... id = '"; q += id;`);
///   - SQL handed to sqlite3_prepare*/sqlite3_exec/PQexec*/PQprepare from a std::string's buffer
///     (`.c_str()` / `.data()`): the shipped adapters pass `const char*` constants only;
///   - string formatting into SQL through streams, fmt/std::format or sqlite3_*printf.
std::vector<std::string> sql_assembled_across_statements(const std::string& source) {
    static const std::regex line_comment(R"(//[^\n]*)");
    static const std::regex sql_literal(
        R"(\b(SELECT|INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|PRAGMA|WHERE|VALUES|FROM|SET|LIMIT|ORDER BY)\b)");
    static const std::regex assigned(R"(\b([A-Za-z_]\w*)\s*(?:=|\{|\()\s*(?:std::string\s*\(\s*)?"([^"\\\n]|\\.)*")");
    static const std::regex prepare_from_buffer(
        R"(\b(sqlite3_prepare\w*|sqlite3_exec|PQexec\w*|PQprepare|PQsendQuery\w*)\s*\([^;]*?\.(c_str|data)\s*\(\s*\))");
    static const std::regex formatting(R"(\bsqlite3_v?s?n?mprintf\b|\bsqlite3_str_appendf\b|\bstd::format\s*\(|\bfmt::format\s*\()");
    const std::string code = std::regex_replace(source, line_comment, "");
    std::vector<std::string> offending;
    std::set<std::string> sql_variables;
    std::istringstream in(code);
    std::string statement;
    while (std::getline(in, statement, ';')) {
        for (auto it = std::sregex_iterator(statement.begin(), statement.end(), assigned); it != std::sregex_iterator(); ++it)
            if (std::regex_search(it->str(), sql_literal)) sql_variables.insert((*it)[1].str());
        for (const std::string& v : sql_variables) {
            const std::regex grows("\\b" + v + R"(\s*(\+=|\.append\s*\(|\.insert\s*\(|\.push_back\s*\(|=\s*)" + v +
                                   R"(\s*\+|<<))");
            if (std::regex_search(statement, grows)) offending.push_back(statement);
        }
        if (std::regex_search(statement, prepare_from_buffer) || std::regex_search(statement, formatting))
            offending.push_back(statement);
    }
    return offending;
}

/// Records the text of every SQL statement any SQLite connection in this process runs, as it
/// was prepared (sqlite3_sql: placeholders, not bound values). Installed on each new connection
/// through sqlite3_auto_extension, so it sees the store's own connections without touching them.
class SqlRecorder {
public:
    SqlRecorder() {
        instance() = this;
        sqlite3_auto_extension(reinterpret_cast<void (*)(void)>(&SqlRecorder::on_open));
    }
    ~SqlRecorder() {
        sqlite3_cancel_auto_extension(reinterpret_cast<void (*)(void)>(&SqlRecorder::on_open));
        instance() = nullptr;
    }
    SqlRecorder(const SqlRecorder&) = delete;
    SqlRecorder& operator=(const SqlRecorder&) = delete;

    /// The distinct statements recorded so far; clears the record.
    std::set<std::string> take() {
        std::lock_guard lock(mutex_);
        return std::exchange(statements_, {});
    }

private:
    static SqlRecorder*& instance() {
        static SqlRecorder* current = nullptr;
        return current;
    }
    static int on_open(sqlite3* db, const char**, const void*) {
        sqlite3_trace_v2(db, SQLITE_TRACE_STMT, &SqlRecorder::on_statement, nullptr);
        return SQLITE_OK;
    }
    static int on_statement(unsigned, void*, void* stmt, void*) {
        SqlRecorder* self = instance();
        const char* sql = sqlite3_sql(static_cast<sqlite3_stmt*>(stmt));
        if (self != nullptr && sql != nullptr) {
            std::lock_guard lock(self->mutex_);
            self->statements_.insert(sql);
        }
        return 0;
    }

    std::mutex mutex_;
    std::set<std::string> statements_;
};

/// Values that must never show up in SQL text: injection payloads and distinctive markers, in
/// every field a store writes. `n` makes two different sets.
struct Canaries {
    explicit Canaries(int n)
        : tenant("tnt-Q7x" + std::to_string(n) + "'--"),
          contact("cid-K9" + std::to_string(n) + "'); DROP TABLE contacts;--"),
          name("Robert" + std::to_string(n) + "'); DROP TABLE contacts;--"),
          email("e" + std::to_string(n) + "@x.org' OR '1'='1"),
          source("src-W3x" + std::to_string(n)),
          team("team-\"V5" + std::to_string(n)),
          user("usr-J2k" + std::to_string(n) + "'"),
          message("msg-N1" + std::to_string(n) + "\\'"),
          body("body-M4q" + std::to_string(n) + "' OR '1'='1"),
          wamid("wamid.P8v" + std::to_string(n) + "\""),
          consent_source("csrc-H6n" + std::to_string(n)),
          dedup_key("dk-R5t" + std::to_string(n) + "';--"),
          phone(PhoneNumber::parse("+1415555" + std::to_string(7300 + n)).value()),
          at(from_unix_ms(1'764'000'123'457 + n)) {}

    std::vector<std::string> markers() const {
        return {tenant.value(), contact, name, email, source, team, user, message, body, wamid, consent_source, dedup_key,
                phone.digits().substr(1), std::to_string(to_unix_ms(at))};
    }

    TenantId tenant;
    std::string contact, name, email, source, team, user, message, body, wamid, consent_source, dedup_key;
    PhoneNumber phone;
    Timestamp at;
};

/// Drives every port of a fresh SqliteStore with `c`'s values, checking they round-trip.
void exercise_store(const std::string& path, const Canaries& c) {
    auto store = open_store(path);
    Contact contact(c.tenant, ContactId{c.contact}, c.phone);
    contact.name = c.name;
    contact.email = c.email;
    contact.source = c.source;
    contact.team = c.team;
    contact.assignee = UserId{c.user};
    contact.created_at = contact.updated_at = c.at;
    REQUIRE(store->contacts().put(contact).has_value());
    auto got = store->contacts().get(c.tenant, ContactId{c.contact});
    REQUIRE(got);
    REQUIRE(got->has_value());
    CHECK((*got)->name == c.name);
    CHECK((*got)->email == c.email);
    auto by_phone = store->contacts().find_by_phone(c.tenant, c.phone);
    REQUIRE(by_phone);
    CHECK(by_phone->has_value());
    REQUIRE(store->contacts().list(c.tenant, Page{}).has_value());

    MessageRecord m;
    m.tenant = c.tenant;
    m.id = MessageId{c.message};
    m.contact = ContactId{c.contact};
    m.body = c.body;
    m.provider_message_id = c.wamid;
    m.created_at = m.updated_at = c.at;
    REQUIRE(store->messages().append(m).value());
    REQUIRE(store->messages().update_status(c.tenant, MessageId{c.message}, MessageStatus::read, c.at).value());
    auto msgs = store->messages().list_for_contact(c.tenant, ContactId{c.contact}, 10);
    REQUIRE(msgs);
    REQUIRE(msgs->size() == 1);
    CHECK((*msgs)[0].body == c.body);

    optout::OptOutEvent event(c.tenant, c.phone);
    event.at = c.at;
    event.trigger = c.body;
    event.actor = UserId{c.user};
    event.provider_message_id = c.wamid;
    REQUIRE(store->optouts().append(event).value());
    REQUIRE(store->optouts().history(c.tenant, c.phone).has_value());
    REQUIRE(store->optouts().scan(c.tenant, [](const optout::OptOutEvent&) {}).has_value());

    REQUIRE(store->consents().append({c.tenant, c.phone, Purpose::marketing, true, c.at, c.consent_source, UserId{c.user}}).has_value());
    REQUIRE(store->consents().latest(c.tenant, c.phone, Purpose::marketing).has_value());
    REQUIRE(store->activity().record_inbound(c.tenant, c.phone, c.at).has_value());
    REQUIRE(store->activity().last_inbound(c.tenant, c.phone).has_value());
    REQUIRE(store->activity().scan(c.tenant, [](const PhoneNumber&, Timestamp) {}).has_value());
    REQUIRE(store->dedup().remember(c.tenant, c.dedup_key, c.at).value());
    REQUIRE(store->contacts().soft_delete(c.tenant, ContactId{c.contact}, c.at).value());
    REQUIRE(store->contacts().hard_delete(c.tenant, ContactId{c.contact}).value());

    // The retention ports: accounts, journal, aggregates, and every target with every selection.
    auto& r = store->retention();
    Account account{c.tenant};
    account.opened_at = account.closed_at.emplace(c.at);
    REQUIRE(r.accounts().put(account).has_value());
    REQUIRE(r.accounts().get(c.tenant).has_value());
    REQUIRE(r.accounts().list(Page{}).has_value());
    // (An aggregate's event type and source are closed vocabularies: free text is refused.)
    const retention::DailyAggregate aggregate{c.tenant, std::chrono::floor<std::chrono::days>(c.at), "lead", "other", 1};
    REQUIRE(r.aggregates().add(std::span(&aggregate, 1)).has_value());
    REQUIRE(r.aggregates().list(c.tenant, aggregate.day, aggregate.day + std::chrono::days{1}).has_value());
    REQUIRE(r.journal().save(c.user, c.body).has_value());
    REQUIRE(r.journal().load(c.user).has_value());
    REQUIRE(r.journal().clear(c.user).has_value());
    REQUIRE(store->contacts().put(contact).has_value());
    REQUIRE(store->messages().append(m).value());
    for (const auto& binding : r.targets())
        for (auto selection : {retention::Selection::expired, retention::Selection::soft_deleted, retention::Selection::all}) {
            auto page = binding.target->candidates(c.tenant, selection, c.at, "", 10);
            REQUIRE(page.has_value());
            REQUIRE(binding.target->count(c.tenant, selection, c.at).has_value());
            std::vector<std::string> ids;
            for (const auto& row : page->rows) ids.push_back(row.id);
            const retention::Batch batch{c.tenant, selection, c.at, ids, c.at, c.user, c.body};
            REQUIRE(binding.target->soft_delete(batch).has_value());
            REQUIRE(binding.target->hard_delete(batch).has_value());
        }
    auto left = store->contacts().get(c.tenant, ContactId{c.contact});
    REQUIRE(left.has_value());
    CHECK_FALSE(left->has_value());  // soft-deleted by the expired step, then hard-deleted
}

}  // namespace

TEST_CASE("data survives closing and reopening the database") {
    TempDb db;
    const auto p = phone("+14155550101");
    std::int64_t first_sequence = 0;
    {
        auto store = open_store(db.str());
        Contact c = contact("c1", "+14155550101");
        c.assignee = UserId{"u-7"};
        c.deleted_at = t0 + std::chrono::hours(1);
        c.legal_hold = true;
        c.restricted = true;
        REQUIRE(store->contacts().put(c).has_value());
        REQUIRE(store->messages().append(message("m1", "c1", "hello")).value());
        auto event = stop_event("+14155550101", "wamid.1");
        REQUIRE(store->optouts().append(event).value());
        first_sequence = event.sequence;
        REQUIRE(store->consents().append({tenant, p, Purpose::marketing, true, t0, "web_form", UserId{"u-1"}}).has_value());
        REQUIRE(store->activity().record_inbound(tenant, p, t0 + std::chrono::minutes(3)).has_value());
        REQUIRE(store->dedup().remember(tenant, "wamid.1", t0).value());
    }
    auto store = open_store(db.str());
    auto got = store->contacts().get(tenant, ContactId{"c1"});
    REQUIRE(got);
    REQUIRE(got->has_value());
    CHECK((*got)->phone == p);
    CHECK((*got)->name == "Ada Lovelace");
    CHECK((*got)->assignee == UserId{"u-7"});
    CHECK((*got)->deleted_at == t0 + std::chrono::hours(1));
    CHECK((*got)->legal_hold);
    CHECK((*got)->restricted);
    auto msgs = store->messages().list_for_contact(tenant, ContactId{"c1"}, 10);
    REQUIRE(msgs);
    REQUIRE(msgs->size() == 1);
    CHECK((*msgs)[0].body == "hello");
    auto history = store->optouts().history(tenant, p);
    REQUIRE(history);
    REQUIRE(history->size() == 1);
    CHECK((*history)[0].sequence == first_sequence);
    CHECK((*history)[0].provider_message_id == "wamid.1");
    auto consent = store->consents().latest(tenant, p, Purpose::marketing);
    REQUIRE(consent);
    REQUIRE(consent->has_value());
    CHECK((*consent)->actor == UserId{"u-1"});
    auto inbound = store->activity().last_inbound(tenant, p);
    REQUIRE(inbound);
    CHECK(*inbound == std::optional<Timestamp>{t0 + std::chrono::minutes(3)});

    SUBCASE("de-duplication and sequences continue across the reopen") {
        auto again = store->dedup().remember(tenant, "wamid.1", t0);
        REQUIRE(again);
        CHECK_FALSE(*again);
        auto redelivered = stop_event("+14155550101", "wamid.1");
        auto dup = store->optouts().append(redelivered);
        REQUIRE(dup);
        CHECK_FALSE(*dup);
        auto next = stop_event("+14155550101", "wamid.2");
        REQUIRE(store->optouts().append(next).value());
        CHECK(next.sequence > first_sequence);
    }
}

TEST_CASE("a text file opened as a database fails with not_a_database and is left unchanged") {
    TempDb db;
    std::string text;
    for (int i = 0; i < 200; ++i) text += "Dear customer, this is line " + std::to_string(i) + " of a letter.\n";
    write_file(db.path(), text);

    SqliteOptions options;
    SUBCASE("read-write") { options.read_only = false; }
    SUBCASE("read-only") { options.read_only = true; }
    auto store = SqliteStore::open(db.str(), options);
    REQUIRE_FALSE(store);
    CHECK(store.error() == StorageErrc::not_a_database);
    CHECK(store.error().detail().find(db.str()) != std::string::npos);
    CHECK(file_bytes(db.path()) == text);
    CHECK_FALSE(fs::exists(db.str() + "-wal"));
}

TEST_CASE("a database of a newer schema fails with newer_schema and is left unchanged") {
    TempDb db;
    make_heroshhi_db(db.str());
    {
        RawDb raw(db.str());
        raw.exec("PRAGMA user_version = 99");
    }
    const std::string before = file_bytes(db.path());

    SqliteOptions options;
    SUBCASE("read-write") { options.read_only = false; }
    SUBCASE("read-only") { options.read_only = true; }
    auto store = SqliteStore::open(db.str(), options);
    REQUIRE_FALSE(store);
    CHECK(store.error() == StorageErrc::newer_schema);
    const std::string& detail = store.error().detail();
    CHECK(detail.find(db.str()) != std::string::npos);
    CHECK(detail.find("99") != std::string::npos);
    CHECK(detail.find(std::to_string(SqliteStore::schema_version)) != std::string::npos);
    CHECK(file_bytes(db.path()) == before);
    RawDb raw(db.str());
    CHECK(raw.query("PRAGMA user_version") == "99");
}

TEST_CASE("an SQLite database of another application fails with not_a_database and is left unchanged") {
    TempDb db;
    {
        RawDb raw(db.str());
        raw.exec("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)");
        raw.exec("INSERT INTO invoices (total) VALUES (12.5)");
        SUBCASE("with its own application id") { raw.exec("PRAGMA application_id = 42"); }
        SUBCASE("with its own schema version") { raw.exec("PRAGMA user_version = 1"); }
        SUBCASE("with tables and no markers at all") {}
    }
    const std::string before = file_bytes(db.path());
    auto store = SqliteStore::open(db.str());
    REQUIRE_FALSE(store);
    CHECK(store.error() == StorageErrc::not_a_database);
    CHECK(store.error().detail().find(db.str()) != std::string::npos);
    CHECK(file_bytes(db.path()) == before);
}

TEST_CASE("a new database is in WAL mode and marked with heroshhi's application id and schema version") {
    TempDb db;
    auto store = open_store(db.str());
    REQUIRE(store->dedup().remember(tenant, "k", t0).value());
    CHECK(fs::exists(db.str() + "-wal"));
    RawDb raw(db.str());
    CHECK(raw.query("PRAGMA journal_mode") == "wal");
    CHECK(raw.query("PRAGMA application_id") == std::to_string(0x48524F53));
    CHECK(raw.query("PRAGMA user_version") == std::to_string(SqliteStore::schema_version));
    // Every table and index is scoped by tenant first, except store_settings, which describes the
    // file itself (its encryption mode), and the retention sweep's journal: the sweep is the one
    // operation that walks every tenant (DESIGN.md, section 2).
    CHECK(raw.query("SELECT count(*) FROM pragma_table_list WHERE schema = 'main' AND name NOT LIKE 'sqlite_%'"
                    " AND name NOT IN ('store_settings', 'retention_sweeps')"
                    " AND name NOT IN (SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) c"
                    " WHERE m.type = 'table' AND c.name = 'tenant')") == "0");
    CHECK(raw.query("SELECT count(*) FROM sqlite_master WHERE name = 'retention_sweeps'") == "1");
    CHECK(raw.query("SELECT count(*) FROM sqlite_master m WHERE m.type = 'index'"
                    " AND (SELECT name FROM pragma_index_info(m.name) WHERE seqno = 0) <> 'tenant'") == "0");
}

TEST_CASE("hard delete removes the contact's messages through the foreign key") {
    TempDb db;
    auto store = open_store(db.str());
    REQUIRE(store->contacts().put(contact("c1", "+14155550101")).has_value());
    REQUIRE(store->contacts().put(contact("c2", "+14155550102")).has_value());
    REQUIRE(store->messages().append(message("m1", "c1", "one")).value());
    REQUIRE(store->messages().append(message("m2", "c1", "two")).value());
    REQUIRE(store->messages().append(message("m3", "c2", "three")).value());

    // Replacing a contact (put again) must not cascade: it is an update, not delete-and-insert.
    REQUIRE(store->contacts().put(contact("c1", "+14155550109")).has_value());
    RawDb raw(db.str());
    CHECK(raw.query("SELECT count(*) FROM messages WHERE contact_id = 'c1'") == "2");

    REQUIRE(store->contacts().hard_delete(tenant, ContactId{"c1"}).value());
    CHECK(raw.query("SELECT count(*) FROM messages WHERE contact_id = 'c1'") == "0");
    CHECK(raw.query("SELECT count(*) FROM messages WHERE contact_id = 'c2'") == "1");
    CHECK(raw.query("PRAGMA foreign_key_check") == "");

    auto orphan = store->messages().append(message("m9", "c1", "late"));
    REQUIRE_FALSE(orphan);
    CHECK(orphan.error() == StorageErrc::not_found);
}

TEST_CASE("a read-only store reads but refuses every write with read_only") {
    TempDb db;
    make_heroshhi_db(db.str());
    const std::string before = file_bytes(db.path());
    {
        SqliteOptions options;
        options.read_only = true;
        auto store = open_store(db.str(), options);
        auto got = store->contacts().get(tenant, ContactId{"c1"});
        REQUIRE(got);
        CHECK(got->has_value());

        auto put = store->contacts().put(contact("c2", "+14155550102"));
        REQUIRE_FALSE(put);
        CHECK(put.error() == StorageErrc::read_only);
        auto msg = store->messages().append(message("m1", "c1", "x"));
        REQUIRE_FALSE(msg);
        CHECK(msg.error() == StorageErrc::read_only);
        auto event = stop_event("+14155550101", "");
        auto appended = store->optouts().append(event);
        REQUIRE_FALSE(appended);
        CHECK(appended.error() == StorageErrc::read_only);
        auto removed = store->contacts().hard_delete(tenant, ContactId{"c1"});
        REQUIRE_FALSE(removed);
        CHECK(removed.error() == StorageErrc::read_only);
        auto seen = store->dedup().remember(tenant, "k", t0);
        REQUIRE_FALSE(seen);
        CHECK(seen.error() == StorageErrc::read_only);
        auto inbound = store->activity().record_inbound(tenant, phone("+14155550101"), t0);
        REQUIRE_FALSE(inbound);
        CHECK(inbound.error() == StorageErrc::read_only);
    }
    CHECK(file_bytes(db.path()) == before);

    SUBCASE("a missing file is not created") {
        TempDb missing;
        SqliteOptions options;
        options.read_only = true;
        auto store = SqliteStore::open(missing.str(), options);
        REQUIRE_FALSE(store);
        CHECK(store.error() == StorageErrc::unavailable);
        CHECK_FALSE(fs::exists(missing.path()));
    }
    SUBCASE("an empty file without a schema is refused, not migrated") {
        TempDb empty;
        write_file(empty.path(), "");
        SqliteOptions options;
        options.read_only = true;
        auto store = SqliteStore::open(empty.str(), options);
        REQUIRE_FALSE(store);
        CHECK(store.error() == StorageErrc::not_a_database);
        CHECK(fs::file_size(empty.path()) == 0);
    }
}

TEST_CASE("two stores on the same file write concurrently without losing a write") {
    TempDb db;
    SqliteOptions options;
    options.busy_timeout = std::chrono::seconds(20);
    auto first = open_store(db.str(), options);
    auto second = open_store(db.str(), options);
    constexpr int per_writer = 150;
    std::atomic<int> failures{0};
    std::atomic<int> fresh{0};
    auto writer = [&](SqliteStore& store, int which) {
        for (int i = 0; i < per_writer; ++i) {
            auto event = stop_event("+1415555" + std::to_string(1000 + which * per_writer + i),
                                    "wamid." + std::to_string(which) + "." + std::to_string(i));
            if (!store.optouts().append(event)) ++failures;
            auto d = store.dedup().remember(tenant, "shared-" + std::to_string(i), t0);
            if (!d) ++failures;
            else if (*d) ++fresh;
        }
    };
    std::thread a(writer, std::ref(*first), 0);
    std::thread b(writer, std::ref(*second), 1);
    a.join();
    b.join();
    CHECK(failures == 0);
    CHECK(fresh == per_writer);  // each shared key won by exactly one connection
    std::set<std::int64_t> sequences;
    std::int64_t previous = 0;
    bool ordered = true;
    REQUIRE(first->optouts()
                .scan(tenant,
                      [&](const optout::OptOutEvent& e) {
                          ordered = ordered && e.sequence > previous;
                          previous = e.sequence;
                          sequences.insert(e.sequence);
                      })
                .has_value());
    CHECK(ordered);
    CHECK(sequences.size() == std::size_t(2 * per_writer));
}

TEST_CASE("a write blocked by another connection's lock fails with unavailable after the busy timeout") {
    TempDb db;
    make_heroshhi_db(db.str());
    SqliteOptions options;
    options.busy_timeout = std::chrono::milliseconds(50);
    auto store = open_store(db.str(), options);
    RawDb raw(db.str());
    raw.exec("BEGIN IMMEDIATE");
    const auto started = std::chrono::steady_clock::now();
    auto put = store->contacts().put(contact("c2", "+14155550102"));
    const auto waited = std::chrono::steady_clock::now() - started;
    REQUIRE_FALSE(put);
    CHECK(put.error() == StorageErrc::unavailable);
    CHECK(put.error().detail().find("locked") != std::string::npos);
    CHECK(waited >= std::chrono::milliseconds(40));
    raw.exec("ROLLBACK");
    CHECK(store->contacts().put(contact("c2", "+14155550102")).has_value());
}

/// Commits recorded in the WAL file beside `db` so far: frames of the current WAL generation that
/// end a transaction (the frame header's "database size after commit" is not zero).
int wal_commits(const std::string& db) {
    const std::string wal = file_bytes(db + "-wal");
    auto u32 = [&](std::size_t at) {
        return std::uint32_t(std::uint8_t(wal[at])) << 24 | std::uint32_t(std::uint8_t(wal[at + 1])) << 16 |
               std::uint32_t(std::uint8_t(wal[at + 2])) << 8 | std::uint32_t(std::uint8_t(wal[at + 3]));
    };
    REQUIRE(wal.size() >= 32);
    const std::size_t page = u32(8);
    const std::uint32_t salt1 = u32(16), salt2 = u32(20);
    int commits = 0;
    for (std::size_t frame = 32; frame + 24 + page <= wal.size(); frame += 24 + page) {
        if (u32(frame + 8) != salt1 || u32(frame + 12) != salt2) break;  // left over from an older generation
        if (u32(frame + 4) != 0) ++commits;
    }
    return commits;
}

TEST_CASE("concurrent writes share commits, each returns only once its commit is on disk, and a failing one fails alone") {
    TempDb db;
    SqliteOptions options;
    options.busy_timeout = std::chrono::seconds(30);
    auto store = open_store(db.str(), options);
    REQUIRE(store->contacts().put(contact("c1", "+14155550101")).has_value());
    const int before = wal_commits(db.str());

    // Another connection holds the write lock: the first writer leads a commit that waits for it,
    // and every write arriving meanwhile queues behind that commit.
    RawDb raw(db.str());
    raw.exec("BEGIN IMMEDIATE");
    std::atomic<int> returned{0};
    std::vector<std::thread> writers;
    Result<void> leader = Error(StorageErrc::unavailable);
    writers.emplace_back([&] {
        leader = store->activity().record_inbound(tenant, phone("+14155550100"), t0);
        ++returned;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    constexpr int queued = 12;
    std::vector<Result<bool>> results(queued, Result<bool>(Error(StorageErrc::unavailable)));
    for (int i = 0; i < queued; ++i)
        writers.emplace_back([&, i] {
            if (i == queued / 2) {  // a message for a contact that does not exist
                results[std::size_t(i)] = store->messages().append(message("m-bad", "no-such-contact", "hello"));
            } else if (i % 3 == 0) {
                results[std::size_t(i)] = store->messages().append(message("m" + std::to_string(i), "c1", "hello"));
            } else {
                results[std::size_t(i)] = store->dedup().remember(tenant, "wamid." + std::to_string(i), t0);
            }
            ++returned;
        });
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    CHECK(returned == 0);  // nobody returns before the transaction holding its write is committed
    raw.exec("COMMIT");
    for (auto& w : writers) w.join();

    CHECK(leader.has_value());
    for (int i = 0; i < queued; ++i) {
        CAPTURE(i);
        if (i == queued / 2) {
            REQUIRE_FALSE(results[std::size_t(i)]);
            CHECK(results[std::size_t(i)].error() == StorageErrc::not_found);
        } else {
            REQUIRE(results[std::size_t(i)].has_value());
            CHECK(*results[std::size_t(i)]);  // stored, and new
        }
    }
    // Every successful write is stored; the failed one left nothing behind.
    auto listed = store->messages().list_for_contact(tenant, ContactId{"c1"}, 100);
    REQUIRE(listed.has_value());
    CHECK(listed->size() == std::size_t(3));  // i = 0, 3 and 9 (6 is the bad one)
    for (int i = 0; i < queued; ++i)
        if (i != queued / 2 && i % 3 != 0) CHECK_FALSE(store->dedup().remember(tenant, "wamid." + std::to_string(i), t0).value());
    RawDb check(db.str());
    CHECK(check.query("SELECT count(*) FROM messages WHERE id = 'm-bad'") == "0");
    CHECK(check.query("SELECT count(*) FROM inbound_activity") == "1");

    // 12 writes stored: one commit each would be 12 (a transaction that stored nothing writes no
    // frame); the queued ones shared commits.
    const int commits = wal_commits(db.str()) - before;
    CAPTURE(commits);
    CHECK(commits >= 2);
    CHECK(commits <= queued / 2);
}

TEST_CASE("when a shared commit cannot be made, every write in it fails and none is stored") {
    TempDb db;
    make_heroshhi_db(db.str());
    SqliteOptions options;
    options.busy_timeout = std::chrono::milliseconds(300);
    auto store = open_store(db.str(), options);
    RawDb raw(db.str());
    raw.exec("BEGIN IMMEDIATE");
    constexpr int writers_count = 6;
    std::vector<Result<bool>> results(writers_count, Result<bool>(true));
    std::vector<std::thread> writers;
    for (int i = 0; i < writers_count; ++i)
        writers.emplace_back([&, i] {
            results[std::size_t(i)] = store->dedup().remember(tenant, "wamid." + std::to_string(i), t0);
        });
    for (auto& w : writers) w.join();
    raw.exec("ROLLBACK");
    for (const auto& r : results) {
        REQUIRE_FALSE(r);
        CHECK(r.error() == StorageErrc::unavailable);
    }
    RawDb check(db.str());
    CHECK(check.query("SELECT count(*) FROM dedup_keys") == "0");
    // The store is usable again once the lock is gone.
    CHECK(store->dedup().remember(tenant, "wamid.0", t0).value());
}

// ---------------------------------------------------------------------------------------------
// Asynchronous inbound writes (ActivityStore::record_inbound_async)

namespace {

/// Counts the COMMITs the store's connections run (every connection opened while it lives, through
/// sqlite3_auto_extension like SqlRecorder): how many transactions the writes took.
class CommitCounter {
public:
    CommitCounter() {
        count() = 0;
        sqlite3_auto_extension(reinterpret_cast<void (*)(void)>(&CommitCounter::on_open));
    }
    ~CommitCounter() { sqlite3_cancel_auto_extension(reinterpret_cast<void (*)(void)>(&CommitCounter::on_open)); }
    CommitCounter(const CommitCounter&) = delete;
    CommitCounter& operator=(const CommitCounter&) = delete;
    int commits() const { return count().load(); }

private:
    static std::atomic<int>& count() {
        static std::atomic<int> n{0};
        return n;
    }
    static int on_open(sqlite3* db, const char**, const void*) {
        sqlite3_trace_v2(db, SQLITE_TRACE_STMT, &CommitCounter::on_statement, nullptr);
        return SQLITE_OK;
    }
    static int on_statement(unsigned, void*, void* stmt, void*) {
        const char* sql = sqlite3_sql(static_cast<sqlite3_stmt*>(stmt));
        if (sql != nullptr && std::string_view(sql) == "COMMIT") ++count();
        return 0;
    }
};

/// A distinct number per index: +1415555 followed by 1000 + i (i < 9000).
PhoneNumber numbered(std::size_t i) { return phone("+1415555" + std::to_string(1000 + i)); }

// A store that waits out a lock a test holds (for its writes to queue behind it), with one write
// made, so that its write-ahead log exists (wal_commits reads it).
std::unique_ptr<SqliteStore> open_waiting_store(const std::string& path) {
    SqliteOptions options;
    options.busy_timeout = std::chrono::seconds(30);
    auto store = open_store(path, options);
    REQUIRE(store->activity().record_inbound(tenant, phone("+14155550199"), t0).has_value());
    return store;
}

/// Every (phone, last inbound) of the tenant.
std::map<std::string, Timestamp> activity_of(SqliteStore& store) {
    std::map<std::string, Timestamp> out;
    REQUIRE(store.activity().scan(tenant, [&](const PhoneNumber& p, Timestamp at) { out[p.e164()] = at; }).has_value());
    return out;
}

}  // namespace

TEST_CASE("an asynchronous inbound write returns at once and completes, visible, once its commit is on disk") {
    TempDb db;
    make_heroshhi_db(db.str());
    SqliteOptions options;
    options.busy_timeout = std::chrono::seconds(30);
    auto store = open_store(db.str(), options);
    const auto ada = phone("+14155550100");

    // Another connection holds the write lock: the commit cannot be made yet.
    RawDb raw(db.str());
    raw.exec("BEGIN IMMEDIATE");
    test_support::Completions done(1);
    REQUIRE(store->activity().record_inbound_async(tenant, ada, t0, done.done(0)));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHECK(done.finished() == 0);  // nothing is reported before the commit
    raw.exec("COMMIT");
    REQUIRE(done.wait_all());
    CHECK(done.calls(0) == 1);
    CHECK(done.outcome(0).has_value());
    CHECK(done.thread(0) != std::this_thread::get_id());  // the store's committer ran it
    auto last = store->activity().last_inbound(tenant, ada);
    REQUIRE(last.has_value());
    CHECK(*last == std::optional<Timestamp>(t0));
    RawDb check(db.str());  // on disk, for another connection
    CHECK(check.query("SELECT count(*) FROM inbound_activity") == "1");

    SUBCASE("the time only moves forward") {
        test_support::Completions more(3);
        REQUIRE(store->activity().record_inbound_async(tenant, ada, t0 + std::chrono::hours(2), more.done(0)));
        REQUIRE(store->activity().record_inbound_async(tenant, ada, t0 + std::chrono::hours(1), more.done(1)));
        REQUIRE(more.wait_for(2));
        CHECK(more.outcome(0).has_value());
        CHECK(more.outcome(1).has_value());
        CHECK(store->activity().last_inbound(tenant, ada).value() == std::optional<Timestamp>(t0 + std::chrono::hours(2)));
        REQUIRE(store->activity().record_inbound_async(tenant, ada, t0 + std::chrono::hours(3), more.done(2)));
        REQUIRE(more.wait_all());
        CHECK(store->activity().last_inbound(tenant, ada).value() == std::optional<Timestamp>(t0 + std::chrono::hours(3)));
    }
    SUBCASE("a write the store refuses at once is reported before the call returns") {
        test_support::Completions refused(1);
        REQUIRE(store->activity().record_inbound_async(TenantId{""}, ada, t0, refused.done(0)));
        REQUIRE(refused.calls(0) == 1);
        REQUIRE_FALSE(refused.outcome(0));
        CHECK(refused.outcome(0).error() == StorageErrc::invalid_argument);
        CHECK(refused.thread(0) == std::this_thread::get_id());
    }
}

TEST_CASE("an asynchronous write to a read-only store is answered at once with read_only") {
    TempDb db;
    make_heroshhi_db(db.str());
    SqliteOptions options;
    options.read_only = true;
    auto store = open_store(db.str(), options);
    test_support::Completions done(1);
    REQUIRE(store->activity().record_inbound_async(tenant, phone("+14155550100"), t0, done.done(0)));
    REQUIRE(done.calls(0) == 1);
    REQUIRE_FALSE(done.outcome(0));
    CHECK(done.outcome(0).error() == StorageErrc::read_only);
}

TEST_CASE("asynchronous and blocking writes queued behind a commit share the next one, completed in queue order") {
    TempDb db;
    auto store = open_waiting_store(db.str());
    const int before = wal_commits(db.str());

    RawDb raw(db.str());
    raw.exec("BEGIN IMMEDIATE");
    constexpr std::size_t async_writes = 40;
    constexpr int blocking = 4;
    test_support::Completions done(async_writes + 1);
    // The first write's group waits for the lock; everything after it queues behind that commit.
    REQUIRE(store->activity().record_inbound_async(tenant, phone("+14155550100"), t0, done.done(async_writes)));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (std::size_t i = 0; i < async_writes; ++i)
        REQUIRE(store->activity().record_inbound_async(tenant, numbered(i), t0, done.done(i)));
    std::atomic<int> returned{0};
    std::vector<Result<void>> results(blocking, Result<void>(Error(StorageErrc::unavailable)));
    std::vector<std::thread> writers;
    for (int j = 0; j < blocking; ++j)
        writers.emplace_back([&, j] {
            results[std::size_t(j)] = store->activity().record_inbound(tenant, numbered(100 + std::size_t(j)), t0);
            ++returned;
        });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHECK(done.finished() == 0);
    CHECK(returned == 0);
    raw.exec("COMMIT");
    REQUIRE(done.wait_all());
    for (auto& w : writers) w.join();

    for (std::size_t i = 0; i <= async_writes; ++i) {
        CAPTURE(i);
        CHECK(done.calls(i) == 1);
        CHECK(done.outcome(i).has_value());
    }
    for (const auto& r : results) CHECK(r.has_value());
    std::vector<std::size_t> expected{async_writes};
    for (std::size_t i = 0; i < async_writes; ++i) expected.push_back(i);
    CHECK(done.order() == expected);
    CHECK(activity_of(*store).size() == 1 + 1 + async_writes + std::size_t(blocking));
    // The first write alone, then every write queued behind it in one transaction.
    CHECK(wal_commits(db.str()) - before == 2);
}

TEST_CASE("many threads mixing asynchronous and blocking writes: each completes once, every time is stored, commits are shared") {
    TempDb db;
    CommitCounter counter;
    SqliteOptions options;
    options.busy_timeout = std::chrono::seconds(30);
    auto store = open_store(db.str(), options);
    constexpr std::size_t threads = 8, per_thread = 500, writes = threads * per_thread;
    const auto shared = phone("+14155550001");  // every thread also moves this one forward
    test_support::Completions done(writes);
    std::atomic<int> async_taken{0};
    std::atomic<int> blocking_failures{0};
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            for (std::size_t i = 0; i < per_thread; ++i) {
                const std::size_t n = t * per_thread + i;
                const Timestamp at = t0 + std::chrono::milliseconds(n);
                if (i % 2 == 0) {
                    if (store->activity().record_inbound_async(tenant, numbered(n), at, done.done(n))) ++async_taken;
                } else if (!store->activity().record_inbound(tenant, numbered(n), at)) {
                    ++blocking_failures;
                }
                if (i % 50 == 0 && !store->activity().record_inbound(tenant, shared, at)) ++blocking_failures;
            }
        });
    for (auto& th : pool) th.join();
    const std::size_t async_writes = writes / 2;
    CHECK(async_taken == int(async_writes));
    REQUIRE(done.wait_for(async_writes));
    CHECK(blocking_failures == 0);
    const int commits = counter.commits();
    store.reset();  // drains; a completion run twice would show below
    for (std::size_t n = 0; n < writes; n += 2) {
        CAPTURE(n);
        CHECK(done.calls(n) == 1);
        CHECK(done.outcome(n).has_value());
    }
    auto reopened = open_store(db.str());
    const auto stored = activity_of(*reopened);
    CHECK(stored.size() == writes + 1);
    std::size_t right = 0;
    for (std::size_t n = 0; n < writes; ++n) {
        auto it = stored.find(numbered(n).e164());
        right += it != stored.end() && it->second == t0 + std::chrono::milliseconds(n);
    }
    CHECK(right == writes);
    const auto newest_shared = t0 + std::chrono::milliseconds((threads - 1) * per_thread + 450);
    CHECK(stored.at(shared.e164()) == newest_shared);
    // One commit per write would be about 4080; waiting writers and queued asynchronous ones share.
    MESSAGE("commits for " << writes + threads * per_thread / 50 << " writes: " << commits);
    CHECK(commits > 0);
    CHECK(std::size_t(commits) < writes / 2);
}

TEST_CASE("a store destroyed right after asynchronous writes were queued commits them and completes each once") {
    TempDb db;
    constexpr std::size_t threads = 4, per_thread = 750, writes = threads * per_thread;
    test_support::Completions done(writes);
    {
        auto store = open_store(db.str());
        std::atomic<std::size_t> taken{0};
        std::vector<std::thread> pool;
        for (std::size_t t = 0; t < threads; ++t)
            pool.emplace_back([&, t] {
                for (std::size_t i = 0; i < per_thread; ++i) {
                    const std::size_t n = t * per_thread + i;
                    taken += store->activity().record_inbound_async(tenant, numbered(n), t0, done.done(n)) ? 1 : 0;
                }
            });
        for (auto& th : pool) th.join();
        CHECK(taken == writes);
    }  // destroyed at once, most writes still queued
    CHECK(done.finished() == writes);  // the destructor ran every completion: nothing to wait for
    std::size_t once_and_ok = 0;
    for (std::size_t n = 0; n < writes; ++n) once_and_ok += done.calls(n) == 1 && done.outcome(n).has_value();
    CHECK(once_and_ok == writes);
    auto reopened = open_store(db.str());
    CHECK(activity_of(*reopened).size() == writes);
}

TEST_CASE("when the commit of asynchronous writes cannot be made, every completion gets the error and none is stored") {
    TempDb db;
    make_heroshhi_db(db.str());
    SqliteOptions options;
    options.busy_timeout = std::chrono::milliseconds(200);
    auto store = open_store(db.str(), options);
    RawDb raw(db.str());
    raw.exec("BEGIN IMMEDIATE");
    constexpr std::size_t writes = 12;
    test_support::Completions done(writes);
    for (std::size_t i = 0; i < writes; ++i)
        REQUIRE(store->activity().record_inbound_async(tenant, numbered(i), t0, done.done(i)));
    REQUIRE(done.wait_all());
    raw.exec("ROLLBACK");
    for (std::size_t i = 0; i < writes; ++i) {
        CAPTURE(i);
        CHECK(done.calls(i) == 1);
        REQUIRE_FALSE(done.outcome(i));
        CHECK(done.outcome(i).error() == StorageErrc::unavailable);
    }
    RawDb check(db.str());
    CHECK(check.query("SELECT count(*) FROM inbound_activity") == "0");
    // The lock is gone: the store writes again.
    test_support::Completions after(1);
    REQUIRE(store->activity().record_inbound_async(tenant, numbered(0), t0, after.done(0)));
    REQUIRE(after.wait_all());
    CHECK(after.outcome(0).has_value());
}

TEST_CASE("in a shared commit, an asynchronous write whose statement fails is refused alone; the others are stored") {
    // Asynchronous inbound writes run without a savepoint of their own (one statement each): this
    // shows that SQLite's backing out of the failed statement is enough.
    TempDb db;
    auto store = open_waiting_store(db.str());
    constexpr std::size_t writes = 10, refused = 5;
    RawDb raw(db.str());
    // The database refuses one number's row, as a constraint would.
    const std::string trigger = "CREATE TRIGGER refuse_one BEFORE INSERT ON inbound_activity WHEN NEW.phone_e164 = '" +
                                numbered(refused).e164() + "' BEGIN SELECT RAISE(ABORT, 'refused'); END";
    raw.exec(trigger.c_str());
    const int before = wal_commits(db.str());
    raw.exec("BEGIN IMMEDIATE");  // every write queues behind the lock, then shares one commit
    test_support::Completions done(writes);
    for (std::size_t i = 0; i < writes; ++i)
        REQUIRE(store->activity().record_inbound_async(tenant, numbered(i), t0 + std::chrono::minutes(i), done.done(i)));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    raw.exec("COMMIT");
    REQUIRE(done.wait_all());
    for (std::size_t i = 0; i < writes; ++i) {
        CAPTURE(i);
        CHECK(done.calls(i) == 1);
        CHECK(done.outcome(i).has_value() == (i != refused));
    }
    CHECK(wal_commits(db.str()) - before <= 2);  // the first write, perhaps alone, then the rest together
    const auto stored = activity_of(*store);
    CHECK(stored.size() == writes);  // the nine, and the number written before
    CHECK_FALSE(stored.contains(numbered(refused).e164()));
    for (std::size_t i = 0; i < writes; ++i)
        if (i != refused) CHECK(stored.at(numbered(i).e164()) == t0 + std::chrono::minutes(i));
}

TEST_CASE("append_async stores events in the group commit beside the senders' times; a redelivery stores nothing") {
    TempDb db;
    auto store = open_waiting_store(db.str());
    using Appended = std::future<Result<std::int64_t>>;
    auto append = [&](std::size_t i, std::string provider_id) {
        auto promise = std::make_shared<std::promise<Result<std::int64_t>>>();
        Appended appended = promise->get_future();
        REQUIRE(store->optouts().append_async(stop_event(numbered(i).e164(), std::move(provider_id)),
                                              [promise](Result<std::int64_t> r) { promise->set_value(std::move(r)); }));
        return appended;
    };
    constexpr std::size_t numbers = 3;
    RawDb raw(db.str());
    const int before = wal_commits(db.str());
    raw.exec("BEGIN IMMEDIATE");  // every write queues behind the lock, then they share a commit
    test_support::Completions times(numbers);
    std::vector<Appended> events;
    for (std::size_t i = 0; i < numbers; ++i) {
        REQUIRE(store->activity().record_inbound_async(tenant, numbered(i), t0 + std::chrono::minutes(i), times.done(i)));
        events.push_back(append(i, "wamid.a" + std::to_string(i)));
    }
    Appended redelivery = append(0, "wamid.a0");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    raw.exec("COMMIT");
    REQUIRE(times.wait_all());
    std::int64_t last = 0;
    for (std::size_t i = 0; i < numbers; ++i) {
        CAPTURE(i);
        CHECK(times.outcome(i).has_value());
        auto sequence = events[i].get();
        REQUIRE(sequence.has_value());
        CHECK(*sequence > last);  // in the order taken
        last = *sequence;
        auto history = store->optouts().history(tenant, numbered(i));
        REQUIRE(history.has_value());
        REQUIRE(history->size() == 1);
        CHECK((*history)[0].sequence == *sequence);
        CHECK((*history)[0].provider_message_id == "wamid.a" + std::to_string(i));
    }
    auto again = redelivery.get();
    REQUIRE(again.has_value());
    CHECK(*again == 0);  // known provider message id: nothing stored
    CHECK(wal_commits(db.str()) - before <= 2);  // the first write, perhaps alone, then the rest together
    CHECK(activity_of(*store).size() == numbers + 1);
}

TEST_CASE("append_async on a read-only store, or for an event without a tenant, fails through its completion") {
    TempDb db;
    make_heroshhi_db(db.str());
    SqliteOptions options;
    options.read_only = true;
    auto store = open_store(db.str(), options);
    std::optional<Result<std::int64_t>> got;
    CHECK(store->optouts().append_async(stop_event("+14155550101", "wamid.ro"), [&](Result<std::int64_t> r) { got = std::move(r); }));
    REQUIRE(got.has_value());
    REQUIRE_FALSE(got->has_value());
    CHECK(got->error() == StorageErrc::read_only);

    auto writable = open_store(db.str());
    got.reset();
    optout::OptOutEvent nobody(TenantId{}, phone("+14155550101"));
    CHECK(writable->optouts().append_async(nobody, [&](Result<std::int64_t> r) { got = std::move(r); }));
    REQUIRE(got.has_value());
    REQUIRE_FALSE(got->has_value());
    CHECK(got->error() == StorageErrc::invalid_argument);
}

TEST_CASE("an audit append shares a commit with the store's other writes; one on a stale head is refused alone") {
    // The audited send of an opt-out confirmation used to commit (and sync) on its own.
    TempDb db;
    auto store = open_waiting_store(db.str());
    ManualClock clock{t0};
    audit::Log log(store->audit(), clock);
    auto entry = [](std::string target) {
        audit::Entry e;
        e.tenant = tenant;
        e.actor = audit::Actor::system();
        e.action = "send.optout_confirmation";
        e.target_type = "contact";
        e.target_id = std::move(target);
        e.rule = "system";
        return e;
    };
    REQUIRE(log.append(entry("c-0")).has_value());  // the chain's head is now 1, and the log knows it
    constexpr std::size_t writes = 6;
    RawDb raw(db.str());
    const int before = wal_commits(db.str());
    raw.exec("BEGIN IMMEDIATE");  // every write queues behind the lock, then they share a commit
    test_support::Completions done(writes);
    for (std::size_t i = 0; i < writes; ++i)
        REQUIRE(store->activity().record_inbound_async(tenant, numbered(i), t0 + std::chrono::minutes(i), done.done(i)));
    std::optional<Result<audit::Entry>> logged;
    std::optional<Result<void>> stale;
    std::thread by_log([&] { logged = log.append(entry("c-1")); });
    std::thread by_port([&] {
        audit::Entry e = entry("c-2");
        e.sequence = 1;  // follows a head of 0: the chain has moved on since
        const audit::Entry one[] = {e};
        stale = store->audit().append(tenant, one, audit::ChainHead{});
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    raw.exec("COMMIT");
    by_log.join();
    by_port.join();
    REQUIRE(done.wait_all());
    REQUIRE(logged.has_value());
    REQUIRE(logged->has_value());
    CHECK((*logged)->sequence == 2);
    REQUIRE(stale.has_value());
    REQUIRE_FALSE(stale->has_value());
    CHECK(stale->error() == StorageErrc::conflict);
    for (std::size_t i = 0; i < writes; ++i) CHECK(done.outcome(i).has_value());
    CHECK(wal_commits(db.str()) - before <= 2);  // the first write, perhaps alone, then the rest together
    CHECK(activity_of(*store).size() == writes + 1);
    auto chain = store->audit().chain(tenant);
    REQUIRE(chain);
    CHECK(chain->head.sequence == 2);
    auto entries = store->audit().query(audit::Query(tenant));
    REQUIRE(entries);
    REQUIRE(entries->size() == 2);
    CHECK((*entries)[1].target_id == "c-1");
    auto verified = log.verify(tenant);
    REQUIRE(verified);
    CHECK(verified->intact());
    CHECK(verified->checked == 2);
}

TEST_CASE("a completion that throws stops neither the completions after it nor the store") {
    TempDb db;
    make_heroshhi_db(db.str());
    SqliteOptions options;
    options.busy_timeout = std::chrono::seconds(30);
    auto store = open_store(db.str(), options);
    RawDb raw(db.str());
    raw.exec("BEGIN IMMEDIATE");  // so the writes gather in groups with throwing completions first
    constexpr std::size_t writes = 20;
    test_support::Completions done(writes);
    for (std::size_t i = 0; i < writes; ++i)
        REQUIRE(store->activity().record_inbound_async(tenant, numbered(i), t0, done.done(i, i % 2 == 0)));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    raw.exec("COMMIT");
    REQUIRE(done.wait_all());
    for (std::size_t i = 0; i < writes; ++i) {
        CAPTURE(i);
        CHECK(done.calls(i) == 1);
        CHECK(done.outcome(i).has_value());
    }
    test_support::Completions after(1);
    REQUIRE(store->activity().record_inbound_async(tenant, numbered(writes), t0, after.done(0)));
    REQUIRE(after.wait_all());
    CHECK(after.outcome(0).has_value());
    CHECK(activity_of(*store).size() == writes + 1);
}

TEST_CASE("scans visit more rows than one batch and may call back into the store") {
    TempDb db;
    auto store = open_store(db.str());
    constexpr int events = 600;  // more than two of the store's scan batches
    for (int i = 0; i < events; ++i) {
        auto event = stop_event("+1415555" + std::to_string(1000 + i), "");
        REQUIRE(store->optouts().append(event).value());
        REQUIRE(store->activity().record_inbound(tenant, event.phone, t0).has_value());
    }
    int visited = 0;
    int inbound = 0;
    REQUIRE(store->optouts()
                .scan(tenant,
                      [&](const optout::OptOutEvent& e) {
                          ++visited;
                          auto last = store->activity().last_inbound(tenant, e.phone);  // re-entrant read
                          if (last && last->has_value()) ++inbound;
                      })
                .has_value());
    CHECK(visited == events);
    CHECK(inbound == events);
    int phones = 0;
    REQUIRE(store->activity().scan(tenant, [&](const PhoneNumber&, Timestamp) { ++phones; }).has_value());
    CHECK(phones == events);
}

TEST_CASE("the SQLite store source builds no SQL from values") {
    SUBCASE("the check itself catches SQL built by concatenation") {
        CHECK(statements_building_sql("auto q = \"SELECT * FROM contacts WHERE id = '\" + id + \"'\";").size() == 1);
        CHECK(statements_building_sql("std::string q = \"DELETE FROM contacts WHERE id = \"\n"
                                      "    + std::to_string(id);")
                  .size() == 1);
        CHECK(statements_building_sql("q += \"WHERE tenant = \"; q.append(tenant);").size() == 1);
        CHECK(statements_building_sql("return \"SELECT 1 FROM contacts WHERE tenant = ?1\";").empty());
        CHECK(statements_building_sql("auto d = \"'\" + path + \"' is not a database\";").empty());
    }
    SUBCASE("the check itself catches SQL assembled across statements or formatted") {
        CHECK(sql_assembled_across_statements("std::string q = \"SELECT * FROM contacts WHERE id = '\"; q += id; run(q);").size() == 1);
        CHECK(sql_assembled_across_statements("std::string sql(\"DELETE FROM contacts WHERE tenant = \");\n"
                                              "sql.append(tenant);").size() == 1);
        CHECK(sql_assembled_across_statements("sqlite3_prepare_v2(db, query.c_str(), -1, &s, nullptr);").size() == 1);
        CHECK(sql_assembled_across_statements("char* q = sqlite3_mprintf(\"SELECT %s\", v);").size() == 1);
        CHECK(sql_assembled_across_statements("auto q = fmt::format(\"SELECT {} FROM t\", c);").size() == 1);
        CHECK(sql_assembled_across_statements("const char* q = \"SELECT 1 FROM contacts WHERE tenant = ?1\";\n"
                                              "sqlite3_prepare_v3(db, q, -1, 0, &s, nullptr);\n"
                                              "std::string detail = \"cannot open \"; detail += path;").empty());
    }
    SUBCASE("every storage adapter's source passes both checks") {
        const fs::path source = store_source();
        REQUIRE_MESSAGE(fs::exists(source), source.string());
        REQUIRE(file_bytes(source).find("sqlite3_bind_") != std::string::npos);
        const auto sources = storage_sources();
        REQUIRE(sources.size() >= 2);  // errors.cpp, sqlite_store.cpp, ...
        for (const fs::path& path : sources) {
            CAPTURE(path.string());
            const std::string text = file_bytes(path);
            for (const std::string& statement : statements_building_sql(text)) FAIL_CHECK("SQL built from values: " << statement);
            for (const std::string& statement : sql_assembled_across_statements(text))
                FAIL_CHECK("SQL assembled at run time: " << statement);
            CHECK(text.find("sqlite3_exec") == std::string::npos);
        }
    }
}

TEST_CASE("the SQL the SQLite store runs never contains the values it stores") {
    // Run-time evidence, independent of how the source is written: the text of every statement
    // the store prepares (placeholders, not bound values) is recorded while every port is driven
    // with injection payloads and markers; none may appear in SQL, and two runs with different
    // values must run exactly the same statements.
    SqlRecorder recorder;
    {
        // The recorder itself sees SQL that carries a value, so this test can fail.
        TempDb db;
        RawDb raw(db.str());
        raw.exec("CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('Robert0''); DROP TABLE contacts;--')");
        bool seen = false;
        for (const std::string& sql : recorder.take()) seen = seen || sql.find(Canaries(0).name.substr(0, 7)) != std::string::npos;
        REQUIRE(seen);
    }
    std::set<std::string> statements[2];
    for (int run = 0; run < 2; ++run) {
        const Canaries values(run);
        TempDb db;
        exercise_store(db.str(), values);
        statements[run] = recorder.take();
        REQUIRE(statements[run].size() > 10);
        for (const std::string& sql : statements[run])
            for (const std::string& marker : values.markers())
                if (sql.find(marker) != std::string::npos) FAIL_CHECK("a stored value appears in SQL: " << sql);
        RawDb raw(db.str());
        CHECK(raw.query("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'contacts'") == "1");
        recorder.take();  // the RawDb's own queries
    }
    CHECK(statements[0] == statements[1]);
}

TEST_CASE("a schema version 1 database is migrated to the current version and keeps every row") {
    TempDb db;
    {
        // tests/data/schema-v1.sql: a dump of a database written by heroshhi before the audit log.
        RawDb raw(db.str());
        raw.exec(file_bytes(fs::path(HEROSHHI_TEST_DATA_DIR) / "schema-v1.sql").c_str());
        REQUIRE(raw.query("PRAGMA user_version") == "1");
        REQUIRE(raw.query("SELECT count(*) FROM sqlite_master WHERE name LIKE 'audit%'") == "0");
    }
    const TenantId acme{"acme"};
    const PhoneNumber p = phone("+14155550123");
    {
        auto store = open_store(db.str());
        RawDb raw(db.str());
        CHECK(raw.query("PRAGMA user_version") == std::to_string(SqliteStore::schema_version));
        CHECK(raw.query("SELECT count(*) FROM sqlite_master WHERE name LIKE 'audit%'") != "0");
        CHECK(raw.query("SELECT count(*) FROM sqlite_master WHERE name IN ('accounts', 'analytics_daily')") == "2");

        auto c = store->contacts().get(acme, ContactId{"c-1"});
        REQUIRE(c);
        REQUIRE(c->has_value());
        CHECK((*c)->phone == p);
        CHECK((*c)->assignee == UserId{"u-sales-1"});
        CHECK((*c)->team == "north");
        auto msgs = store->messages().list_for_contact(acme, ContactId{"c-1"}, 10);
        REQUIRE(msgs);
        REQUIRE(msgs->size() == 1);
        CHECK((*msgs)[0].body == "Is the flat still available?");
        auto history = store->optouts().history(acme, p);
        REQUIRE(history);
        REQUIRE(history->size() == 1);
        CHECK((*history)[0].provider_message_id == "wamid.1");
        auto consent = store->consents().latest(acme, p, Purpose::marketing);
        REQUIRE(consent);
        CHECK(consent->has_value());
        auto inbound = store->activity().last_inbound(acme, p);
        REQUIRE(inbound);
        CHECK(inbound->has_value());
        auto seen = store->dedup().remember(acme, "wamid.1", t0);
        REQUIRE(seen);
        CHECK_FALSE(*seen);
        // The new tables work, and sequences of the old ones continue.
        auto event = stop_event("+14155550124", "wamid.2");
        event.tenant = acme;
        REQUIRE(store->optouts().append(event).value());
        CHECK(event.sequence == 2);
        auto chain = store->audit().chain(acme);
        REQUIRE(chain);
        CHECK(chain->head.sequence == 0);
    }
    // Opening again migrates nothing more.
    auto again = open_store(db.str());
    RawDb raw(db.str());
    CHECK(raw.query("PRAGMA user_version") == std::to_string(SqliteStore::schema_version));
    CHECK(raw.query("PRAGMA foreign_key_check") == "");
}

TEST_CASE("a schema version 2 database is migrated to the current version and keeps every row") {
    TempDb db;
    {
        // tests/data/schema-v2.sql: a dump of a database written by heroshhi before field encryption.
        RawDb raw(db.str());
        raw.exec(file_bytes(fs::path(HEROSHHI_TEST_DATA_DIR) / "schema-v2.sql").c_str());
        REQUIRE(raw.query("PRAGMA user_version") == "2");
    }
    const TenantId acme{"acme"};
    const PhoneNumber ada = phone("+14155550123");
    const PhoneNumber grace = phone("+447946095800");
    {
        auto store = open_store(db.str());
        RawDb raw(db.str());
        CHECK(raw.query("PRAGMA user_version") == std::to_string(SqliteStore::schema_version));
        // It was written in plaintext, and stays so.
        CHECK(raw.query("SELECT value FROM store_settings WHERE name = 'field_encryption'") == "off");
        CHECK(raw.query("SELECT count(*) FROM sqlite_master WHERE name = 'messages_by_provider_id'") == "1");

        auto listed = store->contacts().list(acme, Page{});
        REQUIRE(listed);
        REQUIRE(listed->size() == 2);
        CHECK((*listed)[0].phone == ada);
        CHECK((*listed)[0].email == "ada@example.com");
        CHECK((*listed)[1].phone == grace);
        CHECK((*listed)[1].name == "Grace Hopper");
        CHECK((*listed)[1].legal_hold);
        CHECK((*listed)[1].deleted_at.has_value());
        auto found = store->contacts().find_by_phone(acme, ada);
        REQUIRE(found);
        CHECK(found->has_value());

        auto msgs = store->messages().list_for_contact(acme, ContactId{"c-1"}, 10);
        REQUIRE(msgs);
        REQUIRE(msgs->size() == 2);
        CHECK((*msgs)[0].body == "Is the flat still available?");
        CHECK((*msgs)[1].body == "Yes, viewings on Saturday.");
        // The new provider-id index finds the old outbound message.
        auto read = store->messages().update_status_by_provider_id(acme, "wamid.out-1", MessageStatus::read, t0);
        REQUIRE(read);
        CHECK(*read == std::optional<MessageId>{MessageId{"m-2"}});

        std::vector<optout::OptOutEvent> events;
        REQUIRE(store->optouts().scan(acme, [&](const optout::OptOutEvent& e) { events.push_back(e); }).has_value());
        REQUIRE(events.size() == 2);
        CHECK(events[0].phone == ada);
        CHECK(events[1].phone == grace);
        CHECK(events[1].scope == optout::Scope::marketing);
        CHECK(events[1].actor == UserId{"u-1"});
        auto consent = store->consents().latest(acme, ada, Purpose::marketing);
        REQUIRE(consent);
        CHECK(consent->has_value());
        auto inbound = store->activity().last_inbound(acme, ada);
        REQUIRE(inbound);
        CHECK(inbound->has_value());
        auto seen = store->dedup().remember(acme, "wamid.1", t0);
        REQUIRE(seen);
        CHECK_FALSE(*seen);
        auto chain = store->audit().chain(acme);
        REQUIRE(chain);
        CHECK(chain->head.sequence == 1);
        auto entries = store->audit().query(audit::Query(acme));
        REQUIRE(entries);
        REQUIRE(entries->size() == 1);
        CHECK(entries->front().target_id == "c-2");

        auto event = stop_event("+14155550199", "wamid.9");
        event.tenant = acme;
        REQUIRE(store->optouts().append(event).value());
        CHECK(event.sequence == 3);
    }
    auto again = open_store(db.str());
    RawDb raw(db.str());
    CHECK(raw.query("PRAGMA user_version") == std::to_string(SqliteStore::schema_version));
    CHECK(raw.query("PRAGMA foreign_key_check") == "");
}
