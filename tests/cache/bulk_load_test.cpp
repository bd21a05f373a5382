// Bulk load (issue 14): a full pass that begins on an empty mirror drops the id index and
// builds it once when its run ends. What it must keep: every batch once (a repeated id, a set
// aside one, a rolled-back group), the index back after the run, after a kill and after a
// rollback, and an ordinary mirror never touched.

#include <gtest/gtest.h>

#include <csignal>

#include "cache/id_hash_set.hpp"
#include "tests/cache/mirror_fixture.hpp"

using namespace extract;
using namespace extract::cache;
using namespace extract::cache::testing;

namespace {

class BulkLoadTest : public MirrorTest {
protected:
    bool id_index() const {
        return value("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'batches_id'") == "1";
    }
};

TEST(IdHashSet, KnowsEveryIdItWasGivenAndFewOthers) {
    IdHashSet set;
    EXPECT_FALSE(set.may_contain("bat_0"));
    for (int i = 0; i < 100'000; ++i) set.insert("bat_" + std::to_string(i));
    EXPECT_EQ(set.size(), 100'000u);
    EXPECT_LE(set.bytes(), 4 * 100'000u * sizeof(std::uint64_t)) << "at most half full, then doubled once";
    for (int i = 0; i < 100'000; ++i) ASSERT_TRUE(set.may_contain("bat_" + std::to_string(i))) << i;
    int false_positives = 0;
    for (int i = 100'000; i < 200'000; ++i) false_positives += set.may_contain("bat_" + std::to_string(i)) ? 1 : 0;
    EXPECT_EQ(false_positives, 0) << "64-bit hashes of 200k ids: a collision is a 1 in 10^9 event";
}

TEST_F(BulkLoadTest, AFirstPassDropsTheIdIndexAndItsRunBuildsItOnceAtTheEnd) {
    const std::int64_t run = mirror->begin_sync_run("full");
    EXPECT_EQ(mirror->wal_autocheckpoint(), 8192);
    mirror->apply_page(page_of(50, "pending", 0), full_pass(run));
    EXPECT_TRUE(mirror->bulk_loading());
    EXPECT_FALSE(id_index()) << "dropped for the pass";
    EXPECT_EQ(mirror->wal_autocheckpoint(), 65536) << "fewer checkpoints while it loads";
    mirror->apply_page(page_of(50, "running", 50), full_pass(run));
    EXPECT_EQ(count("batches"), 100);
    EXPECT_EQ(value("SELECT status FROM batches WHERE id = 'batch_70'"), "running") << "readers scan meanwhile";

    mirror->finish_sync_run(run, {}, std::nullopt);
    EXPECT_FALSE(mirror->bulk_loading());
    EXPECT_TRUE(id_index());
    EXPECT_EQ(mirror->wal_autocheckpoint(), 8192) << "back to the usual once it ends";
    EXPECT_EQ(count("batches"), 100);
    EXPECT_EQ(count("transitions"), 100);
    EXPECT_EQ(rows("EXPLAIN QUERY PLAN SELECT * FROM batches WHERE id = 'batch_1'").at(0).at(3),
              "SEARCH b USING INDEX batches_id (id=?)");
}

TEST_F(BulkLoadTest, AnIdListedAgainOnALaterPageEndsTheBulkLoadAndIsRecordedOnce) {
    const std::int64_t run = mirror->begin_sync_run("full");
    mirror->apply_page(page_of(20, "pending", 0), full_pass(run));
    ASSERT_TRUE(mirror->bulk_loading());
    // The listing shifted: batch_19 comes again, now running, beside new ones.
    std::vector<Batch> next = page_of(10, "pending", 20);
    next.push_back(make_batch("batch_19", "running"));
    const ApplyResult applied = mirror->apply_page(next, full_pass(run));
    EXPECT_FALSE(mirror->bulk_loading());
    EXPECT_TRUE(id_index());
    EXPECT_EQ(applied.inserted, 10);
    EXPECT_EQ(applied.updated, 1);
    EXPECT_EQ(count("batches"), 30);
    EXPECT_EQ(rows("SELECT from_status, to_status FROM transitions WHERE batch_id = 'batch_19' ORDER BY seq"),
              (Rows{{"NULL", "pending"}, {"pending", "running"}}));
    mirror->finish_sync_run(run, {}, std::nullopt);
    EXPECT_EQ(mirror->remove_unseen(run), 0) << "every batch was seen, through the hashes and through the index";
}

TEST_F(BulkLoadTest, ASetAsideBatchDuringABulkLoadIsRecordedAndTheRestLoaded) {
    const std::int64_t run = mirror->begin_sync_run("full");
    std::vector<Batch> page = page_of(10, "pending", 0);
    page[4].raw = "{not json";
    const ApplyResult applied = mirror->apply_page(page, full_pass(run));
    EXPECT_EQ(applied.inserted, 9);
    EXPECT_EQ(applied.set_aside, 1);
    EXPECT_EQ(count("set_aside_batches"), 1);
    EXPECT_TRUE(mirror->bulk_loading()) << "the page applied again into the empty mirror bulk loads again, and a "
                                           "batch it never stored needs no lookup";
    mirror->finish_sync_run(run, {}, std::nullopt);
    EXPECT_TRUE(id_index());
    EXPECT_EQ(count("batches"), 9);
}

TEST_F(BulkLoadTest, AGroupThatRollsBackEndsTheBulkLoadAndTheNextPageFindsItsRowsThroughTheIndex) {
    const std::int64_t run = mirror->begin_sync_run("full");
    mirror->apply_page(page_of(10, "pending", 0), full_pass(run));
    const ApplyOptions options = full_pass(run);
    const auto rolled_back = page_of(10, "pending", 10);
    {
        Mirror::PageGroup group(*mirror);
        group.apply(rolled_back, options);
    }  // no commit
    EXPECT_FALSE(mirror->bulk_loading()) << "its hashes name rows that are gone";
    EXPECT_EQ(mirror->wal_autocheckpoint(), 8192);
    const ApplyResult again = mirror->apply_page(page_of(20, "pending", 0), options);
    EXPECT_EQ(again.inserted, 10);
    EXPECT_EQ(again.unchanged, 10);
    EXPECT_TRUE(id_index());
    EXPECT_EQ(count("batches"), 20);
    EXPECT_EQ(count("transitions"), 20);
}

TEST_F(BulkLoadTest, TheGroupThatDroppedTheIndexRollingBackLeavesTheIndexInPlace) {
    const std::int64_t run = mirror->begin_sync_run("full");
    const ApplyOptions options = full_pass(run);
    const auto page = page_of(10, "pending", 0);
    {
        Mirror::PageGroup group(*mirror);
        group.apply(page, options);
        EXPECT_TRUE(mirror->bulk_loading());
    }
    EXPECT_FALSE(mirror->bulk_loading());
    EXPECT_TRUE(id_index());
    EXPECT_EQ(mirror->apply_page(page, options).inserted, 10);
    EXPECT_TRUE(mirror->bulk_loading()) << "the mirror is empty again: the pass bulk loads it";
    mirror->finish_sync_run(run, {}, std::nullopt);
    EXPECT_TRUE(id_index());
    EXPECT_EQ(count("batches"), 10);
}

TEST_F(BulkLoadTest, AMirrorWithRowsIsNeverBulkLoadedAndAFastPollNeverBulkLoads) {
    mirror->apply_page(page_of(5, "pending", 0), {});  // a fast poll's page: no full pass
    EXPECT_FALSE(mirror->bulk_loading());
    const std::int64_t run = mirror->begin_sync_run("full");
    mirror->apply_page(page_of(10, "pending", 0), full_pass(run));
    EXPECT_FALSE(mirror->bulk_loading());
    EXPECT_TRUE(id_index());
}

TEST_F(BulkLoadTest, LookupsByIdDuringABulkLoadEndItFirst) {
    const std::int64_t run = mirror->begin_sync_run("full");
    mirror->apply_page(page_of(10, "pending", 0), full_pass(run));
    ASSERT_TRUE(mirror->bulk_loading());
    EXPECT_TRUE(mirror->contains("batch_3"));
    EXPECT_FALSE(mirror->bulk_loading());
    EXPECT_TRUE(id_index());
    EXPECT_EQ(mirror->mark_removed("batch_3"), 1);
}

TEST_F(BulkLoadTest, AProcessKilledDuringABulkLoadHasItsIndexBuiltWhenTheMirrorOpensAgain) {
    LogCapture log;
    mirror.reset();  // no connection open across the fork
    const int status = [&] {
        const pid_t child = fork();
        if (child == 0) {
            Mirror dying(path, clock);
            const std::int64_t run = dying.begin_sync_run("full");
            dying.apply_page(page_of(30, "pending", 0), full_pass(run));
            std::raise(SIGKILL);
            _exit(0);
        }
        int wait_status = 0;
        waitpid(child, &wait_status, 0);
        return wait_status;
    }();
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    EXPECT_FALSE(id_index()) << "the kill came mid-pass";
    EXPECT_EQ(count("batches"), 30);
    mirror = std::make_unique<Mirror>(path, clock);
    EXPECT_TRUE(id_index());
    EXPECT_TRUE(log.contains("built the batch id index that an unfinished bulk load left out")) << log.text();
}

}  // namespace
