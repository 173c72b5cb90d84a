// Authorization decisions, measured beside baselines in the same run:
//   - Authorizer::check (snapshot load, tenant isolation, compiled matrix, condition) for one
//     principal, for 10 users, and for 100,000 users across 1,000 tenants (target: at least
//     10 million decisions/s on one thread; flat: the 100,000-user figure within 1.5x of the
//     10-user one);
//   - the checker holds nothing per user or tenant; what can grow with 100,000 users is the
//     host's own data, 100,000 principals and leads (25 MB). "active" draws the checks from the
//     2,000 users (spread over all 1,000 tenants) a server is serving at the moment, whose
//     objects are in cache; "cold" draws them from all 100,000 in random order, so nearly every
//     check misses the cache on the host's objects, like the cold baseline beside it;
//   - Policy::evaluate alone (no snapshot load), to show what the atomic snapshot costs;
//   - baselines: a bare array lookup of the same cell, and a bare std::unordered_map lookup of a
//     user id (what a host pays just to find a user's role).
#include <benchmark/benchmark.h>

#include <heroshhi/rbac/authorizer.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using namespace heroshhi;
using namespace heroshhi::rbac;

constexpr Action probe_actions[] = {Action::read, Action::update, Action::send, Action::export_};

/// Users spread over tenants (roles in turn, seven teams), one lead per user in the user's tenant
/// and team (every other one assigned to the user), and random sequences of (user, lead, action)
/// probes.
struct World {
    std::vector<Principal> users;
    std::vector<Resource> leads;  // leads[i] belongs to users[i]'s tenant
    struct Probe {
        std::uint32_t user;
        std::uint32_t lead;
        Action action;
    };
    std::vector<Probe> probes;         // users drawn from all of them
    std::vector<Probe> active_probes;  // users drawn from the first 2,000 (all tenants, all roles)

    World(std::size_t user_count, std::size_t tenant_count) {
        std::mt19937_64 rng(7);
        users.reserve(user_count);
        leads.reserve(user_count);
        for (std::size_t i = 0; i < user_count; ++i) {
            const TenantId tenant{"tenant-" + std::to_string(i % tenant_count)};
            const Role role = all_roles[i % role_count];
            users.push_back(
                Principal{UserId{"user-" + std::to_string(i)}, tenant, role, "team-" + std::to_string(i % 7)});
            Resource lead{ResourceType::lead, tenant, "lead-" + std::to_string(i)};
            lead.assignee = i % 2 == 0 ? users.back().user : UserId{"someone-else"};
            lead.team = "team-" + std::to_string(i % 7);
            leads.push_back(std::move(lead));
        }
        probes = make_probes(rng, user_count);
        active_probes = make_probes(rng, std::min<std::size_t>(user_count, 2'000));
    }

    static std::vector<Probe> make_probes(std::mt19937_64& rng, std::size_t users) {
        std::uniform_int_distribution<std::size_t> pick(0, users - 1);
        std::vector<Probe> out(1 << 16);
        for (std::size_t i = 0; i < out.size(); ++i) {
            const std::size_t u = pick(rng);
            out[i] = {static_cast<std::uint32_t>(u), static_cast<std::uint32_t>(u), probe_actions[i % 4]};
        }
        return out;
    }
};

World& small_world() {
    static World w(10, 1);
    return w;
}
World& large_world() {
    static World w(100'000, 1'000);
    return w;
}

/// Checks the probes in turn; they must come out a mix of allowed and denied.
void run_checks(benchmark::State& state, const World& w, const std::vector<World::Probe>& probes) {
    const Authorizer authz;
    const std::size_t mask = probes.size() - 1;
    std::size_t i = 0, allowed = 0;
    for (auto _ : state) {
        const auto& p = probes[i++ & mask];
        allowed += authz.check(w.users[p.user], p.action, w.leads[p.lead]).allowed();
    }
    benchmark::DoNotOptimize(allowed);
    if (state.iterations() > 1000 && (allowed == 0 || allowed == std::size_t(state.iterations())))
        state.SkipWithError("no mix of answers");
    state.SetItemsProcessed(state.iterations());
}

void BM_authorize_one_principal(benchmark::State& state) {
    const Authorizer authz;
    const Principal sales{UserId{"u-1"}, TenantId{"acme"}, Role::sales, "north"};
    Resource lead{ResourceType::lead, TenantId{"acme"}, "c-1"};
    lead.assignee = UserId{"u-1"};
    std::size_t allowed = 0;
    for (auto _ : state) allowed += authz.check(sales, Action::update, lead).allowed();
    if (allowed != std::size_t(state.iterations())) state.SkipWithError("a check that should allow denied");
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_authorize_one_principal)->Threads(1)->Threads(2);

void BM_authorize_10_users(benchmark::State& state) { run_checks(state, small_world(), small_world().probes); }
BENCHMARK(BM_authorize_10_users);

void BM_authorize_100k_users_1000_tenants_active(benchmark::State& state) {
    run_checks(state, large_world(), large_world().active_probes);
}
BENCHMARK(BM_authorize_100k_users_1000_tenants_active);

void BM_authorize_100k_users_1000_tenants_cold(benchmark::State& state) {
    run_checks(state, large_world(), large_world().probes);
}
BENCHMARK(BM_authorize_100k_users_1000_tenants_cold);

// The pure evaluation without loading the snapshot (what check() adds is the atomic load).
void BM_policy_evaluate_100k_users_cold(benchmark::State& state) {
    World& w = large_world();
    const Policy& policy = Policy::defaults();
    std::size_t i = 0, allowed = 0;
    for (auto _ : state) {
        const auto& p = w.probes[i++ & (w.probes.size() - 1)];
        allowed += policy.evaluate(w.users[p.user], p.action, w.leads[p.lead]).reason == Reason::allowed;
    }
    benchmark::DoNotOptimize(allowed);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_policy_evaluate_100k_users_cold);

// Baseline: the cell looked up in a bare array of booleans (no tenant check, no condition), for
// the same cold probes.
void BM_baseline_array_lookup_100k_users_cold(benchmark::State& state) {
    World& w = large_world();
    std::vector<std::uint8_t> table(role_count * resource_type_count * action_count);
    for (std::size_t c = 0; c < table.size(); ++c) table[c] = c % 3 == 0;
    const std::size_t mask = w.probes.size() - 1;
    std::size_t i = 0, allowed = 0;
    for (auto _ : state) {
        const auto& p = w.probes[i++ & mask];
        const std::size_t cell =
            (static_cast<std::size_t>(w.users[p.user].role) * resource_type_count +
             static_cast<std::size_t>(w.leads[p.lead].type)) * action_count + static_cast<std::size_t>(p.action);
        allowed += table[cell];
    }
    benchmark::DoNotOptimize(allowed);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_baseline_array_lookup_100k_users_cold);

// Baseline: one std::unordered_map lookup of the user's id (finding the user's role), cold like
// the "cold" run.
void BM_baseline_unordered_map_lookup_100k_users_cold(benchmark::State& state) {
    World& w = large_world();
    std::unordered_map<std::string, Role> roles;
    for (const Principal& p : w.users) roles.emplace(p.user.value(), p.role);
    std::size_t i = 0, found = 0;
    for (auto _ : state) {
        const auto& p = w.probes[i++ & (w.probes.size() - 1)];
        found += roles.find(w.users[p.user].user.value()) != roles.end();
    }
    if (found != std::size_t(state.iterations())) state.SkipWithError("a user was not found");
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_baseline_unordered_map_lookup_100k_users_cold);

}  // namespace

BENCHMARK_MAIN();
