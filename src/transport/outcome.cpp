#include <heroshhi/transport/transport.hpp>

namespace heroshhi::transport {

std::string_view to_string(Outcome o) noexcept {
    switch (o) {
        case Outcome::accepted: return "accepted";
        case Outcome::window_closed: return "window_closed";
        case Outcome::marketing_opted_out: return "marketing_opted_out";
        case Outcome::throttled: return "throttled";
        case Outcome::rejected: return "rejected";
        case Outcome::temporary: return "temporary";
        case Outcome::auth_error: return "auth_error";
    }
    return "unknown";
}

Outcome classify_error(long code) noexcept {
    switch (code) {
        case 131047: return Outcome::window_closed;
        case 131050: return Outcome::marketing_opted_out;
        case 130429:  // throughput reached
        case 131056:  // pair rate limit: same recipient too often
        case 131049:  // per-user marketing limit: wait at least 24 h
        case 80007:   // WABA rate limit
        case 4:       // app rate limit
            return Outcome::throttled;
        case 0:
        case 3:
        case 10:
        case 190:
            return Outcome::auth_error;
        case 1:
        case 2:
        case 131000:
        case 131016:
        case 133004:
        case 131057:  // maintenance (throughput upgrade)
            return Outcome::temporary;
        default: break;
    }
    if (code >= 200 && code <= 299) return Outcome::auth_error;  // permission errors
    return Outcome::rejected;  // 131026, 132xxx templates, 130403, 131048, 131064, 368, ...: never retried blindly
}

}  // namespace heroshhi::transport
