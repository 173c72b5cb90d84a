// heroshhi — FakeGraphApi: a local stand-in for Meta's Graph API send endpoint, for tests and the
// demo. Plain HTTP on loopback.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <heroshhi/core/result.hpp>

namespace heroshhi::testing {

/// Answers POST /<version>/<phone_number_id>/messages like the Cloud API: 200 with
/// {"messages":[{"id":"wamid.fake.N"}]} when the bearer token matches, 401 with an OAuth error (code
/// 190) when it does not, and a scripted Cloud API error for recipients told to fail. Thread-safe.
class FakeGraphApi {
public:
    struct Received {
        std::string target;         ///< e.g. "/v25.0/771122334455667/messages"
        std::string authorization;  ///< the Authorization header
        std::string body;           ///< the JSON body as sent
        std::string client;         ///< "address:port" of the connection (to see reuse)
    };

    /// Starts on 127.0.0.1 and a free port; `token` is the access token it accepts.
    static Result<std::unique_ptr<FakeGraphApi>> start(std::string token);
    ~FakeGraphApi();

    /// "http://127.0.0.1:<port>".
    std::string base_url() const;
    /// From now on, sends to `e164_to` ("+14155550123") answer with this Cloud API error code and
    /// HTTP status.
    void fail(const std::string& e164_to, long code, int http_status = 400);
    /// The next `times` sends to `e164_to` answer with this error, then they succeed again.
    void fail_next(const std::string& e164_to, long code, int times, int http_status = 400);
    /// From now on, every answer is delayed this long (to test client timeouts).
    void delay(std::chrono::milliseconds d);
    /// From now on, requests wait unanswered (and unrecorded) until release(): a Graph API that
    /// has not answered yet, however long the test takes meanwhile.
    void hold();
    void release();
    std::vector<Received> received() const;

    struct Impl;

private:
    explicit FakeGraphApi(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace heroshhi::testing
