// heroshhi gateway — LoopbackClient over POSIX sockets.
#include "loopback_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <system_error>

namespace heroshhi::gateway {
namespace {

Error io_error(std::string_view what) {
    return Error(std::error_code(errno ? errno : EIO, std::system_category()), std::string(what));
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return out;
}

}  // namespace

std::string ClientResponse::header(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (k == name) return v;
    return {};
}

LoopbackClient::LoopbackClient(std::uint16_t port, std::chrono::milliseconds timeout) : port_(port), timeout_(timeout) {}
LoopbackClient::~LoopbackClient() {
    if (fd_ >= 0) ::close(fd_);
}

Result<void> LoopbackClient::connect() {
    if (fd_ >= 0) ::close(fd_);
    buffer_.clear();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return io_error("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        auto e = io_error("connecting to 127.0.0.1:" + std::to_string(port_));
        ::close(fd_);
        fd_ = -1;
        return e;
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return {};
}

Result<ClientResponse> LoopbackClient::request(std::string_view method, std::string_view target,
                                               const std::vector<std::pair<std::string, std::string>>& headers,
                                               std::string_view body) {
    std::string wire;
    wire.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (const auto& [k, v] : headers) wire.append(k).append(": ").append(v).append("\r\n");
    wire.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n").append(body);

    for (int attempt = 0; attempt < 2; ++attempt) {
        if (fd_ < 0 || attempt > 0)
            if (auto c = connect(); !c) return c.error();
        std::size_t sent = 0;
        bool broken = false;
        while (sent < wire.size()) {
            const ssize_t n = ::send(fd_, wire.data() + sent, wire.size() - sent, MSG_NOSIGNAL);
            if (n <= 0) { broken = true; break; }
            sent += std::size_t(n);
        }
        if (broken) continue;

        // Read the head, then Content-Length bytes.
        const auto deadline = std::chrono::steady_clock::now() + timeout_;
        std::size_t head_end = std::string::npos;
        ClientResponse response;
        std::size_t length = 0;
        bool closed = false;
        for (;;) {
            if (head_end == std::string::npos && (head_end = buffer_.find("\r\n\r\n")) != std::string::npos) {
                const std::string head = buffer_.substr(0, head_end);
                if (head.size() < 12 || !head.starts_with("HTTP/1.1 ")) return Error(std::make_error_code(std::errc::protocol_error), "not an HTTP/1.1 response");
                response.status = std::stoi(head.substr(9, 3));
                std::size_t line = head.find("\r\n");
                while (line != std::string::npos) {
                    const std::size_t next = head.find("\r\n", line + 2);
                    const std::string h = head.substr(line + 2, next == std::string::npos ? std::string::npos : next - line - 2);
                    const auto colon = h.find(':');
                    if (colon != std::string::npos) {
                        std::string value = h.substr(colon + 1);
                        value.erase(0, value.find_first_not_of(' '));
                        response.headers.emplace_back(lower(h.substr(0, colon)), value);
                    }
                    line = next;
                }
                const std::string cl = response.header("content-length");
                length = cl.empty() ? 0 : std::stoul(cl);
            }
            if (head_end != std::string::npos && buffer_.size() >= head_end + 4 + length) {
                response.body = buffer_.substr(head_end + 4, length);
                buffer_.erase(0, head_end + 4 + length);
                if (lower(response.header("connection")) == "close") {
                    ::close(fd_);
                    fd_ = -1;
                }
                return response;
            }
            if (closed) break;
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return Error(std::make_error_code(std::errc::timed_out), "no answer in time");
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            char chunk[65536];
            const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n <= 0) closed = true;
            else buffer_.append(chunk, std::size_t(n));
        }
        // Closed before a whole answer: a stale keep-alive connection gets one retry.
        if (head_end != std::string::npos || !buffer_.empty())
            return Error(std::make_error_code(std::errc::connection_reset), "the server closed mid-answer");
    }
    return Error(std::make_error_code(std::errc::connection_reset), "the server closed the connection");
}

}  // namespace heroshhi::gateway
