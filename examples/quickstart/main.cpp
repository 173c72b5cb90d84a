// heroshhi quickstart: a contact opts out by replying STOP, a send is blocked with a notice, the
// contact re-subscribes with START, and sending is allowed again. Usage: quickstart [db-file]
#include <heroshhi/heroshhi.hpp>

#include <cstdio>

int main(int argc, char** argv) {
    using namespace heroshhi;
    auto store = storage::SqliteStore::open(argc > 1 ? argv[1] : "quickstart.db");
    if (!store) return std::fprintf(stderr, "%s\n", store.error().message().c_str()), 1;
    SystemClock clock;
    Engine engine(**store, clock);

    const TenantId tenant{"acme"};
    const PhoneNumber lead = PhoneNumber::parse("+1 (415) 555-0123").value();
    auto show = [&](const char* what) {
        Decision d = engine.check_send(tenant, lead, messaging::MessageKind::free_form);
        std::printf("%-28s %s %s\n", what, d.allowed() ? "ALLOWED" : "BLOCKED", d.notice().c_str());
    };

    engine.on_inbound({tenant, lead, "Hi, is the flat still available?"}).value();
    show("after the lead wrote:");

    auto stop = engine.on_inbound({tenant, lead, "Stop."}).value();
    std::printf("lead sent \"Stop.\"             -> %s; reply: %s\n",
                std::string(optout::to_string(stop.classification.intent)).c_str(), stop.reply.c_str());
    show("manual send after STOP:");

    auto start = engine.on_inbound({tenant, lead, "START"}).value();
    std::printf("lead sent \"START\"             -> %s; reply: %s\n",
                std::string(optout::to_string(start.classification.intent)).c_str(), start.reply.c_str());
    show("manual send after START:");

    std::printf("opt-out history of %s: %zu events, kept forever\n", lead.e164().c_str(),
                engine.history(tenant, lead).value().size());
}
