// SqliteStore with field encryption on, beside the same store with it off, in the same run
// (argument 1 = encrypted, 0 = plaintext baseline):
//   - a contact put (one transaction) followed by find_by_phone of it: with encryption, three
//     AES-256-GCM encryptions and a blind index (two HMAC-SHA256) on the put, a blind index and
//     three decryptions on the find;
//   - an opt-out append (one transaction; with encryption, an insert and the ciphertext bound to
//     the assigned sequence in the same transaction);
//   - a scan of 10,000 opt-out events, as the engine does to warm its suppression index (with
//     encryption, one decryption per event).
// Each write commits to the WAL, so on a disk the fsync sets the pace of the first two. The files
// go to HEROSHHI_BENCH_DIR if set (e.g. /dev/shm, where a commit costs no disk wait and what
// encryption adds to the store's own work shows), else the temp directory.
#include <benchmark/benchmark.h>

#include <heroshhi/crypto/blind_index.hpp>
#include <heroshhi/crypto/key_ring.hpp>
#include <heroshhi/storage/sqlite_store.hpp>

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

/// A fresh database file per benchmark, removed afterwards.
struct TempFile {
    TempFile() {
        static std::atomic<int> n{0};
        const char* dir = std::getenv("HEROSHHI_BENCH_DIR");
        path = ((dir != nullptr && *dir != '\0' ? fs::path(dir) : fs::temp_directory_path()) /
                ("heroshhi-bench-sqlite-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".db"))
                   .string();
    }
    ~TempFile() {
        std::error_code ignored;
        for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path + suffix, ignored);
    }
    std::string path;
};

/// A store on a fresh file, encrypted or not, with the keys it needs.
struct Fixture {
    explicit Fixture(bool encrypted) {
        storage::SqliteOptions options;
        if (encrypted) {
            crypto::KeySet keys;
            keys.keys.push_back({crypto::KeyId{1}, crypto::SecretKey::generate().value()});
            keys.primary = crypto::KeyId{1};
            ring = std::make_unique<crypto::KeyRing>(crypto::KeyRing::create(std::move(keys)).value());
            index = std::make_unique<crypto::BlindIndex>(crypto::BlindIndex::create(crypto::SecretKey::generate().value()).value());
            options.keys = ring.get();
            options.blind_index = index.get();
        }
        store = storage::SqliteStore::open(file.path, options).value();
    }

    TempFile file;
    std::unique_ptr<crypto::KeyRing> ring;
    std::unique_ptr<crypto::BlindIndex> index;
    std::unique_ptr<storage::SqliteStore> store;
};

PhoneNumber number(std::uint64_t i) { return PhoneNumber::from_key(14'155'500'000 + i % 10'000'000).value(); }

const char* label(const benchmark::State& state) { return state.range(0) != 0 ? "encrypted" : "plaintext (baseline)"; }

void BM_sqlite_contact_put_find(benchmark::State& state) {
    Fixture f(state.range(0) != 0);
    std::uint64_t i = 0;
    for (auto _ : state) {
        storage::Contact c(tenant, ContactId{"contact-" + std::to_string(i)}, number(i));
        c.name = "Ada Lovelace";
        c.email = "ada.lovelace@example.com";
        c.source = "whatsapp";
        if (!f.store->contacts().put(c)) state.SkipWithError("put failed");
        auto found = f.store->contacts().find_by_phone(tenant, c.phone);
        if (!found || !found->has_value()) state.SkipWithError("find failed");
        ++i;
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(label(state));
}
BENCHMARK(BM_sqlite_contact_put_find)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_sqlite_optout_append(benchmark::State& state) {
    Fixture f(state.range(0) != 0);
    std::uint64_t i = 0;
    for (auto _ : state) {
        optout::OptOutEvent e(tenant, number(i++));
        e.trigger = "STOP";
        if (!f.store->optouts().append(e)) state.SkipWithError("append failed");
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(label(state));
}
BENCHMARK(BM_sqlite_optout_append)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_sqlite_optout_scan(benchmark::State& state) {
    Fixture f(state.range(0) != 0);
    constexpr std::uint64_t events = 10'000;
    for (std::uint64_t i = 0; i < events; ++i) {
        optout::OptOutEvent e(tenant, number(i));
        e.trigger = "STOP";
        if (!f.store->optouts().append(e)) state.SkipWithError("append failed");
    }
    for (auto _ : state) {
        std::uint64_t seen = 0;
        if (!f.store->optouts().scan(tenant, [&](const optout::OptOutEvent&) { ++seen; }) || seen != events)
            state.SkipWithError("scan failed");
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(events));
    state.SetLabel(label(state));
}
BENCHMARK(BM_sqlite_optout_scan)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
