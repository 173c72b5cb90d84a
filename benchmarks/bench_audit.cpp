// The audit log, measured beside baselines in the same run:
//   - appends to SQLite with hash chaining, in batches of 100, 1,000 and 10,000 entries per
//     transaction (target: at least 100,000 entries/s), one entry per transaction, and many
//     threads appending one entry each (group commit); baseline: raw SQLite INSERTs of the same
//     rows into the same table and indexes, 1,000 per transaction, prepared once. Rates of the
//     SQLite writes are per wall-clock second (each commit waits for the disk);
//   - verification of a 100,000-entry chain from SQLite and from memory (target: at least
//     1,000,000 entries/s); baselines: raw SHA-256 (OpenSSL EVP) of the same number of bytes, and
//     raw SQLite scans of the same rows (every column of `SELECT *`, as a generic reader would;
//     and the columns verification reads, over a connection without SQLite's own mutex, as the
//     store does). Verification hashes on a second thread while it reads, so its rates are per
//     wall-clock second, with the CPU time of the whole process beside them;
//   - audit::chain_hash of one entry (encoding + SHA-256) beside raw SHA-256 of its bytes.
#include <benchmark/benchmark.h>

#include <heroshhi/audit/log.hpp>
#include <heroshhi/storage/memory_store.hpp>
#include <heroshhi/storage/sqlite_store.hpp>

#include <openssl/evp.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using namespace heroshhi;
namespace fs = std::filesystem;

const TenantId tenant{"tenant-0042"};

