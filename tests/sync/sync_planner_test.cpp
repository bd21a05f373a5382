// The planner with plain numbers: which plan each cycle gets and what it is estimated to cost,
// and the pacing of cycles (activity, 429 stretching).

#include "sync/sync_planner.hpp"

#include <gtest/gtest.h>

using namespace extract;
using namespace extract::sync;
using namespace std::chrono_literals;

namespace {

// 100k batches mirrored (a 500-page full pass), 20 running.
PlannerInput large_account() {
    PlannerInput input;
    input.nonterminal_by_status = {{"running", 20}};
    input.always_listed = {"pending"};
    input.mirrored_batches = 100'000;
    input.last_full_pass_pages = 500;
    input.page_size = 200;
    return input;
}

TEST(SyncPlanner, ListingCostsOnePagePerPageSizeAndNeverLessThanOneRequest) {
    EXPECT_EQ(listing_requests(0, 200), 1);
    EXPECT_EQ(listing_requests(1, 200), 1);
    EXPECT_EQ(listing_requests(200, 200), 1);
    EXPECT_EQ(listing_requests(201, 200), 2);
    EXPECT_EQ(listing_requests(100'000, 200), 500);
}

TEST(SyncPlanner, AFastPollIsChosenWhenItIsCheaper) {
    const SyncPlan plan = plan_sync(large_account());
    EXPECT_EQ(plan.kind, SyncKind::fast);
    EXPECT_EQ(plan.statuses, (std::vector<std::string>{"pending", "running"}));
    EXPECT_EQ(plan.fast_requests, 2);
    EXPECT_EQ(plan.full_requests, 500);
    EXPECT_EQ(plan.planned_requests(), 2);
    EXPECT_EQ(plan.alternative_requests(), 500);
}

TEST(SyncPlanner, EachNonTerminalStatusIsListedWithAllItsPagesPlusExpectedRefreshes) {
    PlannerInput input = large_account();
    input.nonterminal_by_status = {{"running", 450}, {"pending", 30}, {"queued", 1}};
    input.always_listed = {"pending", "validating"};
    input.expected_refreshes = 4;
    const SyncPlan plan = plan_sync(input);
    EXPECT_EQ(plan.statuses, (std::vector<std::string>{"pending", "queued", "running", "validating"}));
    EXPECT_EQ(plan.fast_requests, 1 + 1 + 3 + 1 + 4);
    EXPECT_EQ(plan.kind, SyncKind::fast);
}

TEST(SyncPlanner, AFullPassIsChosenWhenItIsCheaper) {
    PlannerInput input = large_account();
    input.nonterminal_by_status = {{"running", 99'000}};  // 495 pages + pending
    input.expected_refreshes = 10;
    EXPECT_EQ(plan_sync(input).kind, SyncKind::full);
}

TEST(SyncPlanner, AtEqualCostTheFastPollWins) {
    PlannerInput small;  // 150 batches: one page either way
    small.nonterminal_by_status = {{"pending", 3}};
    small.always_listed = {"pending"};
    small.mirrored_batches = 150;
    small.last_full_pass_pages = 1;
    const SyncPlan tie = plan_sync(small);
    EXPECT_EQ(tie.fast_requests, 1);
    EXPECT_EQ(tie.full_requests, 1);
    EXPECT_EQ(tie.kind, SyncKind::fast);
}

TEST(RefreshEstimate, IsTheLastFastPollsShareOfRefreshesAppliedToTheCountNow) {
    RefreshEstimate estimate;
    EXPECT_EQ(estimate.expected(50), 0);  // no fast poll yet
    estimate.observe(12, 8);
    EXPECT_EQ(estimate.expected(12), 8);
    EXPECT_EQ(estimate.expected(6), 4);
    EXPECT_EQ(estimate.expected(1), 1);  // rounded up
    EXPECT_EQ(estimate.expected(0), 0);
    estimate.observe(3, 9);  // more refreshes than batches is impossible: capped
    EXPECT_EQ(estimate.expected(3), 3);
    estimate.observe(40, 0);
    EXPECT_EQ(estimate.expected(40), 0);
}

// The reported sequence: an 11-page account whose one early fast poll refreshed 8 of 12 busy
// batches. The estimate was that poll's 8 refreshes for ever after, so with 0-1 running batches a
// fast poll "would be 11" (pending + queued + running + 8), the tie went to the full pass, and
// every cycle for 26 minutes listed all 11 pages. Each cycle here is planned as SyncEngine plans
// it: the counts of the mirror now and the estimate from them.
TEST(SyncPlanner, TheReportedSequenceReturnsToFastPollsOnceTheBusyBatchesFinish) {
    RefreshEstimate refreshes;
    auto cycle = [&](std::map<std::string, std::int64_t, std::less<>> counts, bool due) {
        PlannerInput input;
        input.nonterminal_by_status = std::move(counts);
        input.always_listed = {"pending", "queued", "running"};
        input.last_full_pass_pages = 11;
        input.mirrored_batches = 2'150;
        input.page_size = 200;
        input.full_pass_due = due;
        input.expected_refreshes = refreshes.expected(nonterminal_total(input));
        return plan_sync(input);
    };
    EXPECT_EQ(cycle({{"pending", 2}, {"running", 10}}, true).kind, SyncKind::full);  // at start
    const SyncPlan early = cycle({{"pending", 2}, {"running", 10}}, false);
    EXPECT_EQ(early.kind, SyncKind::fast);
    EXPECT_EQ(early.fast_requests, 3);
    refreshes.observe(12, 8);  // most of them finished between the polls

    for (const auto& counts : std::vector<std::map<std::string, std::int64_t, std::less<>>>{
             {{"running", 1}}, {}, {{"running", 1}}, {{"pending", 1}}, {}}) {
        const SyncPlan plan = cycle(counts, false);
        EXPECT_EQ(plan.kind, SyncKind::fast) << plan.fast_requests << " vs " << plan.full_requests;
        EXPECT_LE(plan.fast_requests, 4);
        EXPECT_EQ(plan.full_requests, 11);
    }
    // Busy again: the same share of a larger count is priced, and a full pass wins when dearer.
    EXPECT_EQ(cycle({{"running", 12}}, false).fast_requests, 3 + 8);
    EXPECT_EQ(cycle({{"running", 12}}, false).kind, SyncKind::fast);  // 11 vs 11: a tie
    EXPECT_EQ(cycle({{"running", 15}}, false).kind, SyncKind::full);  // 3 + 10 > 11
    EXPECT_EQ(cycle({{"running", 1}}, true).kind, SyncKind::full);    // full_sync_interval elapsed
}

TEST(SyncPlanner, AFullPassIsChosenWheneverOneIsDueHoweverCheapTheFastPoll) {
    PlannerInput input = large_account();
    input.full_pass_due = true;
    const SyncPlan plan = plan_sync(input);
    EXPECT_EQ(plan.kind, SyncKind::full);
    EXPECT_EQ(plan.planned_requests(), 500);
    EXPECT_EQ(plan.alternative_requests(), 2);
}

TEST(SyncPlanner, WithoutACompletedFullPassTheMirrorsSizeEstimatesIt) {
    PlannerInput input = large_account();
    input.last_full_pass_pages.reset();
    input.mirrored_batches = 1'001;
    EXPECT_EQ(plan_sync(input).full_requests, 6);
}

TEST(SyncPlanner, AnEmptyMirrorListsPendingOnly) {
    PlannerInput input;
    input.always_listed = {"pending"};
    input.last_full_pass_pages = 1;
    const SyncPlan plan = plan_sync(input);
    EXPECT_EQ(plan.statuses, (std::vector<std::string>{"pending"}));
    EXPECT_EQ(plan.fast_requests, 1);
}

TEST(PollPacing, PollsFastWhileAnythingIsNotTerminalAndSlowlyOtherwise) {
    PollPacing pacing;
    const PollPacing::Intervals intervals{10s, 60s, 15min};
    EXPECT_EQ(pacing.wait(true, intervals), 10s);
    EXPECT_EQ(pacing.wait(false, intervals), 60s);
}

TEST(PollPacing, A429RunDoublesTheWaitUpToACapAndARecoveredUpstreamGetsTheNormalPace) {
    PollPacing pacing;
    const PollPacing::Intervals intervals{10s, 60s, 15min};
    std::vector<Millis> waits;
    for (int i = 0; i < 6; ++i) {
        pacing.observe(true);
        waits.push_back(pacing.wait(true, intervals));
    }
    EXPECT_EQ(waits, (std::vector<Millis>{20s, 40s, 80s, 160s, 160s, 160s}));
    EXPECT_EQ(pacing.stretch(), PollPacing::kMaxStretch);
    EXPECT_EQ(pacing.wait(false, intervals), 15min);  // 16 x 60 s, capped at full_sync_interval
    pacing.observe(false);
    EXPECT_EQ(pacing.stretch(), 1);
    EXPECT_EQ(pacing.wait(true, intervals), 10s);
}

TEST(PollPacing, AnIdleIntervalLongerThanTheFullSyncIntervalIsNotShortenedByTheCap) {
    PollPacing pacing;
    pacing.observe(true);
    EXPECT_EQ(pacing.wait(false, {10s, 30min, 15min}), 30min);
}

}  // namespace
