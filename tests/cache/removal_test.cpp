#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cache/mirror_fixture.hpp"

using namespace extract;
using namespace extract::cache;
using namespace extract::cache::testing;
using namespace std::chrono_literals;

TEST_F(MirrorTest, OnlyACompletePassRemovesTheBatchesItDidNotSee) {
    const std::int64_t first = mirror->begin_sync_run("full");
    mirror->apply_page({make_batch("b1", "pending"), make_batch("b2", "running", 1), make_batch("b3", "completed", 10)},
                       full_pass(first));
    EXPECT_EQ(mirror->remove_unseen(first), 0);

    clock.advance(1min);
    const std::int64_t second = mirror->begin_sync_run("full");
    mirror->apply_page({make_batch("b1", "pending")}, full_pass(second));
    // The pass is not complete yet: nothing is removed, whatever was not seen so far.
    EXPECT_EQ(value("SELECT count(*) FROM batches WHERE removed_at IS NOT NULL"), "0");
    mirror->apply_page({make_batch("b2", "running", 1)}, full_pass(second));
    const std::string removed_at = now();
    EXPECT_EQ(mirror->remove_unseen(second), 1);

    EXPECT_EQ(rows("SELECT id, removed_at FROM batches ORDER BY id"),
              (Rows{{"b1", "NULL"}, {"b2", "NULL"}, {"b3", removed_at}}));
    EXPECT_EQ(rows("SELECT seq, type, batch_id, created_at FROM events WHERE type = 'batch.removed'"),
              (Rows{{"7", "batch.removed", "b3", removed_at}}));  // after 3 first sightings of 2 events
    const auto payload = nlohmann::json::parse(value("SELECT payload FROM events WHERE seq = 7"));
    EXPECT_EQ(payload["data"]["removed_at"], removed_at);
    EXPECT_EQ(payload["data"]["batch"]["status"], "completed");
    EXPECT_EQ(count("transitions"), 3);  // a removal is not a status change

    // Already removed batches are left as they are by later passes.
    clock.advance(1min);
    const std::int64_t third = mirror->begin_sync_run("full");
    mirror->apply_page({make_batch("b1", "pending"), make_batch("b2", "running", 1)}, full_pass(third));
    EXPECT_EQ(mirror->remove_unseen(third), 0);
    EXPECT_EQ(value("SELECT removed_at FROM batches WHERE id = 'b3'"), removed_at);
    EXPECT_EQ(count("events"), 7);
    EXPECT_EQ(mirror->batch_count(), 2);
}

// The mass-removal guard asks before removing: count_unseen says what remove_unseen would
// mark, and writes nothing.
TEST_F(MirrorTest, CountUnseenIsWhatRemoveUnseenWouldMarkAndWritesNothing) {
    const std::int64_t first = mirror->begin_sync_run("full");
    mirror->apply_page({make_batch("b1", "pending"), make_batch("b2", "running", 1), make_batch("b3", "completed", 10)},
                       full_pass(first));
    EXPECT_EQ(mirror->count_unseen(first), 0);
    const std::int64_t second = mirror->begin_sync_run("full");
    mirror->apply_page({make_batch("b1", "pending")}, full_pass(second));
    const std::int64_t events_before = count("events");
    EXPECT_EQ(mirror->count_unseen(second), 2);
    EXPECT_EQ(mirror->count_unseen(second), 2);
    EXPECT_EQ(value("SELECT count(*) FROM batches WHERE removed_at IS NOT NULL"), "0");
    EXPECT_EQ(count("events"), events_before);
    EXPECT_EQ(mirror->remove_unseen(second), 2);
}

TEST_F(MirrorTest, MetaValuesAreSetReplacedAndErased) {
    EXPECT_FALSE(mirror->meta_value("held_removals"));
    mirror->set_meta_value("held_removals", "one");
    mirror->set_meta_value("held_removals", "two");
    EXPECT_EQ(mirror->meta_value("held_removals"), "two");
    EXPECT_EQ(value("SELECT value FROM meta WHERE key = 'held_removals'"), "two");
    mirror->erase_meta_value("held_removals");
    EXPECT_FALSE(mirror->meta_value("held_removals"));
    mirror->erase_meta_value("held_removals");  // erasing what is not there is no error
}

