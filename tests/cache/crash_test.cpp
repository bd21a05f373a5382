// A page is all or nothing: whatever stops it before its commit (an error half-way, or the
// process dying while the commit is being written) leaves nothing of it, and the retry records
// every transition and event exactly once.

#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>

#include "tests/cache/mirror_fixture.hpp"

using namespace extract;
using namespace extract::cache;
using namespace extract::cache::testing;
using namespace std::chrono_literals;

namespace {

std::vector<Batch> page_of(int n, const std::string& status, int first = 0) {
    std::vector<Batch> page;
    for (int i = first; i < first + n; ++i) page.push_back(make_batch("batch_" + std::to_string(i), status));
    return page;
}

}  // namespace

class CrashTest : public MirrorTest {
protected:
    const std::vector<DeliveryRoute> routes{{"webhook.all", {"batch.created", "batch.status_changed"}, {}}};

    ApplyOptions routed() const {
        ApplyOptions options;
        options.routes = &routes;
        return options;
    }
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
        EXPECT_EQ(rows("SELECT type, count(*) FROM events GROUP BY type ORDER BY type"),  // 203 first sightings + 3 changes
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
    saboteur.exec("CREATE TRIGGER sabotage AFTER INSERT ON event_rows WHEN NEW.batch_key = "
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

    const pid_t child = fork();
    ASSERT_NE(child, -1);
    if (child == 0) {
        // The child applies the page with a file size limit just above the write-ahead log's
        // size: the kernel kills it (SIGXFSZ) in the middle of writing the commit's frames.
        const rlimit no_core{0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        Mirror dying(path, clock);
        std::error_code ignored;
        const auto wal_size = std::filesystem::file_size(path + "-wal", ignored);
        const rlimit limit{static_cast<rlim_t>(wal_size) + 8192, RLIM_INFINITY};
        setrlimit(RLIMIT_FSIZE, &limit);
        dying.apply_page(big_page(), routed());
        _exit(0);  // the commit fitted: the parent's assertion on the signal fails
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child was not killed mid-commit (exit " << WEXITSTATUS(status) << ")";
    ASSERT_EQ(WTERMSIG(status), SIGXFSZ);
    ASSERT_GT(std::filesystem::file_size(path + "-wal"), 0U);  // the torn commit is on disk

    mirror = std::make_unique<Mirror>(path, clock);
    expect_only_the_seed();
    mirror->apply_page(big_page(), routed());
    expect_retry_recorded_once();
}
