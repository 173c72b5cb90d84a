// SqliteStore with field encryption: what reaches the file, what a moved ciphertext does, how the
// file's mode is fixed and checked at open (fail closed), and key rotation with a re-encryption
// pass over the store. The behaviour every store shares runs with encryption on in
// tests/conformance/stores.cpp.
#include <doctest/doctest.h>

#include "support/raw_db.hpp"
#include "support/temp_db.hpp"
#include "support/test_keys.hpp"

#include <heroshhi/crypto/blind_index.hpp>
#include <heroshhi/crypto/errors.hpp>
#include <heroshhi/crypto/key_ring.hpp>
#include <heroshhi/crypto/reencryption.hpp>
#include <heroshhi/storage/errors.hpp>
#include <heroshhi/storage/sqlite_store.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

using namespace heroshhi;
using namespace heroshhi::storage;
namespace fs = std::filesystem;
using test_support::RawDb;
using test_support::TempDb;

namespace {

const TenantId acme{"acme"};
const TenantId globex{"globex"};
const Timestamp t0 = from_unix_ms(1'764'000'000'000);

PhoneNumber phone(std::string_view e164) { return PhoneNumber::parse(e164).value(); }

using test_support::key_of;
using test_support::ring_of;

/// The keys a test opens its stores with.
struct Keys {
    crypto::KeyRing ring = ring_of({1}, 1);
    crypto::BlindIndex index = crypto::BlindIndex::create(key_of(0xB1)).value();

