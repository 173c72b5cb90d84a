// heroshhi gateway — the REST API: routing, authentication, rate limits, metrics, handlers.
#include "app.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <ostream>
#include <sstream>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <heroshhi/audit/log.hpp>
#include <heroshhi/audit/pseudonym.hpp>
#include <heroshhi/core/errors.hpp>
#include <heroshhi/core/phone_number.hpp>
#include <heroshhi/crypto/blind_index.hpp>
#include <heroshhi/crypto/file_key_provider.hpp>
#include <heroshhi/crypto/key_ring.hpp>
#include <heroshhi/crypto/webhook_signature.hpp>
#include <heroshhi/engine.hpp>
#include <heroshhi/messaging/messenger.hpp>
#include <heroshhi/privacy/errors.hpp>
#include <heroshhi/privacy/request_register.hpp>
#include <heroshhi/privacy/rights.hpp>
#include <heroshhi/ratelimit/limiter.hpp>
#include <heroshhi/retention/policy.hpp>
#include <heroshhi/retention/stores.hpp>
#include <heroshhi/retention/sweeper.hpp>
#include <heroshhi/storage/account_store.hpp>
#include <heroshhi/sanitize/csv.hpp>
#include <heroshhi/sanitize/lead_schema.hpp>
#include <heroshhi/sanitize/nosql_guard.hpp>
#include <heroshhi/sanitize/text_rules.hpp>
#include <heroshhi/storage/errors.hpp>
#include <heroshhi/storage/sqlite_store.hpp>
#if HEROSHHI_WITH_POSTGRES
#include <heroshhi/storage/postgres_change_feed.hpp>
#include <heroshhi/storage/postgres_store.hpp>
#endif
#include <heroshhi/whatsapp/cloud_api_transport.hpp>
#include <heroshhi/whatsapp/webhook.hpp>

#include "reply_queue.hpp"

namespace heroshhi::gateway {
namespace {

using nlohmann::json;
using http::Request;
using http::Response;

constexpr std::size_t max_bulk_ids = 1000;
constexpr std::size_t max_audit_page = 10'000;
constexpr std::size_t max_export_bytes = 64u * 1024 * 1024;  // one HTTP answer; the CLI streams any size

// --- metrics ---------------------------------------------------------------------------------------

// Counters by name and label set, printed in the Prometheus text format. A mutex is enough: one
// increment per request is far below what the lock costs to contend.
class Metrics {
public:
    void add(const std::string& series, std::uint64_t n = 1) {
        std::lock_guard lock(mutex_);
        counters_[series] += n;
    }
    std::string text() const {
        static const std::map<std::string, std::string> help{
            {"heroshhi_http_requests_total", "HTTP requests answered, by route and status."},
            {"heroshhi_decisions_total", "Send and access decisions, by reason."},
            {"heroshhi_optouts_total", "Opt-out events recorded, by method."},
            {"heroshhi_sends_total", "Sends handed to the transport, by outcome."},
            {"heroshhi_webhook_events_total", "Webhook events processed, by kind."},
            {"heroshhi_sweep_rows_total", "Rows removed by retention sweeps, by category."},
            {"heroshhi_replies_dropped_total", "Replies (opt-out confirmations, START and HELP answers) not sent: the reply queue was full, or a reply stayed paced past its time."},
        };
        std::lock_guard lock(mutex_);
        std::string out;
        const std::map<std::string_view, std::uint64_t> sorted(counters_.begin(), counters_.end());
        for (const auto& [name, what] : help) {
            out += "# HELP " + name + " " + what + "\n# TYPE " + name + " counter\n";
            bool any = false;
            for (const auto& [series, value] : sorted)
                if (series.starts_with(name) && (series.size() == name.size() || series[name.size()] == '{')) {
                    out.append(series).append(" ").append(std::to_string(value)).append("\n");
                    any = true;
                }
            if (!any) out += name + " 0\n";
        }
        return out;
    }

private:
    mutable std::mutex mutex_;
    std::unordered_map<std::string, std::uint64_t> counters_;  // sorted when the text is made
};

std::string label(std::string_view name, std::initializer_list<std::pair<std::string_view, std::string_view>> labels) {
    std::size_t size = name.size() + 2;  // one allocation (every request counts itself)
    for (const auto& [k, v] : labels) size += k.size() + v.size() + 4;
    std::string s;
    s.reserve(size + 8);
    s += name;
    s += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
        if (!first) s += ',';
        first = false;
        s += k;
        s += "=\"";
        for (char c : v) {
            if (c == '"' || c == '\\') s += '\\';
            if (c == '\n') { s += "\\n"; continue; }
            s += c;
        }
        s += '"';
    }
    s += '}';
    return s;
}

// --- small helpers ---------------------------------------------------------------------------------

Response json_response(int status, const json& body) {
    Response r;
    r.status = status;
    r.body = body.dump();
    return r;
}

std::string iso8601(Timestamp t) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    const std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
    return buf;
}

// Reads "2026-11-28T10:00:00Z" or milliseconds since the epoch.
std::optional<Timestamp> parse_time(std::string_view s) {
    std::int64_t ms = 0;
    if (auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), ms); ec == std::errc() && end == s.data() + s.size())
        return Timestamp(std::chrono::milliseconds(ms));
    std::tm tm{};
    const std::string text(s);
    const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end || (*end != 'Z' && *end != '\0') || (*end == 'Z' && end[1] != '\0')) return std::nullopt;
    return Timestamp(std::chrono::seconds(timegm(&tm)));
}

bool valid_request_id(std::string_view id) {
    if (id.empty() || id.size() > 64) return false;
    for (char c : id)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
    return true;
}

std::string percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() + 0 && i + 2 <= s.size() - 1 + 1) {
            int v = 0;
            auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
            if (ec == std::errc() && p == s.data() + i + 3) {
                out += static_cast<char>(v);
                i += 2;
                continue;
            }
        }
        out += s[i];
    }
    return out;
}

json event_json(const optout::OptOutEvent& e) {
    json j{{"kind", optout::to_string(e.kind)},
           {"scope", optout::to_string(e.scope)},
           {"method", optout::to_string(e.method)},
           {"at", iso8601(e.at)},
           {"keyword", e.trigger}};
    if (e.actor) j["actor"] = e.actor->value();
    return j;
}

// A short identifier-like text the API takes as given (assignee, team, campaign id): well-formed
// UTF-8 (JSON guarantees it) without control characters, within its length. Found by the
// hostile-input catalogue: tabs, CRs and NULs were kept and came back in exports and logs.
Result<void> check_label(std::string_view text, std::string_view field, std::size_t max) {
    return sanitize::validate_text(text, sanitize::TextRules{1, max, false, false}, field);
}

Response denied(const rbac::AccessDecision& access) {
    return Response::error(403, to_string(access.reason()), access.notice());
}

// A storage fault: 503, with a code an operator can act on (free disk space, make the database
// writable, or look at the store's health).
Response store_error(const Error& e) {
    if (e == storage::StorageErrc::full)
        return Response::error(503, "store_full", "the disk holding the store is full; nothing was changed (" +
                                                      e.message() + ")");
    if (e == storage::StorageErrc::read_only)
        return Response::error(503, "store_read_only", "the store is read-only; nothing was changed (" + e.message() + ")");
    return Response::error(503, "store_unavailable", "the store could not be reached; nothing was changed (" +
                                                        e.message() + ")");
}

}  // namespace

// --- the app ---------------------------------------------------------------------------------------

// Loads the lead `c.params[0]` of the caller's tenant and authorizes `action` on it as `type`
// (its assignee and team decide); the refusal to answer with, if any. A missing lead is
// authorized like one without assignee or team, and then answered 404.
struct LeadAccess {
    std::optional<storage::Contact> lead;
    std::optional<Response> refusal;
};

struct App::Impl {
    AppOptions options;
    const Clock* clock = nullptr;
    std::unique_ptr<crypto::KeyRing> keys;           // field encryption, when configured
    std::unique_ptr<crypto::BlindIndex> blind_index;
    std::unique_ptr<storage::StoreSet> store;  // SQLite, or PostgreSQL shared with other instances
    retention::RetentionStores* retention_stores = nullptr;  // the store's
    std::unique_ptr<Directory> directory;
    std::unique_ptr<Engine> engine;
#if HEROSHHI_WITH_POSTGRES
    std::unique_ptr<storage::PostgresChangeFeed> feed;  // after the engine: stops before it
#endif

    // The store and the directory: one SQLite file, or the PostgreSQL database instances share.
    Result<void> open_sqlite(const Config& config, const crypto::KeyRing* keys) {
        storage::SqliteOptions options;
        options.keys = keys;
        options.blind_index = keys != nullptr ? blind_index.get() : nullptr;
        auto opened = storage::SqliteStore::open(config.sqlite, options);
        if (!opened) return opened.error();
        retention_stores = &(*opened)->retention();
        store = std::move(*opened);
        auto dir = Directory::open(config.sqlite, *clock);
        if (!dir) return dir.error();
        directory = std::move(*dir);
        return {};
    }
    Result<void> open_postgres(const Config& config, const crypto::KeyRing* keys) {
#if HEROSHHI_WITH_POSTGRES
        storage::PostgresOptions options;
        options.keys = keys;
        options.blind_index = keys != nullptr ? blind_index.get() : nullptr;
        options.pool_size = std::max<std::size_t>(4, config.threads * 2);
        auto opened = storage::PostgresStore::open(config.database, options);
        if (!opened) return opened.error();
        retention_stores = &(*opened)->retention();
        store = std::move(*opened);
        auto dir = Directory::open_postgres(config.database, *clock);
        if (!dir) return dir.error();
        directory = std::move(*dir);
        return {};
#else
        (void)keys;
        (void)config;
        return Error(ConfigErrc::invalid_value,
                     "config 'database': this build has no PostgreSQL support (HEROSHHI_WITH_POSTGRES=OFF)");
#endif
    }
    std::unique_ptr<whatsapp::Webhook> webhook;
    std::unique_ptr<retention::Sweeper> sweeper;
    std::unique_ptr<privacy::Rights> rights;
    std::unique_ptr<privacy::RequestRegister> requests;
    std::unique_ptr<ratelimit::Limiter> limiter;
    sanitize::LeadSchema lead_schema;
    sanitize::NoSqlGuard guard;
    std::string audit_key;
    Metrics metrics;
    std::atomic<std::uint64_t> request_counter{0};
    // Made once: request ids are the counter and this, so that ids of two runs differ without a
    // call to the random generator on every request.
    const std::string request_id_suffix = random_hex(4);
    std::mutex sweep_mutex;  // one sweep at a time from this process

