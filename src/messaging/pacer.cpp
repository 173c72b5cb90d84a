#include <heroshhi/core/errors.hpp>
#include <heroshhi/messaging/pacer.hpp>

#include <algorithm>
#include <mutex>
#include <unordered_map>

namespace heroshhi::messaging {
namespace {

constexpr std::int64_t ns_per_ms = 1'000'000;

std::int64_t to_ns(Timestamp t) { return to_unix_ms(t) * ns_per_ms; }
std::int64_t ceil_ms(std::int64_t ns) { return ns <= 0 ? 0 : (ns + ns_per_ms - 1) / ns_per_ms; }

}  // namespace

struct Pacer::Impl {
    PacingOptions options;
    std::int64_t recipient_interval = 0;  // ns
    std::int64_t recipient_tolerance = 0;  // ns a recipient's slot may come ahead of its due time
    std::int64_t sender_interval = 0;
    std::int64_t sender_tolerance = 0;
    std::int64_t max_wait = 0;

    mutable std::mutex mutex;
    std::unordered_map<std::uint64_t, std::int64_t> due;  // recipient -> theoretical arrival time (ns)
    std::int64_t sender_due = 0;
    bool sender_seen = false;
    std::size_t prune_at = 1024;

    // Drops recipients whose due time has passed: they constrain nothing, as if never seen.
    void prune(std::int64_t now) {
        std::erase_if(due, [&](const auto& entry) { return entry.second <= now; });
        prune_at = std::max<std::size_t>(1024, due.size() * 2);
    }
};

Pacer::Pacer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Pacer::Pacer(Pacer&&) noexcept = default;
Pacer& Pacer::operator=(Pacer&&) noexcept = default;
Pacer::~Pacer() = default;

Result<Pacer> Pacer::create(PacingOptions options) {
    if (options.recipient_interval < std::chrono::milliseconds(1))
        return {ConfigErrc::invalid_value, "the recipient interval must be at least 1 ms"};
    if (options.recipient_burst == 0 || options.sender_burst == 0)
        return {ConfigErrc::invalid_value, "a burst must be at least 1"};
    if (options.sender_per_second == 0) return {ConfigErrc::invalid_value, "the sender throughput must be at least 1/s"};
    if (options.max_wait.count() < 0) return {ConfigErrc::invalid_value, "the maximum wait cannot be negative"};
    auto impl = std::make_unique<Impl>();
    impl->recipient_interval = std::int64_t(options.recipient_interval.count()) * ns_per_ms;
    impl->recipient_tolerance = impl->recipient_interval * (std::int64_t(options.recipient_burst) - 1);
    impl->sender_interval = std::max<std::int64_t>(1, 1'000'000'000 / std::int64_t(options.sender_per_second));
    impl->sender_tolerance = impl->sender_interval * (std::int64_t(options.sender_burst) - 1);
    impl->max_wait = std::int64_t(options.max_wait.count()) * ns_per_ms;
    impl->options = options;
    return Pacer(std::move(impl));
}

Pacer::Slot Pacer::reserve(std::uint64_t recipient, Timestamp now_ts) {
    Impl& d = *impl_;
    const std::int64_t now = to_ns(now_ts);
    std::lock_guard lock(d.mutex);
    if (d.due.size() >= d.prune_at) d.prune(now);

    const auto it = d.due.find(recipient);
    const bool known = it != d.due.end();
    const std::int64_t recipient_due = known ? it->second : now;
    const std::int64_t sender_due = d.sender_seen ? d.sender_due : now;
    // The slot: no earlier than now, than the recipient allows and than the number allows.
    const std::int64_t at = std::max({now, recipient_due - d.recipient_tolerance, sender_due - d.sender_tolerance});

    Slot slot;
    slot.recipient = recipient;
    if (at - now > d.max_wait) {
        slot.wait = std::chrono::milliseconds(ceil_ms(at - now));
        return slot;
    }
    slot.granted = true;
    slot.at = from_unix_ms(ceil_ms(at));
    slot.wait = std::chrono::milliseconds(ceil_ms(at - now));
    slot.recipient_before = known ? recipient_due : 0;
    slot.recipient_after = std::max(recipient_due, at) + d.recipient_interval;
    slot.sender_before = d.sender_seen ? d.sender_due : 0;
    slot.sender_after = std::max(sender_due, at) + d.sender_interval;
    d.due.insert_or_assign(recipient, slot.recipient_after);
    d.sender_due = slot.sender_after;
    d.sender_seen = true;
    return slot;
}

void Pacer::cancel(const Slot& slot) {
    if (!slot.granted) return;
    Impl& d = *impl_;
    std::lock_guard lock(d.mutex);
    if (auto it = d.due.find(slot.recipient); it != d.due.end() && it->second == slot.recipient_after) {
        if (slot.recipient_before == 0) d.due.erase(it);
        else it->second = slot.recipient_before;
    }
    if (d.sender_due == slot.sender_after) {
        if (slot.sender_before == 0) d.sender_seen = false;
        else d.sender_due = slot.sender_before;
    }
}

std::size_t Pacer::tracked() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->due.size();
}

const PacingOptions& Pacer::options() const noexcept { return impl_->options; }

}  // namespace heroshhi::messaging