    SqliteOptions options() const {
        SqliteOptions o;
        o.keys = &ring;
        o.blind_index = &index;
        return o;
    }
};

std::unique_ptr<SqliteStore> open_store(const std::string& path, const SqliteOptions& options) {
    auto store = SqliteStore::open(path, options);
    REQUIRE_MESSAGE(store.has_value(), (store ? std::string() : store.error().message()));
    return std::move(store).value();
}

std::string file_bytes(const fs::path& p) {
    if (!fs::exists(p)) return {};
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// The values written by write_everything, to look for in the file.
struct Secrets {
    PhoneNumber number = phone("+14155550123");
    PhoneNumber other = phone("+447946095800");
    std::string name = "Ada Lovelace";
    std::string email = "ada.lovelace@example.com";
    std::string body = "Is the flat on Rosebery Avenue still available?";
    std::string reply = "Yes: viewings on Saturday at ten.";
};

/// Contacts, messages, opt-outs, consents and activity for two numbers, through every port.
void write_everything(StoreSet& store, const Secrets& s) {
    Contact c(acme, ContactId{"c-1"}, s.number);
    c.name = s.name;
    c.email = s.email;
    c.source = "whatsapp";
    c.created_at = c.updated_at = t0;
    REQUIRE(store.contacts().put(c).has_value());
    Contact d(acme, ContactId{"c-2"}, s.other);
    d.name = "Grace Hopper";
    REQUIRE(store.contacts().put(d).has_value());
    MessageRecord m;
    m.tenant = acme;
    m.id = MessageId{"m-1"};
    m.contact = ContactId{"c-1"};
    m.body = s.body;
    m.created_at = m.updated_at = t0;
    REQUIRE(store.messages().append(m).value());
    m.id = MessageId{"m-2"};
    m.direction = Direction::outbound;
    m.body = s.reply;
    m.status = MessageStatus::queued;
    m.provider_message_id = "wamid.out-1";
    REQUIRE(store.messages().append(m).value());
    for (const PhoneNumber& p : {s.number, s.other}) {
        optout::OptOutEvent e(acme, p);
        e.at = t0;
        e.trigger = "STOP";
        REQUIRE(store.optouts().append(e).value());
        REQUIRE(store.consents().append({acme, p, Purpose::marketing, true, t0, "web_form", std::nullopt}).has_value());
        REQUIRE(store.activity().record_inbound(acme, p, t0).has_value());
    }
}

/// Every way the number could sit in a file: E.164, wa_id digits, and its key as SQLite and a
/// C++ program would write it (big-endian in 6 and 8 bytes, little-endian in 8).
std::vector<std::string> number_forms(const PhoneNumber& p) {
    std::vector<std::string> forms{p.e164(), p.digits()};
    const std::uint64_t key = p.key();
    std::string be8, le8;
    for (int i = 7; i >= 0; --i) be8 += static_cast<char>((key >> (8 * i)) & 0xFF);
    for (int i = 0; i < 8; ++i) le8 += static_cast<char>((key >> (8 * i)) & 0xFF);
    forms.push_back(be8);
    forms.push_back(be8.substr(2));  // SQLite's record format stores 14155550123 in 6 bytes
    forms.push_back(le8);
    return forms;
}

/// Which of the secrets appear in the database file or its WAL, by description.
std::vector<std::string> leaks(const std::string& path, const Secrets& s) {
    const std::string bytes = file_bytes(path) + file_bytes(path + "-wal");
    REQUIRE(bytes.size() > 4096);
    std::vector<std::string> found;
    auto look = [&](const std::string& needle, const std::string& what) {
        if (bytes.find(needle) != std::string::npos) found.push_back(what);
    };
    for (const PhoneNumber* p : {&s.number, &s.other}) {
        const auto forms = number_forms(*p);
        const char* names[] = {"E.164", "wa_id digits", "8-byte big-endian key", "6-byte big-endian key",
                               "8-byte little-endian key"};
        for (std::size_t i = 0; i < forms.size(); ++i) look(forms[i], p->e164() + " as " + names[i]);
    }
    look(s.name, "name");
    look("Grace Hopper", "second name");
    look(s.email, "email");
    look(s.body, "inbound body");
    look(s.reply, "outbound body");
    return found;
}

/// Every phone_key of every table, as "typeof:length".
std::vector<std::string> phone_key_shapes(RawDb& raw) {
    std::vector<std::string> out;
    for (const char* sql : {"SELECT group_concat(typeof(phone_key) || ':' || length(phone_key)) FROM contacts",
                            "SELECT group_concat(typeof(phone_key) || ':' || length(phone_key)) FROM optout_events",
                            "SELECT group_concat(typeof(phone_key) || ':' || length(phone_key)) FROM consent_records",
                            "SELECT group_concat(typeof(phone_key) || ':' || length(phone_key)) FROM inbound_activity"})
        out.push_back(raw.query(sql));
    return out;
}

}  // namespace

TEST_CASE("an encrypted SQLite file holds no plaintext phone number, name, email or message body") {
    const Secrets secrets;
    TempDb db;
    SUBCASE("the check finds them in a plaintext store (so it can fail)") {
        {
            auto store = open_store(db.str(), {});
            write_everything(*store, secrets);
            const auto found = leaks(db.str(), secrets);
            CHECK(std::count(found.begin(), found.end(), "+14155550123 as E.164") == 1);
            CHECK(std::count(found.begin(), found.end(), "+14155550123 as 6-byte big-endian key") == 1);
            CHECK(std::count(found.begin(), found.end(), "name") == 1);
            CHECK(std::count(found.begin(), found.end(), "outbound body") == 1);
        }
        CHECK_FALSE(leaks(db.str(), secrets).empty());
    }
    SUBCASE("with encryption on, neither the WAL nor the checkpointed file holds any of them") {
        const Keys keys;
        {
            auto store = open_store(db.str(), keys.options());
            CHECK(store->encrypted());
            write_everything(*store, secrets);
            REQUIRE(fs::exists(db.str() + "-wal"));
            CHECK(leaks(db.str(), secrets) == std::vector<std::string>{});
            // And everything reads back through the store.
            auto found = store->contacts().find_by_phone(acme, secrets.number);
            REQUIRE(found);
            REQUIRE(found->has_value());
            CHECK((*found)->name == secrets.name);
            CHECK((*found)->email == secrets.email);
            auto msgs = store->messages().list_for_contact(acme, ContactId{"c-1"}, 10);
            REQUIRE(msgs);
            REQUIRE(msgs->size() == 2);
            CHECK((*msgs)[0].body == secrets.body);
            auto history = store->optouts().history(acme, secrets.other);
            REQUIRE(history);
            REQUIRE(history->size() == 1);
            CHECK(history->front().phone == secrets.other);
        }
        // Closing checkpoints the WAL into the file.
        CHECK(leaks(db.str(), secrets) == std::vector<std::string>{});
        RawDb raw(db.str());
        // Phone numbers are found through 16-byte blind-index tags, sensitive columns are BLOBs.
        CHECK(phone_key_shapes(raw) == std::vector<std::string>{"blob:16,blob:16", "blob:16,blob:16", "blob:16,blob:16",
                                                                 "blob:16,blob:16"});
        CHECK(raw.query("SELECT count(*) FROM contacts WHERE typeof(phone_e164) <> 'blob' OR typeof(name) <> 'blob'"
                        " OR typeof(email) <> 'blob'") == "0");
        CHECK(raw.query("SELECT count(*) FROM messages WHERE typeof(body) <> 'blob'") == "0");
        CHECK(raw.query("SELECT value FROM store_settings WHERE name = 'field_encryption'") == "aes-256-gcm");
    }
}

TEST_CASE("an event appended asynchronously to an encrypted store is sealed, and reads back") {
    const Secrets secrets;
    const Keys keys;
    TempDb db;
    {
        auto store = open_store(db.str(), keys.options());
        optout::OptOutEvent event(acme, secrets.number);
        event.at = t0;
        event.trigger = "STOP";
        event.provider_message_id = "wamid.async-1";
        std::optional<Result<std::int64_t>> got;
        std::mutex m;
        std::condition_variable landed;
        REQUIRE(store->optouts().append_async(event, [&](Result<std::int64_t> r) {
            std::lock_guard lock(m);
            got = std::move(r);
            landed.notify_all();
        }));
        {
            std::unique_lock lock(m);
            REQUIRE(landed.wait_for(lock, std::chrono::seconds(30), [&] { return got.has_value(); }));
        }
        REQUIRE(got->has_value());
        CHECK(**got > 0);
        auto history = store->optouts().history(acme, secrets.number);
        REQUIRE(history.has_value());
        REQUIRE(history->size() == 1);
        CHECK((*history)[0].phone == secrets.number);
        CHECK((*history)[0].sequence == **got);
    }
    const auto found = leaks(db.str(), secrets);
    CHECK(std::count(found.begin(), found.end(), "+14155550123 as E.164") == 0);
    CHECK(std::count(found.begin(), found.end(), "+14155550123 as 6-byte big-endian key") == 0);
}

TEST_CASE("a ciphertext copied to another row, column or tenant fails to decrypt with a clear error") {
    TempDb db;
    const Keys keys;
    const Secrets secrets;
    {
        auto store = open_store(db.str(), keys.options());
        write_everything(*store, secrets);
        Contact other_tenant(globex, ContactId{"c-1"}, secrets.other);
        other_tenant.name = "Someone Else";
        REQUIRE(store->contacts().put(other_tenant).has_value());
    }
    RawDb raw(db.str());
    auto store = open_store(db.str(), keys.options());
    auto expect_corrupt = [](const auto& result, std::string_view place) {
        REQUIRE_FALSE(result);
        CHECK(result.error() == StorageErrc::corrupt);
        CAPTURE(result.error().message());
        CHECK(result.error().detail().find(place) != std::string::npos);
        CHECK(result.error().detail().find("authentication") != std::string::npos);
    };

    SUBCASE("a name moved to another contact of the tenant") {
        raw.exec("UPDATE contacts SET name = (SELECT name FROM contacts WHERE tenant = 'acme' AND id = 'c-1')"
                 " WHERE tenant = 'acme' AND id = 'c-2'");
        expect_corrupt(store->contacts().get(acme, ContactId{"c-2"}), "contacts.name of row 'c-2'");
        auto own = store->contacts().get(acme, ContactId{"c-1"});  // the original still reads
        REQUIRE(own);
        CHECK((*own)->name == secrets.name);
    }
    SUBCASE("a name moved to the same contact id of another tenant") {
        raw.exec("UPDATE contacts SET name = (SELECT name FROM contacts WHERE tenant = 'acme' AND id = 'c-1')"
                 " WHERE tenant = 'globex' AND id = 'c-1'");
        expect_corrupt(store->contacts().get(globex, ContactId{"c-1"}), "contacts.name of row 'c-1'");
    }
    SUBCASE("an email moved into the name column of the same row") {
        raw.exec("UPDATE contacts SET name = email WHERE tenant = 'acme' AND id = 'c-1'");
        expect_corrupt(store->contacts().find_by_phone(acme, secrets.number), "contacts.name");
    }
    SUBCASE("a message body moved to another message") {
        raw.exec("UPDATE messages SET body = (SELECT body FROM messages WHERE id = 'm-1') WHERE id = 'm-2'");
        expect_corrupt(store->messages().list_for_contact(acme, ContactId{"c-1"}, 10), "messages.body of row 'm-2'");
    }
    SUBCASE("an opt-out event's number swapped with another event's, tag and all") {
        raw.exec("UPDATE optout_events SET (phone_key, phone_e164) ="
                 " (SELECT phone_key, phone_e164 FROM optout_events WHERE sequence = 1) WHERE sequence = 2");
        // The scan that warms the suppression index stops with an error instead of reading a wrong number.
        expect_corrupt(store->optouts().scan(acme, [](const optout::OptOutEvent&) {}), "optout_events.phone of row '2'");
    }
    SUBCASE("a consent record's number moved to another record") {
        raw.exec("UPDATE consent_records SET phone_e164 = (SELECT phone_e164 FROM consent_records WHERE sequence = 2)"
                 " WHERE sequence = 1");
        expect_corrupt(store->consents().latest(acme, secrets.number, Purpose::marketing), "consent_records.phone of row '1'");
    }
    SUBCASE("a plaintext value slipped into an encrypted column") {
        raw.exec("UPDATE contacts SET email = 'plain@example.com' WHERE tenant = 'acme' AND id = 'c-1'");
        auto got = store->contacts().get(acme, ContactId{"c-1"});
        REQUIRE_FALSE(got);
        CHECK(got.error() == StorageErrc::corrupt);
        CHECK(got.error().detail().find("not encrypted") != std::string::npos);
    }
}

TEST_CASE("an encrypted file opens only with its own keys, and is left unchanged otherwise") {
    TempDb db;
    const Keys keys;
    {
        auto store = open_store(db.str(), keys.options());
        write_everything(*store, Secrets{});
    }
    const std::string before = file_bytes(db.str());
    auto refused = [&](const SqliteOptions& options, StorageErrc code, std::string_view words) {
        auto store = SqliteStore::open(db.str(), options);
        REQUIRE_FALSE(store);
        CAPTURE(store.error().message());
        CHECK(store.error() == code);
        CHECK(store.error().detail().find(words) != std::string::npos);
        CHECK(file_bytes(db.str()) == before);
    };

    SUBCASE("no keys at all, read-write or read-only") {
        SqliteOptions options;
        SUBCASE("read-write") {}
        SUBCASE("read-only") { options.read_only = true; }
        refused(options, StorageErrc::key_unavailable, "is encrypted");
    }
    SUBCASE("a key ring without the file's key") {
        const auto other = ring_of({7}, 7);
        SqliteOptions options = keys.options();
        options.keys = &other;
        refused(options, StorageErrc::key_unavailable, "key 1, which the key ring does not hold");
    }
    SUBCASE("other material under the file's key id") {
        crypto::KeySet set;
        set.keys.push_back({crypto::KeyId{1}, key_of(0x77)});
        set.primary = crypto::KeyId{1};
        const auto impostor = crypto::KeyRing::create(std::move(set)).value();
        SqliteOptions options = keys.options();
        options.keys = &impostor;
        refused(options, StorageErrc::key_unavailable, "is not the key");
    }
    SUBCASE("another blind-index key, which would make every phone lookup miss") {
        const auto other = crypto::BlindIndex::create(key_of(0xB2)).value();
        SqliteOptions options = keys.options();
        options.blind_index = &other;
        refused(options, StorageErrc::key_unavailable, "blind index");
    }
    SUBCASE("a key ring without a blind index is a mistake in the options") {
        SqliteOptions options = keys.options();
        options.blind_index = nullptr;
        refused(options, StorageErrc::invalid_argument, "both");
    }
    SUBCASE("with its keys it opens, also read-only") {
        SqliteOptions options = keys.options();
        options.read_only = true;
        auto store = open_store(db.str(), options);
        CHECK(store->encrypted());
        auto found = store->contacts().find_by_phone(acme, phone("+14155550123"));
        REQUIRE(found);
        CHECK(found->has_value());
    }
}

TEST_CASE("a plaintext file opened with keys fails with not_encrypted and is left unchanged") {
    TempDb db;
    const Keys keys;
    SUBCASE("a current plaintext file") {
        auto store = open_store(db.str(), {});
        CHECK_FALSE(store->encrypted());
        write_everything(*store, Secrets{});
    }
    SUBCASE("a schema version 2 file, before it is migrated") {
        RawDb raw(db.str());
        std::ifstream in(fs::path(HEROSHHI_TEST_DATA_DIR) / "schema-v2.sql");
        raw.exec(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()).c_str());
    }
    SUBCASE("a new file first opened without keys, even while it is empty") {
        auto store = open_store(db.str(), {});
    }
    const std::string before = file_bytes(db.str());
    auto store = SqliteStore::open(db.str(), keys.options());
    REQUIRE_FALSE(store);
    CHECK(store.error() == StorageErrc::not_encrypted);
    CHECK(store.error().detail().find("left unchanged") != std::string::npos);
    CHECK(file_bytes(db.str()) == before);
}

