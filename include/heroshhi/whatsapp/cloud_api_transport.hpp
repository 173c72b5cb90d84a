// heroshhi — CloudApiTransport: delivers messages through Meta's WhatsApp Cloud API.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <heroshhi/transport/transport.hpp>

namespace heroshhi::whatsapp {

struct CloudApiOptions {
    /// Scheme, host and optional port. https for anything but a loopback host; http is accepted
    /// only for 127.0.0.1, ::1 and localhost (a local fake Graph API in tests and the demo).
    std::string base_url = "https://graph.facebook.com";
    std::string api_version = "v25.0";
    std::string phone_number_id;  ///< the business number's id: POST /<version>/<id>/messages
    std::string access_token;     ///< sent as "Authorization: Bearer ..."; never logged
    std::string ca_file;          ///< PEM CAs to trust; empty: the system's
    std::chrono::milliseconds timeout{10'000};  ///< connect, write and read, each
    std::size_t max_idle_connections = 4;       ///< kept open for reuse
};

/// HTTPS client on Boost.Beast and OpenSSL: TLS 1.3 minimum, certificate and host name verified,
/// SNI, keep-alive connections reused, every step under a timeout. Provider errors are classified
/// (transport::classify_error); the request carries only the recipient and the content.
/// Thread-safe: concurrent deliveries use separate connections.
class CloudApiTransport final : public transport::Transport {
public:
    /// Fails with ConfigErrc::invalid_value for a bad base URL, plain http to a non-loopback host,
    /// or a missing phone number id or token; with the crypto error when the TLS context fails.
    static Result<std::unique_ptr<CloudApiTransport>> create(CloudApiOptions options);

    ~CloudApiTransport() override;
    Result<transport::ProviderAnswer> deliver(const transport::OutboundMessage& message) override;

    /// The JSON body deliver() posts for `message` (for tests and logs of the shape, not content).
    static std::string request_body(const transport::OutboundMessage& message);

    struct Impl;

private:
    explicit CloudApiTransport(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace heroshhi::whatsapp
