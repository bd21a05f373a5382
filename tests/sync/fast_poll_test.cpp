// Planned cycles with a scripted upstream and a real mirror: the fast poll's listings, the
// refresh of a batch no listing showed, a 404, and when the engine does a full pass instead.

#include "sync/fast_poll.hpp"

#include <gtest/gtest.h>

#include "sync/sync_engine.hpp"
#include "tests/support/log_capture.hpp"
#include "tests/sync/sync_fixture.hpp"

using namespace extract;
using namespace extract::sync;
using extract::testing::batch_json;
using extract::testing::page_json;
using nlohmann::json;

namespace {

class FastPollTest : public extract::testing::SyncFixture {
protected:
    // A completed full pass of `pages` one-batch pages (a, b, c, then terminal fillers), so the
    // planner prices a full pass at `pages` requests; a is running, b pending, c completed.
    void full_pass_of(int pages) {
        std::vector<json> batches{batch_json("a", "running"), batch_json("b", "pending"), batch_json("c", "completed")};
        for (int i = 3; i < pages; ++i) batches.push_back(batch_json("t" + std::to_string(i), "completed"));
        for (std::size_t i = 0; i < batches.size(); ++i) {
            transport.respond(200,
                              page_json({batches[i]}, i + 1 < batches.size() ? json("c" + std::to_string(i)) : json()));
        }
        const SyncOutcome outcome = engine.run_cycle(settings, true);
        ASSERT_EQ(outcome.result, SyncResult::ok) << outcome.error;
        ASSERT_EQ(outcome.kind, SyncKind::full);
        ASSERT_EQ(transport.remaining(), 0u);
        transport_requests_before = transport.requests().size();
    }
    // A fast poll in which a and b finish: from then on the mirror holds no running batch.
    void finish_a_and_b() {
        transport.respond(200, page_json({}))
            .respond(200, page_json({}))
            .respond(200, batch_json("b", "completed").dump())
            .respond(200, batch_json("a", "completed").dump());
        ASSERT_EQ(engine.run_cycle(settings, false).result, SyncResult::ok);
        ASSERT_FALSE(engine.any_nonterminal());
    }
    // The targets requested since the full pass.
    std::vector<std::string> targets_since_full_pass() const {
        std::vector<std::string> out;
        const auto requests = transport.requests();
        for (std::size_t i = transport_requests_before; i < requests.size(); ++i) out.push_back(requests[i].target);
        return out;
    }

