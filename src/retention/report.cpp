// The sweep report's counts, and their text form in the audit trail.
#include <heroshhi/retention/sweeper.hpp>

#include <charconv>
#include <string>

namespace heroshhi::retention {
namespace {

struct Field {
    std::string_view name;
    std::int64_t Counts::*member;
};
constexpr Field fields[] = {
    {"soft", &Counts::soft_deleted}, {"hard", &Counts::hard_deleted}, {"cascaded", &Counts::cascaded},
    {"held", &Counts::held},         {"purged", &Counts::purged},     {"hashed", &Counts::hashed},
};

struct Flag {
    std::string_view name;
    bool TenantReport::*member;
};
constexpr Flag flags[] = {
    {"held", &TenantReport::held},
    {"terminated", &TenantReport::terminated},
    {"audit_chain_broken", &TenantReport::audit_chain_broken},
};

std::optional<std::int64_t> parse_count(std::string_view s) {
    std::int64_t n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc{} || end != s.data() + s.size() || n < 0) return std::nullopt;
    return n;
}

/// Splits off the text up to `separator` (or the end).
std::string_view take(std::string_view& rest, char separator) {
    const auto at = rest.find(separator);
    std::string_view head = rest.substr(0, at);
    rest = at == std::string_view::npos ? std::string_view{} : rest.substr(at + 1);
    return head;
}

bool parse_category(std::string_view part, TenantReport& report) {
    const auto colon = part.find(':');
    if (colon == std::string_view::npos) return false;
    const auto category = category_from_string(part.substr(0, colon));
    if (!category) return false;
    std::string_view rest = part.substr(colon + 1);
    while (!rest.empty()) {
        std::string_view pair = take(rest, ',');
        const auto eq = pair.find('=');
        if (eq == std::string_view::npos) return false;
        const auto value = parse_count(pair.substr(eq + 1));
        if (!value) return false;
        bool known = false;
        for (const Field& f : fields)
            if (f.name == pair.substr(0, eq)) {
                report[*category].*f.member = *value;
                known = true;
            }
        if (!known) return false;
    }
    return true;
}

}  // namespace

Counts& Counts::operator+=(const Counts& o) noexcept {
    for (const Field& f : fields) this->*f.member += o.*f.member;
    return *this;
}

Counts SweepReport::total(Category c) const noexcept {
    Counts sum;
    for (const TenantReport& t : tenants) sum += t[c];
    return sum;
}

std::string TenantReport::to_audit_text(Timestamp as_of) const {
    std::string out = "as_of=" + to_iso8601(as_of);
    for (const Flag& f : flags)
        if (this->*f.member) out.append(";").append(f.name);
    for (std::size_t i = 0; i < counts.size(); ++i) {
        if (counts[i].empty()) continue;
        out.append(";").append(to_string(static_cast<Category>(i))).append(":");
        bool first = true;
        for (const Field& f : fields) {
            const std::int64_t n = counts[i].*f.member;
            if (n == 0) continue;
            if (!first) out.append(",");
            out.append(f.name).append("=").append(std::to_string(n));
            first = false;
        }
    }
    return out;
}

std::optional<TenantReport> TenantReport::from_audit_text(const TenantId& tenant, std::string_view text) {
    TenantReport report;
    report.tenant = tenant;
    std::string_view rest = text;
    const std::string_view head = take(rest, ';');
    if (head.substr(0, 6) != "as_of=" || !parse_iso8601(head.substr(6))) return std::nullopt;
    while (!rest.empty()) {
        const std::string_view part = take(rest, ';');
        bool is_flag = false;
        for (const Flag& f : flags)
            if (f.name == part) {
                report.*f.member = true;
                is_flag = true;
            }
        if (!is_flag && !parse_category(part, report)) return std::nullopt;
    }
    return report;
}

}  // namespace heroshhi::retention
