#include "core/timefmt.hpp"

#include <array>
#include <cctype>
#include <cstdio>
#include <ctime>

namespace extract {
namespace {

using namespace std::chrono;

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int m) {
    static constexpr std::array<int, 12> days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[static_cast<std::size_t>(m - 1)];
}

// Reads exactly `n` digits at `pos`.
bool digits(std::string_view s, std::size_t& pos, std::size_t n, int& out) {
    if (pos + n > s.size()) return false;
    int v = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const char c = s[pos + i];
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
        v = v * 10 + (c - '0');
    }
    pos += n;
    out = v;
    return true;
}

bool expect(std::string_view s, std::size_t& pos, char c) {
    if (pos < s.size() && s[pos] == c) {
        ++pos;
        return true;
    }
    return false;
}

std::optional<WallTime> make_time(int y, int mo, int d, int h, int mi, int sec, std::int64_t micros,
                                  int offset_minutes) {
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60) {
        return std::nullopt;
    }
    const std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
    const std::int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_minutes * 60LL;
    // system_clock counts nanoseconds in 64 bits: years outside about 1678..2262 do not fit
    // (found by tests/fuzz: a client's created_after=9787-… overflowed).
    constexpr auto kLimit = duration_cast<seconds>(system_clock::duration::max()).count() - 1;
    if (secs >= kLimit || secs <= -kLimit) return std::nullopt;
    return WallTime{duration_cast<system_clock::duration>(seconds{secs} + microseconds{micros})};
}

}  // namespace

std::string format_timestamp(WallTime t) {
    const auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
    std::int64_t secs = ms / 1000;
    std::int64_t frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        secs -= 1;
    }
    const std::time_t tt = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    std::array<char, 64> buf{};  // room for any int the compiler imagines
    std::snprintf(buf.data(), buf.size(), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(frac));
    return buf.data();
}

std::optional<WallTime> parse_timestamp(std::string_view s) {
    std::size_t pos = 0;
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
    if (!digits(s, pos, 4, y) || !expect(s, pos, '-') || !digits(s, pos, 2, mo) || !expect(s, pos, '-') ||
        !digits(s, pos, 2, d)) {
        return std::nullopt;
    }
    if (pos == s.size()) return make_time(y, mo, d, 0, 0, 0, 0, 0);
    if (!(expect(s, pos, 'T') || expect(s, pos, 't') || expect(s, pos, ' '))) return std::nullopt;
    if (!digits(s, pos, 2, h) || !expect(s, pos, ':') || !digits(s, pos, 2, mi)) return std::nullopt;
    std::int64_t micros = 0;
    if (expect(s, pos, ':')) {
        if (!digits(s, pos, 2, sec)) return std::nullopt;
        if (expect(s, pos, '.') || expect(s, pos, ',')) {
            std::int64_t scale = 100000;
            const std::size_t start = pos;
            while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
                micros += (s[pos] - '0') * scale;
                scale /= 10;
                ++pos;
            }
            if (pos == start) return std::nullopt;
        }
    }
    int offset = 0;
    if (pos < s.size()) {
        const char z = s[pos];
        if (z == 'Z' || z == 'z') {
            ++pos;
        } else if (z == '+' || z == '-') {
            ++pos;
            int oh = 0, om = 0;
            if (!digits(s, pos, 2, oh)) return std::nullopt;
            expect(s, pos, ':');
            if (!digits(s, pos, 2, om) || oh > 23 || om > 59) return std::nullopt;
            offset = (z == '+' ? 1 : -1) * (oh * 60 + om);
        } else {
            return std::nullopt;
        }
    }
    if (pos != s.size()) return std::nullopt;
    return make_time(y, mo, d, h, mi, sec, micros, offset);
}

std::optional<WallTime> parse_http_date(std::string_view s) {
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    static constexpr std::array<std::string_view, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const auto comma = s.find(", ");
    if (comma == std::string_view::npos) return std::nullopt;
    std::size_t pos = comma + 2;
    int d = 0, y = 0, h = 0, mi = 0, sec = 0;
    if (!digits(s, pos, 2, d) || !expect(s, pos, ' ') || pos + 3 > s.size()) return std::nullopt;
    const std::string_view mon = s.substr(pos, 3);
    int mo = 0;
    for (std::size_t i = 0; i < months.size(); ++i) {
        if (months[i] == mon) mo = static_cast<int>(i) + 1;
    }
    pos += 3;
    if (mo == 0 || !expect(s, pos, ' ') || !digits(s, pos, 4, y) || !expect(s, pos, ' ') || !digits(s, pos, 2, h) ||
        !expect(s, pos, ':') || !digits(s, pos, 2, mi) || !expect(s, pos, ':') || !digits(s, pos, 2, sec)) {
        return std::nullopt;
    }
    if (s.substr(pos) != " GMT") return std::nullopt;
    return make_time(y, mo, d, h, mi, sec, 0, 0);
}

}  // namespace extract
