// The store operations a gateway does most, on PostgreSQL beside SQLite in the same run
// (argument 0 = SqliteStore, the baseline; 1 = PostgresStore), one caller at a time:
//   - inbound record: what an inbound WhatsApp message costs the store (the webhook key
//     remembered, the message appended to the contact's history, the contact's last inbound time
//     moved): three writes, each committed;
//   - opt-out record: an opt-out event appended (one transaction; on PostgreSQL the tenant's
//     sequence row, the event and the NOTIFY to the other instances);
//   - status read: a number's opt-out history read back (what the gate's slow path and the
//     consent screens read) among 2,000 events of the tenant (two for each of 1,000 numbers).
// PostgreSQL: HEROSHHI_PG_URL names a server where the benchmark may create a database (it drops it
// afterwards); without it the PostgreSQL cases are skipped with a message. A throwaway local
// cluster with durable commits, as SQLite's:
//   HEROSHHI_PG_FSYNC=on tests/support/pg_cluster.sh start /tmp/pgbench
//   HEROSHHI_PG_URL=$(cat /tmp/pgbench/url) build/bench/benchmarks/bench_store_pg
//   tests/support/pg_cluster.sh stop /tmp/pgbench
// SQLite's file goes to HEROSHHI_BENCH_DIR if set, else the temp directory.
#include <benchmark/benchmark.h>

#include <heroshhi/storage/postgres_store.hpp>
#include <heroshhi/storage/sqlite_store.hpp>

#include "support/pg_test_db.hpp"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <unistd.h>

namespace {

using namespace heroshhi;
namespace fs = std::filesystem;

const TenantId tenant{"tenant-0042"};
const Timestamp t0 = from_unix_ms(1'764'000'000'000);

struct TempFile {
    TempFile() {
        static std::atomic<int> n{0};
        const char* dir = std::getenv("HEROSHHI_BENCH_DIR");
        path = ((dir != nullptr && *dir != '\0' ? fs::path(dir) : fs::temp_directory_path()) /
                ("heroshhi-bench-store-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".db"))
                   .string();
    }
    ~TempFile() {
        std::error_code ignored;
        for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path + suffix, ignored);
    }
    std::string path;
};

/// A fresh store of either kind; `store` is null (and `error` says why) when it cannot be had.
struct Fixture {
    explicit Fixture(bool postgres) {
        if (!postgres) {
            file = std::make_unique<TempFile>();
            auto s = storage::SqliteStore::open(file->path);
            if (s) store = std::move(s).value();
            else error = s.error().message();
            return;
        }
        const char* url = std::getenv("HEROSHHI_PG_URL");
        if (url == nullptr || *url == '\0') {
            error = "HEROSHHI_PG_URL is not set (see the comment at the top of bench_store_pg.cpp)";
            return;
        }
        db = std::make_unique<test_support::PgTestDb>();
        auto s = storage::PostgresStore::open(db->url());
        if (s) store = std::move(s).value();
        else error = s.error().message();
    }

    std::unique_ptr<TempFile> file;
    std::unique_ptr<test_support::PgTestDb> db;  // dropped after the store closes (declared first)
    std::unique_ptr<storage::StoreSet> store;
    std::string error;
};

PhoneNumber number(std::uint64_t i) { return PhoneNumber::from_key(14'155'500'000 + i % 10'000'000).value(); }
const char* label(const benchmark::State& state) { return state.range(0) != 0 ? "PostgreSQL" : "SQLite (baseline)"; }

void BM_store_inbound_record(benchmark::State& state) {
    Fixture f(state.range(0) != 0);
    if (!f.store) return state.SkipWithError(f.error.c_str());
    storage::Contact c(tenant, ContactId{"c-1"}, number(1));
    if (!f.store->contacts().put(c)) return state.SkipWithError("contact put failed");
    std::uint64_t i = 0;
    for (auto _ : state) {
        const std::string id = "wamid.in-" + std::to_string(i);
        storage::MessageRecord m;
        m.tenant = tenant;
        m.id = MessageId{id};
        m.contact = c.id;
        m.body = "Hi, is the flat still available?";
        m.provider_message_id = id;
        m.created_at = m.updated_at = t0 + std::chrono::milliseconds(i);
        const bool ok = f.store->dedup().remember(tenant, id, m.created_at).has_value() &&
                        f.store->messages().append(m).has_value() &&
                        f.store->activity().record_inbound(tenant, c.phone, m.created_at).has_value();
        if (!ok) return state.SkipWithError("an inbound write failed");
        ++i;
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(label(state));
}
BENCHMARK(BM_store_inbound_record)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_store_optout_record(benchmark::State& state) {
    Fixture f(state.range(0) != 0);
    if (!f.store) return state.SkipWithError(f.error.c_str());
    std::uint64_t i = 0;
    for (auto _ : state) {
        optout::OptOutEvent e(tenant, number(i));
        e.at = t0;
        e.trigger = "STOP";
        e.provider_message_id = "wamid.stop-" + std::to_string(i);
        if (!f.store->optouts().append(e)) return state.SkipWithError("append failed");
        ++i;
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(label(state));
}
BENCHMARK(BM_store_optout_record)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

/// The same with four callers at once, each for its own tenant (PostgreSQL's pool holds four
/// connections; SQLite commits concurrent writes together).
void BM_store_optout_record_4_callers(benchmark::State& state) {
    static std::unique_ptr<Fixture> shared;
    if (state.thread_index() == 0) shared = std::make_unique<Fixture>(state.range(0) != 0);
    // (The benchmark library waits for every thread here before the loop starts.)
    const TenantId mine{"tenant-" + std::to_string(state.thread_index())};
    std::uint64_t i = 0;
    for (auto _ : state) {
        if (!shared->store) {
            state.SkipWithError(shared->error.c_str());
            break;
        }
        optout::OptOutEvent e(mine, number(i));
        e.at = t0;
        e.trigger = "STOP";
        if (!shared->store->optouts().append(e)) {
            state.SkipWithError("append failed");
            break;
        }
        ++i;
    }
    state.SetItemsProcessed(state.iterations());
    if (state.thread_index() == 0) {
        state.SetLabel(label(state));
    }
}
BENCHMARK(BM_store_optout_record_4_callers)->Arg(0)->Arg(1)->Threads(4)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_store_status_read(benchmark::State& state) {
    Fixture f(state.range(0) != 0);
    if (!f.store) return state.SkipWithError(f.error.c_str());
    constexpr std::uint64_t events = 2'000;
    for (std::uint64_t i = 0; i < events; ++i) {
        optout::OptOutEvent e(tenant, number(i % 1'000));  // two events for each of 1,000 numbers
        e.at = t0;
        if (!f.store->optouts().append(e)) return state.SkipWithError("setup append failed");
    }
    std::uint64_t i = 0;
    for (auto _ : state) {
        auto history = f.store->optouts().history(tenant, number(i++ % 1'000));
        if (!history || history->size() != 2) return state.SkipWithError("history read failed");
        benchmark::DoNotOptimize(history);
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(label(state));
}
BENCHMARK(BM_store_status_read)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
