#include <heroshhi/optout/registry.hpp>

namespace heroshhi::optout {

Status derive_status(std::span<const OptOutEvent> events) {
    Status s;
    for (const OptOutEvent& e : events) {
        const bool all = e.scope == Scope::all;
        if (e.kind == EventKind::opt_out) {
            (all ? s.opted_out : s.marketing_opted_out) = true;
            s.last_optout = e;
        } else if (all) {
            s.opted_out = s.marketing_opted_out = false;
        } else {
            s.marketing_opted_out = false;
        }
        s.last_event = e;
    }
    s.marketing_opted_out = s.marketing_opted_out || s.opted_out;
    s.event_count = events.size();
    return s;
}

Result<bool> Registry::record(OptOutEvent& event) {
    auto stored = store_.append(event);
    if (!stored) {
        if (event.kind == EventKind::opt_out) index_.apply(event);
        return stored.error();
    }
    if (*stored) index_.apply(event);
    return *stored;
}

Result<Status> Registry::status(const TenantId& tenant, const PhoneNumber& phone) const {
    auto events = store_.history(tenant, phone);
    if (!events) return events.error();
    return derive_status(*events);
}

Result<void> Registry::load(const TenantId& tenant) {
    return store_.scan(tenant, [&](const OptOutEvent& e) { index_.apply(e); });
}

}  // namespace heroshhi::optout
