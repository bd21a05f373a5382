// A page is all or nothing: whatever stops it before its commit (an error half-way, or the
// process dying while the commit is being written) leaves nothing of it, and the retry records
// every transition and event exactly once.

#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <csignal>
#include <filesystem>

#include "tests/cache/mirror_fixture.hpp"

using namespace extract;
using namespace extract::cache;
using namespace extract::cache::testing;
using namespace std::chrono_literals;

class CrashTest : public RoutedMirrorTest {
protected:
    // Everything the first page below leaves behind, committed.
    void expect_only_the_seed() const {
        EXPECT_EQ(count("batches"), 3);
        EXPECT_EQ(count("transitions"), 3);
        EXPECT_EQ(count("events"), 6);  // each first sighting: batch.created, batch.status_changed
        EXPECT_EQ(count("deliveries"), 6);
        EXPECT_EQ(value("SELECT group_concat(status) FROM batches"), "pending,pending,pending");
    }
    void expect_retry_recorded_once() const {
        EXPECT_EQ(rows("SELECT to_status, count(*) FROM transitions GROUP BY to_status ORDER BY to_status"),
                  (Rows{{"pending", "203"}, {"running", "3"}}));
        EXPECT_EQ(
            rows("SELECT type, count(*) FROM events GROUP BY type ORDER BY type"),  // 203 first sightings + 3 changes
            (Rows{{"batch.created", "203"}, {"batch.status_changed", "206"}}));
        EXPECT_EQ(count("deliveries"), 203 + 206);
    }
    // 3 known batches change status, 200 are new.
    static std::vector<Batch> big_page() {
        std::vector<Batch> page = page_of(3, "running");
        for (Batch& b : page_of(200, "pending", 3)) page.push_back(std::move(b));
        return page;
    }
};

TEST_F(CrashTest, AnErrorHalfWayThroughAPageLeavesNothingOfIt) {
    mirror->apply_page(page_of(3, "pending"), routed());
    // Another connection plants a failure at the 150th new event of the next page.
    SQLite::Database saboteur(path, SQLite::OPEN_READWRITE);
    saboteur.exec(
        "CREATE TRIGGER sabotage AFTER INSERT ON event_rows WHEN NEW.batch_key = "
        "(SELECT key FROM batch_rows WHERE id = 'batch_150') "
        "BEGIN SELECT RAISE(ABORT, 'simulated failure'); END");

    EXPECT_THROW(mirror->apply_page(big_page(), routed()), SQLite::Exception);
    expect_only_the_seed();

    saboteur.exec("DROP TRIGGER sabotage");
    const ApplyResult retry = mirror->apply_page(big_page(), routed());
    EXPECT_EQ(retry.inserted, 200);
    EXPECT_EQ(retry.transitions, 203);
    expect_retry_recorded_once();
}

TEST_F(CrashTest, ABatchThatIsNotJsonIsSetAsideAndTheRestOfItsPageIsStored) {
    mirror->apply_page(page_of(3, "pending"), routed());
    std::vector<Batch> page = big_page();
    page[120].raw = "{not json";
    const ApplyResult applied = mirror->apply_page(page, routed());
    EXPECT_EQ(applied.set_aside, 1);
    EXPECT_EQ(applied.inserted, 199);
    EXPECT_EQ(applied.updated, 3);
    EXPECT_EQ(count("batches"), 202);
    EXPECT_EQ(rows("SELECT batch_id, reason LIKE '%CHECK constraint failed%' FROM set_aside_batches"),
              (Rows{{"batch_120", "1"}}));

    // Upstream sends it whole again: stored, its record gone, every transition recorded once.
    mirror->apply_page(big_page(), routed());
    expect_retry_recorded_once();
    EXPECT_EQ(count("set_aside_batches"), 0);
}

TEST_F(CrashTest, TheProcessDyingWhileItWritesTheCommitLeavesNothingOfThePage) {
    mirror->apply_page(page_of(3, "pending"), routed());
    mirror.reset();  // no connection may cross the fork

    const int status =
        write_and_die_mid_commit(path, clock, [&](Mirror& dying) { dying.apply_page(big_page(), routed()); });
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child was not killed mid-commit (exit " << WEXITSTATUS(status) << ")";
    ASSERT_EQ(WTERMSIG(status), SIGXFSZ);
    ASSERT_GT(std::filesystem::file_size(path + "-wal"), 0U);  // the torn commit is on disk

    mirror = std::make_unique<Mirror>(path, clock);
    expect_only_the_seed();
    mirror->apply_page(big_page(), routed());
    expect_retry_recorded_once();
}
