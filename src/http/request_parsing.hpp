// heroshhi — internal: how http::Server turns bytes into a Request, without a socket, so the same
// code is unit-tested and fuzzed (tests/fuzz/http_request.cpp). Not a public header.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include <heroshhi/http/server.hpp>

namespace heroshhi::http::detail {

struct ParseLimits {
    std::size_t max_header_bytes = 8 * 1024;
    std::size_t max_body_bytes = 3 * 1024 * 1024;
};

struct ParsedRequest {
    enum class Outcome {
        complete,    ///< `request` holds one whole request
        incomplete,  ///< the bytes end inside a request (the server waits, then times out)
        refused,     ///< not a valid request, or over a limit: the server answers `refusal`, then closes
    };
    Outcome outcome = Outcome::incomplete;
    Request request;
    bool keep_alive = false;
    Response refusal;
    std::size_t consumed = 0;  ///< bytes of the input that made up the request (complete only)
};

/// Parses one request from `pieces` (the bytes as they arrived, in order) under `limits`, as the
/// server's connections do; bytes after the request (a pipelined one) are left unconsumed.
ParsedRequest parse_request(const std::vector<std::string_view>& pieces, const ParseLimits& limits);

}  // namespace heroshhi::http::detail
