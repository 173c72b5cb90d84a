// heroshhi — RecordingTransport: a Transport test double that records what it was asked to send
// and answers as scripted.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

#include <heroshhi/transport/transport.hpp>

namespace heroshhi::testing {

/// Accepts every message with ids "wamid.test.1", "wamid.test.2", ... unless an answer was
/// scripted for the recipient. Thread-safe.
class RecordingTransport final : public transport::Transport {
public:
    Result<transport::ProviderAnswer> deliver(const transport::OutboundMessage& message) override {
        std::lock_guard lock(mutex_);
        sent_.push_back(message);
        if (auto it = scripted_.find(message.to.key()); it != scripted_.end()) return it->second;
        transport::ProviderAnswer a;
        a.outcome = transport::Outcome::accepted;
        a.provider_message_id = "wamid.test." + std::to_string(sent_.size());
        return a;
    }

    /// From now on, messages to `to` get a provider error with this code (classified).
    void fail_with(const PhoneNumber& to, long code) {
        std::lock_guard lock(mutex_);
        transport::ProviderAnswer a;
        a.outcome = transport::classify_error(code);
        a.error_code = code;
        scripted_.insert_or_assign(to.key(), a);
    }

    std::vector<transport::OutboundMessage> sent() const {
        std::lock_guard lock(mutex_);
        return sent_;
    }

private:
    mutable std::mutex mutex_;
    std::vector<transport::OutboundMessage> sent_;
    std::map<std::uint64_t, transport::ProviderAnswer> scripted_;
};

}  // namespace heroshhi::testing
