// heroshhi — optout::Registry: records opt-out and opt-in events and answers a contact's status.
#pragma once

#include <optional>
#include <span>
#include <vector>

#include <heroshhi/core/result.hpp>
#include <heroshhi/messaging/suppression_index.hpp>
#include <heroshhi/optout/event.hpp>
#include <heroshhi/storage/optout_store.hpp>

namespace heroshhi::optout {

/// A contact's opt-out status, derived from their events.
struct Status {
    bool opted_out = false;            ///< from every message
    bool marketing_opted_out = false;  ///< from marketing (true whenever opted_out is)
    /// The latest event of either kind: its time, method and keyword explain the status.
    std::optional<OptOutEvent> last_event;
    /// The latest opt-out event, kept after re-subscription: when and how they last opted out.
    std::optional<OptOutEvent> last_optout;
    std::size_t event_count = 0;
};

/// Folds events (oldest first) into a status: an all-scope opt-out blocks everything, a
/// marketing-scope one blocks marketing; an all-scope opt-in clears both, a marketing-scope opt-in
/// clears the marketing block only. Pure.
Status derive_status(std::span<const OptOutEvent> events);

/// The append-only opt-out log in front of an OptOutStore, keeping a SuppressionIndex current.
/// Thread-safe if the store is. Events are never deleted or changed: re-subscription is a new
/// event.
class Registry {
public:
    Registry(storage::OptOutStore& store, messaging::SuppressionIndex& index) : store_(store), index_(index) {}

    /// Stores the event and applies it to the index. Returns true if stored, false if the store
    /// already had an event with the same provider message id (then the index is unchanged).
    ///
    /// Fails closed: when the store fails, an opt-out is still applied to the index (so sends stop
    /// at once in this process) and the error is returned so the caller can retry the write (a
    /// webhook answered 503 is redelivered). An opt-in that cannot be stored changes nothing.
    Result<bool> record(OptOutEvent& event);

    /// The status from the stored history (reads the store; blocks).
    Result<Status> status(const TenantId& tenant, const PhoneNumber& phone) const;

    /// Every event of the contact, oldest first.
    Result<std::vector<OptOutEvent>> history(const TenantId& tenant, const PhoneNumber& phone) const {
        return store_.history(tenant, phone);
    }

    /// Replays the tenant's stored events into the index (does not mark it ready).
    Result<void> load(const TenantId& tenant);

private:
    storage::OptOutStore& store_;
    messaging::SuppressionIndex& index_;
};

}  // namespace heroshhi::optout
