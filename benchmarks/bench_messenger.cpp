// Guarded sends through the Messenger, measured beside the bare transport in the same run:
//   - over loopback to the fake Graph API (plain HTTP/1.1 keep-alive, one connection, one client
//     thread): Messenger::send by a team member (authorize, gate, audit entry, history queued then
//     sent, pacing) through CloudApiTransport, beside CloudApiTransport::deliver of the same
//     message to the same fake;
//   - in process, through the RecordingTransport: the same guarded send, beside
//     RecordingTransport::deliver alone, so the difference is the guard's own cost; and the same
//     again as a campaign (one authorization and audit entry for the campaign, the gate and the
//     history for each recipient);
//   - stores: SQLite on a file (WAL, every write its own transaction and commit, as shipped: a
//     send commits three times, audit entry, queued, sent) and SQLite in memory (":memory:", the
//     same statements without the disk: the CPU cost of a guarded send). MemoryStore is not used:
//     its history and contact lookups are linear scans, so its figure would measure the history's
//     length.
// Pacing is set out of the way (recipient interval 1 ms over 1,000 contacts, a throughput of
// 10^9/s): the figures measure the work of a send, not the spacing WhatsApp asks for.
#include <benchmark/benchmark.h>

#include <heroshhi/engine.hpp>
#include <heroshhi/messaging/messenger.hpp>
#include <heroshhi/storage/sqlite_store.hpp>
#include <heroshhi/testing/fake_graph_api.hpp>
#include <heroshhi/testing/recording_transport.hpp>
#include <heroshhi/whatsapp/cloud_api_transport.hpp>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using namespace heroshhi;
namespace fs = std::filesystem;

const TenantId tenant{"tenant-0042"};
const rbac::Principal owner{UserId{"user-1"}, tenant, rbac::Role::owner};
constexpr std::size_t contact_count = 1000;

enum class StoreKind { sqlite_file, sqlite_in_memory };

// Parsed once: parsing is the host's cost, not the send's.
const std::vector<PhoneNumber>& numbers() {
    static const std::vector<PhoneNumber> all = [] {
        std::vector<PhoneNumber> v;
        for (std::size_t i = 0; i < contact_count; ++i)
            v.push_back(PhoneNumber::parse("+1415556" + std::to_string(1000 + i)).value());
        return v;
    }();
    return all;
}
const PhoneNumber& number(std::size_t i) { return numbers()[i % contact_count]; }

whatsapp::CloudApiOptions cloud_options(const testing::FakeGraphApi& fake) {
    whatsapp::CloudApiOptions o;
    o.base_url = fake.base_url();
    o.phone_number_id = "771122334455667";
    o.access_token = "bench-token";
    o.max_idle_connections = 1;
    return o;
}

/// A store with 1,000 contacts, an engine over it, and a Messenger around `transport`.
struct World {
    World(StoreKind kind, std::unique_ptr<transport::Transport> transport) {
        if (kind == StoreKind::sqlite_file) {
            path = fs::temp_directory_path() / ("heroshhi-bench-messenger-" + std::to_string(::getpid()) + ".db");
            remove_files();
        }
        sqlite = storage::SqliteStore::open(kind == StoreKind::sqlite_file ? path.string() : ":memory:").value();
        stores = sqlite.get();
        for (std::size_t i = 0; i < contact_count; ++i) {
            storage::Contact c{tenant, ContactId{"contact-" + std::to_string(i)}, number(i)};
            c.created_at = c.updated_at = clock.now();
            if (!stores->contacts().put(c)) std::abort();
        }
        EngineOptions eo;
        eo.audit_key = "a key the host keeps: 32 bytes!!";
        engine = std::make_unique<Engine>(*stores, clock, eo);
        if (!engine->warm(tenant)) std::abort();
        messaging::MessengerOptions mo;
        mo.pacing.recipient_interval = std::chrono::milliseconds(1);
        mo.pacing.sender_per_second = 1'000'000'000;
        mo.pacing.sender_burst = 1'000'000;
        messenger = messaging::Messenger::create(*engine, *stores, std::move(transport), clock, mo).value();
    }
    ~World() {
        messenger.reset();
        engine.reset();
        sqlite.reset();
        if (!path.empty()) remove_files();
    }

    void remove_files() {
        std::error_code ignored;
        for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path.string() + suffix, ignored);
    }

    SystemClock clock;
    fs::path path;
    std::unique_ptr<storage::SqliteStore> sqlite;
    storage::StoreSet* stores = nullptr;
    std::unique_ptr<Engine> engine;
    std::unique_ptr<messaging::Messenger> messenger;
};

