// Propagation of an opt-out between two gateway instances on one PostgreSQL database (issue 8):
// instance A records a STOP (Engine::on_inbound over PostgresStore, whose append NOTIFYs
// heroshhi_optout in its transaction); instance B learns of it through its PostgresChangeFeed
// (LISTEN, then Engine::catch_up). Measured: from the start of A's write until B's gate refuses the
// number, over 1,000 events, beside the baseline of the same run: A's own write (the single-instance
// apply: store commit + index, after which A itself refuses).
//
// Not a Google Benchmark loop: each event is one measurement, so the figures are a distribution
// (median, p99, max). Needs a PostgreSQL server: HEROSHHI_PG_URL (an admin URL; a database of its
// own is created and dropped). Optional argument: the number of events (default 1000).
#include <heroshhi/engine.hpp>
#include <heroshhi/storage/postgres_change_feed.hpp>
#include <heroshhi/storage/postgres_store.hpp>

#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

using namespace heroshhi;
using Steady = std::chrono::steady_clock;

namespace {

bool admin(const std::string& url, const std::string& sql) {
    PGconn* c = PQconnectdb(url.c_str());
    bool ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
        PGresult* r = PQexec(c, sql.c_str());
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok) std::fprintf(stderr, "%s: %s", sql.c_str(), PQresultErrorMessage(r));
        PQclear(r);
    } else {
        std::fprintf(stderr, "cannot connect to %s: %s", url.c_str(), PQerrorMessage(c));
    }
    PQfinish(c);
    return ok;
}

std::string with_db(const std::string& url, const std::string& db) {
    const auto scheme = url.find("://");
    const auto slash = url.find('/', scheme + 3);
    const auto query = url.find('?');
    const std::string tail = query == std::string::npos ? "" : url.substr(query);
    return (slash == std::string::npos ? url.substr(0, query) : url.substr(0, slash)) + "/" + db + tail;
}

double us(Steady::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

struct Figures {
    double median, p99, max;
};

Figures summarise(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 99 / 100)], v.back()};
}

EngineOptions shared() {
    EngineOptions o;
    o.shared.enabled = true;
    o.shared.change_feed = true;
    o.shared.recheck_interval = std::chrono::milliseconds(0);  // only the feed: that is what is measured
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    const char* admin_url = std::getenv("HEROSHHI_PG_URL");
    if (admin_url == nullptr || admin_url[0] != 'p') {
        std::fprintf(stderr, "set HEROSHHI_PG_URL to a postgresql:// URL of a server this may create a database on\n");
        return 2;
    }
    const int events = argc > 1 ? std::max(10, std::atoi(argv[1])) : 1000;
    const std::string db = "heroshhi_bench_propagation_" + std::to_string(::getpid());
    if (!admin(admin_url, "CREATE DATABASE " + db)) return 1;
    const std::string url = with_db(admin_url, db);
    int rc = 0;
    {
        SystemClock clock;
        auto a_store = storage::PostgresStore::open(url);
        auto b_store = storage::PostgresStore::open(url);
        if (!a_store || !b_store) {
            std::fprintf(stderr, "cannot open the store\n");
            return 1;
        }
        Engine a(**a_store, clock, shared());
        Engine b(**b_store, clock, shared());
        auto a_feed = storage::PostgresChangeFeed::start(a, url);
        auto b_feed = storage::PostgresChangeFeed::start(b, url);
        const TenantId tenant{"bench"};
        (void)a.warm(tenant);
        (void)b.warm(tenant);
        const auto ready_by = Steady::now() + std::chrono::seconds(20);
        while (!(a.current(tenant) && b.current(tenant)) && Steady::now() < ready_by)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));

        std::vector<double> local, propagated, after_return;
        int lost = 0;
        for (int i = 0; i < events + 20; ++i) {  // the first 20 warm connections and caches up
            const auto phone = PhoneNumber::parse("+1415" + std::to_string(5000000 + i)).value();
            InboundMessage stop{tenant, phone, "STOP"};
            const auto start = Steady::now();
            if (!a.on_inbound(stop)) {
                std::fprintf(stderr, "A could not record event %d\n", i);
                rc = 1;
                break;
            }
            const auto returned = Steady::now();
            const auto give_up = returned + std::chrono::seconds(5);
            bool seen = false;
            while (Steady::now() < give_up) {
                if (b.check_send(tenant, phone, messaging::MessageKind::utility_template).reason() == Reason::opted_out) {
                    seen = true;
                    break;
                }
                std::this_thread::yield();
            }
            const auto visible = Steady::now();
            if (i < 20) continue;
            if (!seen) {
                ++lost;
                continue;
            }
            local.push_back(us(returned - start));
            propagated.push_back(us(visible - start));
            after_return.push_back(us(visible - returned));
        }
        if (!local.empty()) {
            const Figures l = summarise(local), p = summarise(propagated), r = summarise(after_return);
            std::printf("opt-out propagation A -> B over one PostgreSQL database, %zu events (%d not seen within 5 s)\n",
                        propagated.size(), lost);
            std::printf("%-58s %10s %10s %10s\n", "", "median", "p99", "max");
            std::printf("%-58s %8.0fus %8.0fus %8.0fus\n", "baseline: A's own write (commit + index; A refuses after)",
                        l.median, l.p99, l.max);
            std::printf("%-58s %8.0fus %8.0fus %8.0fus\n", "B refuses, from the start of A's write", p.median, p.p99, p.max);
            std::printf("%-58s %8.0fus %8.0fus %8.0fus\n", "B refuses, after A's write returned (NOTIFY + catch-up)",
                        r.median, r.p99, r.max);
            std::printf("ratio of medians (propagated / local write): %.2fx\n", p.median / l.median);
        }
        if (lost > 0) rc = 1;
    }
    admin(admin_url, "DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
    return rc;
}