    // One route of the API. `pattern` segments starting with '{' capture a parameter.
    enum class Class { open, webhook, api };
    using Params = std::vector<std::string>;
    struct Context {
        const Request& request;
        const Params& params;
        const rbac::Principal* principal;  // set for api routes
        const std::string& request_id;
    };
    // An asynchronous handler answers through the responder, on any thread, once it knows the
    // answer (the WhatsApp delivery: once its events are durable) instead of blocking a thread.
    using AsyncHandler = void (Impl::*)(Request, http::Responder);
    struct Route {
        std::string method;
        std::string pattern;
        Class kind;
        Response (Impl::*handler)(const Context&);
        // Its asynchronous form, if it has one: handle_async calls it on the I/O thread, after
        // the same admission, instead of `handler` on a handler thread. Only open and webhook
        // routes use one (answers_async): an API route's admission reads the key, which may block.
        AsyncHandler async_handler = nullptr;
        bool answers_async() const { return async_handler != nullptr && kind != Class::api; }
        // Counts the route's own metric once the answer is known, on either path.
        void (Impl::*count)(const Response&) = nullptr;
    };
    std::vector<Route> routes;

    // What the admission of a request let through: the rate limit's verdict for the answer's
    // headers and, on an API route, the key's holder.
    struct Admission {
        std::optional<ratelimit::Verdict> verdict;
        std::optional<KeyHolder> holder;
    };

    void add_routes();
    const Route* match(const Request& request, Params& params, bool& path_known) const;
    // The 404 or 405 for a request no route takes.
    static Response unmatched(const Request& request, bool path_known, std::string_view& route_name);
    // The rate limit by the route's class and, on API routes, the API key: the refusal (401,
    // 429, 503), or nullopt with `admitted` filled in.
    std::optional<Response> admit(const Request& request, const Route& route, Admission& admitted);
    // Admits the request and runs the route's (blocking) handler.
    Response run(const Route& route, const Request& request, const Params& params, const std::string& request_id);
    std::optional<ratelimit::Verdict> limit(std::string_view quota, std::string_view key, Response& refusal);
    static void add_limit_headers(Response& response, const ratelimit::Verdict& verdict);
    void count_delivery(const Response& response);

    // JSON bodies: parsed under limits and the NoSQL guard.
    Result<json> body_json(const Request& request) const {
        auto doc = guard.parse(request.body);
        if (!doc) return doc.error();
        if (auto ok = guard.check(*doc); !ok) return ok.error();
        if (!doc->is_object()) return Error(ConfigErrc::invalid_value, "the body must be a JSON object");
        return doc;
    }
    static Response bad_body(const Error& e) { return Response::error(400, "invalid_body", e.message()); }

    // The contact resource for authorization: the stored contact's facts, or a pseudonym.
    Result<std::pair<rbac::Resource, std::optional<storage::Contact>>> contact_resource(const TenantId& tenant,
                                                                                        const PhoneNumber& phone) {
        auto contact = store->contacts().find_by_phone(tenant, phone);
        if (!contact) return contact.error();
        if (*contact) {
            rbac::Resource r(rbac::ResourceType::contact, tenant, (*contact)->id.value());
            r.assignee = (*contact)->assignee;
            r.team = (*contact)->team;
            return std::pair{std::move(r), std::move(*contact)};
        }
        return std::pair{rbac::Resource(rbac::ResourceType::contact, tenant, audit::phone_pseudonym(audit_key, phone)),
                         std::optional<storage::Contact>()};
    }

    // The Messenger of each tenant (it owns the tenant's transport), made on first use.
    std::mutex messengers_mutex;
    std::unordered_map<std::string, std::shared_ptr<messaging::Messenger>> messengers;
    Result<std::shared_ptr<messaging::Messenger>> messenger_for(const TenantId& tenant);
    // Sends a reply the engine asked for (opt-out confirmation, help) through the gate, on the
    // reply queue's thread: nullopt when done with it, or when to try again (paced).
    std::optional<std::chrono::milliseconds> send_reply(const whatsapp::PendingReply& reply);
    // A refusal when the tenant's account was terminated (or cannot be read: fail closed): sends
    // stop at termination, while its data waits out the 30 days before deletion. The refused
    // attempt (`action` by `actor`) is audited and counted; an attempt on an open account is
    // audited where it is decided (the Messenger).
    std::optional<Response> closed_account_refusal(const TenantId& tenant, const audit::Actor& actor, std::string action,
                                                   std::string_view request_id);
    // Authorizes (and audits) `action` on `resource` for the request's principal: nullopt when
    // allowed, otherwise the answer (403 with the reason, or the store's error: fail closed).
    std::optional<Response> refuse_unless(const Context& c, rbac::Action action, const rbac::Resource& resource);
    void count_send(const messaging::SendResult& r);

    LeadAccess open_lead(const Context& c, rbac::ResourceType type, rbac::Action action);

    // Handlers.
    Response healthz(const Context&);
    Response metrics_endpoint(const Context&);
    Response whatsapp_webhook(const Context&);
    void whatsapp_webhook_async(Request request, http::Responder answer);

    // One exchange's bookkeeping: its id, route and start, for the X-Request-Id header, the
    // request metric and the access log (finish_exchange).
    struct Exchange {
        std::string request_id;
        std::string_view route;  // a route's pattern, or a name for no route: both live as long as the app
        std::string method;
        std::chrono::steady_clock::time_point started;
    };
    std::string request_id_for(const Request& request);
    void finish_exchange(Response& response, const Exchange& exchange);
    // A request's route (null: none), its parameters, and whether its path is served by another method.
    struct Match {
        const Route* route = nullptr;
        Params params;
        bool path_known = false;
    };
    // One exchange on a handler thread: the route's answer (or the 404/405), with its bookkeeping.
    // `matched` null: the request is routed here.
    Response exchange(const Request& request, const Match* matched);
    // One exchange on an asynchronous route, from its admission to its answer: what the route's
    // async handler answers through. The answer, given on any thread (a store's committer), is
    // counted, given its headers and logged on an I/O thread, so that the committer goes on.
    class AsyncExchange final : public http::Responder::Sink, public std::enable_shared_from_this<AsyncExchange> {
    public:
        AsyncExchange(Impl& impl, const Route& route, Exchange exchange, std::optional<ratelimit::Verdict> verdict,
                      http::Responder client)
            : impl_(impl), route_(route), exchange_(std::move(exchange)), verdict_(std::move(verdict)),
              client_(std::move(client)) {}
        void deliver(Response response) override {
            answer_ = std::move(response);
            client_.run_on_io([self = shared_from_this()] { self->finish(); });
        }
        void run_blocking(std::function<void()> job) override { client_.run_blocking(std::move(job)); }
        void run_on_io(std::function<void()> job) override { client_.run_on_io(std::move(job)); }

    private:
        void finish() {
            if (route_.count) (impl_.*route_.count)(answer_);
            if (verdict_) add_limit_headers(answer_, *verdict_);
            impl_.finish_exchange(answer_, exchange_);
            client_.answer(std::move(answer_));
        }

        Impl& impl_;
        const Route& route_;
        Exchange exchange_;
        std::optional<ratelimit::Verdict> verdict_;
        http::Responder client_;
        Response answer_;
    };
    Response form_webhook(const Context&);
    Response send_message(const Context&);
    Response send_campaign(const Context&);
    Response consent(const Context&);
    Response opt_out(const Context& c) { return record_preference(c, optout::EventKind::opt_out); }
    Response opt_in(const Context& c) { return record_preference(c, optout::EventKind::opt_in); }
    Response record_preference(const Context&, optout::EventKind kind);
    Response create_lead(const Context&);
    Response get_lead(const Context&);
    Response lead_messages(const Context&);
    Response bulk_delete(const Context&);
    Response export_table(const Context&, privacy::TenantTable table);
    Response export_leads(const Context& c) { return export_table(c, privacy::TenantTable::leads); }
    Response export_messages(const Context& c) { return export_table(c, privacy::TenantTable::messages); }
    Response export_optouts(const Context& c) { return export_table(c, privacy::TenantTable::optout_events); }
    Response export_consents(const Context& c) { return export_table(c, privacy::TenantTable::consent_records); }
    Response audit_query(const Context&);
    Response retention_sweep(const Context&);
    Response subject_export(const Context&);
    Response subject_erase(const Context&);
    Response subject_restrict(const Context&);
    Response subject_object(const Context&);
    Response subject_rectify(const Context&);
    Response open_request(const Context&);
    Response list_requests(const Context&);
    Response terminate_account(const Context&);
    Response tenant_legal_hold(const Context&);
    Response lead_legal_hold(const Context&);
    Response audit_verify(const Context&);

    // Last: destroyed first, so its thread stops before what the replies it sends use.
    std::unique_ptr<ReplyQueue> replies;
};