TEST_CASE("an old file that holds no sensitive rows takes the mode it is first opened with") {
    TempDb db;
    const Keys keys;
    {
        RawDb raw(db.str());
        std::ifstream in(fs::path(HEROSHHI_TEST_DATA_DIR) / "schema-v2.sql");
        raw.exec(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()).c_str());
        raw.exec("PRAGMA foreign_keys = ON; DELETE FROM contacts; DELETE FROM optout_events;"
                 " DELETE FROM consent_records; DELETE FROM inbound_activity");
    }
    {
        auto store = open_store(db.str(), keys.options());
        CHECK(store->encrypted());
        write_everything(*store, Secrets{});
        auto chain = store->audit().chain(acme);  // what was there is kept
        REQUIRE(chain);
        CHECK(chain->head.sequence == 1);
    }
    auto plain = SqliteStore::open(db.str(), {});
    REQUIRE_FALSE(plain);
    CHECK(plain.error() == StorageErrc::key_unavailable);
}

TEST_CASE("after a key rotation a re-encryption pass moves every field, and the old key can go") {
    TempDb db;
    Keys keys;
    const Secrets secrets;
    {
        auto store = open_store(db.str(), keys.options());
        write_everything(*store, secrets);
        for (int i = 0; i < 40; ++i) {  // enough rows for several batches in every table
            const PhoneNumber p = phone("+1415555" + std::to_string(2000 + i));
            Contact c(acme, ContactId{"bulk-" + std::to_string(i)}, p);
            c.name = "Lead " + std::to_string(i);
            REQUIRE(store->contacts().put(c).has_value());
            optout::OptOutEvent e(i % 2 == 0 ? acme : globex, p);
            REQUIRE(store->optouts().append(e).value());
            REQUIRE(store->activity().record_inbound(i % 3 == 0 ? acme : globex, p, t0).has_value());
        }
    }
    // 1 key check + 42 contacts x 3 + 2 messages + 42 opt-outs + 2 consents + 42 activity rows.
    constexpr std::size_t fields = 1 + 42 * 3 + 2 + 42 + 2 + 42;

    REQUIRE(keys.ring.rotate({crypto::KeyId{2}, key_of(2)}).has_value());
    auto store = open_store(db.str(), keys.options());
    const crypto::FieldCipher cipher(keys.ring);
    {
        // New writes use the new key at once; the pass leaves them alone.
        Contact late(acme, ContactId{"late"}, phone("+14155559999"));
        REQUIRE(store->contacts().put(late).has_value());
    }

    std::size_t rewritten = 0, current = 0;
    std::string saved;
    {
        crypto::ReencryptionPass pass(cipher, store->encrypted_fields());
        for (int i = 0; i < 5; ++i) {
            auto batch = pass.run_batch(7);  // splits contacts' three columns across batches
            REQUIRE(batch.has_value());
            CHECK(batch->failures.empty());
            rewritten += batch->rewritten;
            current += batch->current;
        }
        saved = pass.cursor();  // the process "restarts" here
    }
    CHECK(rewritten == 35);
    crypto::ReencryptionPass resumed(cipher, store->encrypted_fields(), saved);
    while (!resumed.finished()) {
        auto batch = resumed.run_batch(25);
        REQUIRE(batch.has_value());
        CHECK(batch->failures.empty());
        rewritten += batch->rewritten;
        current += batch->current;
    }
    CHECK(rewritten == fields);
    CHECK(current == 0);  // the store skips what is current already

    SUBCASE("a second pass finds nothing to do") {
        crypto::ReencryptionPass again(cipher, store->encrypted_fields());
        auto batch = again.run_batch(1000);
        REQUIRE(batch.has_value());
        CHECK(batch->examined == 0);
        CHECK(batch->finished);
    }
    SUBCASE("the old key is retired and everything still reads, also after reopening") {
        REQUIRE(keys.ring.remove(crypto::KeyId{1}).has_value());
        auto check_reads = [&](SqliteStore& s) {
            auto listed = s.contacts().list(acme, Page{"", 1000});
            REQUIRE(listed);
            CHECK(listed->size() == 2 + 40 + 1);
            auto found = s.contacts().find_by_phone(acme, secrets.number);
            REQUIRE(found);
            REQUIRE(found->has_value());
            CHECK((*found)->email == secrets.email);
            auto msgs = s.messages().list_for_contact(acme, ContactId{"c-1"}, 10);
            REQUIRE(msgs);
            CHECK(msgs->size() == 2);
            std::size_t events = 0;
            REQUIRE(s.optouts().scan(globex, [&](const optout::OptOutEvent&) { ++events; }).has_value());
            CHECK(events == 20);
            auto consent = s.consents().latest(acme, secrets.other, Purpose::marketing);
            REQUIRE(consent);
            CHECK(consent->has_value());
            std::size_t active = 0;
            REQUIRE(s.activity().scan(globex, [&](const PhoneNumber&, Timestamp) { ++active; }).has_value());
            CHECK(active == 26);
        };
        check_reads(*store);
        store.reset();
        auto reopened = open_store(db.str(), keys.options());  // the key check moved to key 2 as well
        check_reads(*reopened);
    }
    SUBCASE("without the pass, retiring the old key makes old rows unreadable (key_unavailable)") {
        // Rotate again and retire key 2 with nothing moved off it.
        REQUIRE(keys.ring.rotate({crypto::KeyId{3}, key_of(3)}).has_value());
        REQUIRE(keys.ring.remove(crypto::KeyId{2}).has_value());
        auto got = store->contacts().get(acme, ContactId{"c-1"});
        REQUIRE_FALSE(got);
        CHECK(got.error() == StorageErrc::key_unavailable);
        store.reset();
        auto reopened = SqliteStore::open(db.str(), keys.options());
        REQUIRE_FALSE(reopened);
        CHECK(reopened.error() == StorageErrc::key_unavailable);
    }
}

