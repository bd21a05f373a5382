// The full pass with a scripted upstream and a real mirror file: paging, bootstrap events,
// removal only after a complete pass, stopping, and the progress line.

#include "daemon/full_sync.hpp"

#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/daemon/sync_fixture.hpp"
#include "tests/support/log_capture.hpp"

using namespace extract;
using namespace extract::daemon;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

json batch(const std::string& id, const std::string& status = "running") {
    return extract::testing::batch_json(id, status);
}
std::string page(std::vector<json> batches, const json& next = nullptr) {
    return extract::testing::page_json(std::move(batches), next);
}

class FullSyncTest : public extract::testing::SyncFixture {
protected:
    SyncOutcome run(upstream::HttpTransport& t, FullSyncSettings settings = {}) {
        upstream::UpstreamClient client(t, clock, clock, client_options());
        return FullSync(client, mirror, clock, stop).run(settings);
    }
};

TEST_F(FullSyncTest, PagesUntilTheCursorIsNullAndCountsTheRun) {
    transport.respond(200, page({batch("a"), batch("b")}, "c1")).respond(200, page({batch("c")}));
    const auto outcome = run(transport);
    ASSERT_EQ(outcome.result, SyncResult::ok) << outcome.error;
    EXPECT_EQ(outcome.counts.pages, 2);
    EXPECT_EQ(outcome.counts.requests, 2);
    EXPECT_EQ(outcome.counts.upserted, 3);
    EXPECT_EQ(outcome.counts.changed, 3);
    EXPECT_EQ(outcome.counts.removed, 0);
    ASSERT_EQ(transport.requests().size(), 2u);
    EXPECT_NE(transport.requests()[1].target.find("cursor=c1"), std::string::npos);
    EXPECT_EQ(count("SELECT count(*) FROM sync_runs WHERE kind='full' AND pages=2 AND upserted=3 AND error IS NULL "
                    "AND finished_at IS NOT NULL"),
              1);
    EXPECT_EQ(describe(outcome).rfind("full sync: 2 pages, 2 requests, 3 upserted, 3 changed, 0 removed in ", 0), 0u);
}

TEST_F(FullSyncTest, BootstrapEmitsNoCreatedEventsUnlessAskedAndLaterSightingsDo) {
    transport.respond(200, page({batch("a")}));
    ASSERT_EQ(run(transport).result, SyncResult::ok);
    EXPECT_EQ(count("SELECT count(*) FROM events"), 0);
    EXPECT_EQ(count("SELECT count(*) FROM transitions"), 1);

    transport.respond(200, page({batch("a"), batch("b")}));
    ASSERT_EQ(run(transport).result, SyncResult::ok);
    EXPECT_EQ(count("SELECT count(*) FROM events WHERE type='batch.created' AND batch_id='b'"), 1);
    // After the bootstrap a first sighting is also a status change from nothing (SPEC §5).
    EXPECT_EQ(count("SELECT count(*) FROM events WHERE type='batch.status_changed' AND batch_id='b' "
                    "AND json_extract(payload, '$.data.previous_status') IS NULL"),
              1);
    EXPECT_EQ(count("SELECT count(*) FROM events"), 2);
}

TEST_F(FullSyncTest, BootstrapEmitsCreatedEventsWhenConfigured) {
    transport.respond(200, page({batch("a"), batch("b")}));
    FullSyncSettings settings;
    settings.emit_on_bootstrap = true;
    ASSERT_EQ(run(transport, settings).result, SyncResult::ok);
    EXPECT_EQ(count("SELECT count(*) FROM events WHERE type='batch.created'"), 2);
    // The history is announced, not replayed to completion targets: no batch.status_changed.
    EXPECT_EQ(count("SELECT count(*) FROM events"), 2);
}