void App::Impl::add_routes() {
    routes = {
        {"GET", "/healthz", Class::open, &Impl::healthz},
        {"GET", "/metrics", Class::open, &Impl::metrics_endpoint},
        {"GET", "/webhooks/whatsapp", Class::webhook, &Impl::whatsapp_webhook},
        {"POST", "/webhooks/whatsapp", Class::webhook, &Impl::whatsapp_webhook, &Impl::whatsapp_webhook_async,
         &Impl::count_delivery},
        {"POST", "/webhooks/forms/{integration}", Class::webhook, &Impl::form_webhook},
        {"POST", "/v1/messages", Class::api, &Impl::send_message},
        {"POST", "/v1/campaigns", Class::api, &Impl::send_campaign},
        {"GET", "/v1/contacts/{phone}/consent", Class::api, &Impl::consent},
        {"POST", "/v1/contacts/{phone}/opt-out", Class::api, &Impl::opt_out},
        {"POST", "/v1/contacts/{phone}/opt-in", Class::api, &Impl::opt_in},
        {"POST", "/v1/leads", Class::api, &Impl::create_lead},
        {"GET", "/v1/leads/{id}", Class::api, &Impl::get_lead},
        {"GET", "/v1/leads/{id}/messages", Class::api, &Impl::lead_messages},
        {"POST", "/v1/leads/bulk-delete", Class::api, &Impl::bulk_delete},
        {"GET", "/v1/exports/leads.csv", Class::api, &Impl::export_leads},
        {"GET", "/v1/exports/messages.csv", Class::api, &Impl::export_messages},
        {"GET", "/v1/exports/optouts.csv", Class::api, &Impl::export_optouts},
        {"GET", "/v1/exports/consents.csv", Class::api, &Impl::export_consents},
        {"GET", "/v1/audit", Class::api, &Impl::audit_query},
        {"POST", "/v1/retention/sweep", Class::api, &Impl::retention_sweep},
        {"GET", "/v1/leads/{id}/export", Class::api, &Impl::subject_export},
        {"POST", "/v1/leads/{id}/erase", Class::api, &Impl::subject_erase},
        {"POST", "/v1/leads/{id}/restrict", Class::api, &Impl::subject_restrict},
        {"POST", "/v1/leads/{id}/object", Class::api, &Impl::subject_object},
        {"POST", "/v1/leads/{id}/rectify", Class::api, &Impl::subject_rectify},
        {"POST", "/v1/leads/{id}/legal-hold", Class::api, &Impl::lead_legal_hold},
        {"POST", "/v1/privacy/requests", Class::api, &Impl::open_request},
        {"GET", "/v1/privacy/requests", Class::api, &Impl::list_requests},
        {"POST", "/v1/account/terminate", Class::api, &Impl::terminate_account},
        {"POST", "/v1/account/legal-hold", Class::api, &Impl::tenant_legal_hold},
        {"GET", "/v1/audit/verify", Class::api, &Impl::audit_verify},
    };
}

const App::Impl::Route* App::Impl::match(const Request& request, Params& params, bool& path_known) const {
    const std::string_view path = request.path();
    path_known = false;
    for (const Route& route : routes) {
        Params captured;
        std::string_view p = path, pat = route.pattern;
        bool ok = true;
        while (ok && (!p.empty() || !pat.empty())) {
            if (p.empty() || pat.empty() || p[0] != '/' || pat[0] != '/') { ok = false; break; }
            p.remove_prefix(1);
            pat.remove_prefix(1);
            const auto ps = p.substr(0, p.find('/')), pats = pat.substr(0, pat.find('/'));
            if (pats.starts_with('{')) {
                if (ps.empty()) { ok = false; break; }
                captured.push_back(percent_decode(ps));
            } else if (ps != pats) {
                ok = false;
                break;
            }
            p.remove_prefix(ps.size());
            pat.remove_prefix(pats.size());
        }
        if (!ok) continue;
        path_known = true;
        if (route.method == request.method) {
            params = std::move(captured);
            return &route;
        }
    }
    return nullptr;
}

std::optional<ratelimit::Verdict> App::Impl::limit(std::string_view quota, std::string_view key, Response& refusal) {
    auto verdict = limiter->check(quota, key);
    if (verdict.allowed) return verdict;
    refusal = Response::error(429, "rate_limited", "too many requests; retry after " +
                                                       std::to_string(verdict.retry_after_seconds) + " s");
    refusal.headers.emplace_back("Retry-After", std::to_string(verdict.retry_after_seconds));
    refusal.headers.emplace_back("RateLimit-Policy", verdict.policy_header());
    refusal.headers.emplace_back("RateLimit", verdict.state_header());
    return std::nullopt;
}

Response App::Impl::unmatched(const Request& request, bool path_known, std::string_view& route_name) {
    route_name = path_known ? "method_not_allowed" : "not_found";
    return path_known ? Response::error(405, "method_not_allowed", "this path does not take " + request.method)
                      : Response::error(404, "not_found", "no such endpoint");
}

std::optional<Response> App::Impl::admit(const Request& request, const Route& route, Admission& admitted) {
    if (route.kind == Class::open) return std::nullopt;
    const std::string client = ratelimit::client_key(request.client_address);
    Response refusal;
    if (route.kind == Class::webhook) {
        admitted.verdict = limit("webhook", client, refusal);
        if (!admitted.verdict) return refusal;
        return std::nullopt;
    }
    const std::string auth = request.header("authorization");
    if (auth.size() > 7 && (auth.starts_with("Bearer ") || auth.starts_with("bearer "))) {
        auto found = directory->authenticate(std::string_view(auth).substr(7));
        if (!found) return store_error(found.error());
        admitted.holder = std::move(*found);
    }
    if (!admitted.holder) {
        // Failed authentications are counted per client address: guessing keys is slow.
        if (!limit("auth", client, refusal)) return refusal;
        Response r = Response::error(401, "unauthorized", "missing or invalid API key (Authorization: Bearer <key>)");
        r.headers.emplace_back("WWW-Authenticate", "Bearer");
        return r;
    }
    admitted.verdict = limit("api", admitted.holder->key_id, refusal);
    if (!admitted.verdict) return refusal;
    return std::nullopt;
}

Response App::Impl::run(const Route& route, const Request& request, const Params& params, const std::string& request_id) {
    Admission admitted;
    if (auto refusal = admit(request, route, admitted)) return std::move(*refusal);
    Context context{request, params, admitted.holder ? &admitted.holder->principal : nullptr, request_id};
    Response response = (this->*route.handler)(context);
    if (route.count) (this->*route.count)(response);
    if (admitted.verdict) add_limit_headers(response, *admitted.verdict);
    return response;
}

void App::Impl::add_limit_headers(Response& response, const ratelimit::Verdict& verdict) {
    response.headers.emplace_back("RateLimit-Policy", verdict.policy_header());
    response.headers.emplace_back("RateLimit", verdict.state_header());
}

void App::Impl::count_delivery(const Response& response) {
    metrics.add(label("heroshhi_webhook_events_total", {{"kind", "delivery"}, {"status", std::to_string(response.status)}}));
}

Result<std::shared_ptr<messaging::Messenger>> App::Impl::messenger_for(const TenantId& tenant) {
    std::lock_guard lock(messengers_mutex);
    if (auto it = messengers.find(tenant.value()); it != messengers.end()) return it->second;
    auto record = directory->tenant(tenant.value());
    if (!record) return record.error();
    if (!*record) return Error(ConfigErrc::missing, "no tenant " + tenant.value() + " in the directory");
    Result<std::unique_ptr<transport::Transport>> made = Error(ConfigErrc::missing, "no transport");
    if (options.transport_for) {
        made = options.transport_for(**record);
    } else {
        whatsapp::CloudApiOptions cloud;
        cloud.base_url = options.config.graph_base_url;
        cloud.api_version = options.config.graph_api_version;
        cloud.phone_number_id = (*record)->phone_number_id;
        cloud.access_token = options.config.graph_token;
        auto client = whatsapp::CloudApiTransport::create(std::move(cloud));
        if (client) made = std::unique_ptr<transport::Transport>(std::move(*client));
        else made = client.error();
    }
    if (!made) return made.error();
    messaging::MessengerOptions messenger_options;
    // WhatsApp allows short bursts to one user ("up to 45 messages in a 6-second burst") that
    // borrow from the 1-per-6-s pair rate: room for a reply, a confirmation and a send.
    messenger_options.pacing.recipient_burst = 5;
    auto messenger = messaging::Messenger::create(*engine, *store, std::move(*made), *clock, messenger_options);
    if (!messenger) return messenger.error();
    std::shared_ptr<messaging::Messenger> shared(std::move(*messenger));
    messengers.emplace(tenant.value(), shared);
    return shared;
}

void App::Impl::count_send(const messaging::SendResult& r) {
    if (r.decision) metrics.add(label("heroshhi_decisions_total", {{"reason", to_string(r.decision->reason())}}));
    std::string outcome(messaging::to_string(r.status));
    if (r.outcome && r.status == messaging::SendStatus::failed) outcome += "_" + std::string(transport::to_string(*r.outcome));
    metrics.add(label("heroshhi_sends_total", {{"outcome", outcome}}));
}

std::optional<Response> App::Impl::refuse_unless(const Context& c, rbac::Action action, const rbac::Resource& resource) {
    auto access = engine->authorize(*c.principal, action, resource, c.request_id);
    if (!access) return store_error(access.error());
    if (!access->allowed()) return denied(*access);
    return std::nullopt;
}

std::optional<Response> App::Impl::closed_account_refusal(const TenantId& tenant, const audit::Actor& actor,
                                                          std::string action, std::string_view request_id) {
    auto account = retention_stores->accounts().get(tenant);
    if (account && !(*account && (*account)->closed_at)) return std::nullopt;
    const bool closed = account.has_value();  // otherwise the account could not be read
    audit::Entry e;
    e.tenant = tenant;
    e.actor = actor;
    e.action = std::move(action);
    e.target_type = "account";
    e.target_id = tenant.value();
    e.outcome = closed ? Reason::account_closed : Reason::store_unavailable;
    e.rule = closed ? "account.closed" : "account.unreadable";
    e.request_id = request_id;
    metrics.add(label("heroshhi_sends_total", {{"outcome", closed ? "account_closed" : "account_unknown"}}));
    if (auto stored = engine->audit().append(std::move(e)); !stored) return store_error(stored.error());
    if (!closed) return store_error(account.error());
    return Response::error(403, "account_closed",
                           "The account was terminated on " + iso8601(*(*account)->closed_at) +
                               "; it sends no more messages.");
}

std::optional<std::chrono::milliseconds> App::Impl::send_reply(const whatsapp::PendingReply& reply) {
    if (closed_account_refusal(reply.tenant, audit::Actor::system(), "send." + std::string(messaging::to_string(reply.kind)),
                               ""))
        return std::nullopt;
    auto messenger = messenger_for(reply.tenant);
    if (!messenger) return std::nullopt;
    auto sent = (*messenger)->send_as_system(reply.tenant, messaging::make_reply(reply.to, reply.text, reply.kind));
    if (!sent) return std::nullopt;
    if (sent->status == messaging::SendStatus::paced) return sent->retry_after;  // counted when it goes
    count_send(*sent);
    return std::nullopt;
}

