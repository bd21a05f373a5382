// A batch the mirror cannot store as it is (issue 15) is set aside with its reason: the rest of
// its page is stored, it is logged once, a full pass still counts it as listed, and it is stored
// as soon as upstream sends it in a storable form.

#include <gtest/gtest.h>

#include "tests/cache/mirror_fixture.hpp"

using namespace extract;
using namespace extract::cache;
using namespace extract::cache::testing;

namespace {

Batch unstorable(const std::string& id, const std::string& reason) {
    Batch batch;
    batch.id = id;
    batch.set_aside = reason;
    return batch;
}

std::size_t occurrences(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
}

}  // namespace

using SetAsideTest = MirrorTest;

TEST_F(SetAsideTest, TheRestOfThePageIsStoredAndTheBatchIsRecordedAndLoggedOnceWithItsIdEscaped) {
    LogCapture log;
    const std::vector<Batch> page{make_batch("a", "pending"),
                                  unstorable(std::string("bad\0\n\x1b[31m", 10),
                                             "its id contains a NUL or control byte"),
                                  make_batch("b", "running")};
    const ApplyResult first = mirror->apply_page(page, {});
    EXPECT_EQ(first.inserted, 2);
    EXPECT_EQ(first.set_aside, 1);
    EXPECT_EQ(rows("SELECT id FROM batches ORDER BY id"), (Rows{{"a"}, {"b"}}));
    EXPECT_EQ(rows("SELECT batch_id, reason, first_seen_at FROM set_aside_batches"),
              (Rows{{"bad\\x00\\n\\x1b[31m", "its id contains a NUL or control byte", now()}}));

    clock.advance(std::chrono::minutes(1));
    mirror->apply_page(page, {});
    const std::string text = log.text();
    EXPECT_EQ(occurrences(text, " set aside: "), 1u) << text;
    EXPECT_NE(text.find("batch bad\\x00\\n\\x1b[31m set aside"), std::string::npos) << text;
    EXPECT_EQ(text.find('\x1b'), std::string::npos) << "a raw ESC reached the log";
    // Still the same record: first seen once, seen again now.
    EXPECT_EQ(rows("SELECT first_seen_at < last_seen_at FROM set_aside_batches"), (Rows{{"1"}}));
}

TEST_F(SetAsideTest, AMirroredBatchThatBecomesUnstorableIsKeptAndStoredAgainOnceUpstreamFixesIt) {
    const std::int64_t run1 = mirror->begin_sync_run("full");
    mirror->apply_page({make_batch("a", "pending"), make_batch("b", "pending")}, full_pass(run1));
    EXPECT_EQ(mirror->remove_unseen(run1), 0);

    // Upstream now lists `a` nested too deep: the pass counts it as listed, so it is not removed.
    const std::int64_t run2 = mirror->begin_sync_run("full");
    mirror->apply_page({unstorable("a", "it nests deeper than 64 levels"), make_batch("b", "running")},
                       full_pass(run2));
    EXPECT_EQ(mirror->remove_unseen(run2), 0);
    EXPECT_EQ(rows("SELECT id, status, removed_at FROM batches ORDER BY id"),
              (Rows{{"a", "pending", "NULL"}, {"b", "running", "NULL"}}));
    EXPECT_EQ(count("set_aside_batches"), 1);

    const std::int64_t run3 = mirror->begin_sync_run("full");
    mirror->apply_page({make_batch("a", "completed", 10), make_batch("b", "running")}, full_pass(run3));
    EXPECT_EQ(value("SELECT status FROM batches WHERE id = 'a'"), "completed");
    EXPECT_EQ(count("set_aside_batches"), 0);
}

TEST_F(SetAsideTest, ARecordIsForgottenWhenACompletePassNoLongerListsTheBatch) {
    const std::int64_t run1 = mirror->begin_sync_run("full");
    mirror->apply_page({make_batch("a", "pending"), unstorable("gone", "it nests deeper than 64 levels")},
                       full_pass(run1));
    mirror->remove_unseen(run1);
    EXPECT_EQ(count("set_aside_batches"), 1);

    const std::int64_t run2 = mirror->begin_sync_run("full");
    mirror->apply_page({make_batch("a", "pending")}, full_pass(run2));
    mirror->remove_unseen(run2);
    EXPECT_EQ(count("set_aside_batches"), 0);
    EXPECT_EQ(value("SELECT removed_at IS NULL FROM batches WHERE id = 'a'"), "1");
}

TEST_F(SetAsideTest, AnErrorThatIsNotTheBatchsFaultStillFailsTheWholePage) {
    SQLite::Database saboteur(path, SQLite::OPEN_READWRITE);
    saboteur.exec(
        "CREATE TRIGGER sabotage AFTER INSERT ON event_rows WHEN NEW.batch_key = "
        "(SELECT key FROM batch_rows WHERE id = 'b') "
        "BEGIN SELECT RAISE(ABORT, 'simulated failure'); END");
    EXPECT_THROW(mirror->apply_page({make_batch("a", "pending"), make_batch("b", "pending")}, {}), SQLite::Exception);
    EXPECT_EQ(count("batches"), 0);
    EXPECT_EQ(count("set_aside_batches"), 0);
}
