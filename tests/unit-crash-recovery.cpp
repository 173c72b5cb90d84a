// Crash recovery: a retention sweep and a key-rotation re-encryption pass over a SQLite file are
// SIGKILLed in a child process (from the progress callback at chosen batches, and from the parent
// after a delay, which lands inside a transaction as often as not), several times in a row on the
// same file; the rerun then finishes, and the file reads as an uninterrupted run on an identical
// copy left it. Opt-out records and held leads survive every round. Figures: tests/RELIABILITY.md.
#include <doctest/doctest.h>

#include "support/temp_db.hpp"
#include "support/test_keys.hpp"

#include <heroshhi/audit/log.hpp>
#include <heroshhi/core/clock.hpp>
#include <heroshhi/crypto/blind_index.hpp>
#include <heroshhi/crypto/field_cipher.hpp>
#include <heroshhi/crypto/key_ring.hpp>
#include <heroshhi/crypto/reencryption.hpp>
#include <heroshhi/retention/policy.hpp>
#include <heroshhi/retention/sweeper.hpp>
#include <heroshhi/storage/sqlite_store.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

using namespace heroshhi;
namespace fs = std::filesystem;
using test_support::TempDb;

namespace {

const Timestamp now = from_unix_ms(1'767'225'600'000);  // 2026-01-01T00:00:00Z
const std::vector<TenantId> tenants{TenantId{"acme"}, TenantId{"globex"}};
constexpr int leads_per_tenant = 120;

PhoneNumber phone(int n) { return PhoneNumber::parse("+1415555" + std::to_string(1000 + n)).value(); }

using test_support::key_of;
using test_support::ring_of;

/// Copies a closed database file (the store checkpoints and removes its WAL on close).
void copy_db(const TempDb& from, const TempDb& to) {
    REQUIRE_FALSE(fs::exists(from.str() + "-wal"));
    fs::copy_file(from.path(), to.path(), fs::copy_options::overwrite_existing);
}

/// How a child process ended.
struct ChildEnd {
    bool killed = false;  ///< by SIGKILL
    int exit_code = -1;   ///< when it exited
};

/// Runs `work` in a child process; if `kill_after` is set, the parent SIGKILLs the child that long
/// after it reported (through a pipe) that its work started. The child never returns into doctest:
/// it _exits with 0 when `work` returned true, 1 otherwise.
ChildEnd run_child(const std::function<bool(int started_fd)>& work, std::optional<std::chrono::microseconds> kill_after) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    std::fflush(nullptr);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        const bool ok = work(fds[1]);
        _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    char byte = 0;
    const bool started = read(fds[0], &byte, 1) == 1;
    if (started && kill_after) {
        usleep(static_cast<useconds_t>(kill_after->count()));
        kill(pid, SIGKILL);
    }
    close(fds[0]);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    ChildEnd end;
    end.killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    if (WIFEXITED(status)) end.exit_code = WEXITSTATUS(status);
    return end;
}

void report_started(int& fd) {
    if (fd < 0) return;
    const char byte = 1;
    (void)!write(fd, &byte, 1);
    close(fd);
    fd = -1;
}

// --- the retention sweep -----------------------------------------------------------------------------

retention::Policy sweep_policy() {
    retention::PolicyConfig config;
    config.defaults = {retention::Days{180}, std::nullopt};
    return retention::Policy::create(config).value();
}