// --- handlers --------------------------------------------------------------------------------------

Response App::Impl::healthz(const Context&) {
    auto probe = directory->tenant("healthz-probe");
    if (!probe) return Response::error(503, "store_unavailable", "the store cannot be read");
    return json_response(200, {{"status", "ok"}});
}

Response App::Impl::metrics_endpoint(const Context&) {
    Response r;
    r.body = metrics.text();
    r.content_type = "text/plain; version=0.0.4";
    return r;
}

Response App::Impl::whatsapp_webhook(const Context& c) { return webhook->handle(c.request); }

void App::Impl::whatsapp_webhook_async(Request request, http::Responder answer) {
    webhook->handle_async(std::move(request), std::move(answer));
}

Response App::Impl::form_webhook(const Context& c) {
    auto integration = directory->integration(c.params[0]);
    if (!integration) return store_error(integration.error());
    // An unknown integration answers as a bad signature does: ids cannot be probed.
    const Response unsigned_ = Response::error(401, "bad_signature", "missing or wrong X-Heroshhi-Signature");
    if (!*integration) return unsigned_;
    auto signature = crypto::WebhookSignature::create((*integration)->secret);
    if (!signature || !signature->verify(c.request.body, c.request.header("x-heroshhi-signature"))) return unsigned_;

    auto body = body_json(c.request);
    if (!body) return bad_body(body.error());
    (*body)["source"] = (*integration)->source;
    auto lead = lead_schema.validate_json(*body);
    if (!lead) return Response::error(422, "invalid_lead", lead.error().message());
    const TenantId tenant((*integration)->tenant);
    if (!lead->phone) return Response::error(422, "invalid_lead", "phone: required");

    auto existing = store->contacts().find_by_phone(tenant, *lead->phone);
    if (!existing) return store_error(existing.error());
    std::string id = *existing ? (*existing)->id.value() : "c_" + random_hex(8);
    if (!*existing) {
        storage::Contact contact(tenant, ContactId(id), *lead->phone);
        contact.name = lead->name;
        if (lead->email) contact.email = lead->email->normalized();
        contact.source = lead->source;
        contact.created_at = contact.updated_at = clock->now();
        if (auto put = store->contacts().put(contact); !put) return store_error(put.error());
    }
    audit::Entry entry;
    entry.tenant = tenant;
    entry.actor = audit::Actor::system();
    entry.action = *existing ? "lead.intake.duplicate" : "lead.intake";
    entry.target_type = "lead";
    entry.target_id = id;
    entry.rule = "integration." + (*integration)->id;
    entry.request_id = c.request_id;
    if (auto a = engine->audit().append(std::move(entry)); !a) return store_error(a.error());
    return json_response(*existing ? 200 : 201, {{"id", id}, {"duplicate", static_cast<bool>(*existing)}});
}

// {"to": "<phone>", "text": "..."} or {"to": "<phone>", "template": {"name", "language", "category",
// "parameters"}}: the message to send and its kind as the gate sees it.
static Result<transport::OutboundMessage> parse_message(const json& body) {
    const auto invalid = [](std::string why) { return Error(ConfigErrc::invalid_value, std::move(why)); };
    for (const auto& [key, value] : body.items())
        if (key != "to" && key != "text" && key != "template") return invalid(key + ": unknown field");
    const auto to = body.find("to");
    if (to == body.end() || !to->is_string()) return invalid("to: a phone number in international format is required");
    auto phone = PhoneNumber::parse(to->get<std::string>());
    if (!phone) return invalid("to: " + phone.error().message());
    const auto text = body.find("text");
    const auto tmpl = body.find("template");
    if ((text == body.end()) == (tmpl == body.end())) return invalid("give exactly one of text and template");
    if (text != body.end()) {
        if (!text->is_string() || text->get<std::string>().empty() || text->get<std::string>().size() > 4096)
            return invalid("text: 1 to 4096 bytes");
        transport::OutboundMessage message(*phone, messaging::MessageKind::free_form);
        message.text = text->get<std::string>();
        return message;
    }
    if (!tmpl->is_object()) return invalid("template: an object");
    static const std::map<std::string, messaging::MessageKind, std::less<>> categories{
        {"marketing", messaging::MessageKind::marketing_template},
        {"utility", messaging::MessageKind::utility_template},
        {"authentication", messaging::MessageKind::authentication_template}};
    const auto name = tmpl->find("name"), language = tmpl->find("language"), category = tmpl->find("category");
    // WhatsApp names templates with lower-case letters, digits and underscores, and codes languages
    // as "en" or "en_US": anything else is refused here rather than sent to Meta.
    const auto only = [](const std::string& s, auto allowed) {
        return std::all_of(s.begin(), s.end(), [&](char c) { return allowed(static_cast<unsigned char>(c)); });
    };
    if (name == tmpl->end() || !name->is_string() || name->get<std::string>().empty() || name->get<std::string>().size() > 512 ||
        !only(name->get<std::string>(), [](unsigned char c) { return std::islower(c) || std::isdigit(c) || c == '_'; }))
        return invalid("template.name: 1 to 512 lower-case letters, digits and underscores");
    if (category == tmpl->end() || !category->is_string() || !categories.contains(category->get<std::string>()))
        return invalid("template.category: marketing, utility or authentication");
    transport::OutboundMessage message(*phone, categories.find(category->get<std::string>())->second);
    message.template_message.name = name->get<std::string>();
    if (language != tmpl->end()) {
        if (!language->is_string() || language->get<std::string>().empty() || language->get<std::string>().size() > 16 ||
            !only(language->get<std::string>(), [](unsigned char c) { return std::isalpha(c) || c == '_'; }))
            return invalid("template.language: a language code such as en_US");
        message.template_message.language = language->get<std::string>();
    }
    if (const auto params = tmpl->find("parameters"); params != tmpl->end()) {
        if (!params->is_array() || params->size() > 20) return invalid("template.parameters: an array of at most 20 strings");
        for (const auto& p : *params) {
            if (!p.is_string() || p.get<std::string>().size() > 1024) return invalid("template.parameters: strings of at most 1024 bytes");
            // WhatsApp refuses parameters with line breaks or tabs; no control character is sent.
            if (auto ok = sanitize::validate_text(p.get<std::string>(), sanitize::TextRules{0, 1024, false, false},
                                                  "template.parameters");
                !ok)
                return invalid(ok.error().message());
            message.template_message.body_parameters.push_back(p.get<std::string>());
        }
    }
    for (const auto& [key, value] : tmpl->items())
        if (key != "name" && key != "language" && key != "category" && key != "parameters")
            return invalid("template." + key + ": unknown field");
    return message;
}

// What a send's result means for the API client.
Response send_response(const messaging::SendResult& r) {
    using messaging::SendStatus;
    switch (r.status) {
        case SendStatus::sent:
            return json_response(202, {{"id", r.id.value()}, {"provider_message_id", r.provider_message_id}});
        case SendStatus::duplicate:
            return Response::error(409, "duplicate_message", "a message with this id was already sent");
        case SendStatus::refused: {
            const Decision& d = *r.decision;
            // Could not decide (store down, or not yet current with the other instances): try again.
            const bool undecided =
                d.reason() == Reason::store_unavailable || d.reason() == Reason::suppression_not_current;
            return Response::error(undecided ? 503 : 403, to_string(d.reason()), d.notice());
        }
        case SendStatus::paced: {
            const auto seconds = std::max<long long>(1, (r.retry_after.count() + 999) / 1000);
            Response paced = Response::error(429, "paced", "WhatsApp allows about one message every 6 seconds to one "
                                                           "person; retry after " + std::to_string(seconds) + " s");
            paced.headers.emplace_back("Retry-After", std::to_string(seconds));
            return paced;
        }
        case SendStatus::failed:
            break;
    }
    const std::string outcome(r.outcome ? transport::to_string(*r.outcome) : "unreachable");
    return Response::error(502, "provider_" + outcome,
                           "WhatsApp did not take the message (code " + std::to_string(r.error_code) + ")" +
                               (r.detail.empty() ? "" : ": " + r.detail));
}

Response App::Impl::send_message(const Context& c) {
    auto body = body_json(c.request);
    if (!body) return bad_body(body.error());
    auto parsed = parse_message(*body);
    if (!parsed) return Response::error(400, "invalid_body", parsed.error().message());
    const TenantId& tenant = c.principal->tenant;
    const audit::Actor actor = audit::Actor::member(c.principal->user, c.principal->role);
    if (auto refusal = closed_account_refusal(tenant, actor, "send." + std::string(messaging::to_string(parsed->kind)),
                                              c.request_id))
        return std::move(*refusal);
    auto messenger = messenger_for(tenant);
    if (!messenger) return Response::error(503, "transport_unavailable", messenger.error().message());
    messaging::OutgoingMessage message(parsed->to, parsed->kind);
    message.text = parsed->text;
    message.template_message = parsed->template_message;
    message.request_id = c.request_id;
    auto sent = (*messenger)->send(tenant, *c.principal, std::move(message));
    if (!sent) {
        if (sent.error() == ConfigErrc::invalid_value)
            return Response::error(502, "provider_configuration", sent.error().message());
        return store_error(sent.error());
    }
    count_send(*sent);
    return send_response(*sent);
}

