#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cache/mirror_fixture.hpp"

using namespace extract;
using namespace extract::cache;
using namespace extract::cache::testing;
using namespace std::chrono_literals;

TEST_F(MirrorTest, AFirstSightingRecordsATransitionFromNullACreatedAndAStatusChangedEvent) {
    const Batch b1 = make_batch("b1", "pending", 0, {{"team", "ocr"}});
    const ApplyResult result = mirror->apply_page({b1}, {});

    EXPECT_EQ(result.received, 1);
    EXPECT_EQ(result.inserted, 1);
    EXPECT_EQ(result.updated, 0);
    EXPECT_EQ(result.transitions, 1);
    EXPECT_EQ(result.events, 2);
    EXPECT_EQ(result.last_event_seq, 2);

    EXPECT_EQ(rows("SELECT status, total_items, count_pending, count_succeeded, engine, options, metadata, created_at, "
                   "expires_at, raw, first_seen_at, last_seen_at, last_changed_at, removed_at FROM batches"),
              (Rows{{"pending", "10", "10", "0", "NULL", "{}", R"({"team":"ocr"})", "2026-11-01T00:00:00Z",
                     "2026-11-04T00:00:00Z", b1.raw, now(), now(), now(), "NULL"}}));
    EXPECT_EQ(rows("SELECT batch_id, from_status, to_status, observed_at FROM transitions"),
              (Rows{{"b1", "NULL", "pending", now()}}));
    EXPECT_EQ(rows("SELECT seq, type, batch_id, created_at, substr(id, 1, 4), length(id) FROM events"),
              (Rows{{"1", "batch.created", "b1", now(), "evt_", "30"},
                    {"2", "batch.status_changed", "b1", now(), "evt_", "30"}}));

    const auto payload = nlohmann::json::parse(value("SELECT payload FROM events WHERE seq = 1"));
    EXPECT_EQ(payload["type"], "batch.created");
    EXPECT_EQ(payload["timestamp"], now());
    EXPECT_EQ(payload["data"]["batch"], nlohmann::json::parse(b1.raw));  // embedded as JSON, not a string
    EXPECT_TRUE(payload["data"]["previous_status"].is_null());
}

TEST_F(MirrorTest, AStatusChangeRecordsATransitionAndAStatusChangedEvent) {
    mirror->apply_page({make_batch("b1", "pending")}, {});
    const std::string first_seen = now();
    clock.advance(5s);
    const Batch running = make_batch("b1", "running", 2);
    const ApplyResult result = mirror->apply_page({running}, {});

    EXPECT_EQ(result.updated, 1);
    EXPECT_EQ(result.transitions, 1);
    EXPECT_EQ(result.events, 1);
    EXPECT_EQ(result.last_event_seq, 3);  // after the first sighting's batch.created and batch.status_changed
    EXPECT_EQ(rows("SELECT from_status, to_status, observed_at FROM transitions ORDER BY seq"),
              (Rows{{"NULL", "pending", first_seen}, {"pending", "running", now()}}));
    EXPECT_EQ(rows("SELECT status, count_succeeded, raw, first_seen_at, last_changed_at FROM batches"),
              (Rows{{"running", "2", running.raw, first_seen, now()}}));
    const auto payload = nlohmann::json::parse(value("SELECT payload FROM events WHERE seq = 3"));
    EXPECT_EQ(payload["type"], "batch.status_changed");
    EXPECT_EQ(payload["data"]["previous_status"], "pending");
    EXPECT_EQ(payload["data"]["batch"]["status"], "running");
}

TEST_F(MirrorTest, AnotherFieldChangingGivesAnUpdatedEventAndNoTransition) {
    mirror->apply_page({make_batch("b1", "running", 1)}, {});
    const std::string first_seen = now();
    clock.advance(5s);
    const ApplyResult result = mirror->apply_page({make_batch("b1", "running", 4)}, {});

    EXPECT_EQ(result.updated, 1);
    EXPECT_EQ(result.transitions, 0);
    EXPECT_EQ(result.events, 1);
    EXPECT_EQ(count("transitions"), 1);
    EXPECT_EQ(value("SELECT type FROM events WHERE seq = 3"), "batch.updated");
    EXPECT_EQ(rows("SELECT count_succeeded, count_pending, first_seen_at, last_seen_at, last_changed_at FROM batches"),
              (Rows{{"4", "6", first_seen, now(), now()}}));
    const auto payload = nlohmann::json::parse(value("SELECT payload FROM events WHERE seq = 3"));
    EXPECT_FALSE(payload["data"].contains("previous_status"));
    EXPECT_EQ(payload["data"]["batch"]["counts"]["succeeded"], 4);
}

