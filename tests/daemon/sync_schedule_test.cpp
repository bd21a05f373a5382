// The sync loop's schedule with a fake clock: when each cycle runs (poll, idle poll, full pass,
// backoff, auth pause, a request) and whether it is a full pass.

#include "daemon/sync_schedule.hpp"

#include <gtest/gtest.h>

#include "tests/support/fake_clock.hpp"

using namespace extract;
using namespace extract::daemon;
using namespace extract::sync;
using namespace std::chrono_literals;

namespace {

using Reason = SyncSchedule::Reason;
using extract::testing::FakeClock;

const SyncSchedule::Intervals kIntervals{10s, 60s, 15min};

SyncSchedule::Input busy(SyncSchedule::Intervals intervals = kIntervals) { return {intervals, true, false}; }
SyncSchedule::Input idle(SyncSchedule::Intervals intervals = kIntervals) { return {intervals, false, false}; }

// A cycle ending now on `clock`.
SyncSchedule::Ended ended(const FakeClock& clock, SyncResult result, SyncKind kind = SyncKind::fast,
                          bool rate_limited = false) {
    return {clock.steady_now(), result, kind, rate_limited};
}

// How long after now the next cycle comes (negative or zero: at once).
Millis wait_from(const FakeClock& clock, const SyncSchedule::NextCycle& next) {
    return std::chrono::duration_cast<Millis>(next.at - clock.steady_now());
}

}  // namespace

TEST(SyncSchedule, TheFirstCycleRunsAtOnceAsAFullPass) {
    FakeClock clock;
    const SyncSchedule schedule;
    const auto next = schedule.next_cycle(busy());
    EXPECT_EQ(next.reason, Reason::start);
    EXPECT_LE(next.at, clock.steady_now());
    EXPECT_TRUE(schedule.full_pass_due(clock.steady_now(), kIntervals.full_sync, false));
}

TEST(SyncSchedule, AGoodCycleIsFollowedAfterPollIntervalWhileABatchIsNotTerminal) {
    FakeClock clock;
    SyncSchedule schedule;
    schedule.observe(ended(clock, SyncResult::ok, SyncKind::full));
    const auto next = schedule.next_cycle(busy());
    EXPECT_EQ(next.reason, Reason::poll);
    EXPECT_EQ(wait_from(clock, next), 10s);
    clock.advance(9999ms);
    EXPECT_GT(schedule.next_cycle(busy()).at, clock.steady_now());
    clock.advance(1ms);
    EXPECT_LE(schedule.next_cycle(busy()).at, clock.steady_now());
    EXPECT_FALSE(schedule.full_pass_due(clock.steady_now(), kIntervals.full_sync, false));  // a planned cycle
}

TEST(SyncSchedule, AGoodCycleIsFollowedAfterIdlePollIntervalWhenEveryBatchIsTerminal) {
    FakeClock clock;
    SyncSchedule schedule;
    schedule.observe(ended(clock, SyncResult::ok, SyncKind::full));
    const auto next = schedule.next_cycle(idle());
    EXPECT_EQ(next.reason, Reason::idle_poll);
    EXPECT_EQ(wait_from(clock, next), 60s);
}

TEST(SyncSchedule, NewIntervalsApplyToTheWaitInProgress) {
    FakeClock clock;
    SyncSchedule schedule;
    schedule.observe(ended(clock, SyncResult::ok, SyncKind::full));
    clock.advance(3s);
    EXPECT_EQ(wait_from(clock, schedule.next_cycle(busy({2s, 60s, 15min}))), -1s);  // reloaded: due already
    EXPECT_EQ(wait_from(clock, schedule.next_cycle(busy({30s, 60s, 15min}))), 27s);
}

TEST(SyncSchedule, AFullPassIsDueFullSyncIntervalAfterTheLastCompleteOne) {
    FakeClock clock;
    SyncSchedule schedule;
    const auto intervals = SyncSchedule::Intervals{10s, 60s, 25s};
    schedule.observe(ended(clock, SyncResult::ok, SyncKind::full));
    clock.advance(10s);
    schedule.observe(ended(clock, SyncResult::ok, SyncKind::fast));
    EXPECT_EQ(schedule.next_cycle(busy(intervals)).reason, Reason::poll);  // at 20 s
    clock.advance(10s);
    schedule.observe(ended(clock, SyncResult::ok, SyncKind::fast));
    // The poll would be at 30 s; the full pass is due at 25 s, so the cycle comes then.
    const auto next = schedule.next_cycle(busy(intervals));
    EXPECT_EQ(next.reason, Reason::full_sync);
    EXPECT_EQ(wait_from(clock, next), 5s);
    clock.advance(4s);
    EXPECT_FALSE(schedule.full_pass_due(clock.steady_now(), intervals.full_sync, false));
    clock.advance(1s);
    EXPECT_TRUE(schedule.full_pass_due(clock.steady_now(), intervals.full_sync, false));
    // Only a complete full pass counts: a fast poll or a failed full pass leaves it due.
    schedule.observe(ended(clock, SyncResult::failed, SyncKind::full));
    clock.advance(1s);
    EXPECT_TRUE(schedule.full_pass_due(clock.steady_now(), intervals.full_sync, false));
    schedule.observe(ended(clock, SyncResult::ok, SyncKind::full));
    EXPECT_FALSE(schedule.full_pass_due(clock.steady_now(), intervals.full_sync, false));
    EXPECT_EQ(wait_from(clock, schedule.next_cycle(busy(intervals))), 10s);
}

