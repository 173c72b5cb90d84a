// Group commit in SqliteStore: writers on many threads, each returning only once its write is on
// disk (WAL, synchronous FULL), beside the same writes from one thread (one commit, one fsync
// each: what every writer paid before writes shared commits), in the same run.
//
// Each write is an inbound-activity upsert (what every webhook message stores). Figure: writes/s
// over all threads (items_per_second).
//
// BM_record_inbound_async: the same writes through record_inbound_async, as a server's I/O thread
// issues them: each thread keeps up to `window` (the argument) writes outstanding and counts one
// when its completion has run (its commit is on disk). The store's committer leads the groups. The file goes to HEROSHHI_BENCH_DIR if set, else the temp
// directory.
#include <benchmark/benchmark.h>

#include <heroshhi/storage/sqlite_store.hpp>

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace heroshhi;
namespace fs = std::filesystem;

std::string bench_path() {
    const char* dir = std::getenv("HEROSHHI_BENCH_DIR");
    return ((dir != nullptr && *dir != '\0' ? fs::path(dir) : fs::temp_directory_path()) /
            ("heroshhi-bench-group-commit-" + std::to_string(::getpid()) + ".db"))
        .string();
}

std::unique_ptr<storage::SqliteStore> store;
std::atomic<std::uint64_t> next_number{0};

/// Opens the store (thread 0 only) and warms it up past the first checkpoint, so that every run
/// appends to a WAL file that is reused rather than grown (growing it makes each sync also write
/// the file's size).
void open_and_warm_up(const benchmark::State& state) {
    if (state.thread_index() != 0) return;
    auto opened = storage::SqliteStore::open(bench_path());
    if (opened) store = std::move(opened).value();
    std::vector<std::thread> warm;
    for (int t = 0; t < 32 && store; ++t)
        warm.emplace_back([t] {
            for (int i = 0; i < 100; ++i)
                (void)store->activity().record_inbound(TenantId{"warm"}, *PhoneNumber::from_key(14'155'560'000ULL + t * 100 + i),
                                                       from_unix_ms(1'767'225'600'000));
        });
    for (auto& w : warm) w.join();
}

void close_store(const benchmark::State& state) {
    if (state.thread_index() != 0) return;
    store.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(bench_path() + suffix);
}

void BM_record_inbound(benchmark::State& state) {
    open_and_warm_up(state);
    // Google Benchmark starts every thread's loop together, after this setup.
    const TenantId tenant{"acme"};
    for (auto _ : state) {
        if (!store) {
            state.SkipWithError("cannot open the store");
            break;
        }
        const auto n = next_number.fetch_add(1, std::memory_order_relaxed);
        const auto phone = PhoneNumber::from_key(14'155'550'000ULL + n % 100'000);
        if (!store->activity().record_inbound(tenant, *phone, from_unix_ms(1'767'225'600'000 + std::int64_t(n)))) {
            state.SkipWithError("a write failed");
            break;
        }
    }
    state.SetItemsProcessed(state.iterations());
    close_store(state);
}
BENCHMARK(BM_record_inbound)->Threads(1)->Threads(8)->Threads(32)->UseRealTime()->MinTime(1.0);

/// One thread's writes in flight.
struct Window {
    std::mutex mutex;
    std::condition_variable changed;
    std::int64_t outstanding = 0;
    bool failed = false;
};

void BM_record_inbound_async(benchmark::State& state) {
    open_and_warm_up(state);
    const TenantId tenant{"acme"};
    const std::int64_t window_size = state.range(0);
    Window window;
    for (auto _ : state) {
        if (!store) {
            state.SkipWithError("cannot open the store");
            break;
        }
        {
            std::unique_lock lock(window.mutex);
            window.changed.wait(lock, [&] { return window.outstanding < window_size || window.failed; });
            if (window.failed) break;
            ++window.outstanding;
        }
        const auto n = next_number.fetch_add(1, std::memory_order_relaxed);
        const auto phone = PhoneNumber::from_key(14'155'550'000ULL + n % 100'000);
        const bool taken = store->activity().record_inbound_async(
            tenant, *phone, from_unix_ms(1'767'225'600'000 + std::int64_t(n)), [&window](Result<void> outcome) {
                std::lock_guard lock(window.mutex);  // notified under it: the window goes once it is empty
                --window.outstanding;
                window.failed = window.failed || !outcome;
                window.changed.notify_one();
            });
        if (!taken) {
            state.SkipWithError("the store offers no asynchronous write");
            break;
        }
    }
    {  // the last writes count only once they are on disk
        std::unique_lock lock(window.mutex);
        window.changed.wait(lock, [&] { return window.outstanding == 0; });
        if (window.failed) state.SkipWithError("a write failed");
    }
    state.SetItemsProcessed(state.iterations());
    close_store(state);
}
BENCHMARK(BM_record_inbound_async)->Arg(16)->Arg(256)->Threads(1)->Threads(8)->UseRealTime()->MinTime(1.0);

}  // namespace

BENCHMARK_MAIN();
