// The retention sweep over SQLite, at 100,000 and 1,000,000 leads of one tenant with 5 messages
// each, 10% of the leads expired (soft-deleted 40 days ago, so hard-deleted with their messages);
// the tenant deletes leads idle for a year, so the sweep also scans every live lead for inactivity
// (none is idle). Measured beside a baseline in the same run: the same deletions as two plain
// bulk DELETE statements in one transaction on a copy of the same file (no batching, no analytics,
// no legal-hold checks, no journal, no audit) — the floor a sweep cannot beat.
//
// Reported per size: rows deleted per second (leads + messages, wall clock), and memory during the
// sweep: the peak of live C++ heap bytes above what was live before (a counting operator new),
// SQLite's own allocator high-water mark (sqlite3_status64), and the growth of the process's
// maximum RSS (getrusage). Peak memory must not grow with the table size.
//
// Seeding uses one transaction and prepared statements on a raw connection (synchronous = OFF):
// a million leads and five million messages take about a minute here.
#include <benchmark/benchmark.h>

#include <heroshhi/audit/log.hpp>
#include <heroshhi/retention/policy.hpp>
#include <heroshhi/retention/sweeper.hpp>
#include <heroshhi/storage/sqlite_store.hpp>

#include <sqlite3.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <string>

#include <malloc.h>

// ------------------------------------------------------------------------------------------------
// A counting allocator: live bytes and their peak, for the C++ side of the sweep.

namespace {
std::atomic<std::int64_t> live_bytes{0};
std::atomic<std::int64_t> peak_bytes{0};

void note_alloc(void* p) {
    if (p == nullptr) return;
    const auto now = live_bytes.fetch_add(static_cast<std::int64_t>(malloc_usable_size(p))) +
                     static_cast<std::int64_t>(malloc_usable_size(p));
    auto peak = peak_bytes.load();
    while (now > peak && !peak_bytes.compare_exchange_weak(peak, now)) {
    }
}
void note_free(void* p) {
    if (p != nullptr) live_bytes.fetch_sub(static_cast<std::int64_t>(malloc_usable_size(p)));
}
void* counted_new(std::size_t n) {
    void* p = std::malloc(n == 0 ? 1 : n);
    if (p == nullptr) throw std::bad_alloc();
    note_alloc(p);
    return p;
}
void counted_delete(void* p) noexcept {
    note_free(p);
    std::free(p);
}
}  // namespace