/// Per tenant: leads inactive for 200 days (soft-deleted by the sweep), leads soft-deleted 40
/// days ago (hard-deleted, with their messages), recent leads (kept), every 10th lead under legal
/// hold; two messages per lead; an opt-out for every third number; inbound activity and audit
/// entries older than a year (purged) and recent ones (kept).
void seed_sweep(const std::string& path) {
    auto store = storage::SqliteStore::open(path).value();
    ManualClock clock(now - retention::Days{400});
    audit::Log log(store->audit(), clock);
    for (const TenantId& t : tenants) {
        storage::Account account{t};
        account.opened_at = now - retention::Days{1000};
        REQUIRE(store->retention().accounts().put(account).has_value());
        for (int i = 0; i < leads_per_tenant; ++i) {
            storage::Contact c{t, ContactId{"lead-" + std::to_string(i)}, phone(i)};
            c.name = "Lead " + std::to_string(i);
            c.source = "direct";
            const Timestamp active = i % 3 == 2 ? now - retention::Days{5} : now - retention::Days{200};
            c.created_at = active;
            c.updated_at = active;
            if (i % 3 == 1) c.deleted_at = now - retention::Days{40};
            c.legal_hold = i % 10 == 0;
            REQUIRE(store->contacts().put(c).has_value());
            for (int m = 0; m < 2; ++m) {
                storage::MessageRecord r;
                r.tenant = t;
                r.id = MessageId{c.id.value() + "-m" + std::to_string(m)};
                r.contact = c.id;
                r.direction = storage::Direction::inbound;
                r.body = "hello " + std::to_string(m);
                r.created_at = active;
                r.updated_at = active;
                REQUIRE(store->messages().append(r).value());
            }
            if (i % 3 == 0) {
                optout::OptOutEvent e(t, phone(i));
                e.at = now - retention::Days{500};
                e.trigger = "STOP";
                REQUIRE(store->optouts().append(e).value());
            }
            REQUIRE(store->activity().record_inbound(t, phone(i), i % 2 ? now - retention::Days{400} : now).has_value());
        }
        for (int a = 0; a < 40; ++a) {
            clock.set(a < 30 ? now - retention::Days{400} : now - retention::Days{10});
            audit::Entry e;
            e.tenant = t;
            e.actor = audit::Actor::member(UserId{"u-1"}, rbac::Role::sales);
            e.action = "read";
            e.target_type = "lead";
            // Never a held lead's (every tenth): entries about a held lead would stop the purge.
            e.target_id = "lead-" + std::to_string(10 * a + 1);
            REQUIRE(log.append(e).has_value());
        }
    }
}

/// Runs one sweep to its end (resuming an interrupted one first); nullopt-free result or the error
/// text. In a child, `started_fd` is written after the first batch; `kill_at_batch` SIGKILLs the
/// process from the progress callback after that many batches.
std::string sweep_once(const std::string& path, int started_fd = -1, int kill_at_batch = 0) {
    auto store = storage::SqliteStore::open(path);
    if (!store) return "open: " + store.error().message();
    ManualClock clock(now);
    audit::Log log((*store)->audit(), clock);
    auto sweeper = retention::Sweeper::create(sweep_policy(), (*store)->retention(), log, clock, {});
    if (!sweeper) return "create: " + sweeper.error().message();
    retention::SweepOptions options;
    options.batch_size = 7;
    int batches = 0;
    options.progress = [&](const retention::Progress&) {
        report_started(started_fd);
        if (++batches == kill_at_batch) std::raise(SIGKILL);
        return true;
    };
    auto report = sweeper->run(now, options);  // finishes an interrupted sweep, or sweeps
    if (!report) return "run: " + report.error().message();
    return report->complete ? "" : "incomplete";
}

