#include "core/duration.hpp"

#include <gtest/gtest.h>

using namespace extract;

TEST(Duration, ParsesEveryUnit) {
    EXPECT_EQ(parse_duration("250ms"), Millis{250});
    EXPECT_EQ(parse_duration("10s"), Millis{10'000});
    EXPECT_EQ(parse_duration("5m"), Millis{300'000});
    EXPECT_EQ(parse_duration("2h"), Millis{7'200'000});
    EXPECT_EQ(parse_duration("3d"), Millis{259'200'000});
    EXPECT_EQ(parse_duration("0"), Millis{0});
}

TEST(Duration, RejectsWhatIsNotADuration) {
    for (const char* bad : {"", "10", "s", "-5s", "1.5s", "10 s", "10sec", "5M", "99999999999999999999d"}) {
        EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
    }
}

TEST(Duration, FormatsShortest) {
    EXPECT_EQ(format_duration(Millis{90'000}), "90s");
    EXPECT_EQ(format_duration(Millis{300'000}), "5m");
    EXPECT_EQ(format_duration(Millis{1'500}), "1500ms");
    EXPECT_EQ(format_duration(Millis{0}), "0s");
}
