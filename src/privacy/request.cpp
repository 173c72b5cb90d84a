#include <heroshhi/privacy/request.hpp>

#include <algorithm>
#include <array>
#include <chrono>

namespace heroshhi::privacy {
namespace {

using namespace std::chrono;

constexpr std::array<RequestType, 6> all_types{RequestType::access,      RequestType::portability,
                                               RequestType::rectification, RequestType::erasure,
                                               RequestType::restriction, RequestType::objection};
constexpr std::array<RequestStatus, 4> all_statuses{RequestStatus::received, RequestStatus::acknowledged,
                                                    RequestStatus::completed, RequestStatus::refused};

bool weekend(sys_days d) noexcept {
    const weekday w{d};
    return w == Saturday || w == Sunday;
}

/// The last millisecond of day `d` (UTC).
Timestamp end_of(sys_days d) noexcept { return time_point_cast<milliseconds>(d + days{1}) - milliseconds{1}; }

}  // namespace

std::string_view to_string(RequestType t) noexcept {
    switch (t) {
        case RequestType::access: return "access";
        case RequestType::portability: return "portability";
        case RequestType::rectification: return "rectification";
        case RequestType::erasure: return "erasure";
        case RequestType::restriction: return "restriction";
        case RequestType::objection: return "objection";
    }
    return "unknown";
}

std::string_view to_string(RequestStatus s) noexcept {
    switch (s) {
        case RequestStatus::received: return "received";
        case RequestStatus::acknowledged: return "acknowledged";
        case RequestStatus::completed: return "completed";
        case RequestStatus::refused: return "refused";
    }
    return "unknown";
}

std::optional<RequestType> request_type_from_string(std::string_view s) noexcept {
    for (RequestType t : all_types)
        if (to_string(t) == s) return t;
    return std::nullopt;
}

std::optional<RequestStatus> request_status_from_string(std::string_view s) noexcept {
    for (RequestStatus st : all_statuses)
        if (to_string(st) == s) return st;
    return std::nullopt;
}

std::string subject_of(const ContactId& contact) { return "contact:" + contact.value(); }

bool valid_subject(std::string_view subject) noexcept {
    constexpr std::string_view contact = "contact:", phone = "phone:";
    if (subject.starts_with(contact)) return subject.size() > contact.size();
    if (!subject.starts_with(phone)) return false;
    const std::string_view hex = subject.substr(phone.size());
    return hex.size() == 32 && std::all_of(hex.begin(), hex.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

Timestamp acknowledge_deadline(Timestamp received_at) {
    sys_days day = floor<days>(received_at);
    for (int counted = 0; counted < 2;) {
        day += days{1};
        if (!weekend(day)) ++counted;
    }
    return end_of(day);
}

Timestamp due_deadline(Timestamp received_at, bool extended) {
    const sys_days received_day = floor<days>(received_at);
    const year_month_day ymd{received_day};
    const year_month target = ymd.year() / ymd.month() + months{extended ? 3 : 1};
    const day last = year_month_day_last{target.year(), month_day_last{target.month()}}.day();
    sys_days due{target.year() / target.month() / std::min(ymd.day(), last)};
    while (weekend(due)) due += days{1};
    return end_of(due);
}

Lateness lateness(const SubjectRequest& r, Timestamp now) noexcept {
    if (!r.open()) return Lateness::on_time;
    if (now > r.due_by) return Lateness::completion;
    if (r.status == RequestStatus::received && now > r.acknowledge_by) return Lateness::acknowledgement;
    return Lateness::on_time;
}

}  // namespace heroshhi::privacy