    upstream::UpstreamClient client{transport, clock, clock, client_options()};
    SyncEngine engine{client, mirror, clock, stop, 200};
    FullSyncSettings settings;
    std::size_t transport_requests_before = 0;
};

TEST_F(FastPollTest, ListsPendingAndEachNonTerminalStatusWhenThatIsCheaper) {
    full_pass_of(10);
    transport.respond(200, page_json({batch_json("b", "pending"), batch_json("d", "pending")}))
        .respond(200, page_json({batch_json("a", "running")}));
    extract::testing::LogCapture log;
    const SyncOutcome outcome = engine.run_cycle(settings, false);
    ASSERT_EQ(outcome.result, SyncResult::ok) << outcome.error;
    EXPECT_EQ(outcome.kind, SyncKind::fast);
    EXPECT_EQ(targets_since_full_pass(), (std::vector<std::string>{"/v1/batches?status=pending&limit=200",
                                                                   "/v1/batches?status=running&limit=200"}));
    EXPECT_EQ(outcome.counts.requests, 2);
    EXPECT_EQ(outcome.refreshed, 0);
    EXPECT_EQ(outcome.planned_requests, 2);
    EXPECT_EQ(outcome.alternative_requests, 10);
    EXPECT_EQ(count("SELECT count(*) FROM events WHERE type='batch.created' AND batch_id='d'"), 1);
    EXPECT_EQ(count("SELECT count(*) FROM sync_runs WHERE kind='fast' AND requests=2 AND pages=2 AND error IS NULL"),
              1);
    // What a fast poll did not list (c, the fillers) is not removed.
    EXPECT_EQ(count("SELECT count(*) FROM batches WHERE removed_at IS NOT NULL"), 0);
    EXPECT_EQ(
        describe(outcome).rfind("fast sync: 2 pages, 0 refreshed, 2 requests (planned 2, a full pass would be 10), "
                                "1 upserted, 1 changed, 0 removed in ",
                                0),
        0u)
        << describe(outcome);
}

TEST_F(FastPollTest, ABatchNoListingShowedIsRefreshedOnItsOwn) {
    full_pass_of(10);
    // a finished between two polls: it is in neither the pending nor the running list.
    transport.respond(200, page_json({batch_json("b", "pending")}))
        .respond(200, page_json({}))
        .respond(200, batch_json("a", "completed").dump());
    int progress_calls = 0;
    settings.on_progress = [&] { ++progress_calls; };
    const SyncOutcome outcome = engine.run_cycle(settings, false);
    ASSERT_EQ(outcome.result, SyncResult::ok) << outcome.error;
    EXPECT_EQ(outcome.kind, SyncKind::fast);
    EXPECT_EQ(outcome.refreshed, 1);
    EXPECT_EQ(targets_since_full_pass().back(), "/v1/batches/a?limit=1");
    EXPECT_EQ(progress_calls, 3);  // two pages, one refresh
    EXPECT_EQ(count("SELECT count(*) FROM transitions WHERE batch_id='a' AND from_status='running' AND "
                    "to_status='completed'"),
              1);
    EXPECT_EQ(count("SELECT count(*) FROM batches WHERE id='a' AND status='completed'"), 1);
}

TEST_F(FastPollTest, A404OnRefreshMarksTheBatchRemovedAtOnce) {
    full_pass_of(10);
    transport.respond(200, page_json({batch_json("b", "pending")}))
        .respond(200, page_json({}))
        .respond(404, R"({"detail":"Batch not found"})");
    const SyncOutcome outcome = engine.run_cycle(settings, false);
    ASSERT_EQ(outcome.result, SyncResult::ok) << outcome.error;
    EXPECT_EQ(outcome.counts.removed, 1);
    EXPECT_EQ(count("SELECT count(*) FROM batches WHERE id='a' AND removed_at IS NOT NULL"), 1);
    EXPECT_EQ(count("SELECT count(*) FROM events WHERE type='batch.removed' AND batch_id='a'"), 1);
    EXPECT_EQ(count("SELECT count(*) FROM batches WHERE removed_at IS NOT NULL"), 1);
}

// A key for another account answers 404 for every id: the fast poll marks at most 20 removed,
// and none while a mass removal is held; the rest wait for a full pass and its guard.
TEST_F(FastPollTest, The404sOfOnePollAreBoundedByTheMassRemovalGuard) {
    std::vector<json> running;
    for (int i = 0; i < 25; ++i) running.push_back(batch_json("r" + std::to_string(100 + i), "running"));
    transport.respond(200, page_json(running));
    ASSERT_EQ(engine.run_cycle(settings, true).result, SyncResult::ok);
    extract::testing::LogCapture log;
    auto poll = [&] {
        const auto nonterminal = mirror.nonterminal_batches(settings.terminal_statuses);
        transport.respond(200, page_json({}));
        for (std::size_t i = 0; i < nonterminal.size(); ++i) transport.respond(404, R"({"detail":"Batch not found"})");
        return FastPoll(client, mirror, clock, stop).run({"running"}, nonterminal, settings);
    };
    const SyncOutcome first = poll();
    ASSERT_EQ(first.result, SyncResult::ok) << first.error;
    EXPECT_EQ(first.refreshed, 25);
    EXPECT_EQ(first.counts.removed, kMassRemovalFloor);
    EXPECT_EQ(count("SELECT count(*) FROM batches WHERE removed_at IS NULL"), 5);
    EXPECT_TRUE(log.contains("5 batches answered 404 in this fast poll but stay live")) << log.text();

    store_hold(mirror, HeldRemovals{5, 5, clock.now()});
    const SyncOutcome held = poll();
    ASSERT_EQ(held.result, SyncResult::ok) << held.error;
    EXPECT_EQ(held.refreshed, 5);
    EXPECT_EQ(held.counts.removed, 0);
    EXPECT_EQ(count("SELECT count(*) FROM batches WHERE removed_at IS NULL"), 5);
    EXPECT_EQ(count("SELECT count(*) FROM events WHERE type='batch.removed'"), kMassRemovalFloor);
}

TEST_F(FastPollTest, AFailedRefreshFailsThePollAndRemovesNothing) {
    full_pass_of(10);
    transport.respond(200, page_json({batch_json("b", "pending")}))
        .respond(200, page_json({}))
        .respond(500, "{}")
        .respond(500, "{}");
    const SyncOutcome outcome = engine.run_cycle(settings, false);
    EXPECT_EQ(outcome.result, SyncResult::failed);
    EXPECT_NE(outcome.error.find("refreshing batch a"), std::string::npos) << outcome.error;
    EXPECT_EQ(count("SELECT count(*) FROM batches WHERE removed_at IS NOT NULL"), 0);
    EXPECT_EQ(count("SELECT count(*) FROM sync_runs WHERE kind='fast' AND error IS NOT NULL"), 1);
}

TEST_F(FastPollTest, AStatusOnceSeenIsStillListedWhenNoMirroredBatchHasItAnyMore) {
    full_pass_of(10);
    finish_a_and_b();
    // A batch created and already running between two polls is found in the running list.
    transport_requests_before = transport.requests().size();
    transport.respond(200, page_json({})).respond(200, page_json({batch_json("e", "running")}));
    const SyncOutcome outcome = engine.run_cycle(settings, false);
    ASSERT_EQ(outcome.result, SyncResult::ok) << outcome.error;
    EXPECT_EQ(targets_since_full_pass(), (std::vector<std::string>{"/v1/batches?status=pending&limit=200",
                                                                   "/v1/batches?status=running&limit=200"}));
    EXPECT_EQ(count("SELECT count(*) FROM batches WHERE id='e' AND status='running'"), 1);
    EXPECT_TRUE(engine.any_nonterminal());
}

TEST_F(FastPollTest, AfterARestartWithEveryBatchTerminalTheNextPollFindsANewBatch) {
    full_pass_of(10);
    finish_a_and_b();

    // A restarted daemon has seen no status yet, and the mirror has no batch that is not terminal:
    // it still lists where new batches are, so the next poll looks at one, not the next full pass.
    SyncEngine restarted{client, mirror, clock, stop, 200};
    transport_requests_before = transport.requests().size();
    transport.respond(200, page_json({batch_json("n", "pending")})).respond(200, page_json({}));
    const SyncOutcome outcome = restarted.run_cycle(settings, false);
    ASSERT_EQ(outcome.result, SyncResult::ok) << outcome.error;
    EXPECT_EQ(outcome.kind, SyncKind::fast);
    EXPECT_EQ(outcome.planned_requests, 2);
    EXPECT_EQ(targets_since_full_pass(), (std::vector<std::string>{"/v1/batches?status=pending&limit=200",
                                                                   "/v1/batches?status=running&limit=200"}));
    EXPECT_EQ(count("SELECT count(*) FROM events WHERE batch_id = 'n' AND type = 'batch.created'"), 1);
    EXPECT_EQ(count("SELECT count(*) FROM events WHERE batch_id = 'n' AND type = 'batch.status_changed' "
                    "AND json_extract(payload, '$.data.previous_status') IS NULL"),
              1);
    EXPECT_TRUE(restarted.any_nonterminal());
}

TEST_F(FastPollTest, AFullPassIsRunWhenItIsCheaperThanTheFastPoll) {
    // A 3-page full pass. The first fast poll finds two new pending batches and refreshes 1 of the
    // 2 non-terminal batches it started with; with 3 pending (one page of 200) the next one is
    // priced pending 1 + running 1 + ceil(1/2 x 3) = 4, dearer than the full pass.
    full_pass_of(3);
    transport.respond(200, page_json({batch_json("b", "pending")}, "p0"))
        .respond(200, page_json({batch_json("d", "pending")}, "p1"))
        .respond(200, page_json({batch_json("e", "pending")}))
        .respond(200, page_json({}))
        .respond(200, batch_json("a", "completed").dump());
    ASSERT_EQ(engine.run_cycle(settings, false).kind, SyncKind::fast);
    transport.respond(200, page_json({batch_json("a", "completed")}, "c0"))
        .respond(200, page_json({batch_json("b", "pending")}, "c1"))
        .respond(200, page_json({batch_json("c", "completed")}, "c2"))
        .respond(200, page_json({batch_json("d", "pending")}, "c3"))
        .respond(200, page_json({batch_json("e", "pending")}));
    const SyncOutcome outcome = engine.run_cycle(settings, false);
    ASSERT_EQ(outcome.result, SyncResult::ok) << outcome.error;
    EXPECT_EQ(outcome.kind, SyncKind::full);
    EXPECT_EQ(outcome.planned_requests, 3);
    EXPECT_EQ(outcome.alternative_requests, 4);
}

TEST_F(FastPollTest, AtEqualCostTheFastPollIsRun) {
    // The first fast poll refreshed 1 of 2 non-terminal batches; with 1 left the next is priced
    // pending + running + ceil(1/2 x 1) = 3, as much as the 3-page full pass: the fast poll runs.
    full_pass_of(3);
    transport.respond(200, page_json({batch_json("b", "pending")}))
        .respond(200, page_json({}))
        .respond(200, batch_json("a", "completed").dump());
    ASSERT_EQ(engine.run_cycle(settings, false).kind, SyncKind::fast);
    transport.respond(200, page_json({batch_json("b", "pending")})).respond(200, page_json({}));
    const SyncOutcome outcome = engine.run_cycle(settings, false);
    ASSERT_EQ(outcome.result, SyncResult::ok) << outcome.error;
    EXPECT_EQ(outcome.kind, SyncKind::fast);
    EXPECT_EQ(outcome.planned_requests, 3);
    EXPECT_EQ(outcome.alternative_requests, 3);
    EXPECT_EQ(outcome.counts.requests, 2) << "b was listed: no refresh was needed";
}

TEST_F(FastPollTest, NoFastPollBeforeAFullPassHasCompleted) {
    transport.respond(200, page_json({batch_json("a")}, "c0")).respond(500, "{}").respond(500, "{}");
    ASSERT_EQ(engine.run_cycle(settings, true).result, SyncResult::failed);
    transport.respond(200, page_json({batch_json("a")}));
    const SyncOutcome outcome = engine.run_cycle(settings, false);
    EXPECT_EQ(outcome.kind, SyncKind::full);
    EXPECT_EQ(outcome.result, SyncResult::ok);
}

}  // namespace