TEST_F(MirrorTest, AnUnchangedBatchWritesNothing) {
    mirror->apply_page({make_batch("b1", "running", 1), make_batch("b2", "pending")}, {});
    const std::string first_seen = now();
    // data_version moves when another connection commits a change to the file (SQLite docs).
    SQLite::Database watcher(path, SQLite::OPEN_READONLY);
    const auto data_version = [&] { return watcher.execAndGet("PRAGMA data_version").getInt64(); };
    const std::int64_t before = data_version();
    clock.advance(30s);
    ApplyOptions full;
    full.full_pass_run_id = 7;  // a full pass too: which batches it saw is kept in memory only
    const ApplyResult result = mirror->apply_page({make_batch("b1", "running", 1), make_batch("b2", "pending")}, full);

    EXPECT_EQ(result.unchanged, 2);
    EXPECT_EQ(result.updated, 0);
    EXPECT_EQ(result.events, 0);
    EXPECT_EQ(result.last_event_seq, 0);
    EXPECT_EQ(data_version(), before) << "a page of unchanged batches committed a change";
    EXPECT_EQ(count("events"), 4);  // each first sighting's two
    EXPECT_EQ(count("transitions"), 2);
    // No complete full pass yet: last_seen_at is the last write.
    EXPECT_EQ(rows("SELECT id, first_seen_at, last_seen_at, last_changed_at FROM batches ORDER BY id"),
              (Rows{{"b1", first_seen, first_seen, first_seen}, {"b2", first_seen, first_seen, first_seen}}));
}

TEST_F(MirrorTest, LastSeenAtIsTheLastCompleteFullPassThatListedTheBatch) {
    mirror->apply_page({make_batch("b1", "running", 1), make_batch("b2", "pending")}, {});
    const std::string first_seen = now();
    clock.advance(60s);
    ApplyOptions full;
    full.full_pass_run_id = mirror->begin_sync_run("full");
    const std::string pass_start = now();
    clock.advance(1s);
    mirror->apply_page({make_batch("b1", "running", 1)}, full);  // b2 is not listed
    EXPECT_EQ(mirror->count_unseen(*full.full_pass_run_id), 1);
    EXPECT_EQ(mirror->remove_unseen(*full.full_pass_run_id), 1);
    const std::string removed = now();
    EXPECT_EQ(rows("SELECT id, last_seen_at, removed_at FROM batches ORDER BY id"),
              (Rows{{"b1", pass_start, "NULL"}, {"b2", first_seen, removed}}));

    // A later change moves it past the pass; a removal freezes it.
    clock.advance(10s);
    mirror->apply_page({make_batch("b1", "running", 2)}, {});
    const std::string changed = now();
    EXPECT_EQ(value("SELECT last_seen_at FROM batches WHERE id = 'b1'"), changed);
    clock.advance(10s);
    mirror->mark_removed("b1");
    EXPECT_EQ(value("SELECT last_seen_at FROM batches WHERE id = 'b1'"), changed);
}

TEST_F(MirrorTest, TheSamePageTwiceRecordsNothingTwice) {
    const std::vector<Batch> page{make_batch("b1", "pending"), make_batch("b2", "running", 3),
                                  make_batch("b3", "completed", 10)};
    mirror->apply_page(page, {});
    const ApplyResult again = mirror->apply_page(page, {});
    EXPECT_EQ(again.unchanged, 3);
    EXPECT_EQ(again.events + again.transitions + again.inserted + again.updated, 0);

    const std::vector<Batch> changed{make_batch("b1", "running", 1), make_batch("b2", "running", 3),
                                     make_batch("b3", "completed", 10)};
    mirror->apply_page(changed, {});
    mirror->apply_page(changed, {});
    EXPECT_EQ(count("transitions"), 4);
    EXPECT_EQ(count("events"), 7);  // 3 first sightings of two events each, one change
    EXPECT_EQ(rows("SELECT batch_id, from_status, to_status FROM transitions WHERE seq = 4"),
              (Rows{{"b1", "pending", "running"}}));
}

