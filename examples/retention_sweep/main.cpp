// heroshhi retention_sweep: what a host's nightly job does. Opens a SQLite file (seeding demo data
// into an empty one), builds the retention policy from the customers' settings, runs a dry run,
// shows what it would do, then sweeps for real and shows what it did.
//
// Usage: retention_sweep [db-file]      (default: retention_sweep.db; run it twice to see a
//                                        second sweep find nothing more to do)
#include <heroshhi/heroshhi.hpp>
#include <heroshhi/crypto/blind_index.hpp>
#include <heroshhi/retention/policy.hpp>
#include <heroshhi/retention/sweeper.hpp>

#include <cstdio>
#include <string>

using namespace heroshhi;
using namespace std::chrono_literals;
using retention::Category;
using retention::Days;

namespace {

/// Demo data relative to `now`: two customers with old and new leads, and one that closed its
/// account six weeks ago.
Result<void> seed(storage::SqliteStore& store, audit::Log& log, Timestamp now) {
    auto lead = [&](const char* tenant, std::string id, int n, Days idle, std::optional<Days> deleted = {},
                    bool hold = false) -> Result<void> {
        storage::Contact c{TenantId{tenant}, ContactId{id}, PhoneNumber::parse("+1415555" + std::to_string(1000 + n)).value()};
        c.name = "Lead " + id;
        c.source = n % 2 ? "integration" : "whatsapp";
        c.created_at = c.updated_at = now - idle;
        if (deleted) c.deleted_at = now - *deleted;
        c.legal_hold = hold;
        if (auto ok = store.contacts().put(c); !ok) return ok;
        storage::MessageRecord m;
        m.tenant = c.tenant;
        m.id = MessageId{id + "-hello"};
        m.contact = c.id;
        m.body = "Is the flat still available?";
        m.created_at = m.updated_at = now - idle;
        if (auto ok = store.messages().append(m); !ok) return ok.error();
        return {};
    };
    for (int i = 0; i < 8; ++i)  // acme: leads idle from 100 to 800 days; one under legal hold
        if (auto ok = lead("acme", "acme-" + std::to_string(i), i, Days{100 * (i + 1)}, {}, i == 6); !ok) return ok;
    if (auto ok = lead("acme", "acme-deleted", 20, Days{50}, Days{40}); !ok) return ok;  // deleted by a user 40 days ago
    for (int i = 0; i < 3; ++i)  // globex keeps leads until deleted by hand
        if (auto ok = lead("globex", "globex-" + std::to_string(i), 30 + i, Days{1500}); !ok) return ok;
    for (int i = 0; i < 3; ++i)
        if (auto ok = lead("initech", "initech-" + std::to_string(i), 40 + i, Days{60}); !ok) return ok;
    storage::Account initech{TenantId{"initech"}};
    initech.opened_at = now - Days{900};
    initech.closed_at = now - Days{45};  // terminated: its data is due 30 days after closure
    if (auto ok = store.retention().accounts().put(initech); !ok) return ok;

    optout::OptOutEvent stop(TenantId{"initech"}, PhoneNumber::parse("+14155551040").value());
    stop.at = now - Days{200};
    stop.trigger = "STOP";
    if (auto ok = store.optouts().append(stop); !ok) return ok.error();  // survives the termination, as a keyed hash

    // Audit entries from 400 days ago (purged: older than a year) and from today (kept).
    ManualClock last_year{now - Days{400}};
    audit::Log old_log(store.audit(), last_year);
    for (const char* tenant : {"acme", "globex"})
        for (audit::Log* l : {&old_log, &old_log, &log}) {
            audit::Entry e;
            e.tenant = TenantId{tenant};
            e.actor = audit::Actor::member(UserId{"u-7"}, rbac::Role::sales);
            e.action = "read";
            e.target_type = "lead";
            e.target_id = std::string(tenant) + "-0";
            if (auto ok = l->append(e); !ok) return ok.error();
        }
    return {};
}

void print(const char* title, const retention::SweepReport& r) {
    std::printf("\n%s (as of %s)%s\n", title, to_iso8601(r.as_of).c_str(), r.resumed ? ", resuming an interrupted sweep" : "");
    std::printf("  %-10s %-13s %6s %6s %9s %5s %7s %7s\n", "tenant", "category", "soft", "hard", "cascaded", "held",
                "purged", "hashed");
    for (const auto& t : r.tenants) {
        bool any = false;
        for (std::size_t c = 0; c < retention::category_count; ++c) {
            const retention::Counts& n = t.counts[c];
            if (n.empty()) continue;
            any = true;
            std::printf("  %-10s %-13s %6lld %6lld %9lld %5lld %7lld %7lld\n", t.tenant.value().c_str(),
                        std::string(retention::to_string(static_cast<Category>(c))).c_str(),
                        static_cast<long long>(n.soft_deleted), static_cast<long long>(n.hard_deleted),
                        static_cast<long long>(n.cascaded), static_cast<long long>(n.held),
                        static_cast<long long>(n.purged), static_cast<long long>(n.hashed));
        }
        if (!any) std::printf("  %-10s nothing due\n", t.tenant.value().c_str());
        if (t.terminated) std::printf("  %-10s account closed over 30 days ago: all its data was due\n", t.tenant.value().c_str());
    }
    std::printf("  %s\n", r.complete ? "complete" : "stopped early; the next run continues");
}

}  // namespace