TEST(SyncSchedule, FailuresBackOffFromOneSecondDoublingUpToFiveMinutes) {
    FakeClock clock;
    SyncSchedule schedule;
    const auto intervals = SyncSchedule::Intervals{10s, 60s, 1h};
    const std::vector<Millis> expected{1s, 2s, 4s, 8s, 16s, 32s, 64s, 128s, 256s, 300s, 300s};
    for (const Millis delay : expected) {
        schedule.observe(ended(clock, SyncResult::failed));
        const auto next = schedule.next_cycle(busy(intervals));
        EXPECT_EQ(next.reason, Reason::backoff);
        EXPECT_EQ(wait_from(clock, next), delay) << schedule.consecutive_failures() << " failures";
        clock.advance(delay);
    }
    for (int i = 0; i < 40; ++i) schedule.observe(ended(clock, SyncResult::failed));  // no overflow
    EXPECT_EQ(wait_from(clock, schedule.next_cycle(busy(intervals))), 300s);
    // The first good cycle ends the backoff.
    schedule.observe(ended(clock, SyncResult::ok));
    EXPECT_EQ(schedule.consecutive_failures(), 0);
    EXPECT_EQ(wait_from(clock, schedule.next_cycle(busy(intervals))), 10s);
    schedule.observe(ended(clock, SyncResult::failed));
    EXPECT_EQ(wait_from(clock, schedule.next_cycle(busy(intervals))), 1s);
}

TEST(SyncSchedule, TheBackoffIsNeverLongerThanFullSyncInterval) {
    FakeClock clock;
    SyncSchedule schedule;
    for (int i = 0; i < 5; ++i) schedule.observe(ended(clock, SyncResult::failed));  // 16 s
    EXPECT_EQ(wait_from(clock, schedule.next_cycle(busy({10s, 60s, 5s}))), 5s);
    EXPECT_EQ(failure_delay(5, 5s), 5s);
    EXPECT_EQ(failure_delay(1, 30s), 1s);
    EXPECT_EQ(failure_delay(0, 30s), 1s);
}

TEST(SyncSchedule, AnUnauthorizedCyclePausesFiveMinutes) {
    FakeClock clock;
    SyncSchedule schedule;
    schedule.observe(ended(clock, SyncResult::ok, SyncKind::full));
    schedule.observe(ended(clock, SyncResult::unauthorized));
    auto next = schedule.next_cycle(busy());
    EXPECT_EQ(next.reason, Reason::auth_pause);
    EXPECT_EQ(wait_from(clock, next), 5min);
    // Whatever the intervals or the failures before: every 5 minutes.
    clock.advance(5min);
    schedule.observe(ended(clock, SyncResult::unauthorized));
    EXPECT_EQ(wait_from(clock, schedule.next_cycle(idle({1s, 1s, 1s}))), 5min);
    // A pause counts as failures: a failure after it backs off from there (2 unauthorized + 1 = 4 s).
    schedule.observe(ended(clock, SyncResult::failed));
    next = schedule.next_cycle(busy());
    EXPECT_EQ(next.reason, Reason::backoff);
    EXPECT_EQ(wait_from(clock, next), 4s);
}

TEST(SyncSchedule, ARequestedSyncRunsAtOnceWhateverTheWait) {
    FakeClock clock;
    SyncSchedule schedule;
    auto requested = [](SyncSchedule::Input input) {
        input.sync_requested = true;
        return input;
    };
    schedule.observe(ended(clock, SyncResult::ok, SyncKind::full));
    auto next = schedule.next_cycle(requested(idle()));
    EXPECT_EQ(next.reason, Reason::requested);
    EXPECT_LE(next.at, clock.steady_now());
    // A planned cycle unless a full pass was asked for (or is due anyway).
    EXPECT_FALSE(schedule.full_pass_due(clock.steady_now(), kIntervals.full_sync, false));
    EXPECT_TRUE(schedule.full_pass_due(clock.steady_now(), kIntervals.full_sync, true));
    // During a backoff and during an auth pause (a reload after a 401 asks for a cycle).
    schedule.observe(ended(clock, SyncResult::failed));
    EXPECT_LE(schedule.next_cycle(requested(busy())).at, clock.steady_now());
    schedule.observe(ended(clock, SyncResult::unauthorized));
    EXPECT_EQ(schedule.next_cycle(requested(busy())).reason, Reason::requested);
    EXPECT_EQ(schedule.next_cycle(busy()).reason, Reason::auth_pause);
}

TEST(SyncSchedule, CyclesThatMetA429StretchThePollUpTo16TimesAndNeverPastFullSyncInterval) {
    FakeClock clock;
    SyncSchedule schedule;
    schedule.observe(ended(clock, SyncResult::ok, SyncKind::full));
    const auto intervals = SyncSchedule::Intervals{10s, 60s, 1h};
    for (const Millis wait : {20s, 40s, 80s, 160s, 160s}) {
        schedule.observe(ended(clock, SyncResult::ok, SyncKind::fast, true));
        EXPECT_EQ(wait_from(clock, schedule.next_cycle(busy(intervals))), wait);
    }
    EXPECT_EQ(schedule.pacing().stretch(), PollPacing::kMaxStretch);
    EXPECT_EQ(wait_from(clock, schedule.next_cycle(idle(intervals))), 16min);
    // Never past full_sync_interval: the full pass comes first then anyway.
    EXPECT_EQ(wait_from(clock, schedule.next_cycle(idle({10s, 60s, 5min}))), 5min);
    // A failed cycle that met a 429 stretches the poll too; the first cycle without one ends it.
    schedule.observe(ended(clock, SyncResult::failed, SyncKind::fast, true));
    EXPECT_EQ(schedule.pacing().stretch(), PollPacing::kMaxStretch);
    schedule.observe(ended(clock, SyncResult::ok));
    EXPECT_EQ(schedule.pacing().stretch(), 1);
    EXPECT_EQ(wait_from(clock, schedule.next_cycle(busy(intervals))), 10s);
}