void* operator new(std::size_t n) { return counted_new(n); }
void* operator new[](std::size_t n) { return counted_new(n); }
void operator delete(void* p) noexcept { counted_delete(p); }
void operator delete[](void* p) noexcept { counted_delete(p); }
void operator delete(void* p, std::size_t) noexcept { counted_delete(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_delete(p); }

namespace {

using namespace heroshhi;
namespace fs = std::filesystem;

const TenantId tenant{"tenant-0042"};

struct Files {
    Files() {
        const auto base = fs::temp_directory_path() / ("heroshhi-bench-retention-" + std::to_string(::getpid()));
        sweep = base.string() + "-sweep.db";
        baseline = base.string() + "-baseline.db";
    }
    ~Files() {
        std::error_code ignored;
        for (const std::string& f : {sweep, baseline})
            for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(f + suffix, ignored);
    }
    std::string sweep;
    std::string baseline;
};

bool exec(sqlite3* db, const char* sql) {
    char* error = nullptr;
    const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
    if (rc != SQLITE_OK) std::fprintf(stderr, "%s: %s\n", sql, error != nullptr ? error : "?");
    sqlite3_free(error);
    return rc == SQLITE_OK;
}

/// `leads` leads of one tenant with 5 messages each; every 10th soft-deleted 40 days before `now`,
/// the rest active within the last 10 days.
bool seed(const std::string& path, std::int64_t leads, Timestamp now) {
    { auto store = storage::SqliteStore::open(path); if (!store) return false; }  // the schema
    std::int64_t keys[16];
    for (int i = 0; i < 16; ++i) keys[i] = static_cast<std::int64_t>(PhoneNumber::parse("+1415555" + std::to_string(1000 + i)).value().key());
    sqlite3* db = nullptr;
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return false;
    bool ok = exec(db, "PRAGMA synchronous = OFF") && exec(db, "BEGIN");
    sqlite3_stmt* contact = nullptr;
    sqlite3_stmt* message = nullptr;
    ok = ok && sqlite3_prepare_v2(db,
                                  "INSERT INTO contacts (tenant, id, phone_key, phone_e164, name, email, source, assignee,"
                                  " team, created_at_ms, updated_at_ms, deleted_at_ms, legal_hold, restricted)"
                                  " VALUES (?1, ?2, ?3, '+14155551000', ?4, 'lead@example.com', ?5, 'u-7', 'north', ?6, ?6, ?7, 0, 0)",
                                  -1, &contact, nullptr) == SQLITE_OK;
    ok = ok && sqlite3_prepare_v2(db,
                                  "INSERT INTO messages (tenant, id, contact_id, direction, body, status,"
                                  " provider_message_id, created_at_ms, updated_at_ms)"
                                  " VALUES (?1, ?2, ?3, ?4, 'Is the flat on Elm Street still available?', 'delivered', '', ?5, ?5)",
                                  -1, &message, nullptr) == SQLITE_OK;
    const std::int64_t day_ms = 86'400'000;
    char id[32];
    char mid[40];
    for (std::int64_t i = 0; ok && i < leads; ++i) {
        const bool expired = i % 10 == 0;
        const std::int64_t active = to_unix_ms(now) - (expired ? 60 : (i % 10)) * day_ms;
        std::snprintf(id, sizeof id, "lead-%08lld", static_cast<long long>(i));
        sqlite3_bind_text(contact, 1, tenant.value().c_str(), -1, SQLITE_STATIC);
        sqlite3_bind_text(contact, 2, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(contact, 3, keys[i % 16]);
        sqlite3_bind_text(contact, 4, "A. Lead", -1, SQLITE_STATIC);
        sqlite3_bind_text(contact, 5, i % 3 == 0 ? "integration" : "whatsapp", -1, SQLITE_STATIC);
        sqlite3_bind_int64(contact, 6, active);
        if (expired) sqlite3_bind_int64(contact, 7, to_unix_ms(now) - 40 * day_ms);
        else sqlite3_bind_null(contact, 7);
        ok = sqlite3_step(contact) == SQLITE_DONE;
        sqlite3_reset(contact);
        for (int m = 0; ok && m < 5; ++m) {
            std::snprintf(mid, sizeof mid, "%s-m%d", id, m);
            sqlite3_bind_text(message, 1, tenant.value().c_str(), -1, SQLITE_STATIC);
            sqlite3_bind_text(message, 2, mid, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(message, 3, id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(message, 4, m % 2 ? "outbound" : "inbound", -1, SQLITE_STATIC);
            sqlite3_bind_int64(message, 5, active - (5 - m) * 3'600'000);
            ok = sqlite3_step(message) == SQLITE_DONE;
            sqlite3_reset(message);
        }
    }
    sqlite3_finalize(contact);
    sqlite3_finalize(message);
    ok = ok && exec(db, "COMMIT") && exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    sqlite3_close(db);
    return ok;
}

std::int64_t max_rss_kib() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

/// Runs a prepared statement with the tenant as ?1 and the cutoff as ?2; returns the rows changed.
std::int64_t run_delete(sqlite3* db, const char* sql, std::int64_t cutoff) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) return -1;
    sqlite3_bind_text(st, 1, tenant.value().c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, cutoff);
    const int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? sqlite3_changes64(db) : -1;
}

/// The same deletions as plain SQL; returns rows deleted and sets `seconds`.
std::int64_t baseline_delete(const std::string& path, Timestamp now, double& seconds) {
    sqlite3* db = nullptr;
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return -1;
    const std::int64_t cutoff = to_unix_ms(now) - 30 * 86'400'000LL;
    exec(db, "PRAGMA foreign_keys = ON");
    const auto start = std::chrono::steady_clock::now();
    exec(db, "BEGIN IMMEDIATE");
    std::int64_t rows = run_delete(db,
                                   "DELETE FROM messages WHERE tenant = ?1 AND contact_id IN (SELECT id FROM contacts"
                                   " WHERE tenant = ?1 AND deleted_at_ms IS NOT NULL AND deleted_at_ms <= ?2)",
                                   cutoff);
    rows += run_delete(db, "DELETE FROM contacts WHERE tenant = ?1 AND deleted_at_ms IS NOT NULL AND deleted_at_ms <= ?2",
                       cutoff);
    exec(db, "COMMIT");
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    sqlite3_close(db);
    return rows;
}

void BM_retention_sweep_sqlite(benchmark::State& state) {
    const std::int64_t leads = state.range(0);
    const Timestamp now = from_unix_ms(1'767'225'600'000);
    Files files;
    if (!seed(files.sweep, leads, now)) return state.SkipWithError("seeding failed");
    fs::copy_file(files.sweep, files.baseline, fs::copy_options::overwrite_existing);

    retention::PolicyConfig config;
    config.defaults.lead_retention = retention::Days{365};
    const auto policy = retention::Policy::create(config).value();
    std::int64_t deleted = 0;
    for (auto _ : state) {
        auto store = storage::SqliteStore::open(files.sweep).value();
        ManualClock clock{now};
        audit::Log log(store->audit(), clock);
        auto sweeper = retention::Sweeper::create(policy, store->retention(), log, clock).value();

        const std::int64_t rss_before = max_rss_kib();
        sqlite3_int64 sqlite_now = 0, sqlite_peak = 0;
        sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &sqlite_now, &sqlite_peak, 1);  // reset the high-water mark
        const std::int64_t heap_before = live_bytes.load();
        peak_bytes.store(heap_before);

        const auto start = std::chrono::steady_clock::now();
        auto report = sweeper.run(now);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        state.SetIterationTime(seconds);
        if (!report) return state.SkipWithError(report.error().message().c_str());

        sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &sqlite_now, &sqlite_peak, 0);
        const auto lead = report->total(retention::Category::lead);
        deleted = lead.hard_deleted + lead.cascaded;
        state.counters["rows_deleted"] = static_cast<double>(deleted);
        state.counters["rows_deleted_per_s"] = static_cast<double>(deleted) / seconds;
        state.counters["peak_heap_KiB"] = static_cast<double>(peak_bytes.load() - heap_before) / 1024.0;
        state.counters["sqlite_peak_KiB"] = static_cast<double>(sqlite_peak) / 1024.0;
        state.counters["max_rss_growth_KiB"] = static_cast<double>(max_rss_kib() - rss_before);
    }
    double baseline_seconds = 0;
    const std::int64_t baseline_rows = baseline_delete(files.baseline, now, baseline_seconds);
    if (baseline_rows != deleted) return state.SkipWithError("the baseline deleted a different number of rows");
    state.counters["baseline_rows_per_s"] = static_cast<double>(baseline_rows) / baseline_seconds;
}
BENCHMARK(BM_retention_sweep_sqlite)
    ->Arg(100'000)
    ->Arg(1'000'000)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
