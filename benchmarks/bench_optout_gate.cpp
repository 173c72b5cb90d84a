// The check before every send, measured beside baselines in the same run:
//   - suppression lookup on a warm index of 1,000,000 opted-out contacts vs a bare
//     std::unordered_set<uint64_t> probe of the same keys (target: at most 2x);
//   - a full SendGate::check (target: at least 2 million checks/s on one thread);
//   - an audience of 1,000,000 contacts against 100,000 opted out vs the same anti-join in SQLite
//     with an index (target: at least 10x faster).
#include <benchmark/benchmark.h>

#include <heroshhi/core/clock.hpp>
#include <heroshhi/messaging/audience.hpp>
#include <heroshhi/messaging/send_gate.hpp>
#include <heroshhi/messaging/suppression_index.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <random>
#include <unordered_set>
#include <vector>

namespace {

using namespace heroshhi;

const TenantId tenant{"bench-tenant"};
constexpr std::uint64_t first_key = 14'150'000'000ULL;  // +1 415 000 0000 onwards

PhoneNumber number(std::uint64_t key) { return PhoneNumber::from_key(key).value(); }

// 1,000,000 opted-out contacts, and probe sequences over them in random order.
struct SuppressionWorld {
    static constexpr std::size_t contacts = 1'000'000;
    messaging::SuppressionIndex index;
    std::unordered_set<std::uint64_t> bare;
    std::vector<PhoneNumber> probes;
    std::vector<std::uint64_t> probe_keys;

    SuppressionWorld() {
        std::mt19937_64 rng(42);
        std::vector<std::uint64_t> keys;
        keys.reserve(contacts);
        for (std::size_t i = 0; i < contacts; ++i) keys.push_back(first_key + i * 7);  // spread like real numbers
        for (std::uint64_t k : keys) {
            optout::OptOutEvent e{tenant, number(k)};
            e.trigger = "STOP";
            index.apply(e);
            bare.insert(k);
        }
        index.mark_ready(tenant, true);
        std::shuffle(keys.begin(), keys.end(), rng);
        keys.resize(1 << 16);
        for (std::uint64_t k : keys) {
            probes.push_back(number(k));
            probe_keys.push_back(k);
        }
    }
    static SuppressionWorld& get() {
        static SuppressionWorld w;
        return w;
    }
};

// The tenant resolved once (as the audience filter does), then one lookup per contact.
void BM_suppression_check_index(benchmark::State& state) {
    auto& w = SuppressionWorld::get();
    const auto view = w.index.view(tenant);
    std::size_t i = 0, hits = 0;
    for (auto _ : state) hits += view.find(w.probes[i++ & (w.probes.size() - 1)]).facts.opted_out();
    if (hits != std::size_t(state.iterations())) state.SkipWithError("an opted-out contact was not found");
    state.SetItemsProcessed(state.iterations());
    state.counters["bytes_per_suppressed_contact"] =
        double(w.index.memory_bytes(tenant)) / double(SuppressionWorld::contacts);
}
BENCHMARK(BM_suppression_check_index);

// The same with the tenant looked up by id on every call (as SendGate::check does).
void BM_suppression_check_index_by_tenant_id(benchmark::State& state) {
    auto& w = SuppressionWorld::get();
    std::size_t i = 0, hits = 0;
    for (auto _ : state) hits += w.index.find(tenant, w.probes[i++ & (w.probes.size() - 1)]).facts.opted_out();
    if (hits != std::size_t(state.iterations())) state.SkipWithError("an opted-out contact was not found");
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_suppression_check_index_by_tenant_id);

void BM_baseline_unordered_set_probe(benchmark::State& state) {
    auto& w = SuppressionWorld::get();
    std::size_t i = 0, hits = 0;
    for (auto _ : state) hits += w.bare.count(w.probe_keys[i++ & (w.probe_keys.size() - 1)]);
    benchmark::DoNotOptimize(hits);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_baseline_unordered_set_probe);

// A full gate check for contacts who may receive a utility template (the common case), and for
// opted-out ones (a denial with its notice).
void BM_send_gate_check_allowed(benchmark::State& state) {
    static messaging::SuppressionIndex index;
    static std::vector<PhoneNumber> phones;
    if (phones.empty()) {
        for (std::uint64_t i = 0; i < 100'000; ++i) {
            phones.push_back(number(first_key + 3 * i));
            index.set_consent(tenant, phones.back(), true);
        }
        index.mark_ready(tenant, true);
    }
    ManualClock clock(from_unix_ms(1'793'628'187'000));
    messaging::SendGate gate(index, clock);
    std::size_t i = 0, allowed = 0;
    for (auto _ : state)
        allowed += gate.check(tenant, phones[i++ % phones.size()], messaging::MessageKind::utility_template).allowed();
    if (allowed != std::size_t(state.iterations())) state.SkipWithError("a check that should allow denied");
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_send_gate_check_allowed);

void BM_send_gate_check_opted_out(benchmark::State& state) {
    auto& w = SuppressionWorld::get();
    ManualClock clock(from_unix_ms(1'793'628'187'000));
    messaging::SendGate gate(w.index, clock);
    std::size_t i = 0, denied = 0;
    for (auto _ : state)
        denied += !gate.check(tenant, w.probes[i++ & (w.probes.size() - 1)], messaging::MessageKind::free_form).allowed();
    benchmark::DoNotOptimize(denied);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_send_gate_check_opted_out);

// Audience: 1,000,000 contacts, 100,000 of them opted out.
struct AudienceWorld {
    static constexpr std::size_t contacts = 1'000'000, opted_out = 100'000;
    const TenantId t{"audience-tenant"};
    messaging::SuppressionIndex index;
    std::vector<PhoneNumber> audience;
    sqlite3* db = nullptr;

