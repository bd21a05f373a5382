// Group commit (issue 14, SPEC §3): several pages in one transaction, each page still whole.
// Nothing of a group is visible, logged or announced before its commit; a value refused in one
// page sets aside only that batch; an error or a death before the commit leaves nothing of any
// of the group's pages.

#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>

#include "tests/cache/mirror_fixture.hpp"

using namespace extract;
using namespace extract::cache;
using namespace extract::cache::testing;

using PageGroupTest = RoutedMirrorTest;

TEST_F(PageGroupTest, ItsPagesBecomeVisibleTogetherAtTheCommitAndTheListenerHearsOnce) {
    std::vector<std::pair<std::int64_t, std::int64_t>> heard;  // (seq, batches visible to a reader then)
    mirror->set_commit_listener([&](std::int64_t seq) { heard.emplace_back(seq, count("batches")); });
    const ApplyOptions options = routed();
    const auto first = page_of(30, "pending", 0), next = page_of(30, "pending", 30);
    {
        Mirror::PageGroup group(*mirror);
        EXPECT_EQ(group.apply(first, options).inserted, 30);
        const ApplyResult second = group.apply(next, options);
        EXPECT_EQ(second.inserted, 30) << "each result counts its own page";
        EXPECT_EQ(second.events, 60);
        EXPECT_EQ(count("batches"), 0) << "nothing of an open group is visible";
        EXPECT_TRUE(heard.empty());
        group.commit();
    }
    EXPECT_EQ(count("batches"), 60);
    EXPECT_EQ(count("transitions"), 60);
    EXPECT_EQ(count("deliveries"), 120);
    ASSERT_EQ(heard.size(), 1u) << "one wake-up per group";
    EXPECT_EQ(heard[0].first, 120) << "the highest seq the group wrote";
    EXPECT_EQ(heard[0].second, 60) << "the listener runs after the commit";
}

TEST_F(PageGroupTest, AValueRefusedInTheSecondPageSetsAsideOnlyThatBatchAndIsLoggedAfterTheCommit) {
    LogCapture log;
    const ApplyOptions options = routed();
    const auto first = page_of(40, "pending", 0), third = page_of(40, "pending", 80);
    std::vector<Batch> second = page_of(40, "pending", 40);
    second[20].raw = "{not json";
    {
        Mirror::PageGroup group(*mirror);
        EXPECT_EQ(group.apply(first, options).inserted, 40);
        const ApplyResult applied = group.apply(second, options);
        EXPECT_EQ(applied.inserted, 39);
        EXPECT_EQ(applied.set_aside, 1);
        // A third page after the redone one goes on in the same transaction.
        EXPECT_EQ(group.apply(third, options).inserted, 40);
        EXPECT_FALSE(log.contains(" set aside: ")) << "logged before the commit:\n" << log.text();
        EXPECT_FALSE(log.contains("applied a page")) << log.text();
        group.commit();
    }
    EXPECT_EQ(count("batches"), 119);
    EXPECT_EQ(rows("SELECT batch_id, reason LIKE '%CHECK constraint failed%' FROM set_aside_batches"),
              (Rows{{"batch_60", "1"}}));
    EXPECT_EQ(count("transitions"), 119) << "the first page, applied again, recorded nothing twice";
    EXPECT_EQ(count("events"), 238);
    EXPECT_TRUE(log.contains("batch batch_60 set aside: ")) << log.text();
    EXPECT_TRUE(log.contains("applied a page of 40: 39 new")) << log.text();
}

TEST_F(PageGroupTest, AnErrorInItsSecondPageLeavesNothingOfTheGroupAndTheRetryRecordsEverythingOnce) {
    mirror->apply_page(page_of(3, "pending", 0), routed());
    int wake_ups = 0;
    mirror->set_commit_listener([&](std::int64_t) { ++wake_ups; });
    SQLite::Database saboteur(path, SQLite::OPEN_READWRITE);
    saboteur.exec(
        "CREATE TRIGGER sabotage AFTER INSERT ON event_rows WHEN NEW.batch_key = "
        "(SELECT key FROM batch_rows WHERE id = 'batch_150') "
        "BEGIN SELECT RAISE(ABORT, 'simulated failure'); END");
    const ApplyOptions options = routed();
    const auto first = page_of(100, "pending", 3),
               second = page_of(100, "pending", 103);  // batch_150 half-way through the second
    EXPECT_THROW(
        {
            Mirror::PageGroup group(*mirror);
            group.apply(first, options);
            group.apply(second, options);
            group.commit();
        },
        SQLite::Exception);
    EXPECT_EQ(count("batches"), 3) << "the first page went with the second";
    EXPECT_EQ(count("events"), 6);
    EXPECT_EQ(wake_ups, 0);

    saboteur.exec("DROP TRIGGER sabotage");
    {
        Mirror::PageGroup group(*mirror);
        group.apply(first, options);
        group.apply(second, options);
        group.commit();
    }
    EXPECT_EQ(count("batches"), 203);
    EXPECT_EQ(count("transitions"), 203);
    EXPECT_EQ(count("events"), 406);
    EXPECT_EQ(wake_ups, 1);
}

TEST_F(PageGroupTest, AGroupDestroyedWithoutItsCommitRollsBackAndAFollowingPageStillClearsSetAsideRecords) {
    // batch_1 was set aside; a group that stored it, cleared its record and then rolled back
    // must not leave the mirror believing the table empty.
    std::vector<Batch> refused = page_of(2, "pending", 0);
    refused[1].raw = "{not json";
    mirror->apply_page(refused, {});
    ASSERT_EQ(count("set_aside_batches"), 1);
    const ApplyOptions options;
    const auto both = page_of(2, "pending", 0);
    {
        Mirror::PageGroup group(*mirror);
        group.apply(both, options);
    }
    EXPECT_EQ(count("set_aside_batches"), 1);
    EXPECT_EQ(count("batches"), 1);
    mirror->apply_page(page_of(2, "pending", 0), {});
    EXPECT_EQ(count("set_aside_batches"), 0);
    EXPECT_EQ(count("batches"), 2);
}

TEST_F(PageGroupTest, TheProcessDyingWhileItWritesTheGroupsCommitLeavesNoneOfItsPages) {
    mirror->apply_page(page_of(3, "pending", 0), routed());
    mirror.reset();  // no connection may cross the fork
    const ApplyOptions options = routed();
    const std::vector<std::vector<Batch>> pages{page_of(100, "pending", 3), page_of(100, "pending", 103),
                                                page_of(100, "pending", 203)};

    const int status = write_and_die_mid_commit(path, clock, [&](Mirror& dying) {
        Mirror::PageGroup group(dying);
        for (const auto& page : pages) group.apply(page, options);
        group.commit();
    });
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child was not killed mid-commit (exit " << WEXITSTATUS(status) << ")";
    ASSERT_EQ(WTERMSIG(status), SIGXFSZ);

    mirror = std::make_unique<Mirror>(path, clock);
    EXPECT_EQ(count("batches"), 3);
    EXPECT_EQ(count("events"), 6);
    Mirror::PageGroup group(*mirror);
    for (const auto& page : pages) group.apply(page, options);
    group.commit();
    EXPECT_EQ(count("batches"), 303);
    EXPECT_EQ(count("transitions"), 303);
    EXPECT_EQ(count("events"), 606);
}