TEST_F(MirrorTest, AnIdRepeatedInOnePageIsAppliedInOrderWithoutDoubleCounting) {
    const ApplyResult result = mirror->apply_page({make_batch("b1", "pending"), make_batch("b1", "running", 1),
                                                   make_batch("b1", "running", 1)},
                                                  {});
    EXPECT_EQ(result.inserted, 1);
    EXPECT_EQ(result.updated, 1);
    EXPECT_EQ(result.unchanged, 1);
    EXPECT_EQ(rows("SELECT from_status, to_status FROM transitions ORDER BY seq"),
              (Rows{{"NULL", "pending"}, {"pending", "running"}}));
    EXPECT_EQ(rows("SELECT type, json_extract(payload, '$.data.previous_status') FROM events ORDER BY seq"),
              (Rows{{"batch.created", "NULL"}, {"batch.status_changed", "NULL"}, {"batch.status_changed", "pending"}}));
    EXPECT_EQ(value("SELECT status FROM batches"), "running");
}

TEST_F(MirrorTest, WithoutEmitCreatedTheTransitionIsRecordedButNoEvent) {
    ApplyOptions bootstrap;
    bootstrap.first_sighting = FirstSightingEvents::none;
    const ApplyResult result =
        mirror->apply_page({make_batch("b1", "pending"), make_batch("b2", "completed")}, bootstrap);
    EXPECT_EQ(result.inserted, 2);
    EXPECT_EQ(result.transitions, 2);
    EXPECT_EQ(result.events, 0);
    EXPECT_EQ(count("transitions"), 2);
    EXPECT_EQ(count("events"), 0);

    // Changes after the first sighting are events as always.
    mirror->apply_page({make_batch("b1", "running", 1)}, bootstrap);
    EXPECT_EQ(rows("SELECT type, batch_id FROM events"), (Rows{{"batch.status_changed", "b1"}}));
}

TEST_F(MirrorTest, AFirstSightingAfterTheBootstrapIsCreatedThenStatusChangedFromNullInOneCommit) {
    int commits = 0;
    std::int64_t notified = 0;
    mirror->set_commit_listener([&](std::int64_t seq) {
        ++commits;
        notified = seq;
    });
    const Batch done = make_batch("b1", "completed", 10);
    const ApplyResult result = mirror->apply_page({done}, {});

    EXPECT_EQ(result.inserted, 1);
    EXPECT_EQ(result.transitions, 1);
    EXPECT_EQ(result.events, 2);
    EXPECT_EQ(result.last_event_seq, 2);
    EXPECT_EQ(result.events_by_type.at("batch.created"), 1);
    EXPECT_EQ(result.events_by_type.at("batch.status_changed"), 1);
    EXPECT_EQ(commits, 1);
    EXPECT_EQ(notified, 2);
    EXPECT_EQ(rows("SELECT from_status, to_status FROM transitions"), (Rows{{"NULL", "completed"}}));
    // batch.created first, then the transition from nothing, written at the same instant.
    EXPECT_EQ(rows("SELECT seq, type, batch_id, created_at FROM events ORDER BY seq"),
              (Rows{{"1", "batch.created", "b1", now()}, {"2", "batch.status_changed", "b1", now()}}));
    const auto payload = nlohmann::json::parse(value("SELECT payload FROM events WHERE seq = 2"));
    EXPECT_EQ(payload["type"], "batch.status_changed");
    EXPECT_EQ(payload["timestamp"], now());
    EXPECT_EQ(payload["data"]["batch"], nlohmann::json::parse(done.raw));
    ASSERT_TRUE(payload["data"].contains("previous_status"));
    EXPECT_TRUE(payload["data"]["previous_status"].is_null());
    EXPECT_NE(value("SELECT id FROM events WHERE seq = 1"), value("SELECT id FROM events WHERE seq = 2"));
}