// {"id": "spring-sale", "to": ["+1...", ...], "template": {...}} or "text" instead of "template";
// "team" optionally names the team the campaign belongs to (managers: their own).
Response App::Impl::send_campaign(const Context& c) {
    constexpr std::size_t max_audience = 1000;
    auto body = body_json(c.request);
    if (!body) return bad_body(body.error());
    const auto id = body->find("id"), to = body->find("to");
    if (id == body->end() || !id->is_string() || id->get<std::string>().empty() || id->get<std::string>().size() > 64)
        return Response::error(400, "invalid_body", "id: the campaign's id, 1 to 64 bytes");
    if (auto ok = check_label(id->get<std::string>(), "id", 64); !ok)
        return Response::error(400, "invalid_body", ok.error().message());
    if (to == body->end() || !to->is_array() || to->empty() || to->size() > max_audience)
        return Response::error(400, "invalid_body", "to: an array of 1 to 1000 phone numbers");
    // The content is checked like a single message's, with a placeholder recipient.
    json content = json::object();
    for (const char* field : {"text", "template"})
        if (body->contains(field)) content[field] = (*body)[field];
    content["to"] = "+14155550100";
    for (const auto& [key, value] : body->items())
        if (key != "id" && key != "to" && key != "text" && key != "template" && key != "team")
            return Response::error(400, "invalid_body", key + ": unknown field");
    auto parsed = parse_message(content);
    if (!parsed) return Response::error(400, "invalid_body", parsed.error().message());

    const TenantId& tenant = c.principal->tenant;
    messaging::Campaign campaign(tenant, id->get<std::string>(), parsed->kind);
    campaign.team = c.principal->team;
    if (auto team = body->find("team"); team != body->end()) {
        if (!team->is_string()) return Response::error(400, "invalid_body", "team: a string");
        if (auto ok = check_label(team->get<std::string>(), "team", 128); !ok)
            return Response::error(400, "invalid_body", ok.error().message());
        campaign.team = team->get<std::string>();
    }
    campaign.text = parsed->text;
    campaign.template_message = parsed->template_message;
    campaign.request_id = c.request_id;
    json invalid = json::array();
    std::vector<std::size_t> input_position;  // campaign position -> position in "to"
    for (std::size_t i = 0; i < to->size(); ++i) {
        const auto& raw = (*to)[i];
        auto phone = raw.is_string() ? PhoneNumber::parse(raw.get<std::string>()) : Result<PhoneNumber>(Error(PhoneErrc::empty, "not a string"));
        if (!phone) {
            invalid.push_back(i);
            continue;
        }
        campaign.audience.push_back(*phone);
        input_position.push_back(i);
    }
    if (auto refusal = closed_account_refusal(tenant, audit::Actor::member(c.principal->user, c.principal->role),
                                              "send_campaign", c.request_id))
        return std::move(*refusal);
    auto messenger = messenger_for(tenant);
    if (!messenger) return Response::error(503, "transport_unavailable", messenger.error().message());
    auto attempt = (*messenger)->send_campaign(*c.principal, campaign);
    if (!attempt) return store_error(attempt.error());
    if (!attempt->allowed()) return denied(attempt->access);
    const messaging::CampaignReport& report = *attempt->value;
    const auto& a = report.audience;
    json outcomes = json::array();
    for (const auto& o : report.outcomes) {
        count_send(o.result);
        json item{{"position", input_position[o.position]}, {"status", messaging::to_string(o.result.status)}};
        if (o.result.decision && !o.result.decision->allowed()) item["reason"] = to_string(o.result.decision->reason());
        if (o.result.error_code) item["code"] = o.result.error_code;
        outcomes.push_back(std::move(item));
    }
    json out{{"id", campaign.id},
             {"sent", report.sent},
             {"failed", report.failed},
             {"refused", report.refused},
             {"paced", report.paced},
             {"duplicates", report.duplicates},
             {"excluded",
              {{"opted_out", a.opted_out},
               {"marketing_opted_out", a.marketing_opted_out},
               {"no_consent", a.no_consent},
               {"restricted", a.restricted},
               {"outside_window", a.outside_window},
               {"duplicates", a.duplicates},
               {"invalid_number", a.invalid_number + invalid.size()},
               {"store_unavailable", a.store_unavailable}}},
             {"invalid_positions", invalid},
             {"outcomes", outcomes}};
    if (report.stopped) {
        out["stopped"] = {{"at_position", input_position[report.stopped_at]},
                          {"not_attempted", report.not_attempted},
                          {"reason", report.stopped->message()}};
    }
    return json_response(200, out);
}

Response App::Impl::consent(const Context& c) {
    auto phone = PhoneNumber::parse(c.params[0]);
    if (!phone) return Response::error(400, "invalid_phone", phone.error().message());
    const TenantId& tenant = c.principal->tenant;
    auto resource = contact_resource(tenant, *phone);
    if (!resource) return store_error(resource.error());
    if (auto refusal = refuse_unless(c, rbac::Action::read, resource->first)) return std::move(*refusal);
    auto status = engine->status(tenant, *phone);
    if (!status) return store_error(status.error());
    json body{{"phone", phone->e164()},
              {"opted_out", status->opted_out},
              {"marketing_opted_out", status->marketing_opted_out},
              {"events", status->event_count}};
    body["last_event"] = status->last_event ? event_json(*status->last_event) : json(nullptr);
    body["last_opt_out"] = status->last_optout ? event_json(*status->last_optout) : json(nullptr);
    if (resource->second) body["contact_id"] = resource->second->id.value();
    return json_response(200, body);
}

Response App::Impl::record_preference(const Context& c, optout::EventKind kind) {
    auto phone = PhoneNumber::parse(c.params[0]);
    if (!phone) return Response::error(400, "invalid_phone", phone.error().message());
    OptOutRequest request;
    request.request_id = c.request_id;
    std::string method = "api";
    if (!c.request.body.empty()) {
        auto body = body_json(c.request);
        if (!body) return bad_body(body.error());
        for (const auto& [key, value] : body->items()) {
            if (!value.is_string()) return Response::error(400, "invalid_body", key + ": must be a string");
            if (key == "method") method = value.get<std::string>();
            else if (key == "note") request.note = value.get<std::string>();
            else if (key == "scope") {
                auto scope = optout::scope_from_string(value.get<std::string>());
                if (!scope) return Response::error(400, "invalid_body", "scope: all or marketing");
                request.scope = *scope;
            } else return Response::error(400, "invalid_body", key + ": unknown field");
        }
        if (method != "api" && method != "manual") return Response::error(400, "invalid_body", "method: api or manual");
        if (request.note.size() > 500) return Response::error(400, "invalid_body", "note: at most 500 bytes");
        // A note may span lines; no other control character (a NUL was stored as given).
        if (auto ok = sanitize::validate_text(request.note, sanitize::TextRules{0, 500, true, false}, "note"); !ok)
            return Response::error(400, "invalid_body", ok.error().message());
    }
    const bool out = kind == optout::EventKind::opt_out;
    const TenantId& tenant = c.principal->tenant;
    auto attempt = method == "manual"
                       ? (out ? engine->opt_out_manually(tenant, *c.principal, *phone, request)
                              : engine->opt_in_manually(tenant, *c.principal, *phone, request))
                       : (out ? engine->opt_out_via_api(tenant, *c.principal, *phone, request)
                              : engine->opt_in_via_api(tenant, *c.principal, *phone, request));
    if (!attempt) return store_error(attempt.error());
    if (!attempt->allowed()) return denied(attempt->access);
    if (out) metrics.add(label("heroshhi_optouts_total", {{"method", method}}));
    auto status = engine->status(tenant, *phone);
    if (!status) return store_error(status.error());
    return json_response(201, {{"opted_out", status->opted_out},
                               {"marketing_opted_out", status->marketing_opted_out},
                               {"event", event_json(*attempt->value)}});
}

Response App::Impl::create_lead(const Context& c) {
    const TenantId& tenant = c.principal->tenant;
    auto body = body_json(c.request);
    if (!body) return bad_body(body.error());
    // Who owns the lead: not part of the lead schema, read here.
    std::optional<std::string> assignee;
    std::string team = c.principal->team;
    for (const char* field : {"assignee", "team"}) {
        auto it = body->find(field);
        if (it == body->end()) continue;
        if (!it->is_string() || it->get<std::string>().empty() || it->get<std::string>().size() > 128)
            return Response::error(400, "invalid_body", std::string(field) + ": a string of 1 to 128 bytes");
        if (auto ok = check_label(it->get<std::string>(), field, 128); !ok)
            return Response::error(400, "invalid_body", ok.error().message());
        (std::string_view(field) == "team" ? team : assignee.emplace()) = it->get<std::string>();
        body->erase(it);
    }
    if (!body->contains("source")) (*body)["source"] = "direct";
    auto lead = lead_schema.validate_json(*body);
    if (!lead) return Response::error(422, "invalid_lead", lead.error().message());
    if (!lead->phone) return Response::error(422, "invalid_lead", "phone: required");

    // A sales user's new lead is theirs unless they name someone else (which the policy decides).
    if (!assignee && c.principal->role == rbac::Role::sales) assignee = c.principal->user.value();
    const std::string id = "c_" + random_hex(8);
    rbac::Resource resource(rbac::ResourceType::lead, tenant, id);
    if (assignee) resource.assignee = UserId(*assignee);
    resource.team = team;
    if (auto refusal = refuse_unless(c, rbac::Action::create, resource)) return std::move(*refusal);

    auto existing = store->contacts().find_by_phone(tenant, *lead->phone);
    if (!existing) return store_error(existing.error());
    if (*existing) {
        // One lead a number in a tenant, so the refusal must say the number is taken; its id only
        // to whoever may read that lead (a check, not an access: nothing is audited for it).
        rbac::Resource taken(rbac::ResourceType::lead, tenant, (*existing)->id.value());
        taken.assignee = (*existing)->assignee;
        taken.team = (*existing)->team;
        if (engine->authorizer().check(*c.principal, rbac::Action::read, taken).allowed())
            return Response::error(409, "duplicate_lead", "a lead with this phone number exists: " + (*existing)->id.value());
        return Response::error(409, "duplicate_lead", "a lead with this phone number exists (not one you can read)");
    }
    storage::Contact contact(tenant, ContactId(id), *lead->phone);
    contact.name = lead->name;
    if (lead->email) contact.email = lead->email->normalized();
    contact.source = lead->source;
    if (assignee) contact.assignee = UserId(*assignee);
    contact.team = team;
    contact.created_at = contact.updated_at = clock->now();
    if (auto put = store->contacts().put(contact); !put) return store_error(put.error());
    return json_response(201, {{"id", id}});
}

