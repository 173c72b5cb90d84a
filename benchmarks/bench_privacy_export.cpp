// The customer's CSV export of its leads (privacy::Rights::export_leads_csv) over SQLite, beside a
// raw SELECT of the same rows and columns through the same SQLite library in the same run (the
// baseline: what reading the rows costs with no authorization, audit, paging through the port,
// Contact objects, CSV quoting or injection guard). Argument: the number of leads (100,000 and
// 1,000,000). Besides rows/s, each run reports the process's peak resident memory during the
// export above its resident memory before it (peak_over_start_MiB, from VmHWM after resetting it
// through /proc/self/clear_refs): it must not grow with the number of leads.
//
// The databases are built once per size with one bulk INSERT transaction (plaintext store,
// schema created by SqliteStore::open) in HEROSHHI_BENCH_DIR if set (e.g. /dev/shm), else the
// temp directory, and removed at exit.
#include <benchmark/benchmark.h>

#include <heroshhi/engine.hpp>
#include <heroshhi/privacy/rights.hpp>
#include <heroshhi/storage/sqlite_store.hpp>

#include <sqlite3.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <unistd.h>

namespace {

using namespace heroshhi;
namespace fs = std::filesystem;

const TenantId tenant{"tenant-0042"};

/// A field of /proc/self/status in KiB ("VmHWM", "VmRSS"); 0 if unreadable.
long status_kib(const std::string& field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(field + ":", 0) == 0) return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
    return 0;
}

/// Resets VmHWM to the current resident size (Linux: "5" to clear_refs).
void reset_peak() { std::ofstream("/proc/self/clear_refs") << "5"; }

/// One database of `leads` leads, built on first use and kept for the process.
class Database {
public:
    static Database& of(std::int64_t leads) {
        static std::map<std::int64_t, std::unique_ptr<Database>> all;
        auto& slot = all[leads];
        if (!slot) slot.reset(new Database(leads));
        return *slot;
    }
    ~Database() {
        std::error_code ignored;
        for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path_ + suffix, ignored);
    }
    const std::string& path() const { return path_; }

private:
    explicit Database(std::int64_t leads) {
        const char* dir = std::getenv("HEROSHHI_BENCH_DIR");
        path_ = ((dir != nullptr && *dir != '\0' ? fs::path(dir) : fs::temp_directory_path()) /
                 ("heroshhi-bench-export-" + std::to_string(::getpid()) + "-" + std::to_string(leads) + ".db"))
                    .string();
        { auto created = storage::SqliteStore::open(path_).value(); }  // the schema, in plaintext
        sqlite3* db = nullptr;
        sqlite3_open(path_.c_str(), &db);
        sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
        sqlite3_stmt* insert = nullptr;
        sqlite3_prepare_v2(db,
                           "INSERT INTO contacts (tenant, id, phone_key, phone_e164, name, email, source, assignee,"
                           " team, created_at_ms, updated_at_ms, deleted_at_ms, legal_hold, restricted)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'webhook', ?7, ?8, ?9, ?9, NULL, 0, 0)",
                           -1, &insert, nullptr);
        for (std::int64_t i = 0; i < leads; ++i) {
            char id[32];
            std::snprintf(id, sizeof id, "lead-%09lld", static_cast<long long>(i));
            const std::int64_t key = 14'155'500'000 + i;
            const std::string e164 = "+" + std::to_string(key);
            const std::string name = "Lead " + std::to_string(i) + ", \"Acme\" Ltd";
            const std::string email = "lead" + std::to_string(i) + "@example.com";
            const std::string assignee = "u-sales-" + std::to_string(i % 40);
            sqlite3_bind_text(insert, 1, tenant.value().c_str(), -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(insert, 2, id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(insert, 3, key);
            sqlite3_bind_text(insert, 4, e164.c_str(), -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(insert, 5, name.c_str(), -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(insert, 6, email.c_str(), -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(insert, 7, assignee.c_str(), -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(insert, 8, i % 2 == 0 ? "north" : "south", -1, SQLITE_STATIC);
            sqlite3_bind_int64(insert, 9, 1'764'000'000'000 + i);
            sqlite3_step(insert);
            sqlite3_reset(insert);
        }
        sqlite3_finalize(insert);
        sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
        sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
        sqlite3_close(db);
    }
    std::string path_;
};

void report_memory(benchmark::State& state, long rss_before_kib) {
    const long peak = status_kib("VmHWM");
    state.counters["peak_over_start_MiB"] = static_cast<double>(peak - rss_before_kib) / 1024.0;
    state.counters["peak_rss_MiB"] = static_cast<double>(peak) / 1024.0;
}

void BM_export_leads_csv(benchmark::State& state) {
    const std::int64_t leads = state.range(0);
    const Database& db = Database::of(leads);
    auto store = storage::SqliteStore::open(db.path()).value();
    ManualClock clock{from_unix_ms(1'764'000'000'000)};
    Engine engine(*store, clock);
    privacy::Rights rights(engine, *store, clock);
    const rbac::Principal admin{UserId{"u-admin"}, tenant, rbac::Role::admin};
    std::size_t bytes = 0;
    const privacy::Sink discard = [&](std::string_view chunk) {
        bytes += chunk.size();
        return true;
    };
    reset_peak();
    const long before = status_kib("VmRSS");
    for (auto _ : state) {
        auto r = rights.export_leads_csv(admin, tenant, discard);
        if (!r || !r->allowed() || r->value->leads != static_cast<std::size_t>(leads)) state.SkipWithError("export failed");
    }
    report_memory(state, before);
    state.SetItemsProcessed(state.iterations() * leads);
    state.counters["csv_MiB"] = static_cast<double>(bytes) / static_cast<double>(state.iterations()) / (1024.0 * 1024.0);
    state.SetLabel("privacy::Rights::export_leads_csv");
}
BENCHMARK(BM_export_leads_csv)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_raw_select_baseline(benchmark::State& state) {
    const std::int64_t leads = state.range(0);
    const Database& db = Database::of(leads);
    sqlite3* raw = nullptr;
    sqlite3_open_v2(db.path().c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* select = nullptr;
    sqlite3_prepare_v2(raw,
                       "SELECT id, phone_key, name, email, source, assignee, team, created_at_ms, updated_at_ms,"
                       " deleted_at_ms, legal_hold, restricted, phone_e164, analytics_objection"
                       " FROM contacts WHERE tenant = ?1 ORDER BY id",
                       -1, &select, nullptr);
    reset_peak();
    const long before = status_kib("VmRSS");
    std::size_t bytes = 0;
    for (auto _ : state) {
        sqlite3_bind_text(select, 1, tenant.value().c_str(), -1, SQLITE_TRANSIENT);
        std::int64_t rows = 0;
        while (sqlite3_step(select) == SQLITE_ROW) {
            for (int c = 0; c < 14; ++c) {
                sqlite3_column_text(select, c);
                bytes += static_cast<std::size_t>(sqlite3_column_bytes(select, c));
            }
            ++rows;
        }
        sqlite3_reset(select);
        if (rows != leads) state.SkipWithError("select failed");
    }
    benchmark::DoNotOptimize(bytes);
    report_memory(state, before);
    sqlite3_finalize(select);
    sqlite3_close(raw);
    state.SetItemsProcessed(state.iterations() * leads);
    state.SetLabel("raw SELECT of the same rows (baseline)");
}
BENCHMARK(BM_raw_select_baseline)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