messaging::OutgoingMessage reminder(std::size_t i) {
    return messaging::make_template(number(i), messaging::TemplateCategory::utility, "visit_reminder",
                                    "en_US", {"Ada", "10:00"});
}

void guarded_sends(benchmark::State& state, World& world, testing::RecordingTransport* recording) {
    std::size_t i = 0;
    for (auto _ : state) {
        auto r = world.messenger->send(tenant, owner, reminder(i++));
        if (!r || !r->sent()) {
            state.SkipWithError(r ? "a send was not accepted" : r.error().message().c_str());
            break;
        }
        if (recording != nullptr && i % 65'536 == 0) {
            state.PauseTiming();
            recording->clear();
            state.ResumeTiming();
        }
    }
    state.SetItemsProcessed(state.iterations());
}

// ---- over loopback, to the fake Graph API ----

void BM_messenger_send_to_fake_graph_api(benchmark::State& state) {
    auto fake = testing::FakeGraphApi::start("bench-token").value();
    World world(static_cast<StoreKind>(state.range(0)), whatsapp::CloudApiTransport::create(cloud_options(*fake)).value());
    guarded_sends(state, world, nullptr);
}
BENCHMARK(BM_messenger_send_to_fake_graph_api)
    ->ArgName("db_in_memory")
    ->Arg(int(StoreKind::sqlite_file))
    ->Arg(int(StoreKind::sqlite_in_memory))
    ->UseRealTime();

void BM_baseline_cloud_api_deliver_to_fake_graph_api(benchmark::State& state) {
    auto fake = testing::FakeGraphApi::start("bench-token").value();
    auto transport = whatsapp::CloudApiTransport::create(cloud_options(*fake)).value();
    std::size_t i = 0;
    for (auto _ : state) {
        const messaging::OutgoingMessage m = reminder(i++);
        transport::OutboundMessage out{m.to, m.kind};
        out.template_message = m.template_message;
        out.correlation_id = "msg-" + std::to_string(i);
        auto answer = transport->deliver(out);
        if (!answer || answer->outcome != transport::Outcome::accepted) {
            state.SkipWithError("a delivery was not accepted");
            break;
        }
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_baseline_cloud_api_deliver_to_fake_graph_api)->UseRealTime();

// ---- in process, through the RecordingTransport (its record is cleared now and then, untimed) ----

void BM_messenger_send_recording(benchmark::State& state) {
    auto t = std::make_unique<testing::RecordingTransport>();
    testing::RecordingTransport* recording = t.get();
    World world(static_cast<StoreKind>(state.range(0)), std::move(t));
    guarded_sends(state, world, recording);
}
BENCHMARK(BM_messenger_send_recording)
    ->ArgName("db_in_memory")
    ->Arg(int(StoreKind::sqlite_file))
    ->Arg(int(StoreKind::sqlite_in_memory))
    ->UseRealTime();

void BM_messenger_campaign_recording(benchmark::State& state) {
    auto t = std::make_unique<testing::RecordingTransport>();
    testing::RecordingTransport* recording = t.get();
    World world(static_cast<StoreKind>(state.range(0)), std::move(t));
    const std::vector<PhoneNumber>& audience = numbers();
    std::size_t run = 0;
    for (auto _ : state) {
        messaging::Campaign c{tenant, "campaign-" + std::to_string(run++), messaging::MessageKind::utility_template};
        c.audience = audience;
        c.template_message = {"visit_reminder", "en_US", {"Ada", "10:00"}};
        auto attempt = world.messenger->send_campaign(owner, c);
        if (!attempt || !attempt->allowed() || attempt->value->sent != contact_count) {
            state.SkipWithError("the campaign did not send to everyone");
            break;
        }
        state.PauseTiming();
        recording->clear();
        state.ResumeTiming();
    }
    state.SetItemsProcessed(state.iterations() * std::int64_t(contact_count));
}
BENCHMARK(BM_messenger_campaign_recording)
    ->ArgName("db_in_memory")
    ->Arg(int(StoreKind::sqlite_in_memory))
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_baseline_recording_deliver(benchmark::State& state) {
    testing::RecordingTransport transport;
    std::size_t i = 0;
    for (auto _ : state) {
        const messaging::OutgoingMessage m = reminder(i++);
        transport::OutboundMessage out{m.to, m.kind};
        out.template_message = m.template_message;
        out.correlation_id = "msg-" + std::to_string(i);
        benchmark::DoNotOptimize(transport.deliver(out));
        if (i % 65'536 == 0) {
            state.PauseTiming();
            transport.clear();
            state.ResumeTiming();
        }
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_baseline_recording_deliver);

}  // namespace

BENCHMARK_MAIN();
