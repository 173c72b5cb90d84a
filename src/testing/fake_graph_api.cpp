#include <heroshhi/http/server.hpp>
#include <heroshhi/testing/fake_graph_api.hpp>

#include <nlohmann/json.hpp>

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace heroshhi::testing {

struct FakeGraphApi::Impl {
    std::string token;
    std::unique_ptr<http::Server> server;
    mutable std::mutex mutex;
    std::vector<Received> received;
    struct Failure {
        long code = 0;
        int http_status = 400;
        int remaining = -1;  // answers left; -1: every one
    };
    std::map<std::string, Failure> failures;  // by recipient
    std::chrono::milliseconds delay{0};
    bool held = false;  // hold(): requests wait for release()
    std::condition_variable released;

    http::Response handle(const http::Request& r) {
        std::chrono::milliseconds wait;
        {
            std::unique_lock lock(mutex);
            released.wait(lock, [this] { return !held; });
            wait = delay;
        }
        if (wait.count() > 0) std::this_thread::sleep_for(wait);
        const auto body = nlohmann::json::parse(r.body, nullptr, false);
        std::string to = body.is_object() && body.contains("to") && body["to"].is_string() ? body["to"].get<std::string>() : "";
        std::lock_guard lock(mutex);
        received.push_back({r.target, r.header("authorization"), r.body, r.client_address + ":" + std::to_string(r.client_port)});
        auto error = [](int status, long code, const std::string& message) {
            http::Response res;
            res.status = status;
            res.body = nlohmann::json{{"error", {{"message", message}, {"type", "OAuthException"}, {"code", code},
                                                 {"fbtrace_id", "fake"}}}}
                           .dump();
            return res;
        };
        if (r.method != "POST" || r.path().size() < 10 || r.path().substr(r.path().size() - 9) != "/messages")
            return error(404, 100, "Unsupported request");
        if (r.header("authorization") != "Bearer " + token) return error(401, 190, "(#190) Invalid OAuth access token");
        if (!body.is_object() || to.empty()) return error(400, 100, "(#100) Invalid parameter");
        if (auto it = failures.find(to); it != failures.end() && it->second.remaining != 0) {
            const Failure f = it->second;
            if (it->second.remaining > 0) --it->second.remaining;
            return error(f.http_status, f.code, "(#" + std::to_string(f.code) + ") scripted failure");
        }
        http::Response ok;
        ok.body = nlohmann::json{{"messaging_product", "whatsapp"},
                                 {"contacts", {{{"input", to}, {"wa_id", to.substr(to.empty() ? 0 : 1)}}}},
                                 {"messages", {{{"id", "wamid.fake." + std::to_string(received.size())}}}}}
                      .dump();
        return ok;
    }
};

FakeGraphApi::FakeGraphApi(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FakeGraphApi::~FakeGraphApi() {
    if (!impl_) return;
    release();  // a held request would keep the server from stopping
    if (impl_->server) impl_->server->stop(std::chrono::milliseconds(200));
}

Result<std::unique_ptr<FakeGraphApi>> FakeGraphApi::start(std::string token) {
    auto impl = std::make_unique<Impl>();
    impl->token = std::move(token);
    Impl* raw = impl.get();
    auto server = http::Server::start({}, [raw](const http::Request& r) { return raw->handle(r); });
    if (!server) return server.error();
    impl->server = std::move(server).value();
    return std::unique_ptr<FakeGraphApi>(new FakeGraphApi(std::move(impl)));
}

std::string FakeGraphApi::base_url() const { return "http://127.0.0.1:" + std::to_string(impl_->server->port()); }

void FakeGraphApi::fail(const std::string& e164_to, long code, int http_status) {
    std::lock_guard lock(impl_->mutex);
    impl_->failures.insert_or_assign(e164_to, Impl::Failure{code, http_status, -1});
}

void FakeGraphApi::fail_next(const std::string& e164_to, long code, int times, int http_status) {
    std::lock_guard lock(impl_->mutex);
    impl_->failures.insert_or_assign(e164_to, Impl::Failure{code, http_status, times});
}

void FakeGraphApi::delay(std::chrono::milliseconds d) {
    std::lock_guard lock(impl_->mutex);
    impl_->delay = d;
}

void FakeGraphApi::hold() {
    std::lock_guard lock(impl_->mutex);
    impl_->held = true;
}

void FakeGraphApi::release() {
    {
        std::lock_guard lock(impl_->mutex);
        impl_->held = false;
    }
    impl_->released.notify_all();
}

std::vector<FakeGraphApi::Received> FakeGraphApi::received() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->received;
}

}  // namespace heroshhi::testing