TEST_CASE("the re-encryption source leaves values written meanwhile alone and rejects foreign cursors") {
    TempDb db;
    Keys keys;
    auto store = open_store(db.str(), keys.options());
    write_everything(*store, Secrets{});
    REQUIRE(keys.ring.rotate({crypto::KeyId{2}, key_of(2)}).has_value());
    auto& source = store->encrypted_fields();

    auto batch = source.next_batch("", 100, crypto::KeyId{2});
    REQUIRE(batch);
    const auto name = std::find_if(batch->begin(), batch->end(), [](const crypto::EncryptedField& f) {
        return f.table == "contacts" && f.column == "name" && f.row_id == "c-1";
    });
    REQUIRE(name != batch->end());
    // The application renames the contact after the batch was read: the stale field is not replaced.
    Contact c = store->contacts().get(acme, ContactId{"c-1"}).value().value();
    c.name = "Ada King";
    REQUIRE(store->contacts().put(c).has_value());
    const crypto::FieldCipher cipher(keys.ring);
    auto fresh = cipher.reencrypt(name->tenant, {name->table, name->column}, name->row_id, name->ciphertext);
    REQUIRE(fresh);
    auto replaced = source.replace(*name, *fresh);
    REQUIRE(replaced);
    CHECK_FALSE(*replaced);
    CHECK(store->contacts().get(acme, ContactId{"c-1"}).value().value().name == "Ada King");

    auto bad = source.next_batch("not-a-cursor", 10, crypto::KeyId{2});
    REQUIRE_FALSE(bad);
    CHECK(bad.error() == StorageErrc::invalid_argument);

    SUBCASE("a plaintext store has nothing to hand out") {
        TempDb plain_db;
        auto plain = open_store(plain_db.str(), {});
        write_everything(*plain, Secrets{});
        auto none = plain->encrypted_fields().next_batch("", 10, crypto::KeyId{2});
        REQUIRE(none);
        CHECK(none->empty());
    }
}