/// Everything a sweep may change, read through the stores: each tenant's leads (deletion state),
/// their messages, opt-out records, inbound activity, and audit entries except purge notes (an
/// interrupted purge notes itself again when retried), plus whether the chain verifies.
std::string sweep_snapshot(const std::string& path) {
    auto store = storage::SqliteStore::open(path).value();
    ManualClock clock(now);
    audit::Log log(store->audit(), clock);
    std::ostringstream out;
    for (const TenantId& t : tenants) {
        out << "tenant " << t.value() << "\n";
        auto contacts = store->contacts().list(t, {"", 100'000});
        REQUIRE(contacts.has_value());
        for (const auto& c : *contacts) {
            out << " lead " << c.id.value() << (c.deleted_at ? " deleted " + to_iso8601(*c.deleted_at) : "")
                << (c.legal_hold ? " held" : "") << " messages";
            auto messages = store->messages().list_for_contact(t, c.id, 100);
            REQUIRE(messages.has_value());
            for (const auto& m : *messages) out << " " << m.id.value();
            out << "\n";
        }
        REQUIRE(store->optouts().scan(t, [&](const optout::OptOutEvent& e) { out << " optout " << e.phone.e164() << "\n"; }).has_value());
        REQUIRE(store->activity().scan(t, [&](const PhoneNumber& p, Timestamp) { out << " inbound " << p.e164() << "\n"; }).has_value());
        audit::Query q(t);
        q.limit = 100'000;
        auto entries = log.query(q);
        REQUIRE(entries.has_value());
        for (const auto& e : *entries) {
            // A sweep that found nothing left to do (a round whose child finished before its kill
            // came, then the next round) records itself too, deleting nothing (held rows counted).
            bool idle_sweep = false;
            if (e.action == "retention.sweep") {
                auto counts = retention::TenantReport::from_audit_text(t, e.target_id);
                REQUIRE(counts.has_value());
                idle_sweep = true;
                for (const retention::Counts& c : counts->counts)
                    idle_sweep = idle_sweep && c.soft_deleted == 0 && c.hard_deleted == 0 && c.cascaded == 0 && c.purged == 0;
            }
            if (e.action != "audit.purge" && !idle_sweep) out << " audit " << e.action << " " << e.target_id << "\n";
        }
        auto verified = log.verify(t);
        REQUIRE(verified.has_value());
        out << " chain " << (verified->intact() ? "intact" : verified->detail) << "\n";
    }
    return out.str();
}

int count(const std::string& text, const std::string& needle) {
    int n = 0;
    for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
}

// --- the re-encryption pass ----------------------------------------------------------------------------

struct EncryptedWorld {
    crypto::KeyRing ring = ring_of({1}, 1);
    crypto::BlindIndex index = crypto::BlindIndex::create(key_of(0xB1)).value();
    storage::SqliteOptions options() const {
        storage::SqliteOptions o;
        o.keys = &ring;
        o.blind_index = &index;
        return o;
    }
};

void seed_encrypted(const std::string& path) {
    EncryptedWorld w;
    auto store = storage::SqliteStore::open(path, w.options()).value();
    for (const TenantId& t : tenants)
        for (int i = 0; i < 120; ++i) {
            storage::Contact c{t, ContactId{"c-" + std::to_string(i)}, phone(i)};
            c.name = "Name " + std::to_string(i) + " of " + t.value();
            c.email = "lead" + std::to_string(i) + "@example.com";
            c.legal_hold = i % 10 == 0;
            REQUIRE(store->contacts().put(c).has_value());
            if (i % 4 == 0) {
                optout::OptOutEvent e(t, phone(i));
                e.trigger = "STOP";
                REQUIRE(store->optouts().append(e).value());
            }
        }
}

/// Runs the pass to its end under the rotated ring {1, 2 primary}, starting from the cursor saved
/// in `cursor_file` (as a host persists it after each batch), saving it after every batch.
/// `kill_at_batch` SIGKILLs the process after that many batches, before the cursor is saved.
bool reencrypt(const std::string& path, const std::string& cursor_file, int started_fd = -1, int kill_at_batch = 0) {
    EncryptedWorld w;
    w.ring = ring_of({1, 2}, 2);
    auto store = storage::SqliteStore::open(path, w.options());
    if (!store) return false;
    const crypto::FieldCipher cipher(w.ring);
    std::string cursor;
    if (std::ifstream in(cursor_file); in) cursor.assign(std::istreambuf_iterator<char>(in), {});
    crypto::ReencryptionPass pass(cipher, (*store)->encrypted_fields(), cursor);
    for (int batches = 1; !pass.finished(); ++batches) {
        auto batch = pass.run_batch(9);
        if (!batch || !batch->failures.empty()) return false;
        report_started(started_fd);
        if (batches == kill_at_batch) std::raise(SIGKILL);
        const std::string tmp = cursor_file + ".tmp";
        std::ofstream(tmp, std::ios::trunc) << pass.cursor();
        fs::rename(tmp, cursor_file);
    }
    return true;
}

/// Every encrypted value read back with only key 2 in the ring (so nothing may still need key 1),
/// and the opt-out records; plus how many fields a fresh pass would still rewrite.
std::string encrypted_snapshot(const std::string& path) {
    EncryptedWorld w;
    w.ring = ring_of({2}, 2);
    auto store = storage::SqliteStore::open(path, w.options());
    REQUIRE_MESSAGE(store.has_value(), (store ? "" : store.error().message()));
    std::ostringstream out;
    for (const TenantId& t : tenants) {
        auto contacts = (*store)->contacts().list(t, {"", 100'000});
        REQUIRE(contacts.has_value());
        for (const auto& c : *contacts)
            out << t.value() << " " << c.id.value() << " " << c.phone.e164() << " " << c.name << " " << c.email
                << (c.legal_hold ? " held" : "") << "\n";
        REQUIRE((*store)->optouts().scan(t, [&](const optout::OptOutEvent& e) { out << " optout " << e.phone.e164() << "\n"; }).has_value());
    }
    const crypto::FieldCipher cipher(w.ring);
    crypto::ReencryptionPass again(cipher, (*store)->encrypted_fields());
    auto batch = again.run_batch(100'000);
    REQUIRE(batch.has_value());
    out << "left to rewrite " << batch->examined - batch->current << ", failures " << batch->failures.size() << "\n";
    return out.str();
}

}  // namespace

TEST_CASE("a retention sweep killed -9 again and again finishes as an uninterrupted sweep") {
    TempDb pristine, reference, victim;
    seed_sweep(pristine.str());
    copy_db(pristine, reference);
    copy_db(pristine, victim);
    REQUIRE(sweep_once(reference.str()) == "");
    const std::string expected = sweep_snapshot(reference.str());
    // The reference itself keeps what the policy keeps: opt-outs, held leads, recent audit.
    CHECK(count(expected, " optout ") == 2 * ((leads_per_tenant + 2) / 3));  // every third number
    CHECK(count(expected, " held messages") == 2 * ((leads_per_tenant + 9) / 10));  // every tenth lead
    CHECK(count(expected, " audit read ") == 2 * 10);
    CHECK(expected.find("chain intact") != std::string::npos);
    const std::string before = sweep_snapshot(pristine.str());
    REQUIRE(before != expected);  // the sweep has work to do

    // Rounds on the same file: killed from the progress callback at chosen batches, then by the
    // parent after a delay (inside a transaction or between two), then a rerun to the end.
    int kills = 0;
    for (const int at_batch : {1, 3, 6, 10}) {
        const ChildEnd end = run_child([&](int fd) { return sweep_once(victim.str(), fd, at_batch).empty(); }, std::nullopt);
        CAPTURE(at_batch);
        CHECK(end.killed);
        kills += end.killed;
    }
    for (const int delay_us : {2'000, 7'000, 15'000, 30'000}) {
        const ChildEnd end = run_child([&](int fd) { return sweep_once(victim.str(), fd).empty(); },
                                       std::chrono::microseconds(delay_us));
        CHECK((end.killed || end.exit_code == 0));
        kills += end.killed;
    }
    MESSAGE("retention sweep: " << kills << " SIGKILLs delivered");
    CHECK(kills >= 4);
    REQUIRE(sweep_once(victim.str()) == "");
    CHECK(sweep_snapshot(victim.str()) == expected);
}

TEST_CASE("a re-encryption pass killed -9 again and again finishes as an uninterrupted pass") {
    TempDb pristine, reference, victim;
    seed_encrypted(pristine.str());
    copy_db(pristine, reference);
    copy_db(pristine, victim);
    const std::string reference_cursor = reference.str() + ".cursor", victim_cursor = victim.str() + ".cursor";
    REQUIRE(reencrypt(reference.str(), reference_cursor));
    const std::string expected = encrypted_snapshot(reference.str());
    CHECK(expected.find("left to rewrite 0, failures 0") != std::string::npos);
    CHECK(count(expected, " optout ") == 2 * 30);
    CHECK(count(expected, " held\n") == 2 * 12);

    int kills = 0;
    for (const int at_batch : {1, 3, 8, 20}) {
        const ChildEnd end = run_child([&](int fd) { return reencrypt(victim.str(), victim_cursor, fd, at_batch); }, std::nullopt);
        CAPTURE(at_batch);
        CHECK(end.killed);
        kills += end.killed;
    }
    for (const int delay_us : {1'000, 4'000, 9'000}) {
        const ChildEnd end = run_child([&](int fd) { return reencrypt(victim.str(), victim_cursor, fd); },
                                       std::chrono::microseconds(delay_us));
        CHECK((end.killed || end.exit_code == 0));
        kills += end.killed;
    }
    MESSAGE("re-encryption: " << kills << " SIGKILLs delivered");
    CHECK(kills >= 4);
    REQUIRE(reencrypt(victim.str(), victim_cursor));
    CHECK(encrypted_snapshot(victim.str()) == expected);
    std::error_code ignored;
    fs::remove(reference_cursor, ignored);
    fs::remove(victim_cursor, ignored);
}