LeadAccess App::Impl::open_lead(const Context& c, rbac::ResourceType type, rbac::Action action) {
    const TenantId& tenant = c.principal->tenant;
    auto contact = store->contacts().get(tenant, ContactId(c.params[0]));
    if (!contact) return {std::nullopt, store_error(contact.error())};
    rbac::Resource resource(type, tenant, c.params[0]);
    if (*contact) {
        resource.assignee = (*contact)->assignee;
        resource.team = (*contact)->team;
    }
    if (auto refusal = refuse_unless(c, action, resource)) return {std::nullopt, std::move(refusal)};
    if (!*contact || (*contact)->deleted_at) return {std::nullopt, Response::error(404, "not_found", "no such lead")};
    return {std::move(*contact), std::nullopt};
}

Response App::Impl::get_lead(const Context& c) {
    auto opened = open_lead(c, rbac::ResourceType::lead, rbac::Action::read);
    if (opened.refusal) return std::move(*opened.refusal);
    const auto& k = *opened.lead;
    return json_response(200, {{"id", k.id.value()},
                               {"name", k.name},
                               {"phone", k.phone.e164()},
                               {"email", k.email},
                               {"source", k.source},
                               {"assignee", k.assignee ? json(k.assignee->value()) : json(nullptr)},
                               {"team", k.team},
                               {"restricted", k.restricted},
                               {"created_at", iso8601(k.created_at)}});
}

Response App::Impl::lead_messages(const Context& c) {
    constexpr std::size_t max_messages = 500;
    const TenantId& tenant = c.principal->tenant;
    auto opened = open_lead(c, rbac::ResourceType::message, rbac::Action::read);
    if (opened.refusal) return std::move(*opened.refusal);
    auto messages = store->messages().list_for_contact(tenant, ContactId(c.params[0]), max_messages);
    if (!messages) return store_error(messages.error());
    json list = json::array();
    for (const auto& m : *messages)
        list.push_back({{"id", m.id.value()},
                        {"direction", storage::to_string(m.direction)},
                        {"status", storage::to_string(m.status)},
                        {"text", m.body},
                        {"provider_message_id", m.provider_message_id},
                        {"created_at", iso8601(m.created_at)},
                        {"updated_at", iso8601(m.updated_at)}});
    return json_response(200, {{"messages", list}});
}

Response App::Impl::bulk_delete(const Context& c) {
    const TenantId& tenant = c.principal->tenant;
    auto body = body_json(c.request);
    if (!body) return bad_body(body.error());
    const auto ids = body->find("ids");
    if (ids == body->end() || !ids->is_array() || ids->empty() || ids->size() > max_bulk_ids)
        return Response::error(400, "invalid_body", "ids: an array of 1 to 1000 lead ids");
    for (const auto& id : *ids)
        if (!id.is_string() || id.get<std::string>().empty() || id.get<std::string>().size() > 128)
            return Response::error(400, "invalid_body", "ids: every id is a string of 1 to 128 bytes");
    if (auto refusal = refuse_unless(c, rbac::Action::bulk_delete, rbac::Resource(rbac::ResourceType::lead, tenant, "bulk")))
        return std::move(*refusal);
    json deleted = json::array(), missing = json::array();
    for (const auto& id : *ids) {
        auto done = store->contacts().soft_delete(tenant, ContactId(id.get<std::string>()), clock->now());
        if (!done) return store_error(done.error());
        (*done ? deleted : missing).push_back(id);
    }
    return json_response(200, {{"deleted", deleted}, {"not_found", missing}});
}


Response App::Impl::audit_query(const Context& c) {
    const TenantId& tenant = c.principal->tenant;
    rbac::Resource resource(rbac::ResourceType::audit_log, tenant, "trail");
    resource.team = c.principal->team;
    if (auto refusal = refuse_unless(c, rbac::Action::read, resource)) return std::move(*refusal);
    audit::Query query(tenant);
    for (const char* name : {"from", "until"}) {
        const std::string v = c.request.query(name);
        if (v.empty()) continue;
        auto t = parse_time(v);
        if (!t) return Response::error(400, "invalid_query", std::string(name) + ": an ISO 8601 UTC time or milliseconds");
        (std::string_view(name) == "from" ? query.from : query.until) = *t;
    }
    if (auto v = c.request.query("actor"); !v.empty()) query.actor = UserId(v);
    if (auto v = c.request.query("action"); !v.empty()) query.action = v;
    if (auto v = c.request.query("target_type"); !v.empty()) query.target_type = v;
    if (auto v = c.request.query("target_id"); !v.empty()) query.target_id = v;
    if (auto v = c.request.query("limit"); !v.empty()) {
        std::size_t n = 0;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (ec != std::errc() || end != v.data() + v.size() || n == 0 || n > max_audit_page)
            return Response::error(400, "invalid_query", "limit: 1 to 10000");
        query.limit = n;
    }
    if (auto v = c.request.query("after"); !v.empty()) {
        std::int64_t after = 0;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), after);
        if (ec != std::errc() || end != v.data() + v.size() || after < 0)
            return Response::error(400, "invalid_query", "after: a sequence number (X-Next-After of the previous page)");
        query.after_sequence = after;
    }
    // One page of matching entries as JSON lines (at most `limit`, default 1000): an answer stays
    // bounded however long the trail. A full page names where the next one starts.
    std::ostringstream out;
    auto written = engine->audit().export_jsonl_page(query, out);
    if (!written) return store_error(written.error());
    Response r;
    r.content_type = "application/x-ndjson";
    r.body = std::move(out).str();
    if (written->next_after) r.headers.emplace_back("X-Next-After", std::to_string(*written->next_after));
    return r;
}

// The answer for a data-subject operation's failure: legal holds and missing contacts are the
// client's to know; anything else is the store's.
Response privacy_error(const Error& e) {
    if (e == privacy::PrivacyErrc::legal_hold) return Response::error(409, "legal_hold", e.message());
    if (e == privacy::PrivacyErrc::not_found) return Response::error(404, "not_found", e.message());
    if (e.code().category() == privacy::privacy_category()) return Response::error(400, "invalid_request", e.message());
    if (e == storage::StorageErrc::key_unavailable)
        return Response::error(503, "erasure_unavailable",
                               "erasure keeps a keyed hash of the number: configure index_key_file (" + e.message() + ")");
    if (e.code().category() == storage::storage_category()) return store_error(e);
    return Response::error(422, "invalid_value", e.message());
}

Response App::Impl::export_table(const Context& c, privacy::TenantTable table) {
    // The export action on leads: owners and admins of the tenant, managers for their team's leads
    // and messages (opt-out and consent records are the whole tenant's: owners and admins), never
    // sales. privacy::Rights authorizes, audits and writes it; restricted contacts are left out.
    privacy::LeadExportOptions options;
    const bool per_lead = table == privacy::TenantTable::leads || table == privacy::TenantTable::messages;
    if (per_lead && c.principal->role == rbac::Role::manager) options.team = c.principal->team;
    std::string body = "\xEF\xBB\xBF";  // a byte order mark: spreadsheets then read the file as UTF-8
    bool too_big = false;
    auto done = rights->export_table_csv(*c.principal, c.principal->tenant, table,
                                         [&](std::string_view chunk) {
                                             body.append(chunk);
                                             too_big = body.size() > max_export_bytes;
                                             return !too_big;
                                         },
                                         options, c.request_id);
    if (too_big)
        return Response::error(422, "export_too_large", "the export exceeds " + std::to_string(max_export_bytes >> 20) +
                                                            " MiB, the bound of one answer; the library's "
                                                            "privacy::Rights::export_table_csv streams any size");
    if (!done) return privacy_error(done.error());
    if (!done->allowed()) return denied(done->access);
    Response r;
    r.content_type = "text/csv; charset=utf-8";
    r.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + std::string(privacy::to_string(table)) + ".csv\"");
    r.body = std::move(body);
    return r;
}

Response App::Impl::subject_export(const Context& c) {
    const std::string format = c.request.query("format").empty() ? "json" : c.request.query("format");
    if (format != "json" && format != "csv") return Response::error(400, "invalid_query", "format: json or csv");
    std::string body;
    auto done = rights->export_contact(*c.principal, c.principal->tenant, ContactId(c.params[0]),
                                       format == "csv" ? privacy::ExportFormat::csv : privacy::ExportFormat::json,
                                       [&](std::string_view chunk) {
                                           body.append(chunk);
                                           return body.size() <= 64u * 1024 * 1024;  // a bound on one answer
                                       },
                                       c.request_id);
    if (!done) return privacy_error(done.error());
    if (!done->allowed()) return denied(done->access);
    Response r;
    r.content_type = format == "csv" ? "text/csv; charset=utf-8" : "application/json";
    r.headers.emplace_back("Content-Disposition", "attachment; filename=\"subject-access." + format + "\"");
    r.body = std::move(body);
    return r;
}

Response App::Impl::subject_erase(const Context& c) {
    auto done = rights->erase(*c.principal, c.principal->tenant, ContactId(c.params[0]), c.request_id);
    if (!done) return privacy_error(done.error());
    if (!done->allowed()) return denied(done->access);
    const privacy::Erasure& e = *done->value;
    return json_response(200, {{"erased", true}, {"messages_deleted", e.messages}, {"number_shared", e.number_shared},
                               {"scrubbed", e.scrubbed}});
}

Response App::Impl::subject_restrict(const Context& c) {
    auto body = body_json(c.request);
    if (!body) return bad_body(body.error());
    const auto flag = body->find("restricted");
    if (flag == body->end() || !flag->is_boolean() || body->size() != 1)
        return Response::error(400, "invalid_body", "give {\"restricted\": true} or false");
    auto done = rights->restrict_processing(*c.principal, c.principal->tenant, ContactId(c.params[0]),
                                            flag->get<bool>(), c.request_id);
    if (!done) return privacy_error(done.error());
    if (!done->allowed()) return denied(done->access);
    return json_response(200, {{"restricted", flag->get<bool>()}, {"changed", *done->value}});
}

