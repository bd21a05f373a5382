// The full pass with a scripted upstream and a real mirror file: paging, bootstrap events,
// removal only after a complete pass, stopping, and the progress line.

#include "sync/full_sync.hpp"

#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/log_capture.hpp"
#include "tests/sync/sync_fixture.hpp"

using namespace extract;
using namespace extract::sync;
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

// ---- the mass-removal guard (SPEC §3) -----------------------------------------------------

std::vector<json> batches(const std::string& prefix, int n) {
    std::vector<json> out;
    for (int i = 0; i < n; ++i) out.push_back(batch(prefix + std::to_string(i)));
    return out;
}

class FullSyncMassRemoval : public FullSyncTest {
protected:
    // A mirror of 30 live batches, m0..m29, after its bootstrap.
    void SetUp() override {
        transport.respond(200, page(batches("m", 30)));
        ASSERT_EQ(run(transport).result, SyncResult::ok);
    }
    // One complete pass that lists `listed`.
    SyncOutcome pass(std::vector<json> listed, bool confirm = false) {
        transport.respond(200, page(std::move(listed)));
        FullSyncSettings settings;
        settings.mass_removal = {50, 1h};
        settings.confirm_removals = confirm;
        return run(transport, settings);
    }
    std::int64_t removed() const { return count("SELECT count(*) FROM batches WHERE removed_at IS NOT NULL"); }
    std::int64_t removed_events() const { return count("SELECT count(*) FROM events WHERE type = 'batch.removed'"); }
};

TEST_F(FullSyncMassRemoval, AnEmptyListingIsHeldNotAStormOfRemovals) {
    extract::testing::LogCapture log;
    const auto outcome = pass({});
    ASSERT_EQ(outcome.result, SyncResult::ok) << outcome.error;
    EXPECT_EQ(outcome.counts.removed, 0);
    ASSERT_TRUE(outcome.removals);
    EXPECT_EQ(outcome.removals->verdict, RemovalVerdict::hold_begun);
    EXPECT_EQ(outcome.removals->hold->count, 30);
    EXPECT_EQ(removed(), 0);
    EXPECT_EQ(removed_events(), 0);
    // The hold is in the mirror: a restart neither forgets it nor starts it over.
    EXPECT_EQ(load_hold(mirror), outcome.removals->hold);
    EXPECT_NE(log.text().find("mass removal held"), std::string::npos) << log.text();

    // The next agreeing pass holds without a second warning.
    extract::testing::LogCapture quiet;
    clock.advance(15min);
    const auto again = pass({});
    EXPECT_EQ(again.removals->verdict, RemovalVerdict::held);
    EXPECT_EQ(again.removals->hold->since, outcome.removals->hold->since);
    EXPECT_EQ(quiet.text().find("mass removal held"), std::string::npos) << quiet.text();
    EXPECT_EQ(removed(), 0);
}

TEST_F(FullSyncMassRemoval, AgreementForMassRemovalConfirmAppliesTheRemovals) {
    std::vector<json> five = batches("m", 5);  // m5..m29 (25 batches, 83%) are no longer listed
    ASSERT_EQ(pass(five).removals->verdict, RemovalVerdict::hold_begun);
    clock.advance(30min);
    ASSERT_EQ(pass(five).removals->verdict, RemovalVerdict::held);
    EXPECT_EQ(removed(), 0);
    clock.advance(30min);
    const auto applied = pass(five);
    EXPECT_EQ(applied.removals->verdict, RemovalVerdict::apply_agreed);
    EXPECT_EQ(applied.counts.removed, 25);
    EXPECT_EQ(applied.events_by_type.at("batch.removed"), 25);
    EXPECT_EQ(removed(), 25);
    EXPECT_EQ(removed_events(), 25);
    EXPECT_FALSE(load_hold(mirror));
}

TEST_F(FullSyncMassRemoval, APassThatListsTheBatchesAgainClearsTheHold) {
    ASSERT_EQ(pass({}).removals->verdict, RemovalVerdict::hold_begun);
    clock.advance(15min);
    std::vector<json> all_but_one = batches("m", 29);  // m29 is really gone
    const auto listed = pass(all_but_one);
    EXPECT_EQ(listed.removals->verdict, RemovalVerdict::hold_cleared);
    EXPECT_EQ(listed.counts.removed, 1);
    EXPECT_FALSE(load_hold(mirror));
    // An empty listing later begins a new hold, with its own time.
    clock.advance(2h);
    const auto anew = pass({});
    EXPECT_EQ(anew.removals->verdict, RemovalVerdict::hold_begun);
    EXPECT_EQ(anew.removals->hold->since, clock.now());
    EXPECT_EQ(removed(), 1);
}

TEST_F(FullSyncMassRemoval, AConfirmedPassRemovesAtOnce) {
    ASSERT_EQ(pass({}).removals->verdict, RemovalVerdict::hold_begun);
    const auto confirmed = pass({}, true);
    EXPECT_EQ(confirmed.removals->verdict, RemovalVerdict::apply_confirmed);
    EXPECT_EQ(confirmed.counts.removed, 30);
    EXPECT_EQ(removed_events(), 30);
    EXPECT_FALSE(load_hold(mirror));
}

TEST_F(FullSyncMassRemoval, OrdinaryRemovalsAndAnIncompletePassDoNotTouchIt) {
    // 20 of 30 missing: more than half, but not more than 20.
    std::vector<json> ten = batches("m", 10);
    const auto few = pass(ten);
    EXPECT_EQ(few.removals->verdict, RemovalVerdict::remove);
    EXPECT_EQ(few.counts.removed, 20);
    // An incomplete pass reaches no decision and leaves a hold as it was.
    ASSERT_TRUE(pass({}).removals);  // 10 live, none listed: not more than 20, removed
    EXPECT_EQ(removed(), 30);
    transport.respond(500, "{}").respond(500, "{}");
    const auto failed = run(transport);
    EXPECT_EQ(failed.result, SyncResult::failed);
    EXPECT_FALSE(failed.removals);
}

TEST(CycleSummary, SaysWhatTheLoopDidOncePerPeriodAndCountsAnew) {
    const SteadyTime start{};
    CycleSummary summary(start);
    SyncOutcome full;
    full.counts = {11, 11, 3, 1, 0};
    SyncOutcome fast;
    fast.kind = SyncKind::fast;
    fast.counts = {2, 2, 0, 0, 0};
    SyncOutcome failed;
    failed.kind = SyncKind::fast;
    failed.result = SyncResult::failed;
    failed.counts.requests = 3;
    EXPECT_FALSE(changed_anything(fast));
    EXPECT_TRUE(changed_anything(full));
    summary.add(full);
    for (int i = 0; i < 88; ++i) summary.add(fast);
    summary.add(failed);
    EXPECT_FALSE(summary.take_if_due(start + 14min, 15min));
    EXPECT_EQ(
        summary.take_if_due(start + 15min, 15min),
        "alive: 90 cycles in the last 15m (1 full, 88 fast, 1 failed), 190 requests, 3 upserted, 1 changed, 0 removed");
    EXPECT_FALSE(summary.take_if_due(start + 20min, 15min)) << "counted anew from the last line";
    EXPECT_EQ(
        summary.take_if_due(start + 30min, 15min),
        "alive: 0 cycles in the last 15m (0 full, 0 fast, 0 failed), 0 requests, 0 upserted, 0 changed, 0 removed");
}

}  // namespace
