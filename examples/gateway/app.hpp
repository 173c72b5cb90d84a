// heroshhi gateway — App: the REST API and webhooks of `heroshhi serve`, as one request handler.
//
// Every request gets a request id (X-Request-Id, echoed or made), passes its rate-limit class
// (webhooks by client address, API calls by key, failed authentications by client address),
// is authenticated (API: `Authorization: Bearer <key>`), authorized and audited by the engine,
// and is answered with JSON; errors are `{"error": {"code": ..., "message": ...}}` everywhere.
// The access log names the route, never the raw path (paths carry phone numbers).
#pragma once

#include <chrono>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/result.hpp>
#include <heroshhi/http/server.hpp>
#include <heroshhi/retention/sweeper.hpp>
#include <heroshhi/transport/transport.hpp>

#include "config.hpp"
#include "directory.hpp"

namespace heroshhi {
class Engine;
}

namespace heroshhi::gateway {

struct AppOptions {
    Config config;
    const Clock* clock = nullptr;  ///< null: the system clock
    /// Makes the transport that sends a tenant's messages (one per tenant, made on first send).
    /// Null: the Cloud API client configured by `config` (graph_base_url, token, the tenant's
    /// phone number id).
    std::function<Result<std::unique_ptr<transport::Transport>>(const Tenant&)> transport_for;
    /// Where access-log lines go (one line per request: time, request id, method, route, status,
    /// duration). Null: nowhere.
    std::ostream* access_log = nullptr;
};

class App {
public:
    /// Opens the store (config.sqlite) and the directory, loads the key ring if configured, and
    /// builds the engine and webhook. Fails with the store's, config's or crypto's error.
    static Result<std::unique_ptr<App>> open(AppOptions options);
    ~App();

    /// Answers one request (thread-safe).
    http::Response handle(const http::Request& request);
    /// The same as the http::Server's asynchronous handler. The request is routed and, when its
    /// route has an asynchronous form (the WhatsApp delivery: a signed delivery of plain inbound
    /// messages is verified, parsed and handed to the store on the calling I/O thread, and
    /// answered once durable), admitted and handled there; every other request is answered as
    /// handle() does, on the server's handler threads (Responder::answer_with).
    void handle_async(http::Request request, http::Responder responder);

    Directory& directory();
    /// Adds (or updates) a tenant in the directory and registers its account (opened now) for
    /// the retention sweep.
    Result<void> register_tenant(const Tenant& tenant);
    /// Runs the retention sweep over every tenant (the `sweep` subcommand; hosts schedule it).
    Result<retention::SweepReport> sweep(bool dry_run);
    /// Writes the tenant's live leads as CSV (privacy::Rights::export_leads_csv: authorized for
    /// `by` and audited); returns the number of rows.
    Result<std::size_t> export_leads(const rbac::Principal& by, std::ostream& out);
    Engine& engine();
    /// Every (method, path pattern) the API serves, e.g. ("GET", "/v1/leads/{id}"): the contract
    /// examples/gateway/openapi.yaml is checked against.
    static std::vector<std::pair<std::string, std::string>> routes();
    /// The Prometheus text exposition that GET /metrics serves.
    std::string metrics_text() const;
    /// The replies inbound messages asked for (opt-out confirmations, START and HELP answers) go
    /// out after their delivery is answered, from a queue of their own, at the business number's
    /// pace. Waits until every reply asked for so far has been sent or given up, or `timeout`
    /// passes; true if none is left. For tests and the demo, which look at what was sent.
    bool wait_for_replies(std::chrono::milliseconds timeout);

    struct Impl;

private:
    explicit App(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace heroshhi::gateway