int main(int argc, char** argv) {
    const std::string path = argc > 1 ? argv[1] : "retention_sweep.db";
    auto store = storage::SqliteStore::open(path);
    if (!store) return std::fprintf(stderr, "%s\n", store.error().message().c_str()), 1;
    SystemClock clock;
    audit::Log log((*store)->audit(), clock);
    const Timestamp now = clock.now();

    auto tenants = (*store)->retention().accounts().list({"", 1});
    if (!tenants) return std::fprintf(stderr, "%s\n", tenants.error().message().c_str()), 1;
    if (tenants->empty()) {
        if (auto ok = seed(**store, log, now); !ok) return std::fprintf(stderr, "seeding: %s\n", ok.error().message().c_str()), 1;
        std::printf("seeded demo data into %s\n", path.c_str());
    }

    // The customers' settings, as the host keeps them: acme deletes leads idle for a year and
    // messages after 180 days; everyone else keeps leads until they delete them.
    retention::PolicyConfig config;
    config.tenants.emplace(TenantId{"acme"}, retention::TenantSettings{Days{365}, Days{180}});
    auto policy = retention::Policy::create(config);
    if (!policy) return std::fprintf(stderr, "%s\n", policy.error().message().c_str()), 1;

    // A terminated tenant's opt-outs are kept only as keyed hashes: the sweeper needs the blind
    // index the host's Engine uses (EngineOptions::blind_index), loaded from its key provider. The
    // demo draws a key, so its hashes are only good for this run.
    auto index_key = crypto::SecretKey::generate();
    if (!index_key) return std::fprintf(stderr, "%s\n", index_key.error().message().c_str()), 1;
    auto index = crypto::BlindIndex::create(std::move(*index_key));
    if (!index) return std::fprintf(stderr, "%s\n", index.error().message().c_str()), 1;
    retention::Sweeper::Setup setup;
    setup.blind_index = &*index;
    auto sweeper = retention::Sweeper::create(*policy, (*store)->retention(), log, clock, setup);
    if (!sweeper) return std::fprintf(stderr, "%s\n", sweeper.error().message().c_str()), 1;

    retention::SweepOptions options;
    options.batch_size = 1000;
    options.time_budget = 10min;
    options.request_id = "retention_sweep-example";

    options.dry_run = true;
    auto dry = sweeper->run(now, options);
    if (!dry) return std::fprintf(stderr, "dry run: %s\n", dry.error().message().c_str()), 1;
    print("Dry run: what the sweep would do", *dry);

    options.dry_run = false;
    auto real = sweeper->run(now, options);
    if (!real) return std::fprintf(stderr, "sweep: %s\n", real.error().message().c_str()), 1;
    print("Sweep: what it did", *real);

    for (const auto& t : real->tenants) {
        auto v = log.verify(t.tenant);
        if (!v) return std::fprintf(stderr, "%s\n", v.error().message().c_str()), 1;
        std::printf("audit trail of %-8s %s\n", t.tenant.value().c_str(), v->intact() ? "intact" : v->detail.c_str());
    }
    return 0;
}