Response App::Impl::subject_object(const Context& c) {
    auto body = body_json(c.request);
    if (!body) return bad_body(body.error());
    const std::string purpose = body->value("purpose", std::string());
    if ((purpose != "marketing" && purpose != "analytics") || body->size() != 1)
        return Response::error(400, "invalid_body", "purpose: marketing or analytics");
    auto done = rights->object(*c.principal, c.principal->tenant, ContactId(c.params[0]),
                               purpose == "marketing" ? privacy::Objection::marketing : privacy::Objection::analytics,
                               c.request_id);
    if (!done) return privacy_error(done.error());
    if (!done->allowed()) return denied(done->access);
    return json_response(200, {{"purpose", purpose}, {"changed", *done->value}});
}

Response App::Impl::subject_rectify(const Context& c) {
    auto body = body_json(c.request);
    if (!body) return bad_body(body.error());
    privacy::Rectification change;
    for (const auto& [key, value] : body->items()) {
        if (!value.is_string()) return Response::error(400, "invalid_body", key + ": a string");
        if (key == "name") change.name = value.get<std::string>();
        else if (key == "email") change.email = value.get<std::string>();
        else if (key == "phone") change.phone = value.get<std::string>();
        else if (key == "phone_region") change.phone_region = value.get<std::string>();
        else return Response::error(400, "invalid_body", key + ": unknown field");
    }
    // The region only says how to read a national-format phone: alone it would be accepted and
    // silently ignored (found by the hostile-input catalogue).
    if (!change.phone_region.empty() && !change.phone)
        return Response::error(400, "invalid_body", "phone_region: only with phone");
    auto done = rights->rectify(*c.principal, c.principal->tenant, ContactId(c.params[0]), change, c.request_id);
    if (!done) return privacy_error(done.error());
    if (!done->allowed()) return denied(done->access);
    return json_response(200, {{"id", done->value->id.value()}, {"rectified", true}});
}

json request_json(const privacy::SubjectRequest& r) {
    json j{{"id", r.id},
           {"type", privacy::to_string(r.type)},
           {"subject", r.subject},
           {"status", privacy::to_string(r.status)},
           {"received_at", iso8601(r.received_at)},
           {"acknowledge_by", iso8601(r.acknowledge_by)},
           {"due_by", iso8601(r.due_by)},
           {"extended", r.extended}};
    if (r.handled_by) j["handled_by"] = r.handled_by->value();
    return j;
}

// {"type": "erasure", "contact_id": "c_..."}: logs a request with its deadlines.
Response App::Impl::open_request(const Context& c) {
    auto body = body_json(c.request);
    if (!body) return bad_body(body.error());
    const auto type = privacy::request_type_from_string(body->value("type", std::string()));
    const std::string contact = body->value("contact_id", std::string());
    if (!type) return Response::error(400, "invalid_body", "type: access, portability, rectification, erasure, restriction or objection");
    if (contact.empty() || contact.size() > 128 || !check_label(contact, "contact_id", 128))
        return Response::error(400, "invalid_body", "contact_id: the lead's id");
    auto done = requests->open(*c.principal, c.principal->tenant, *type, privacy::subject_of(ContactId(contact)),
                               std::nullopt, {}, c.request_id);
    if (!done) return privacy_error(done.error());
    if (!done->allowed()) return denied(done->access);
    return json_response(201, request_json(*done->value));
}

Response App::Impl::list_requests(const Context& c) {
    const bool overdue_only = c.request.query("overdue") == "true";
    json list = json::array();
    if (overdue_only) {
        auto done = requests->overdue(*c.principal, c.principal->tenant, c.request_id);
        if (!done) return privacy_error(done.error());
        if (!done->allowed()) return denied(done->access);
        for (const auto& o : *done->value) list.push_back(request_json(o.request));
    } else {
        storage::Page page;
        page.after = c.request.query("after");
        page.limit = 500;
        auto done = requests->list(*c.principal, c.principal->tenant, page, c.request_id);
        if (!done) return privacy_error(done.error());
        if (!done->allowed()) return denied(done->access);
        for (const auto& r : *done->value) list.push_back(request_json(r));
    }
    return json_response(200, {{"requests", list}});
}

json counts_json(const retention::TenantReport& report) {
    json counts = json::object();
    for (std::size_t i = 0; i < retention::category_count; ++i) {
        const auto& n = report.counts[i];
        if (n.empty()) continue;
        counts[std::string(retention::to_string(static_cast<retention::Category>(i)))] = {
            {"soft_deleted", n.soft_deleted}, {"hard_deleted", n.hard_deleted}, {"cascaded", n.cascaded},
            {"held", n.held}, {"purged", n.purged}};
    }
    return {{"held", report.held}, {"terminated", report.terminated},
            {"audit_chain_broken", report.audit_chain_broken}, {"counts", counts}};
}

// Runs the retention sweep now. The sweep applies the policy to every tenant of the store (it only
// deletes what the policy makes due, so running it early harms no one); the answer shows the
// caller's tenant only.
Response App::Impl::retention_sweep(const Context& c) {
    const TenantId& tenant = c.principal->tenant;
    bool dry_run = false;
    if (!c.request.body.empty()) {
        auto body = body_json(c.request);
        if (!body) return bad_body(body.error());
        for (const auto& [key, value] : body->items()) {
            if (key != "dry_run" || !value.is_boolean())
                return Response::error(400, "invalid_body", key + ": only dry_run (a boolean) is accepted");
            dry_run = value.get<bool>();
        }
    }
    if (auto refusal =
            refuse_unless(c, rbac::Action::manage, rbac::Resource(rbac::ResourceType::retention_policy, tenant, "sweep")))
        return std::move(*refusal);
    retention::SweepOptions sweep_options;
    sweep_options.dry_run = dry_run;
    sweep_options.request_id = c.request_id;
    std::lock_guard lock(sweep_mutex);
    auto report = sweeper->run(clock->now(), sweep_options);
    if (!report) return store_error(report.error());
    json out{{"as_of", iso8601(report->as_of)}, {"dry_run", report->dry_run}, {"complete", report->complete}};
    out["tenant"] = json(nullptr);
    for (const auto& t : report->tenants) {
        if (!dry_run)
            for (std::size_t i = 0; i < retention::category_count; ++i) {
                const auto& n = t.counts[i];
                if (const auto rows = n.hard_deleted + n.cascaded + n.purged; rows > 0)
                    metrics.add(label("heroshhi_sweep_rows_total",
                                      {{"category", retention::to_string(static_cast<retention::Category>(i))}}),
                                static_cast<std::uint64_t>(rows));
            }
        if (t.tenant == tenant) out["tenant"] = counts_json(t);
    }
    return json_response(200, out);
}

// The owner closes the account: its data is deleted by the sweep 30 days later (except opt-out
// records, kept as keyed hashes as the policy requires, and anything under legal hold).
Response App::Impl::terminate_account(const Context& c) {
    const TenantId& tenant = c.principal->tenant;
    const std::string_view needed = "confirm: give the tenant id to confirm termination";
    if (c.request.body.empty()) return Response::error(400, "confirmation_required", std::string(needed));
    auto body = body_json(c.request);
    if (!body) return bad_body(body.error());
    if (body->value("confirm", std::string()) != tenant.value())
        return Response::error(400, "confirmation_required", std::string(needed));
    auto done = rights->terminate_account(*c.principal, tenant, c.request_id);
    if (!done) return privacy_error(done.error());
    if (!done->allowed()) return denied(done->access);
    const privacy::Termination& t = *done->value;
    return json_response(200, {{"closed_at", iso8601(t.closed_at)},
                               {"deletion_after", iso8601(t.deletion_after)},
                               {"already_closed", t.already_closed},
                               {"legal_hold", t.legal_hold}});
}

namespace {

/// {"held": true|false} and nothing else.
std::optional<bool> held_flag(const nlohmann::json& body) {
    const auto flag = body.find("held");
    if (flag == body.end() || !flag->is_boolean() || body.size() != 1) return std::nullopt;
    return flag->get<bool>();
}

}  // namespace

Response App::Impl::tenant_legal_hold(const Context& c) {
    auto body = body_json(c.request);
    if (!body) return bad_body(body.error());
    const auto held = held_flag(*body);
    if (!held) return Response::error(400, "invalid_body", "give {\"held\": true} or false");
    auto done = rights->set_tenant_legal_hold(*c.principal, c.principal->tenant, *held, c.request_id);
    if (!done) return privacy_error(done.error());
    if (!done->allowed()) return denied(done->access);
    return json_response(200, {{"held", *held}, {"changed", *done->value}});
}

Response App::Impl::lead_legal_hold(const Context& c) {
    auto body = body_json(c.request);
    if (!body) return bad_body(body.error());
    const auto held = held_flag(*body);
    if (!held) return Response::error(400, "invalid_body", "give {\"held\": true} or false");
    auto done = rights->set_legal_hold(*c.principal, c.principal->tenant, ContactId(c.params[0]), *held, c.request_id);
    if (!done) return privacy_error(done.error());
    if (!done->allowed()) return denied(done->access);
    return json_response(200, {{"held", *held}, {"changed", *done->value}});
}

Response App::Impl::audit_verify(const Context& c) {
    const TenantId& tenant = c.principal->tenant;
    if (auto refusal = refuse_unless(c, rbac::Action::read, rbac::Resource(rbac::ResourceType::audit_log, tenant, "trail")))
        return std::move(*refusal);
    auto v = engine->audit().verify(tenant);
    if (!v) return store_error(v.error());
    json body{{"intact", v->intact()}, {"checked", v->checked}, {"first", v->first}, {"last", v->last}};
    if (!v->intact()) {
        body["problem"] = audit::to_string(*v->problem);
        body["broken_at"] = v->broken_at;
        body["detail"] = v->detail;
    }
    return json_response(200, body);
}

// --- App -------------------------------------------------------------------------------------------