TEST_F(MirrorTest, MarkRemovedRemovesOneLiveBatchOnce) {
    mirror->apply_page({make_batch("b1", "running", 1)}, {});
    EXPECT_EQ(mirror->mark_removed("b1"), 1);
    EXPECT_EQ(value("SELECT removed_at FROM batches"), now());
    EXPECT_EQ(mirror->mark_removed("b1"), 0);
    EXPECT_EQ(mirror->mark_removed("unknown"), 0);
    EXPECT_EQ(rows("SELECT type, batch_id FROM events WHERE seq > 2"), (Rows{{"batch.removed", "b1"}}));
    EXPECT_EQ(mirror->batch_count(), 0);
}

TEST_F(MirrorTest, AReappearingBatchIsNoLongerRemovedAndSaysSo) {
    LogCapture log;
    mirror->apply_page({make_batch("b1", "running", 1), make_batch("b2", "running", 1)}, {});
    mirror->mark_removed("b1");
    mirror->mark_removed("b2");
    clock.advance(1min);

    // b1 comes back unchanged, b2 with a new status.
    const ApplyResult result =
        mirror->apply_page({make_batch("b1", "running", 1), make_batch("b2", "completed", 10)}, {});
    EXPECT_EQ(result.updated, 2);
    EXPECT_EQ(result.unchanged, 0);
    EXPECT_EQ(result.restored, 2);
    EXPECT_EQ(rows("SELECT id, removed_at, last_seen_at FROM batches ORDER BY id"),
              (Rows{{"b1", "NULL", now()}, {"b2", "NULL", now()}}));
    EXPECT_EQ(rows("SELECT type, batch_id FROM events WHERE seq > 6 ORDER BY seq"),
              (Rows{{"batch.updated", "b1"}, {"batch.status_changed", "b2"}}));
    EXPECT_EQ(rows("SELECT from_status, to_status FROM transitions WHERE batch_id = 'b2' ORDER BY seq"),
              (Rows{{"NULL", "running"}, {"running", "completed"}}));
    EXPECT_NE(log.text().find("[warning] batch b1 is listed upstream again"), std::string::npos) << log.text();
    EXPECT_NE(log.text().find("[warning] batch b2 is listed upstream again"), std::string::npos) << log.text();

    // Once back, it is an ordinary batch again.
    EXPECT_EQ(mirror->apply_page({make_batch("b1", "running", 1)}, {}).unchanged, 1);
}

TEST_F(MirrorTest, NonterminalBatchesAreTheLiveOnesOutsideTheTerminalStatuses) {
    mirror->apply_page({make_batch("b1", "pending"), make_batch("b2", "running", 1), make_batch("b3", "completed", 10),
                        make_batch("b4", "weird_new_status"), make_batch("b5", "running", 2),
                        make_batch("b6", "failed")},
                       {});
    mirror->mark_removed("b5");
    const std::vector<std::string> terminal{"completed", "partially_failed", "failed", "cancelled"};
    EXPECT_EQ(mirror->nonterminal_batches(terminal),
              (std::vector<MirroredStatus>{{"b1", "pending"}, {"b2", "running"}, {"b4", "weird_new_status"}}));
    EXPECT_EQ(mirror->nonterminal_batches({}).size(), 5U);
    // The planner's view: the same batches, counted.
    using Counts = std::map<std::string, std::int64_t, std::less<>>;
    EXPECT_EQ(mirror->nonterminal_counts(terminal), (Counts{{"pending", 1}, {"running", 1}, {"weird_new_status", 1}}));
    EXPECT_EQ(mirror->nonterminal_counts({}),
              (Counts{{"completed", 1}, {"failed", 1}, {"pending", 1}, {"running", 1}, {"weird_new_status", 1}}));
}
