#include "core/timefmt.hpp"

#include <gtest/gtest.h>

using namespace extract;
using namespace std::chrono;

TEST(Timestamp, FormatsUtcWithMilliseconds) {
    const WallTime t{milliseconds{1796007845123}};
    EXPECT_EQ(format_timestamp(t), "2026-11-30T03:04:05.123Z");
    EXPECT_EQ(format_timestamp(WallTime{}), "1970-01-01T00:00:00.000Z");
}

TEST(Timestamp, RoundTrips) {
    const WallTime t{milliseconds{1796007845123}};
    EXPECT_EQ(parse_timestamp(format_timestamp(t)), t);
}

TEST(Timestamp, ParsesIsoVariants) {
    const WallTime midnight{seconds{1795996800}};  // 2026-11-30T00:00:00Z
    EXPECT_EQ(parse_timestamp("2026-11-30"), midnight);
    EXPECT_EQ(parse_timestamp("2026-11-30T00:00:00Z"), midnight);
    EXPECT_EQ(parse_timestamp("2026-11-30T00:00Z"), midnight);
    EXPECT_EQ(parse_timestamp("2026-11-30T01:30:00+01:30"), midnight);
    EXPECT_EQ(parse_timestamp("2026-11-29T22:00:00-02:00"), midnight);
    EXPECT_EQ(parse_timestamp("2026-11-30T00:00:00.000001Z"), midnight + microseconds{1});
}

TEST(Timestamp, RejectsGarbage) {
    for (const char* bad : {"", "yesterday", "2026-13-01", "2026-02-30", "2026-11-30T25:00:00Z", "2026-11-30T00:00:00Q",
                            "2026-11-30T00:00:00Z trailing", "2026-11-30T00:00:00."}) {
        EXPECT_FALSE(parse_timestamp(bad).has_value()) << bad;
    }
}

TEST(HttpDate, ParsesImfFixdate) {
    EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), WallTime{seconds{784111777}});
    EXPECT_FALSE(parse_http_date("Sun, 06 Nov 1994 08:49:37 PST").has_value());
    EXPECT_FALSE(parse_http_date("120").has_value());
}
