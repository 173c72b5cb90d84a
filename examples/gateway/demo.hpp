// heroshhi gateway — the demo: the gateway on loopback with a SQLite file, a demo tenant and key,
// and a fake Graph API, plus a walkthrough of the opt-out promise (STOP → send refused → START →
// send goes out → the audit trail verifies) as copy-pasteable curl lines.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

namespace heroshhi::gateway {

struct DemoOptions {
    std::string sqlite = "heroshhi-demo.db";
    std::string files = "heroshhi-demo";  ///< directory for the signed webhook bodies
    std::uint16_t port = 8080;
    bool walkthrough = true;   ///< run the curl steps itself and print each answer
    bool keep_serving = true;  ///< after the walkthrough, serve until SIGINT/SIGTERM
};

/// Runs the demo; returns the process exit code (0 when every walkthrough step answered as
/// expected).
int run_demo(const DemoOptions& options, std::ostream& out, std::ostream& err);

/// Blocks SIGINT and SIGTERM in the calling thread (call before starting server threads, so they
/// inherit the mask) and returns a function that waits for one of them.
void block_stop_signals();
int wait_for_stop_signal();

}  // namespace heroshhi::gateway
