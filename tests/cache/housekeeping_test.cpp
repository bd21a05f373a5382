#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Transaction.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <stdexcept>

#include "tests/cache/mirror_fixture.hpp"

using namespace extract;
using namespace extract::cache;
using namespace extract::cache::testing;
using namespace std::chrono_literals;

namespace {

// The sync_runs row of `run_id` as JSON (SQL NULL as null), read through a connection of its own;
// nullopt when there is none. The daemon reads runs through the API's MirrorReader, not the Mirror.
std::optional<nlohmann::json> sync_run(const std::string& path, std::int64_t run_id) {
    const Rows found = read_rows(path,
                                 "SELECT id, kind, started_at, finished_at, requests, pages, upserted, changed, "
                                 "removed, error FROM sync_runs WHERE id = " +
                                     std::to_string(run_id));
    if (found.empty()) return std::nullopt;
    const auto& row = found.front();
    const auto text = [](const std::string& v) { return v == "NULL" ? nlohmann::json(nullptr) : nlohmann::json(v); };
    const auto number = [](const std::string& v) { return nlohmann::json(std::stoll(v)); };
    return nlohmann::json{{"id", number(row[0])},        {"kind", text(row[1])},       {"started_at", text(row[2])},
                          {"finished_at", text(row[3])}, {"requests", number(row[4])}, {"pages", number(row[5])},
                          {"upserted", number(row[6])},  {"changed", number(row[7])},  {"removed", number(row[8])},
                          {"error", text(row[9])}};
}

}  // namespace

TEST_F(MirrorTest, SyncRunsAreBegunFinishedAndReadBack) {
    const std::string started = now();
    const std::int64_t run = mirror->begin_sync_run("full");
    EXPECT_EQ(sync_run(path, run), (nlohmann::json{{"id", run},
                                                   {"kind", "full"},
                                                   {"started_at", started},
                                                   {"finished_at", nullptr},
                                                   {"requests", 0},
                                                   {"pages", 0},
                                                   {"upserted", 0},
                                                   {"changed", 0},
                                                   {"removed", 0},
                                                   {"error", nullptr}}));
    clock.advance(1500ms);
    mirror->finish_sync_run(run, {7, 6, 1200, 3, 1}, std::nullopt);
    EXPECT_EQ(sync_run(path, run), (nlohmann::json{{"id", run},
                                                   {"kind", "full"},
                                                   {"started_at", started},
                                                   {"finished_at", now()},
                                                   {"requests", 7},
                                                   {"pages", 6},
                                                   {"upserted", 1200},
                                                   {"changed", 3},
                                                   {"removed", 1},
                                                   {"error", nullptr}}));

    const std::int64_t failed = mirror->begin_sync_run("fast");
    mirror->finish_sync_run(failed, {1, 0, 0, 0, 0}, "upstream answered 503");
    EXPECT_EQ((*sync_run(path, failed))["error"], "upstream answered 503");
    EXPECT_EQ((*sync_run(path, failed))["kind"], "fast");

    EXPECT_FALSE(sync_run(path, 9999).has_value());
    EXPECT_THROW(mirror->finish_sync_run(9999, {}, std::nullopt), std::invalid_argument);
    EXPECT_ANY_THROW(mirror->begin_sync_run("sometimes"));
}

TEST_F(MirrorTest, RunsLeftOpenByACrashAreClosedAsInterrupted) {
    const std::int64_t done = mirror->begin_sync_run("full");
    mirror->finish_sync_run(done, {}, std::nullopt);
    const std::int64_t open = mirror->begin_sync_run("fast");
    reopen();  // the crash
    clock.advance(10s);
    EXPECT_EQ(mirror->close_interrupted_runs(), 1);
    EXPECT_EQ(rows("SELECT id, finished_at, error FROM sync_runs ORDER BY id"),
              (Rows{{std::to_string(done), (*sync_run(path, done))["finished_at"].get<std::string>(), "NULL"},
                    {std::to_string(open), now(), "interrupted"}}));
    EXPECT_EQ(mirror->close_interrupted_runs(), 0);
}

TEST_F(MirrorTest, TheBootstrapStaysPendingAcrossACrashUntilFinished) {
    EXPECT_TRUE(mirror->bootstrap_pending());
    mirror->apply_page({make_batch("b1", "pending")}, {});
    reopen();  // crashed during the bootstrap sync: rows exist, yet it is still pending
    EXPECT_TRUE(mirror->bootstrap_pending());
    mirror->finish_bootstrap();
    EXPECT_FALSE(mirror->bootstrap_pending());
    reopen();
    EXPECT_FALSE(mirror->bootstrap_pending());
}

