#include <heroshhi/core/clock.hpp>

#include <cstdio>

namespace heroshhi {
namespace {

struct Parts {
    int year;
    unsigned month, day, hour, minute, second, millis;
};

Parts split(Timestamp t) {
    using namespace std::chrono;
    const auto day_point = floor<days>(t);
    const year_month_day ymd{day_point};
    const hh_mm_ss<milliseconds> hms{t - day_point};
    return {int(ymd.year()), unsigned(ymd.month()), unsigned(ymd.day()),
            unsigned(hms.hours().count()), unsigned(hms.minutes().count()),
            unsigned(hms.seconds().count()), unsigned(hms.subseconds().count())};
}

bool digits(std::string_view s, std::size_t pos, std::size_t n, unsigned& out) {
    if (pos + n > s.size()) return false;
    out = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        if (s[i] < '0' || s[i] > '9') return false;
        out = out * 10 + unsigned(s[i] - '0');
    }
    return true;
}

}  // namespace

std::string to_iso8601(Timestamp t) {
    const Parts p = split(t);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02u:%02u:%02u.%03uZ", p.year, p.month, p.day, p.hour,
                  p.minute, p.second, p.millis);
    return buf;
}

std::string to_display(Timestamp t) {
    const Parts p = split(t);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02u:%02u UTC", p.year, p.month, p.day, p.hour, p.minute);
    return buf;
}

std::optional<Timestamp> parse_iso8601(std::string_view s) {
    using namespace std::chrono;
    unsigned y, mo, d, h, mi, se, ms = 0;
    if (!digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
        !digits(s, 8, 2, d) || s[10] != 'T' || !digits(s, 11, 2, h) || s[13] != ':' ||
        !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, se))
        return std::nullopt;
    std::size_t pos = 19;
    if (s[pos] == '.') {
        if (!digits(s, pos + 1, 3, ms)) return std::nullopt;
        pos += 4;
    }
    if (pos + 1 != s.size() || s[pos] != 'Z') return std::nullopt;
    const year_month_day ymd{year{int(y)}, month{mo}, day{d}};
    if (!ymd.ok() || h > 23 || mi > 59 || se > 59) return std::nullopt;
    return Timestamp{sys_days{ymd}.time_since_epoch()} + hours{h} + minutes{mi} + seconds{se} + milliseconds{ms};
}

}  // namespace heroshhi
