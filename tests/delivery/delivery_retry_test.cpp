#include <gtest/gtest.h>

#include <algorithm>

#include "core/timefmt.hpp"
#include "delivery/delivery_channel.hpp"
#include "delivery/delivery_retry.hpp"

namespace extract::delivery {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

const WallTime kNow{seconds{1'790'000'000}};

TEST(DeliveryRetrySchedule, AttemptsAreOnePlusTheSchedule) {
    EXPECT_EQ(RetrySchedule({seconds{5}, minutes{5}, minutes{30}}).max_attempts(), 4);
    EXPECT_EQ(RetrySchedule({}).max_attempts(), 1);
}

TEST(DeliveryRetrySchedule, WaitsFollowTheScheduleWithinTenPercentJitter) {
    const std::vector<Millis> waits{seconds{5}, minutes{5}, minutes{30}};
    for (std::uint64_t seed = 0; seed < 200; ++seed) {
        RetrySchedule schedule(waits, 0.1, seed);
        for (int attempt = 1; attempt <= 3; ++attempt) {
            const auto next = schedule.next_attempt(attempt, kNow);
            ASSERT_TRUE(next) << "attempt " << attempt;
            const auto wait = std::chrono::duration_cast<Millis>(*next - kNow);
            const auto planned = waits[static_cast<std::size_t>(attempt - 1)];
            EXPECT_GE(wait.count(), planned.count() * 9 / 10) << "attempt " << attempt << " seed " << seed;
            EXPECT_LE(wait.count(), planned.count() * 11 / 10) << "attempt " << attempt << " seed " << seed;
        }
    }
}

TEST(DeliveryRetrySchedule, JitterSpreadsDeliveriesThatFailedTogether) {
    RetrySchedule schedule({minutes{5}}, 0.1, 42);
    std::vector<Millis> waits;
    for (int i = 0; i < 500; ++i)
        waits.push_back(std::chrono::duration_cast<Millis>(*schedule.next_attempt(1, kNow) - kNow));
    const auto [low, high] = std::minmax_element(waits.begin(), waits.end());
    // Uniform over ±10% of 300 s: 500 draws reach well into both outer quarters.
    EXPECT_LT(low->count(), 285'000);
    EXPECT_GT(high->count(), 315'000);
}

TEST(DeliveryRetrySchedule, NoNextAttemptAfterTheLast) {
    RetrySchedule schedule({seconds{5}, seconds{10}}, 0.1, 1);
    EXPECT_TRUE(schedule.next_attempt(2, kNow));
    EXPECT_FALSE(schedule.next_attempt(3, kNow));
    EXPECT_FALSE(schedule.next_attempt(9, kNow)) << "an operator's retry of a failed delivery gets one attempt";
}

TEST(DeliveryRetrySchedule, RetryAfterLaterThanTheScheduleWins) {
    RetrySchedule schedule({seconds{5}}, 0.1, 1);
    EXPECT_EQ(schedule.next_attempt(1, kNow, kNow + minutes{2}), kNow + minutes{2});
    const auto next = schedule.next_attempt(1, kNow, kNow + seconds{1});
    ASSERT_TRUE(next);
    EXPECT_GE(*next, kNow + std::chrono::milliseconds{4500}) << "an earlier Retry-After does not shorten the schedule";
}

TEST(DeliveryRetryAfter, ReadsSecondsAndHttpDates) {
    EXPECT_EQ(parse_retry_after("120", kNow), kNow + seconds{120});
    EXPECT_EQ(parse_retry_after(" 0 ", kNow), kNow);
    const auto date = parse_retry_after("Sun, 06 Nov 2039 08:49:37 GMT", kNow);
    ASSERT_TRUE(date);
    EXPECT_EQ(format_timestamp(*date), "2039-11-06T08:49:37.000Z");
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", kNow), kNow) << "a date in the past means now";
    EXPECT_FALSE(parse_retry_after("", kNow));
    EXPECT_FALSE(parse_retry_after("-5", kNow));
    EXPECT_FALSE(parse_retry_after("soon", kNow));
    EXPECT_TRUE(parse_retry_after("99999999999999", kNow)) << "absurd values are capped, not overflowed";
}

TEST(DeliveryErrorSnippet, CutsAtFiveHundredBytesBetweenCharacters) {
    EXPECT_EQ(error_snippet("short"), "short");
    EXPECT_EQ(error_snippet(std::string(600, 'x')).size(), 500u);
    std::string text(499, 'x');
    text += "\xC3\xA9tail";  // a two-byte é across the cut
    EXPECT_EQ(error_snippet(text), std::string(499, 'x'));
}

}  // namespace
}  // namespace extract::delivery
