// heroshhi — RecordingTransport: a Transport test double that records what it was asked to send
// and answers as scripted.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <system_error>
#include <vector>

#include <heroshhi/transport/transport.hpp>

namespace heroshhi::testing {

/// Accepts every message with ids "wamid.test.1", "wamid.test.2", ... unless an answer was
/// scripted for the recipient: first the one-off answers queued by fail_next/unreachable_next, in
/// order, then the lasting one set by fail_with. Thread-safe.
class RecordingTransport final : public transport::Transport {
public:
    Result<transport::ProviderAnswer> deliver(const transport::OutboundMessage& message) override {
        std::lock_guard lock(mutex_);
        sent_.push_back(message);
        if (auto it = queued_.find(message.to.key()); it != queued_.end() && !it->second.empty()) {
            std::optional<transport::ProviderAnswer> next = std::move(it->second.front());
            it->second.pop_front();
            if (!next) return Error(std::make_error_code(std::errc::connection_refused), "scripted network error");
            return *next;
        }
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

    /// The next `times` messages to `to` get a provider error with this code (classified), and
    /// `retry_after` as the provider's advice.
    void fail_next(const PhoneNumber& to, long code, int times = 1,
                   std::chrono::seconds retry_after = std::chrono::seconds(0)) {
        std::lock_guard lock(mutex_);
        transport::ProviderAnswer a;
        a.outcome = transport::classify_error(code);
        a.error_code = code;
        a.retry_after = retry_after;
        for (int i = 0; i < times; ++i) queued_[to.key()].push_back(a);
    }

    /// The next `times` messages to `to` fail as if the network did (deliver returns an Error).
    void unreachable_next(const PhoneNumber& to, int times = 1) {
        std::lock_guard lock(mutex_);
        for (int i = 0; i < times; ++i) queued_[to.key()].push_back(std::nullopt);
    }

    /// Forgets the messages recorded so far; ids number from 1 again. Scripted answers stay.
    void clear() {
        std::lock_guard lock(mutex_);
        sent_.clear();
    }

    std::vector<transport::OutboundMessage> sent() const {
        std::lock_guard lock(mutex_);
        return sent_;
    }

private:
    mutable std::mutex mutex_;
    std::vector<transport::OutboundMessage> sent_;
    std::map<std::uint64_t, transport::ProviderAnswer> scripted_;
    std::map<std::uint64_t, std::deque<std::optional<transport::ProviderAnswer>>> queued_;  // nullopt: network error
};

}  // namespace heroshhi::testing