TEST_F(MirrorTest, ACompletionTargetGetsOneDeliveryPerBatchThatReachesCompletedHoweverItWasSeen) {
    const std::vector<DeliveryRoute> routes{
        {"webhook.default", {}, {}},             // batch.status_changed only, any status
        {"trigger.done", {}, {"completed"}},     // the recipe: completions only
        {"trigger.new", {"batch.created"}, {}},  // first sightings only
        {"webhook.all", {"batch.created", "batch.status_changed"}, {}},
    };
    ApplyOptions options;
    options.routes = &routes;

    // Appears already completed: its first sighting is the completion.
    mirror->apply_page({make_batch("b1", "completed", 10)}, options);
    EXPECT_EQ(rows("SELECT e.seq, e.type, d.target FROM deliveries d JOIN events e ON e.seq = d.event_seq "
                   "ORDER BY d.id"),
              (Rows{{"1", "batch.created", "trigger.new"},
                    {"1", "batch.created", "webhook.all"},
                    {"2", "batch.status_changed", "webhook.default"},
                    {"2", "batch.status_changed", "trigger.done"},
                    {"2", "batch.status_changed", "webhook.all"}}));

    // Seen pending first: the completion is routed when it happens, not at the first sighting.
    mirror->apply_page({make_batch("b2", "pending")}, options);
    EXPECT_EQ(value("SELECT count(*) FROM deliveries WHERE target = 'trigger.done'"), "1");
    clock.advance(1s);
    mirror->apply_page({make_batch("b2", "completed", 10)}, options);

    // Listed again unchanged, and after a restart: nothing more.
    reopen();
    mirror->apply_page({make_batch("b1", "completed", 10), make_batch("b2", "completed", 10)}, options);
    EXPECT_EQ(rows("SELECT e.batch_id, json_extract(e.payload, '$.data.previous_status') FROM deliveries d "
                   "JOIN events e ON e.seq = d.event_seq WHERE d.target = 'trigger.done' ORDER BY d.id"),
              (Rows{{"b1", "NULL"}, {"b2", "pending"}}));
    EXPECT_EQ(value("SELECT count(*) FROM events WHERE type = 'batch.status_changed'"), "3");
}

TEST_F(MirrorTest, TheBootstrapEmitsNothingOrOnlyCreatedWithEmitOnBootstrap) {
    EXPECT_EQ(first_sighting_events(true, false), FirstSightingEvents::none);
    EXPECT_EQ(first_sighting_events(true, true), FirstSightingEvents::created);
    EXPECT_EQ(first_sighting_events(false, false), FirstSightingEvents::created_and_status_changed);
    EXPECT_EQ(first_sighting_events(false, true), FirstSightingEvents::created_and_status_changed);

    const std::vector<DeliveryRoute> routes{{"trigger.done", {}, {"completed"}},
                                            {"trigger.new", {"batch.created"}, {}}};
    ApplyOptions announced;
    announced.first_sighting = FirstSightingEvents::created;
    announced.routes = &routes;
    const ApplyResult result = mirror->apply_page({make_batch("b1", "completed", 10)}, announced);
    EXPECT_EQ(result.events, 1);
    EXPECT_EQ(count("transitions"), 1);
    // The account's history is announced as batch.created; completion targets are not replayed.
    EXPECT_EQ(rows("SELECT e.type, d.target FROM events e LEFT JOIN deliveries d ON d.event_seq = e.seq"),
              (Rows{{"batch.created", "trigger.new"}}));
}

TEST_F(MirrorTest, AFullPassCountsEveryListedBatchSeenChangedOrNot) {
    mirror->apply_page({make_batch("b1", "pending"), make_batch("b2", "running", 1), make_batch("b4", "pending")}, {});
    ApplyOptions full;
    full.full_pass_run_id = mirror->begin_sync_run("full");
    // A fast poll's sighting during the pass does not count for it.
    mirror->apply_page({make_batch("b4", "pending")}, {});
    mirror->apply_page({make_batch("b1", "pending"), make_batch("b2", "running", 2), make_batch("b3", "pending")},
                       full);
    EXPECT_EQ(mirror->count_unseen(*full.full_pass_run_id), 1);  // b4

    // The next pass starts from nothing: what the previous one saw does not carry over.
    const std::int64_t next = mirror->begin_sync_run("full");
    EXPECT_EQ(mirror->count_unseen(next), 4);
    ApplyOptions next_pass;
    next_pass.full_pass_run_id = next;
    mirror->apply_page({make_batch("b3", "pending")}, next_pass);
    EXPECT_EQ(mirror->count_unseen(next), 3);
    EXPECT_EQ(mirror->remove_unseen(next), 3);
    EXPECT_EQ(rows("SELECT id FROM batches WHERE removed_at IS NULL"), (Rows{{"b3"}}));
}

