#include <heroshhi/optout/event.hpp>

namespace heroshhi::optout {

std::string_view to_string(EventKind k) noexcept { return k == EventKind::opt_out ? "opt_out" : "opt_in"; }

std::string_view to_string(Method m) noexcept {
    switch (m) {
        case Method::keyword: return "keyword";
        case Method::manual: return "manual";
        case Method::api: return "api";
        case Method::button: return "button";
        case Method::platform: return "platform";
    }
    return "unknown";
}

std::string_view to_string(Scope s) noexcept { return s == Scope::all ? "all" : "marketing"; }

std::optional<EventKind> event_kind_from_string(std::string_view s) noexcept {
    if (s == "opt_out") return EventKind::opt_out;
    if (s == "opt_in") return EventKind::opt_in;
    return std::nullopt;
}

std::optional<Method> method_from_string(std::string_view s) noexcept {
    for (Method m : {Method::keyword, Method::manual, Method::api, Method::button, Method::platform})
        if (to_string(m) == s) return m;
    return std::nullopt;
}

std::optional<Scope> scope_from_string(std::string_view s) noexcept {
    if (s == "all") return Scope::all;
    if (s == "marketing") return Scope::marketing;
    return std::nullopt;
}

}  // namespace heroshhi::optout