audit::Entry entry(std::size_t i) {
    audit::Entry e;
    e.tenant = tenant;
    e.actor = audit::Actor::member(UserId{"user-" + std::to_string(i % 50)}, rbac::Role::sales);
    e.action = i % 3 == 0 ? "opt_out.manual" : "read";
    e.target_type = "contact";
    e.target_id = "contact-" + std::to_string(i % 10'000);
    e.outcome = i % 5 == 0 ? Reason::not_authorized : Reason::allowed;
    e.rule = i % 5 == 0 ? "default.deny" : "sales.assigned_leads";
    e.request_id = "9b2f6c1e-4d1a-4c3b-8e7f-" + std::to_string(100'000'000'000 + i);
    e.policy_revision = "builtin-1";
    return e;
}

/// A fresh database file per benchmark, removed afterwards.
struct TempFile {
    TempFile() {
        static std::atomic<int> n{0};
        path = (fs::temp_directory_path() /
                ("heroshhi-bench-audit-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".db"))
                   .string();
    }
    ~TempFile() {
        std::error_code ignored;
        for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path + suffix, ignored);
    }
    std::string path;
};

void BM_audit_append_sqlite_batch(benchmark::State& state) {
    TempFile file;
    auto store = storage::SqliteStore::open(file.path).value();
    SystemClock clock;
    audit::Log log(store->audit(), clock);
    const auto batch_size = static_cast<std::size_t>(state.range(0));
    std::vector<audit::Entry> batch;
    std::size_t n = 0;
    for (auto _ : state) {
        state.PauseTiming();
        batch.clear();
        for (std::size_t i = 0; i < batch_size; ++i) batch.push_back(entry(n++));
        state.ResumeTiming();
        if (!log.append(std::span<audit::Entry>(batch))) state.SkipWithError("append failed");
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch_size));
}
BENCHMARK(BM_audit_append_sqlite_batch)
    ->Arg(100)
    ->Arg(1000)
    ->Arg(10000)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Concurrent writers, one entry per call: the log commits whatever is waiting in one transaction.
void BM_audit_append_sqlite_concurrent(benchmark::State& state) {
    static std::unique_ptr<TempFile> file;
    static std::unique_ptr<storage::SqliteStore> store;
    static std::unique_ptr<audit::Log> log;
    static SystemClock clock;
    if (state.thread_index() == 0) {
        log.reset();
        store.reset();
        file = std::make_unique<TempFile>();
        store = storage::SqliteStore::open(file->path).value();
        log = std::make_unique<audit::Log>(store->audit(), clock);
    }
    // Google Benchmark starts the timed loop of all threads together, after thread 0's setup.
    std::size_t n = static_cast<std::size_t>(state.thread_index()) * 1'000'000;
    for (auto _ : state)
        if (!log->append(entry(n++))) state.SkipWithError("append failed");
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_audit_append_sqlite_concurrent)->Threads(1)->Threads(16)->UseRealTime();

/// The same schema as SqliteStore's audit_entries (copied from its migration 2), for the baseline.
constexpr const char* baseline_schema = R"sql(
PRAGMA journal_mode = WAL;
CREATE TABLE audit_entries (
    tenant TEXT NOT NULL, sequence INTEGER NOT NULL, at_ms INTEGER NOT NULL, actor_user TEXT,
    actor_role TEXT NOT NULL, action TEXT NOT NULL, target_type TEXT NOT NULL, target_id TEXT NOT NULL,
    outcome TEXT NOT NULL, rule TEXT NOT NULL, request_id TEXT NOT NULL, policy_revision TEXT NOT NULL,
    prev_hash BLOB NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (tenant, sequence)) WITHOUT ROWID;
CREATE INDEX audit_entries_by_actor ON audit_entries (tenant, actor_user, sequence);
CREATE INDEX audit_entries_by_target ON audit_entries (tenant, target_type, target_id, sequence);
)sql";

struct RawDb {
    explicit RawDb(const std::string& path) {
        sqlite3_open(path.c_str(), &db);
        sqlite3_exec(db, baseline_schema, nullptr, nullptr, nullptr);
    }
    ~RawDb() { sqlite3_close_v2(db); }
    sqlite3* db = nullptr;
};

void bind_text(sqlite3_stmt* s, int i, const std::string& v) {
    sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

void insert_rows(sqlite3* db, sqlite3_stmt* insert, const std::vector<audit::Entry>& rows, std::int64_t& sequence) {
    const audit::Hash hash{};
    sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    for (const audit::Entry& e : rows) {
        sqlite3_bind_text(insert, 1, e.tenant.value().c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(insert, 2, ++sequence);
        sqlite3_bind_int64(insert, 3, 1'764'000'000'000 + sequence);
        bind_text(insert, 4, e.actor.user.value());
        sqlite3_bind_text(insert, 5, "sales", -1, SQLITE_STATIC);
        bind_text(insert, 6, e.action);
        bind_text(insert, 7, e.target_type);
        bind_text(insert, 8, e.target_id);
        sqlite3_bind_text(insert, 9, "allowed", -1, SQLITE_STATIC);
        bind_text(insert, 10, e.rule);
        bind_text(insert, 11, e.request_id);
        bind_text(insert, 12, e.policy_revision);
        sqlite3_bind_blob(insert, 13, hash.data(), 32, SQLITE_TRANSIENT);
        sqlite3_bind_blob(insert, 14, hash.data(), 32, SQLITE_TRANSIENT);
        sqlite3_step(insert);
        sqlite3_reset(insert);
    }
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
}

void BM_baseline_sqlite_insert_1000_per_transaction(benchmark::State& state) {
    TempFile file;
    RawDb raw(file.path);
    sqlite3_stmt* insert = nullptr;
    sqlite3_prepare_v2(raw.db,
                       "INSERT INTO audit_entries VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                       -1, &insert, nullptr);
    std::vector<audit::Entry> rows;
    std::int64_t sequence = 0;
    std::size_t n = 0;
    for (auto _ : state) {
        state.PauseTiming();
        rows.clear();
        for (int i = 0; i < 1000; ++i) rows.push_back(entry(n++));
        state.ResumeTiming();
        insert_rows(raw.db, insert, rows, sequence);
    }
    sqlite3_finalize(insert);
    state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_baseline_sqlite_insert_1000_per_transaction)->UseRealTime()->Unit(benchmark::kMillisecond);

constexpr std::size_t chain_length = 100'000;

/// A 100,000-entry chain in a SQLite file and in memory, built once.
struct Chains {
    TempFile file;
    std::unique_ptr<storage::SqliteStore> sqlite = storage::SqliteStore::open(file.path).value();
    storage::MemoryStore memory;
    SystemClock clock;
    audit::Log on_sqlite{sqlite->audit(), clock};
    audit::Log in_memory{memory.audit(), clock};
    std::size_t bytes = 0;  // canonical bytes hashed per full verification

    Chains() {
        std::vector<audit::Entry> batch;
        for (std::size_t i = 0; i < chain_length; i += 1000) {
            batch.clear();
            for (std::size_t j = i; j < i + 1000; ++j) batch.push_back(entry(j));
            (void)on_sqlite.append(std::span<audit::Entry>(batch));
            for (const auto& e : batch) bytes += sizeof audit::chain_domain - 1 + 32 + audit::canonical_encoding(e).size();
            (void)in_memory.append(std::span<audit::Entry>(batch));
        }
    }
    static Chains& get() {
        static Chains c;
        return c;
    }
};

void BM_audit_verify_sqlite(benchmark::State& state) {
    auto& c = Chains::get();
    for (auto _ : state) {
        auto v = c.on_sqlite.verify(tenant);
        if (!v || !v->intact() || v->checked != std::int64_t(chain_length)) state.SkipWithError("verification failed");
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(chain_length));
}
BENCHMARK(BM_audit_verify_sqlite)->MeasureProcessCPUTime()->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_audit_verify_memory(benchmark::State& state) {
    auto& c = Chains::get();
    for (auto _ : state) {
        auto v = c.in_memory.verify(tenant);
        if (!v || !v->intact() || v->checked != std::int64_t(chain_length)) state.SkipWithError("verification failed");
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(chain_length));
}
BENCHMARK(BM_audit_verify_memory)->MeasureProcessCPUTime()->UseRealTime()->Unit(benchmark::kMillisecond);

// Baseline: SHA-256 over the same bytes a verification hashes, in entry-sized pieces.
void BM_baseline_sha256_same_bytes(benchmark::State& state) {
    auto& c = Chains::get();
    const std::size_t piece = c.bytes / chain_length;
    std::vector<unsigned char> buffer(piece, 0x5a);
    EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    unsigned char out[32];
    unsigned int size = 0;
    for (auto _ : state) {
        for (std::size_t i = 0; i < chain_length; ++i) {
            EVP_DigestInit_ex2(ctx, md, nullptr);
            EVP_DigestUpdate(ctx, buffer.data(), buffer.size());
            EVP_DigestFinal_ex(ctx, out, &size);
            buffer[0] = out[0];
        }
    }
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(chain_length));
    state.counters["bytes_per_entry"] = double(piece);
}
BENCHMARK(BM_baseline_sha256_same_bytes)->UseRealTime()->Unit(benchmark::kMillisecond);

// Baseline: stepping through the same rows with a raw SQLite query, every column read.
void BM_baseline_sqlite_scan_same_rows(benchmark::State& state) {
    auto& c = Chains::get();
    sqlite3* db = nullptr;
    sqlite3_open_v2(c.file.path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* select = nullptr;
    sqlite3_prepare_v2(db, "SELECT * FROM audit_entries WHERE tenant = ?1 ORDER BY sequence", -1, &select, nullptr);
    for (auto _ : state) {
        sqlite3_bind_text(select, 1, tenant.value().c_str(), -1, SQLITE_STATIC);
        std::size_t rows = 0, bytes = 0;
        while (sqlite3_step(select) == SQLITE_ROW) {
            ++rows;
            for (int col = 0; col < 14; ++col) bytes += static_cast<std::size_t>(sqlite3_column_bytes(select, col));
        }
        sqlite3_reset(select);
        benchmark::DoNotOptimize(bytes);
        if (rows != chain_length) state.SkipWithError("rows missing");
    }
    sqlite3_finalize(select);
    sqlite3_close_v2(db);
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(chain_length));
}
BENCHMARK(BM_baseline_sqlite_scan_same_rows)->UseRealTime()->Unit(benchmark::kMillisecond);

// Baseline: the columns verification reads, in pages of 4,096 rows, each text read once with its
// length, over a connection without SQLite's mutex: the least a reader of these rows can do.
void BM_baseline_sqlite_scan_verified_columns(benchmark::State& state) {
    auto& c = Chains::get();
    sqlite3* db = nullptr;
    sqlite3_open_v2(c.file.path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
    sqlite3_stmt* select = nullptr;
    sqlite3_prepare_v2(db,
                       "SELECT sequence, at_ms, actor_user, actor_role, action, target_type, target_id, outcome, rule,"
                       " request_id, policy_revision, prev_hash, hash FROM audit_entries"
                       " WHERE tenant = ?1 AND sequence > ?2 ORDER BY sequence LIMIT 4096",
                       -1, &select, nullptr);
    for (auto _ : state) {
        std::size_t rows = 0, bytes = 0;
        std::int64_t after = 0;
        for (std::size_t page = 4096; page == 4096;) {
            sqlite3_bind_text(select, 1, tenant.value().c_str(), -1, SQLITE_STATIC);
            sqlite3_bind_int64(select, 2, after);
            page = 0;
            while (sqlite3_step(select) == SQLITE_ROW) {
                ++page;
                after = sqlite3_column_int64(select, 0);
                bytes += static_cast<std::size_t>(sqlite3_column_int64(select, 1));
                for (int col = 2; col < 11; ++col) {
                    benchmark::DoNotOptimize(sqlite3_column_text(select, col));
                    bytes += static_cast<std::size_t>(sqlite3_column_bytes(select, col));
                }
                for (int col = 11; col < 13; ++col) {
                    benchmark::DoNotOptimize(sqlite3_column_blob(select, col));
                    bytes += static_cast<std::size_t>(sqlite3_column_bytes(select, col));
                }
            }
            sqlite3_reset(select);
            rows += page;
        }
        benchmark::DoNotOptimize(bytes);
        if (rows != chain_length) state.SkipWithError("rows missing");
    }
    sqlite3_finalize(select);
    sqlite3_close_v2(db);
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(chain_length));
}
BENCHMARK(BM_baseline_sqlite_scan_verified_columns)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_audit_chain_hash_one_entry(benchmark::State& state) {
    audit::Entry e = entry(12345);
    e.sequence = 12345;
    audit::Hash previous{};
    for (auto _ : state) {
        previous = audit::chain_hash(previous, e);
        benchmark::DoNotOptimize(previous);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_audit_chain_hash_one_entry);

void BM_baseline_sha256_one_entry(benchmark::State& state) {
    audit::Entry e = entry(12345);
    std::string bytes = std::string(audit::chain_domain) + std::string(32, '\0') + audit::canonical_encoding(e);
    EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    unsigned char out[32];
    unsigned int size = 0;
    for (auto _ : state) {
        EVP_DigestInit_ex2(ctx, md, nullptr);
        EVP_DigestUpdate(ctx, bytes.data(), bytes.size());
        EVP_DigestFinal_ex(ctx, out, &size);
        bytes[0] = static_cast<char>(out[0]);
    }
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_baseline_sha256_one_entry);

}  // namespace

BENCHMARK_MAIN();
