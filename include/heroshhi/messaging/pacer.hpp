// heroshhi — Pacer: keeps sends to one recipient about six seconds apart and a business number
// under its throughput, by handing out send slots.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/result.hpp>

namespace heroshhi::messaging {

/// The limits WhatsApp enforces on a business number, kept on our side so that sends are spaced
/// instead of refused (reference/whatsapp.md §5.5, §5.6).
struct PacingOptions {
    /// The pair rate limit: one message every 6 s from a business number to one user (error 131056).
    std::chrono::milliseconds recipient_interval = std::chrono::seconds(6);
    /// Messages to one recipient that may go back to back before the interval applies (>= 1).
    std::uint32_t recipient_burst = 1;
    /// The number's throughput in messages per second (Cloud API default 80; error 130429).
    std::uint32_t sender_per_second = 80;
    /// Messages that may go back to back before the throughput spacing applies (>= 1).
    std::uint32_t sender_burst = 1;
    /// A send whose slot is at most this far ahead waits for it; one further ahead is not sent
    /// and is answered "paced" with the time to wait. 0: never wait.
    std::chrono::milliseconds max_wait = std::chrono::seconds(1);
};

/// Hands out send slots with GCRA in its scheduling form: each recipient, and the business number,
/// keeps the time its next message is due ("theoretical arrival time"); a send's slot is the later
/// of the two, and taking it moves both forward by their interval. Recipients are keyed by
/// PhoneNumber::key() alone, whatever the tenant: the provider's limit is per business number and
/// user, and one Pacer serves one business number.
///
/// Pure policy over times it is given: no clock, no I/O, no sleeping. Thread-safe (one mutex, held
/// for a hash lookup). Memory: one entry per recipient whose next slot is still ahead; entries
/// that no longer constrain anything are dropped as the table grows.
class Pacer {
public:
    /// Fails with ConfigErrc::invalid_value for an interval under 1 ms, a burst of 0, a throughput
    /// of 0 or a negative max_wait.
    static Result<Pacer> create(PacingOptions options);

    /// The answer of reserve().
    struct Slot {
        bool granted = false;                ///< a slot was taken; send at `at`
        Timestamp at{};                      ///< when the message may go (granted), rounded up to 1 ms
        std::chrono::milliseconds wait{0};   ///< at - now (granted), or, refused: how long until a
                                             ///< send would go without waiting ("retry after")
        // What cancel() needs to give the slot back.
        std::uint64_t recipient = 0;
        std::int64_t recipient_before = 0, recipient_after = 0, sender_before = 0, sender_after = 0;
    };

    /// Takes the next slot for a message to `recipient` (a PhoneNumber::key()) at `now`, if it is
    /// at most max_wait ahead; otherwise takes nothing and says how long to wait.
    Slot reserve(std::uint64_t recipient, Timestamp now);

    /// Gives a granted slot back (the send did not happen: refused by the gate, a duplicate).
    /// Only undone where no later slot was taken since; otherwise kept, which errs on the side of
    /// spacing.
    void cancel(const Slot& slot);

    /// Recipients tracked now (for tests and metrics).
    std::size_t tracked() const;

    const PacingOptions& options() const noexcept;

    Pacer(Pacer&&) noexcept;
    Pacer& operator=(Pacer&&) noexcept;
    ~Pacer();

private:
    struct Impl;
    explicit Pacer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace heroshhi::messaging