TEST_F(MirrorTest, AMirrorWithBatchesButNoBootstrapRecordIsNotBootstrapping) {
    mirror->apply_page({make_batch("b1", "pending")}, {});
    EXPECT_FALSE(mirror->bootstrap_pending());  // decided at the first call: the table is not empty
    reopen();
    EXPECT_FALSE(mirror->bootstrap_pending());
}

TEST_F(MirrorTest, PruningDropsOldSettledEventsAndTheirDeliveriesOnly) {
    const std::vector<DeliveryRoute> routes{{"webhook.a", {"batch.created", "batch.status_changed"}, {}}};
    // One event per first sighting (batch.created only), so event n is batch n below.
    ApplyOptions options;
    options.first_sighting = FirstSightingEvents::created;
    options.routes = &routes;
    const std::vector<DeliveryRoute> none;
    ApplyOptions unrouted = options;
    unrouted.routes = &none;

    // Old events (seq 1..4): settled in every way, one still owed, one with no delivery at all.
    mirror->apply_page({make_batch("delivered", "pending"), make_batch("failed", "pending"),
                        make_batch("pending", "pending")},
                       options);
    mirror->apply_page({make_batch("quiet", "pending")}, unrouted);
    {
        SQLite::Database db(path, SQLite::OPEN_READWRITE);
        db.exec("UPDATE deliveries SET state = 'delivered', delivered_at = 'x' WHERE event_seq = 1");
        db.exec("UPDATE deliveries SET state = 'failed' WHERE event_seq = 2");
    }
    clock.advance(std::chrono::hours{24 * 29});
    mirror->apply_page({make_batch("recent", "pending")}, options);  // seq 5, pending delivery
    const std::int64_t last = mirror->last_event_seq();

    EXPECT_EQ(mirror->prune_events(clock.now() - std::chrono::hours{24 * 30}), 0);  // nothing old enough yet
    EXPECT_TRUE(rows("SELECT value FROM meta WHERE key = 'pruned_through_seq'").empty());
    clock.advance(std::chrono::hours{48});
    EXPECT_EQ(mirror->prune_events(clock.now() - std::chrono::hours{24 * 30}), 3);
    EXPECT_EQ(rows("SELECT seq, batch_id FROM events ORDER BY seq"), (Rows{{"3", "pending"}, {"5", "recent"}}));
    EXPECT_EQ(rows("SELECT event_seq, state FROM deliveries ORDER BY id"), (Rows{{"3", "pending"}, {"5", "pending"}}));
    EXPECT_EQ(count("batches"), 5);
    EXPECT_EQ(count("transitions"), 5);
    EXPECT_EQ(mirror->last_event_seq(), last);
    // The API's `truncated` mark: the highest seq pruning removed, never lowered.
    EXPECT_EQ(value("SELECT value FROM meta WHERE key = 'pruned_through_seq'"), "4");
    EXPECT_EQ(mirror->prune_events(clock.now() - std::chrono::hours{24 * 30}), 0);
    EXPECT_EQ(value("SELECT value FROM meta WHERE key = 'pruned_through_seq'"), "4");
}

TEST_F(MirrorTest, PruningDropsOldSyncRunsButKeepsTheLatestCompleteFullPass) {
    auto run = [&](const char* kind, std::optional<std::string> error, std::int64_t pages) {
        const std::int64_t id = mirror->begin_sync_run(kind);
        mirror->finish_sync_run(id, {pages, pages, 0, 0, 0}, error);
        clock.advance(10s);
        return id;
    };
    const std::int64_t full = run("full", std::nullopt, 11);
    for (int i = 0; i < 50; ++i) run("fast", std::nullopt, 2);
    run("full", std::string("upstream answered 503"), 3);  // a failed pass does not price the next one
    clock.advance(std::chrono::hours{24 * 31});
    const std::int64_t recent = run("fast", std::nullopt, 2);

    mirror->prune_events(clock.now() - std::chrono::hours{24 * 30});
    EXPECT_EQ(rows("SELECT id FROM sync_runs ORDER BY id"),
              (std::vector<std::vector<std::string>>{{std::to_string(full)}, {std::to_string(recent)}}))
        << "only the latest complete full pass is older than the retention";
    EXPECT_EQ(mirror->last_full_pass_pages(), 11);

    const std::int64_t newer_full = run("full", std::nullopt, 12);
    clock.advance(std::chrono::hours{24 * 31});
    mirror->prune_events(clock.now() - std::chrono::hours{24 * 30});
    EXPECT_EQ(rows("SELECT id FROM sync_runs ORDER BY id"),
              (std::vector<std::vector<std::string>>{{std::to_string(newer_full)}}));
    EXPECT_EQ(mirror->last_full_pass_pages(), 12);
}

