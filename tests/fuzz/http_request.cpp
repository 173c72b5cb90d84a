// Fuzz target: the bytes http::Server turns into a Request (detail::parse_request: Beast's parser
// under the server's header and body limits, the refusal for each parser error, the header map the
// handler sees) and Request's own accessors (header, path, query with percent-decoding).
// Input: byte 0 picks the limits, bytes 1-2 two split points (the bytes arrive in three pieces, as
// from a socket), the rest is what the client sent.
// Properties: how the bytes were split never changes whether a request is complete, nor the
// request (a refusal's status may differ: see same()); a refusal is 400, 413 or 431
// with a JSON error body; a complete request has a method and a target, lower-case header names
// without separators, header values without CR, LF or NUL, a body within the limit, never both
// Content-Length and Transfer-Encoding (no CL.TE smuggling), and consumed no more than was sent;
// path() is the target before '?', header() finds every name in any case, and a decoded query
// value is never longer than the raw target.
#include <heroshhi/http/server.hpp>

#include "fuzz_check.hpp"
#include "http/request_parsing.hpp"

#include <nlohmann/json.hpp>

#include <cctype>
#include <cstdio>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using heroshhi::http::Request;
using heroshhi::http::detail::ParsedRequest;
using heroshhi::http::detail::ParseLimits;

// Whether two parses of the same bytes agree. Beast checks a start line early when it arrives
// whole but not when it arrived in pieces (found by this target: refused with 400 in one piece,
// still waiting, or refused with 431 by the header limit, in three); nothing reaches the handler in
// any of these. What must never differ: whether a request is complete, and then the request.
bool same(const ParsedRequest& a, const ParsedRequest& b) {
    using O = ParsedRequest::Outcome;
    if ((a.outcome == O::complete) != (b.outcome == O::complete)) return false;
    if (a.outcome != O::complete) return true;
    return a.request.method == b.request.method && a.request.target == b.request.target &&
           a.request.headers == b.request.headers && a.request.body == b.request.body && a.keep_alive == b.keep_alive &&
           a.consumed == b.consumed;
}

std::string upper(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

void check_request(const ParsedRequest& p, const ParseLimits& limits, std::size_t sent) {
    const Request& r = p.request;
    FUZZ_CHECK(!r.method.empty());
    FUZZ_CHECK(!r.target.empty());
    FUZZ_CHECK(p.consumed <= sent);
    FUZZ_CHECK(r.body.size() <= limits.max_body_bytes);
    FUZZ_CHECK(!(r.headers.count("content-length") > 0 && r.headers.count("transfer-encoding") > 0));
    FUZZ_CHECK(r.headers.count("content-length") <= 1);
    for (const auto& [name, value] : r.headers) {
        FUZZ_CHECK(!name.empty());
        for (char c : name) FUZZ_CHECK(!std::isupper(static_cast<unsigned char>(c)) && c != ':' && c != ' ' && c != '\r' && c != '\n');
        for (char c : value) FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0');
        FUZZ_CHECK(r.header(upper(name)) == r.headers.find(name)->second);
    }
    const std::string_view path = r.path();
    FUZZ_CHECK(std::string_view(r.target).substr(0, path.size()) == path);
    FUZZ_CHECK(path.find('?') == std::string_view::npos);
    // Every name that appears in the query, and a few that do not.
    const std::size_t q = r.target.find('?');
    std::vector<std::string> names{"", "a", "hub.mode", "%"};
    if (q != std::string::npos) {
        std::string_view rest = std::string_view(r.target).substr(q + 1);
        while (!rest.empty() && names.size() < 64) {
            const std::size_t amp = rest.find('&');
            const std::string_view pair = rest.substr(0, amp);
            names.emplace_back(pair.substr(0, pair.find('=')));
            if (amp == std::string_view::npos) break;
            rest.remove_prefix(amp + 1);
        }
    }
    for (const auto& name : names) FUZZ_CHECK(r.query(name).size() <= r.target.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 3) return 0;
    ParseLimits limits;
    // Small limits as often as the server's own, so the limit paths are reached with small inputs.
    switch (data[0] % 4) {
        case 0: break;
        case 1: limits.max_header_bytes = 64; limits.max_body_bytes = 16; break;
        case 2: limits.max_header_bytes = 256; limits.max_body_bytes = 0; break;
        default: limits.max_header_bytes = 1024; limits.max_body_bytes = 1024; break;
    }
    const std::string_view bytes(reinterpret_cast<const char*>(data) + 3, size - 3);
    std::size_t a = bytes.empty() ? 0 : data[1] % (bytes.size() + 1), b = bytes.empty() ? 0 : data[2] % (bytes.size() + 1);
    if (a > b) std::swap(a, b);

    const ParsedRequest whole = heroshhi::http::detail::parse_request({bytes}, limits);
    const ParsedRequest split = heroshhi::http::detail::parse_request(
        {bytes.substr(0, a), bytes.substr(a, b - a), bytes.substr(b)}, limits);
    if (!same(whole, split))
        std::fprintf(stderr, "whole: outcome %d status %d %s\nsplit at %zu,%zu: outcome %d status %d %s\n", int(whole.outcome),
                     whole.refusal.status, whole.refusal.body.c_str(), a, b, int(split.outcome), split.refusal.status,
                     split.refusal.body.c_str());
    FUZZ_CHECK(same(whole, split));

    switch (whole.outcome) {
        case ParsedRequest::Outcome::refused: {
            const int s = whole.refusal.status;
            FUZZ_CHECK(s == 400 || s == 413 || s == 431);
            const auto doc = nlohmann::json::parse(whole.refusal.body, nullptr, false);
            FUZZ_CHECK(!doc.is_discarded() && doc["error"]["code"].is_string());
            break;
        }
        case ParsedRequest::Outcome::complete:
            check_request(whole, limits, bytes.size());
            // What follows a complete request is parsed as the next one (pipelining), never merged.
            if (whole.consumed < bytes.size())
                (void)heroshhi::http::detail::parse_request({bytes.substr(whole.consumed)}, limits);
            break;
        case ParsedRequest::Outcome::incomplete:
            break;
    }
    return 0;
}