TEST_F(FullSyncTest, AnIncompletePassRemovesNothingAndACompleteOneDoes) {
    transport.respond(200, page({batch("a")}, "c1")).respond(200, page({batch("b")}));
    ASSERT_EQ(run(transport).result, SyncResult::ok);

    // "b" is on the page that fails: the pass is incomplete, so nothing is removed.
    transport.respond(200, page({batch("a")}, "c1")).respond(500, "{}").respond(500, "{}");
    const auto failed = run(transport);
    EXPECT_EQ(failed.result, SyncResult::failed);
    EXPECT_FALSE(failed.error.empty());
    EXPECT_EQ(count("SELECT count(*) FROM batches WHERE removed_at IS NOT NULL"), 0);
    EXPECT_EQ(count("SELECT count(*) FROM sync_runs WHERE error IS NOT NULL"), 1);

    // A complete pass without "b" removes it, once.
    transport.respond(200, page({batch("a")}));
    const auto complete = run(transport);
    ASSERT_EQ(complete.result, SyncResult::ok);
    EXPECT_EQ(complete.counts.removed, 1);
    EXPECT_EQ(count("SELECT count(*) FROM batches WHERE id='b' AND removed_at IS NOT NULL"), 1);
    EXPECT_EQ(count("SELECT count(*) FROM events WHERE type='batch.removed' AND batch_id='b'"), 1);
}

TEST_F(FullSyncTest, UnauthorizedIsReportedAsSuch) {
    transport.respond(401, R"({"detail":"bad key"})");
    const auto outcome = run(transport);
    EXPECT_EQ(outcome.result, SyncResult::unauthorized);
    EXPECT_NE(outcome.error.find("401"), std::string::npos);
    EXPECT_EQ(transport.requests().size(), 1u);
}

TEST_F(FullSyncTest, AStopBetweenPagesEndsThePassWithoutRemoving) {
    transport.respond(200, page({batch("a")}, "c1")).respond(200, page({batch("b")}));
    ASSERT_EQ(run(transport).result, SyncResult::ok);
    stop.request_stop();
    const auto outcome = run(transport);
    EXPECT_EQ(outcome.result, SyncResult::stopped);
    EXPECT_EQ(count("SELECT count(*) FROM batches WHERE removed_at IS NOT NULL"), 0);
}

TEST_F(FullSyncTest, ALongPassLogsProgressEveryFewSeconds) {
    extract::testing::LogCapture log;
    for (int i = 0; i < 10; ++i) {
        transport.respond(200, page({batch("p" + std::to_string(i))}, i < 9 ? json("c" + std::to_string(i)) : json()));
    }
    // Each page takes 2 s to apply (the hook runs after each page, before the progress check):
    // 20 s of fake time in all, progress at 6 s, 12 s, 18 s. The clock moves on the syncing
    // thread only, so the fetch running ahead does not change when the lines fall.
    int progress_calls = 0;
    FullSyncSettings settings;
    settings.progress_interval = 5s;
    settings.on_progress = [&] {
        ++progress_calls;
        clock.advance(2s);
    };
    const auto outcome = run(transport, settings);
    ASSERT_EQ(outcome.result, SyncResult::ok);
    EXPECT_EQ(progress_calls, 10);
    const std::string text = log.text();
    std::size_t lines = 0;
    for (auto at = text.find("full sync in progress"); at != std::string::npos;
         at = text.find("full sync in progress", at + 1)) {
        ++lines;
    }
    EXPECT_EQ(lines, 3u) << text;
    EXPECT_NE(text.find("full sync in progress: 3 pages, 3 batches so far, "), std::string::npos) << text;
}

TEST(CycleSummary, SaysWhatTheLoopDidOncePerPeriodAndCountsAnew) {
    const SteadyTime start{};
    CycleSummary summary(start);
    SyncOutcome full;
    full.counts = {11, 11, 3, 1, 0};
    SyncOutcome fast;
    fast.kind = "fast";
    fast.counts = {2, 2, 0, 0, 0};
    SyncOutcome failed;
    failed.kind = "fast";
    failed.result = SyncResult::failed;
    failed.counts.requests = 3;
    EXPECT_FALSE(changed_anything(fast));
    EXPECT_TRUE(changed_anything(full));
    summary.add(full);
    for (int i = 0; i < 88; ++i) summary.add(fast);
    summary.add(failed);
    EXPECT_FALSE(summary.take_if_due(start + 14min, 15min));
    EXPECT_EQ(summary.take_if_due(start + 15min, 15min),
              "alive: 90 cycles in the last 15m (1 full, 88 fast, 1 failed), 190 requests, 3 upserted, 1 changed, 0 removed");
    EXPECT_FALSE(summary.take_if_due(start + 20min, 15min)) << "counted anew from the last line";
    EXPECT_EQ(summary.take_if_due(start + 30min, 15min),
              "alive: 0 cycles in the last 15m (0 full, 0 fast, 0 failed), 0 requests, 0 upserted, 0 changed, 0 removed");
}

}  // namespace