TEST_F(MirrorTest, TheWalIsTrimmedAfterACheckpointOfALargeWrite) {
    // A first sync's worth of writes grows the WAL past journal_size_limit (4 MiB) but stays under
    // SQLite's own checkpoint (32 MiB): only Mirror::checkpoint() and the limit bring it back.
    const std::string padding(1000, 'x');
    for (int page = 0; page < 40; ++page) {
        std::vector<Batch> batches;
        for (int i = 0; i < 200; ++i) {
            batches.push_back(make_batch("b" + std::to_string(page) + "_" + std::to_string(i), "completed", 10,
                                         nlohmann::json{{"padding", padding}}));
        }
        mirror->apply_page(batches, {});
    }
    const std::filesystem::path wal = path + "-wal";
    const auto grown = std::filesystem::file_size(wal);
    ASSERT_GT(grown, 4u << 20) << "the writes must have grown the WAL past the limit for this test to mean anything";
    mirror->checkpoint();
    mirror->apply_page({make_batch("after", "pending")}, {});  // the next write starts the WAL over
    EXPECT_LE(std::filesystem::file_size(wal), 4u << 20) << "grown to " << grown << " bytes";
    EXPECT_EQ(count("batches"), 40 * 200 + 1);
}

TEST_F(MirrorTest, EventSeqNeverGoesBackAfterPruningTheNewest) {
    mirror->apply_page({make_batch("b1", "pending"), make_batch("b2", "pending")}, {});  // 2 events each
    clock.advance(1h);
    EXPECT_EQ(mirror->prune_events(clock.now()), 4);
    EXPECT_EQ(count("events"), 0);
    EXPECT_EQ(mirror->last_event_seq(), 4);
    EXPECT_EQ(value("SELECT value FROM meta WHERE key = 'pruned_through_seq'"), "4");
    reopen();
    EXPECT_EQ(mirror->last_event_seq(), 4);
    const ApplyResult result = mirror->apply_page({make_batch("b3", "pending")}, {});
    EXPECT_EQ(result.last_event_seq, 6);  // a client polling with after=4 sees it (seq 5 and 6)
}

TEST_F(MirrorTest, TheCommitListenerHearsEveryCommitThatWroteEvents) {
    std::vector<std::int64_t> heard;
    mirror->set_commit_listener([&heard](std::int64_t seq) { heard.push_back(seq); });
    EXPECT_EQ(mirror->last_event_seq(), 0);

    mirror->apply_page({make_batch("b1", "pending"), make_batch("b2", "pending")}, {});
    mirror->apply_page({make_batch("b1", "pending"), make_batch("b2", "pending")}, {});  // nothing new
    mirror->apply_page({make_batch("b1", "running", 1)}, {});
    mirror->mark_removed("b2");
    const std::int64_t run = mirror->begin_sync_run("full");
    mirror->remove_unseen(run);
    // Two first sightings of two events each, a status change, two removals.
    EXPECT_EQ(heard, (std::vector<std::int64_t>{4, 5, 6, 7}));
    EXPECT_EQ(mirror->last_event_seq(), 7);

    ApplyOptions quiet;
    quiet.first_sighting = FirstSightingEvents::none;
    mirror->apply_page({make_batch("b9", "pending")}, quiet);
    EXPECT_EQ(heard.size(), 4U);
}

TEST_F(MirrorTest, AThrowingCommitListenerDoesNotUndoOrHideTheCommit) {
    LogCapture log;
    mirror->set_commit_listener([](std::int64_t) { throw std::runtime_error("waiter gone"); });
    const ApplyResult result = mirror->apply_page({make_batch("b1", "pending")}, {});
    EXPECT_EQ(result.events, 2);
    EXPECT_EQ(count("events"), 2);
    EXPECT_NE(log.text().find("waiter gone"), std::string::npos);
}

TEST_F(MirrorTest, AReaderIsNotBlockedByAnOpenWriteTransaction) {
    mirror->apply_page({make_batch("b1", "pending")}, {});
    SQLite::Database writer(path, SQLite::OPEN_READWRITE);
    // EXCLUSIVE keeps readers out with a rollback journal; in WAL mode readers go on.
    SQLite::Transaction transaction(writer, SQLite::TransactionBehavior::EXCLUSIVE);
    writer.exec("UPDATE batch_rows SET status = 'running'");

    SQLite::Database reader(path, SQLite::OPEN_READONLY);  // no busy timeout: a lock would fail at once
    EXPECT_EQ(reader.execAndGet("SELECT status FROM batches").getString(), "pending");
    transaction.commit();
    EXPECT_EQ(reader.execAndGet("SELECT status FROM batches").getString(), "running");
}