App::App(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
App::~App() = default;
bool App::wait_for_replies(std::chrono::milliseconds timeout) { return impl_->replies->wait_idle(timeout); }
Directory& App::directory() { return *impl_->directory; }

Result<void> App::register_tenant(const Tenant& tenant) {
    if (auto put = impl_->directory->put_tenant(tenant); !put) return put;
    auto& accounts = impl_->retention_stores->accounts();
    auto current = accounts.get(TenantId(tenant.id));
    if (!current) return current.error();
    if (*current) return {};
    storage::Account account{TenantId(tenant.id)};
    account.opened_at = impl_->clock->now();
    return accounts.put(account);
}

Result<std::size_t> App::export_leads(const rbac::Principal& by, std::ostream& out) {
    auto done = impl_->rights->export_leads_csv(by, by.tenant, out);
    if (!done) return done.error();
    if (!done->allowed()) return Error(ConfigErrc::invalid_value, "not allowed: " + done->access.notice());
    return done->value->leads;
}

Result<retention::SweepReport> App::sweep(bool dry_run) {
    retention::SweepOptions options;
    options.dry_run = dry_run;
    std::lock_guard lock(impl_->sweep_mutex);
    return impl_->sweeper->run(impl_->clock->now(), options);
}
Engine& App::engine() { return *impl_->engine; }
std::string App::metrics_text() const { return impl_->metrics.text(); }

std::vector<std::pair<std::string, std::string>> App::routes() {
    Impl table;
    table.add_routes();
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& r : table.routes) out.emplace_back(r.method, r.pattern);
    return out;
}

Result<std::unique_ptr<App>> App::open(AppOptions options) {
    if (auto ok = options.config.validate(); !ok) return ok.error();
    auto impl = std::make_unique<Impl>();
    static const SystemClock system_clock;
    impl->clock = options.clock ? options.clock : &system_clock;
    const Config& config = options.config;

    const crypto::KeyRing* keys = nullptr;
    if (!config.key_file.empty()) {
        auto ring = crypto::KeyRing::load(crypto::FileKeyProvider(config.key_file));
        if (!ring) return ring.error();
        auto index_keys = crypto::FileKeyProvider(config.index_key_file).load_keys();
        if (!index_keys) return index_keys.error();
        if (index_keys->keys.size() != 1)
            return Error(ConfigErrc::invalid_value, "index_key_file must hold exactly one key");
        auto index = crypto::BlindIndex::create(std::move(index_keys->keys.front().key));
        if (!index) return index.error();
        impl->keys = std::make_unique<crypto::KeyRing>(std::move(*ring));
        impl->blind_index = std::make_unique<crypto::BlindIndex>(std::move(*index));
        keys = impl->keys.get();
    }
    const bool shared = !config.database.empty();
    if (auto opened = shared ? impl->open_postgres(config, keys) : impl->open_sqlite(config, keys); !opened)
        return opened.error();
    auto audit_key = impl->directory->secret("audit_pseudonym_key");
    if (!audit_key) return audit_key.error();
    impl->audit_key = *audit_key;

    EngineOptions engine_options;
    engine_options.audit_key = impl->audit_key;
    engine_options.blind_index = impl->blind_index.get();  // erasure keeps numbers as keyed hashes
    // Instances sharing a database learn of each other's opt-outs through the change feed, and
    // refuse sends whenever they cannot confirm they have them all.
    engine_options.shared.enabled = shared;
    engine_options.shared.change_feed = shared;
    engine_options.shared.recheck_interval = std::chrono::milliseconds(config.recheck_ms);
    engine_options.shared.facts_reload_interval = std::chrono::milliseconds(config.facts_reload_ms);
    impl->engine = std::make_unique<Engine>(*impl->store, *impl->clock, std::move(engine_options));
#if HEROSHHI_WITH_POSTGRES
    if (shared) {
        auto feed = storage::PostgresChangeFeed::start(*impl->engine, config.database);
        if (!feed) return feed.error();
        impl->feed = std::move(*feed);
    }
#endif

    auto limiter = ratelimit::Limiter::create(
        {{"auth", config.auth_per_minute, std::chrono::minutes(1)},
         {"api", config.api_per_minute, std::chrono::minutes(1)},
         {"webhook", config.webhook_per_minute, std::chrono::minutes(1)}},
        *impl->clock);
    if (!limiter) return limiter.error();
    impl->limiter = std::make_unique<ratelimit::Limiter>(std::move(*limiter));

    sanitize::NoSqlGuardConfig guard_config;
    guard_config.limits.max_bytes = 64 * 1024;
    guard_config.limits.max_depth = 8;
    guard_config.limits.max_keys = 2000;
    auto guard = sanitize::NoSqlGuard::create(guard_config);
    if (!guard) return guard.error();
    impl->guard = std::move(*guard);

    Impl* self = impl.get();
    whatsapp::WebhookOptions webhook_options;
    webhook_options.verify_token = config.verify_token;
    webhook_options.app_secret = config.app_secret;
    webhook_options.tenant_for = [self](std::string_view number) -> Result<std::optional<TenantId>> {
        auto tenant = self->directory->tenant_for_number(number);
        if (!tenant) return tenant.error();  // 503: the delivery comes again
        if (!*tenant) return std::optional<TenantId>();
        return std::optional<TenantId>(TenantId(**tenant));
    };
    // The webhook's I/O-thread path places a delivery from the cache only; on a miss the delivery
    // is stored where waiting is allowed, and that lookup fills the cache.
    webhook_options.tenant_known = [self](std::string_view number) -> std::optional<std::optional<TenantId>> {
        auto known = self->directory->cached_tenant_for_number(number);
        if (!known) return std::nullopt;
        if (!*known) return std::optional<TenantId>();
        return std::optional<TenantId>(TenantId(**known));
    };
    // Replies go out after the delivery is answered, at the number's pace (reply_queue.hpp).
    ReplyQueue::Options reply_options;
    reply_options.on_drop = [self](std::size_t n) { self->metrics.add("heroshhi_replies_dropped_total", n); };
    impl->replies = std::make_unique<ReplyQueue>(
        [self](const whatsapp::PendingReply& reply) { return self->send_reply(reply); }, std::move(reply_options));
    webhook_options.on_reply = [self](const whatsapp::PendingReply& reply) { (void)self->replies->push(reply); };
    webhook_options.messages = &impl->store->messages();
    auto webhook = whatsapp::Webhook::create(*impl->engine, std::move(webhook_options));
    if (!webhook) return webhook.error();
    impl->webhook = std::move(*webhook);

    // The engine's blind index and audit key: a terminated tenant's opt-outs become the tags the
    // engine recognises, and audit entries naming a held lead's number are kept. Without a key
    // file there is no index, and a sweep that must reduce opt-outs fails (key_unavailable).
    retention::Sweeper::Setup sweep_setup;
    sweep_setup.blind_index = impl->blind_index.get();
    sweep_setup.audit_key = impl->audit_key;
    auto sweeper = retention::Sweeper::create(retention::Policy::defaults(), *impl->retention_stores,
                                              impl->engine->audit(), *impl->clock, sweep_setup);
    if (!sweeper) return sweeper.error();
    impl->sweeper = std::make_unique<retention::Sweeper>(std::move(*sweeper));
    impl->rights = std::make_unique<privacy::Rights>(*impl->engine, *impl->store, *impl->clock);
    impl->requests = std::make_unique<privacy::RequestRegister>(*impl->engine, *impl->store, *impl->clock);

    impl->options = std::move(options);
    impl->add_routes();
    return std::unique_ptr<App>(new App(std::move(impl)));
}

std::string App::Impl::request_id_for(const Request& request) {
    std::string id = request.header("x-request-id");
    if (valid_request_id(id)) return id;
    const std::string n = std::to_string(request_counter.fetch_add(1, std::memory_order_relaxed) + 1);
    id.clear();
    id.reserve(5 + n.size() + request_id_suffix.size());
    id.append("req_").append(n).append("_").append(request_id_suffix);
    return id;
}

void App::Impl::finish_exchange(Response& response, const Exchange& exchange) {
    response.headers.emplace_back("X-Request-Id", exchange.request_id);
    metrics.add(label("heroshhi_http_requests_total", {{"route", exchange.route}, {"status", std::to_string(response.status)}}));
    if (options.access_log) {
        const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - exchange.started);
        static std::mutex log_mutex;
        std::lock_guard lock(log_mutex);
        *options.access_log << iso8601(clock->now()) << ' ' << exchange.request_id << ' ' << exchange.method << ' '
                            << exchange.route << ' ' << response.status << ' ' << micros.count() << "us\n";
        options.access_log->flush();
    }
}

http::Response App::handle(const http::Request& request) { return impl_->exchange(request, nullptr); }

Response App::Impl::exchange(const Request& request, const Match* matched) {
    Exchange exchange{request_id_for(request), "unknown", request.method, std::chrono::steady_clock::now()};
    Response response;
    try {
        Match here;
        if (matched == nullptr) {
            here.route = match(request, here.params, here.path_known);
            matched = &here;
        }
        if (matched->route == nullptr) {
            response = unmatched(request, matched->path_known, exchange.route);
        } else {
            exchange.route = matched->route->pattern;
            response = run(*matched->route, request, matched->params, exchange.request_id);
        }
    } catch (const std::exception&) {
        response = Response::error(500, "internal_error", "the request could not be completed");
    }
    finish_exchange(response, exchange);
    return response;
}

void App::handle_async(http::Request request, http::Responder responder) {
    Impl& impl = *impl_;
    Impl::Match matched;
    matched.route = impl.match(request, matched.params, matched.path_known);
    const Impl::Route* route = matched.route;
    if (route == nullptr || !route->answers_async()) {
        // It may block (a key to read, a durable write to wait for): a handler thread runs it.
        return responder.answer_with([&impl, request = std::move(request), matched = std::move(matched)] {
            return impl.exchange(request, &matched);
        });
    }
    // Admitted here: an asynchronous route's admission is the rate limit alone, in memory.
    Impl::Exchange exchange{impl.request_id_for(request), route->pattern, request.method, std::chrono::steady_clock::now()};
    Impl::Admission admitted;
    if (auto refusal = impl.admit(request, *route, admitted)) {
        impl.finish_exchange(*refusal, exchange);
        return responder.answer(std::move(*refusal));
    }
    http::Responder outer(std::make_shared<Impl::AsyncExchange>(impl, *route, std::move(exchange),
                                                                std::move(admitted.verdict), std::move(responder)));
    (impl.*route->async_handler)(std::move(request), std::move(outer));
}

}  // namespace heroshhi::gateway