    AudienceWorld() {
        std::mt19937_64 rng(7);
        for (std::size_t i = 0; i < contacts; ++i) audience.push_back(number(first_key + 11 * i));
        std::vector<std::size_t> picks(contacts);
        for (std::size_t i = 0; i < contacts; ++i) picks[i] = i;
        std::shuffle(picks.begin(), picks.end(), rng);
        picks.resize(opted_out);

        for (std::size_t i : picks) {
            optout::OptOutEvent e{t, audience[i]};
            e.trigger = "STOP";
            index.apply(e);
        }
        index.mark_ready(t, true);

        sqlite3_open(":memory:", &db);
        sqlite3_exec(db,
                     "CREATE TABLE contacts(pos INTEGER PRIMARY KEY, phone INTEGER NOT NULL);"
                     "CREATE TABLE optouts(phone INTEGER PRIMARY KEY);",
                     nullptr, nullptr, nullptr);
        sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
        sqlite3_stmt* ins = nullptr;
        sqlite3_prepare_v2(db, "INSERT INTO contacts(pos, phone) VALUES (?1, ?2)", -1, &ins, nullptr);
        for (std::size_t i = 0; i < contacts; ++i) {
            sqlite3_bind_int64(ins, 1, std::int64_t(i));
            sqlite3_bind_int64(ins, 2, std::int64_t(audience[i].key()));
            sqlite3_step(ins);
            sqlite3_reset(ins);
        }
        sqlite3_finalize(ins);
        sqlite3_prepare_v2(db, "INSERT INTO optouts(phone) VALUES (?1)", -1, &ins, nullptr);
        for (std::size_t i : picks) {
            sqlite3_bind_int64(ins, 1, std::int64_t(audience[i].key()));
            sqlite3_step(ins);
            sqlite3_reset(ins);
        }
        sqlite3_finalize(ins);
        sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    }
    static AudienceWorld& get() {
        static AudienceWorld w;
        return w;
    }
};

void BM_audience_filter_1M_vs_100k(benchmark::State& state) {
    auto& w = AudienceWorld::get();
    ManualClock clock(from_unix_ms(1'793'628'187'000));
    messaging::SendGate gate(w.index, clock);
    messaging::Audience audience(gate, w.index, clock);
    std::size_t sendable = 0;
    for (auto _ : state) {
        auto r = audience.filter(w.t, w.audience, messaging::MessageKind::utility_template);
        sendable = r.sendable.size();
    }
    if (sendable != AudienceWorld::contacts - AudienceWorld::opted_out) state.SkipWithError("wrong audience size");
    state.SetItemsProcessed(state.iterations() * std::int64_t(AudienceWorld::contacts));
}
BENCHMARK(BM_audience_filter_1M_vs_100k)->Unit(benchmark::kMillisecond);

void BM_baseline_sqlite_anti_join_1M_vs_100k(benchmark::State& state) {
    auto& w = AudienceWorld::get();
    sqlite3_stmt* q = nullptr;
    sqlite3_prepare_v2(w.db,
                       "SELECT c.phone FROM contacts c WHERE NOT EXISTS "
                       "(SELECT 1 FROM optouts o WHERE o.phone = c.phone) ORDER BY c.pos",
                       -1, &q, nullptr);
    std::size_t sendable = 0;
    for (auto _ : state) {
        std::vector<std::int64_t> out;
        out.reserve(AudienceWorld::contacts);
        while (sqlite3_step(q) == SQLITE_ROW) out.push_back(sqlite3_column_int64(q, 0));
        sqlite3_reset(q);
        sendable = out.size();
    }
    sqlite3_finalize(q);
    if (sendable != AudienceWorld::contacts - AudienceWorld::opted_out) state.SkipWithError("wrong anti-join size");
    state.SetItemsProcessed(state.iterations() * std::int64_t(AudienceWorld::contacts));
}
BENCHMARK(BM_baseline_sqlite_anti_join_1M_vs_100k)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
