// heroshhi gateway — LoopbackClient: a minimal blocking HTTP/1.1 client for 127.0.0.1, used by
// the demo's walkthrough and by the end-to-end tests (keep-alive, Content-Length bodies only).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <heroshhi/core/result.hpp>

namespace heroshhi::gateway {

struct ClientResponse {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;  ///< names lower-cased
    std::string body;

    /// The first value of a header (name lower-case), or "".
    std::string header(std::string_view name) const;
};

class LoopbackClient {
public:
    explicit LoopbackClient(std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    ~LoopbackClient();
    LoopbackClient(const LoopbackClient&) = delete;
    LoopbackClient& operator=(const LoopbackClient&) = delete;

    /// Sends one request on the kept-alive connection (reconnecting if the server closed it) and
    /// reads the answer. Adds Host and Content-Length.
    Result<ClientResponse> request(std::string_view method, std::string_view target,
                                   const std::vector<std::pair<std::string, std::string>>& headers = {},
                                   std::string_view body = {});

private:
    Result<void> connect();
    std::uint16_t port_;
    std::chrono::milliseconds timeout_;
    int fd_ = -1;
    std::string buffer_;
};

}  // namespace heroshhi::gateway
