// The lifecycle model, the lifecycle clock and cursor encoding as pure functions.

#include <gtest/gtest.h>

#include <map>

#include "sim/batch_lifecycle.hpp"
#include "sim/listing_position.hpp"

namespace extract::sim {
namespace {

constexpr Micros kSecond = 1'000'000;
constexpr Micros kStart = 1'790'000'000 * kSecond;

std::int64_t sum(const ItemCounts& c) {
    return std::int64_t{c.pending} + c.running + c.succeeded + c.failed + c.cancelled;
}

TEST(SimLifecycle, EveryPlanEndsTerminalWithCountsThatAddUp) {
    Rng rng(7);
    const LifecycleClock clock(kStart, 1.0, false);
    std::map<StatusId, int> finals;
    for (int i = 0; i < 2000; ++i) {
        BatchRecord b;
        b.total_items = random_total_items(rng);
        ASSERT_GE(b.total_items, 1);
        start_lifecycle(b, random_plan(rng, b.total_items, kStart));
        EXPECT_EQ(b.status, status::pending);
        EXPECT_EQ(b.counts.pending, b.total_items);
        StatusId last = b.status;
        int changes = 0;
        for (Micros t = kStart; t <= kStart + 5 * 3600 * kSecond; t += 7 * kSecond) {
            if (!apply_due_changes(b, t, clock)) continue;
            ++changes;
            EXPECT_EQ(sum(b.counts), b.total_items);
            EXPECT_GE(b.status, last) << "statuses only move forward";
            last = b.status;
        }
        ASSERT_GE(b.status, status::completed) << "still " << int{b.status} << " after five hours";
        EXPECT_GE(changes, 1);
        EXPECT_NE(b.completed_at, kNull);
        EXPECT_EQ(b.next_change_at, kNever);
        ++finals[b.status];
        if (b.status == status::completed) {
            EXPECT_EQ(b.counts.succeeded, b.total_items);
        }
        if (b.status == status::failed) {
            EXPECT_EQ(b.counts.failed, b.total_items);
        }
        if (b.status == status::partially_failed) {
            EXPECT_TRUE(b.counts.failed > 0 && b.counts.succeeded > 0);
        }
        if (b.status == status::cancelled) {
            EXPECT_GT(b.counts.cancelled, 0);
        }
    }
    EXPECT_GT(finals[status::completed], 1200);
    EXPECT_GT(finals[status::partially_failed], 100);
    EXPECT_GT(finals[status::failed], 80);
    EXPECT_GT(finals[status::cancelled], 100);
}

TEST(SimLifecycle, StepsStampTheWallTimeTheyWereDueAtEvenWhenAppliedLate) {
    Rng rng(3);
    const LifecycleClock clock(kStart, 1.0, false);
    BatchRecord b;
    b.total_items = 100;
    LifecyclePlan plan = random_plan(rng, b.total_items, kStart);
    plan.cancelled_while_pending = false;
    start_lifecycle(b, plan);
    ASSERT_TRUE(apply_due_changes(b, plan.end_at + 3600 * kSecond, clock));  // an hour late
    EXPECT_EQ(b.started_at, plan.start_at);
    EXPECT_EQ(b.completed_at, plan.end_at);
}

TEST(SimLifecycle, PinnedBatchesNeverChange) {
    Rng rng(3);
    const LifecycleClock clock(kStart, 1.0, false);
    BatchRecord b;
    b.total_items = 10;
    start_lifecycle(b, random_plan(rng, b.total_items, kStart));
    b.pinned = true;
    EXPECT_FALSE(apply_due_changes(b, kNever - 1, clock));
    EXPECT_EQ(b.status, status::pending);
}

TEST(SimLifecycle, CountsForAStatusAddUpAndKeepFinishedItems) {
    const ItemCounts midway{.pending = 2, .running = 3, .succeeded = 4, .failed = 1, .cancelled = 0};
    for (StatusId s = 0; s <= status::cancelled; ++s) {
        for (std::int32_t total : {0, 1, 2, 10, 1000}) {
            const auto c = counts_for_status(s, total, midway);
            EXPECT_EQ(sum(c), total) << int{s} << " " << total;
        }
    }
    EXPECT_EQ(counts_for_status(status::cancelled, 10, midway),
              (ItemCounts{.succeeded = 4, .failed = 1, .cancelled = 5}));
    EXPECT_EQ(counts_for_status(status::completed, 10, midway), (ItemCounts{.succeeded = 10}));
    EXPECT_EQ(counts_for_status(status::pending, 10, midway), (ItemCounts{.pending = 10}));
    const auto partial = counts_for_status(status::partially_failed, 10, ItemCounts{});
    EXPECT_TRUE(partial.failed > 0 && partial.succeeded > 0);
}

TEST(SimLifecycle, GeneratedAgesFitTheWindowAndGiveAMix) {
    Rng rng(11);
    const Micros window = 48 * 3600 * kSecond;
    int pending = 0, running = 0, done = 0;
    for (int i = 0; i < 4000; ++i) {
        LifecyclePlan plan = random_plan(rng, random_total_items(rng), 0);
        const Micros age = random_age(rng, plan, window);
        ASSERT_GE(age, 0);
        ASSERT_LE(age, window);
        if (age < plan.start_at)
            ++pending;
        else if (age < plan.end_at)
            ++running;
        else
            ++done;
    }
    EXPECT_GT(pending, 100);
    EXPECT_GT(running, 200);
    EXPECT_GT(done, 3000);
}

TEST(SimLifecycleClock, RunsAtItsSpeedAndStandsStillWhileFrozen) {
    LifecycleClock clock(kStart, 10.0, false);
    EXPECT_EQ(clock.at(kStart + kSecond), kStart + 10 * kSecond);
    EXPECT_EQ(clock.wall_at(kStart + 10 * kSecond), kStart + kSecond);
    clock.freeze(kStart + kSecond);
    EXPECT_EQ(clock.at(kStart + 100 * kSecond), kStart + 10 * kSecond);
    clock.unfreeze(kStart + 100 * kSecond);
    EXPECT_EQ(clock.at(kStart + 101 * kSecond), kStart + 20 * kSecond);
    EXPECT_EQ(clock.wall_at(kStart + 20 * kSecond), kStart + 101 * kSecond);
    EXPECT_FALSE(clock.frozen());
}

TEST(SimCursor, RoundTripsAndRejectsAnythingElse) {
    for (const ListingPosition p :
         {ListingPosition{0, 0}, ListingPosition{~0ULL, ~0U}, ListingPosition{123456789, 42}}) {
        const auto text = encode_cursor(p);
        EXPECT_EQ(text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                  std::string::npos);
        EXPECT_EQ(decode_cursor(text), p);
        std::string tampered = text;
        tampered[3] = tampered[3] == 'A' ? 'B' : 'A';
        EXPECT_FALSE(decode_cursor(tampered)) << tampered;
    }
    for (const auto* bad : {"", "abc", "not a cursor at all!", "AAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAA="}) {
        EXPECT_FALSE(decode_cursor(bad)) << bad;
    }
}

}  // namespace
}  // namespace extract::sim