TEST_F(MirrorTest, ACreatedAtChangeIsAnUpdateLikeAnyOtherField) {
    mirror->apply_page({make_batch("b1", "running", 1)}, {});
    Batch moved = make_batch("b1", "running", 1);
    moved.created_at = "2026-10-31T23:59:59Z";
    moved.raw = R"({"id":"b1","created_at":"2026-10-31T23:59:59Z"})";
    EXPECT_EQ(mirror->apply_page({moved}, {}).updated, 1);
    EXPECT_EQ(rows("SELECT created_at, raw FROM batches"), (Rows{{moved.created_at, moved.raw}}));
    EXPECT_EQ(value("SELECT type FROM events WHERE seq = 3"), "batch.updated");
}

TEST_F(MirrorTest, AJsonNullMetadataIsStoredAsSqlNull) {
    Batch batch = make_batch("b1", "pending");
    batch.metadata = "null";
    mirror->apply_page({batch, make_batch("b2", "pending", 0, {{"k", 1}})}, {});
    EXPECT_EQ(rows("SELECT id, metadata FROM batches ORDER BY id"), (Rows{{"b1", "NULL"}, {"b2", R"({"k":1})"}}));
}

TEST_F(MirrorTest, IdsThatNeedEscapingInJsonAreFoundAgain) {
    const std::vector<Batch> page{make_batch("quote\"back\\slash", "pending"), make_batch("tab\tnew\nline", "pending"),
                                  make_batch("ünï", "pending")};
    EXPECT_EQ(mirror->apply_page(page, {}).inserted, 3);
    const ApplyResult again = mirror->apply_page(page, {});
    EXPECT_EQ(again.unchanged, 3);
    EXPECT_EQ(again.inserted, 0);
    EXPECT_EQ(count("batches"), 3);
}

TEST_F(MirrorTest, AnEmptyPageWritesNothing) {
    const ApplyResult result = mirror->apply_page({}, {});
    EXPECT_EQ(result.received, 0);
    EXPECT_EQ(count("batches"), 0);
}

TEST_F(MirrorTest, DeliveriesFollowTheRoutesEventsAndStatuses) {
    const std::vector<DeliveryRoute> routes{
        {"webhook.default", {}, {}},  // batch.status_changed only, any status
        {"webhook.done", {"batch.status_changed"}, {"completed", "partially_failed"}},
        {"trigger.new", {"batch.created"}, {}},
        {"trigger.all", {"batch.created", "batch.status_changed", "batch.updated", "batch.removed"}, {}},
        {"trigger.done_removed", {"batch.removed"}, {"completed"}},
    };
    ApplyOptions options;
    options.routes = &routes;

    // A first sighting: batch.created (seq 1), then batch.status_changed from nothing (seq 2).
    mirror->apply_page({make_batch("b1", "pending")}, options);
    EXPECT_EQ(rows("SELECT event_seq, target, state, attempts, next_attempt_at, last_status, delivered_at "
                   "FROM deliveries ORDER BY id"),
              (Rows{{"1", "trigger.new", "pending", "0", now(), "NULL", "NULL"},
                    {"1", "trigger.all", "pending", "0", now(), "NULL", "NULL"},
                    {"2", "webhook.default", "pending", "0", now(), "NULL", "NULL"},
                    {"2", "trigger.all", "pending", "0", now(), "NULL", "NULL"}}));

    clock.advance(1s);
    mirror->apply_page({make_batch("b1", "running", 4)}, options);
    EXPECT_EQ(rows("SELECT target FROM deliveries WHERE event_seq = 3 ORDER BY id"),
              (Rows{{"webhook.default"}, {"trigger.all"}}));

    mirror->apply_page({make_batch("b1", "running", 5)}, options);
    EXPECT_EQ(rows("SELECT target FROM deliveries WHERE event_seq = 4 ORDER BY id"), (Rows{{"trigger.all"}}));

    mirror->apply_page({make_batch("b1", "completed", 10)}, options);
    EXPECT_EQ(rows("SELECT target FROM deliveries WHERE event_seq = 5 ORDER BY id"),
              (Rows{{"webhook.default"}, {"webhook.done"}, {"trigger.all"}}));

    // A removal is routed by the batch's last status.
    EXPECT_EQ(mirror->mark_removed("b1", &routes), 1);
    EXPECT_EQ(rows("SELECT target FROM deliveries WHERE event_seq = 6 ORDER BY id"),
              (Rows{{"trigger.all"}, {"trigger.done_removed"}}));

    // No routes, no deliveries.
    mirror->apply_page({make_batch("b2", "pending")}, {});
    EXPECT_EQ(rows("SELECT count(*) FROM deliveries WHERE event_seq >= 7"), (Rows{{"0"}}));
}
