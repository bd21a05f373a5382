// Layout v4 (schema version 5) from a v3 file: the file is built here with the v3 schema (the
// migration steps are append-only, so migrate_to(4) runs exactly the SQL v3 extract-sync ran)
// and rows written as v3's Mirror wrote them; opening it with today's Mirror must keep every row.

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <gtest/gtest.h>

#include <string>

#include "cache/mirror.hpp"
#include "cache/schema.hpp"
#include "tests/cache/mirror_fixture.hpp"

using namespace extract::cache;
using namespace extract::cache::testing;

namespace {

constexpr int kV3 = 4;  // user_version of the v3 layout

// Two live batches and a removed one, their transitions, six events (the sixth pruned, so the
// AUTOINCREMENT counter is above the highest seq left), deliveries (one pruned) and attempts,
// two full passes, meta: what a v3 mirror that ran for a while holds.
void write_v3_mirror(const std::string& path) {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA foreign_keys = ON");
    migrate_to(db, kV3);
    db.exec(R"sql(
INSERT INTO batches (id, status, total_items, count_pending, count_running, count_succeeded, count_failed,
                     count_cancelled, engine, options, metadata, created_at, started_at, completed_at, expires_at,
                     raw, first_seen_at, last_seen_at, last_changed_at, removed_at, seen_in_run) VALUES
('bat_a', 'completed', 2, 0, 0, 2, 0, 0, 'fast', '{"ocr":true}', '{"project":"x"}', '2026-11-01T00:00:00Z',
 '2026-11-01T00:00:01Z', '2026-11-01T00:05:00Z', '2026-11-04T00:00:00Z',
 '{"engine":"fast","id":"bat_a","metadata":{"project":"x"},"options":{"ocr":true},"status":"completed"}',
 '2026-11-01T00:00:02.000Z', '2026-11-30T12:00:00.000Z', '2026-11-01T00:05:02.000Z', NULL, 2),
('bat_b', 'running', 3, 2, 1, 0, 0, 0, NULL, '{}', NULL, '2026-11-02T00:00:00Z', NULL, NULL,
 '2026-11-05T00:00:00Z', '{"id":"bat_b","metadata":null,"options":{},"status":"running"}',
 '2026-11-02T00:00:02.000Z', '2026-11-30T12:00:30.000Z', '2026-11-30T12:00:30.000Z', NULL, 2),
('bat_gone', 'failed', 1, 0, 0, 0, 1, 0, NULL, '{}', NULL, '2026-10-01T00:00:00Z', NULL, NULL,
 '2026-10-04T00:00:00Z', '{"id":"bat_gone","options":{},"status":"failed"}',
 '2026-10-01T00:00:02.000Z', '2026-10-03T00:00:00.000Z', '2026-10-01T00:10:00.000Z', '2026-10-04T00:15:00.000Z', 1);

INSERT INTO transitions (seq, batch_id, from_status, to_status, observed_at) VALUES
(1, 'bat_gone', NULL, 'failed', '2026-10-01T00:00:02.000Z'),
(2, 'bat_a', NULL, 'running', '2026-11-01T00:00:02.000Z'),
(3, 'bat_b', NULL, 'running', '2026-11-02T00:00:02.000Z'),
(4, 'bat_a', 'running', 'completed', '2026-11-01T00:05:02.000Z');

INSERT INTO events (seq, id, type, batch_id, created_at, payload) VALUES
(1, 'evt_1', 'batch.created', 'bat_a', '2026-11-01T00:00:02.000Z', '{"type":"batch.created"}'),
(2, 'evt_2', 'batch.status_changed', 'bat_a', '2026-11-01T00:00:02.000Z', '{"type":"batch.status_changed"}'),
(3, 'evt_3', 'batch.created', 'bat_b', '2026-11-02T00:00:02.000Z', '{"type":"batch.created"}'),
(4, 'evt_4', 'batch.status_changed', 'bat_a', '2026-11-01T00:05:02.000Z', '{"type":"batch.status_changed"}'),
(5, 'evt_5', 'batch.removed', 'bat_gone', '2026-10-04T00:15:00.000Z', '{"type":"batch.removed"}'),
(6, 'evt_6', 'batch.updated', 'bat_b', '2026-11-30T12:00:30.000Z', '{"type":"batch.updated"}');

INSERT INTO deliveries (id, event_seq, target, state, attempts, next_attempt_at, last_status, last_error, delivered_at) VALUES
(1, 2, 'webhook.ops', 'delivered', 1, NULL, 200, NULL, '2026-11-01T00:00:03.000Z'),
(2, 4, 'webhook.ops', 'pending', 2, '2026-11-30T13:00:00.000Z', 503, 'HTTP 503', NULL),
(3, 4, 'trigger.done', 'failed', 3, NULL, 1, 'exit 1', NULL),
(4, 6, 'webhook.ops', 'delivered', 1, NULL, 200, NULL, '2026-11-30T12:00:31.000Z');
INSERT INTO delivery_attempts (delivery_id, attempt, started_at, duration_ms, status, error) VALUES
(2, 1, '2026-11-01T00:05:03.000Z', 12, 503, 'HTTP 503'),
(2, 2, '2026-11-01T00:05:08.000Z', 15, 503, 'HTTP 503');

INSERT INTO sync_runs (id, kind, started_at, finished_at, pages, error) VALUES
(1, 'full', '2026-10-04T00:14:00.000Z', '2026-10-04T00:15:00.000Z', 1, NULL),
(2, 'full', '2026-11-30T11:59:00.000Z', '2026-11-30T12:00:00.000Z', 1, NULL),
(3, 'full', '2026-11-30T12:10:00.000Z', '2026-11-30T12:10:01.000Z', 0, 'upstream answered 503');

INSERT INTO meta (key, value) VALUES ('bootstrap', 'done'), ('pruned_through_seq', '0');
INSERT INTO set_aside_batches (batch_id, reason, first_seen_at, last_seen_at, seen_in_run) VALUES
('bat_deep', 'it nests deeper than 64 levels', '2026-11-30T12:00:00.000Z', '2026-11-30T12:00:00.000Z', 2);
)sql");
    // Pruned: the newest event and delivery went, their numbers must not come back.
    db.exec("DELETE FROM deliveries WHERE id = 4");
    db.exec("DELETE FROM events WHERE seq = 6");
}

Rows read(const std::string& path, const std::string& sql) { return read_rows(path, sql); }

std::string plan(const std::string& path, const std::string& sql) {
    std::string out;
    for (const auto& row : read(path, "EXPLAIN QUERY PLAN " + sql)) out += row.back() + "\n";
    return out;
}

}  // namespace

TEST(MigrationToV4, AV3MirrorKeepsEveryRow) {
    extract::testing::TempDir dir;
    extract::testing::FakeClock clock;
    const std::string path = (dir / "mirror.db").string();
    write_v3_mirror(path);
    const std::string batch_columns =
        "SELECT id, status, total_items, count_pending, count_running, count_succeeded, count_failed, "
        "count_cancelled, engine, options, metadata, created_at, started_at, completed_at, expires_at, raw, "
        "first_seen_at, last_changed_at, removed_at FROM batches ORDER BY id";
    const Rows batches = read(path, batch_columns);
    const Rows transitions =
        read(path, "SELECT seq, batch_id, from_status, to_status, observed_at FROM transitions ORDER BY seq");
    const Rows events = read(path, "SELECT seq, id, type, batch_id, created_at, payload FROM events ORDER BY seq");
    const Rows deliveries = read(path, "SELECT * FROM deliveries ORDER BY id");
    const Rows attempts = read(path, "SELECT * FROM delivery_attempts ORDER BY id");
    const Rows runs = read(path, "SELECT * FROM sync_runs ORDER BY id");
    const Rows set_aside = read(path, "SELECT * FROM set_aside_batches");
    ASSERT_EQ(batches.size(), 3U);
    ASSERT_EQ(events.size(), 5U);

    {
        Mirror mirror(path, clock);  // migrates
    }
    EXPECT_EQ(read(path, "PRAGMA user_version"), (Rows{{std::to_string(schema_version())}}));
    EXPECT_EQ(read(path, batch_columns), batches);
    EXPECT_EQ(read(path, "SELECT seq, batch_id, from_status, to_status, observed_at FROM transitions ORDER BY seq"),
              transitions);
    EXPECT_EQ(read(path, "SELECT seq, id, type, batch_id, created_at, payload FROM events ORDER BY seq"), events);
    EXPECT_EQ(read(path, "SELECT * FROM deliveries ORDER BY id"), deliveries);
    EXPECT_EQ(read(path, "SELECT * FROM delivery_attempts ORDER BY id"), attempts);
    EXPECT_EQ(read(path, "SELECT * FROM sync_runs ORDER BY id"), runs);
    EXPECT_EQ(read(path, "SELECT * FROM set_aside_batches"), set_aside);
    // last_seen_at: a removed batch keeps its own; a live one is derived from the last complete
    // full pass (run 2; run 3 failed), or its last change when that is later.
    EXPECT_EQ(read(path, "SELECT id, last_seen_at FROM batches ORDER BY id"),
              (Rows{{"bat_a", "2026-11-30T11:59:00.000Z"},
                    {"bat_b", "2026-11-30T12:00:30.000Z"},
                    {"bat_gone", "2026-10-03T00:00:00.000Z"}}));
    EXPECT_EQ(read(path, "PRAGMA foreign_key_check"), Rows{});
    EXPECT_EQ(read(path, "PRAGMA integrity_check"), (Rows{{"ok"}}));
    // The old tables are views now, and nothing else is left behind.
    EXPECT_EQ(read(path,
                   "SELECT type, name FROM sqlite_master WHERE name IN ('batches', 'transitions', 'events', "
                   "'deliveries_v4', 'v3_sequence') ORDER BY name"),
              (Rows{{"view", "batches"}, {"view", "events"}, {"view", "transitions"}}));
}

TEST(MigrationToV4, TheMigratedMirrorGoesOnWhereV3StoppedAndNeverReusesANumber) {
    extract::testing::TempDir dir;
    extract::testing::FakeClock clock;
    const std::string path = (dir / "mirror.db").string();
    write_v3_mirror(path);
    Mirror mirror(path, clock);
    EXPECT_EQ(mirror.last_event_seq(), 6);
    EXPECT_FALSE(mirror.bootstrap_pending());
    const std::vector<DeliveryRoute> routes{{"webhook.ops", {}, {}}};
    ApplyOptions options;
    options.routes = &routes;
    const ApplyResult result =
        mirror.apply_page({make_batch("bat_b", "completed", 10), make_batch("bat_new", "pending")}, options);
    EXPECT_EQ(result.transitions, 2);
    // Pruned seq 6 and delivery 4 are not handed out again.
    EXPECT_EQ(read(path, "SELECT seq, type, batch_id FROM events WHERE seq > 5 ORDER BY seq"),
              (Rows{{"7", "batch.status_changed", "bat_b"},
                    {"8", "batch.created", "bat_new"},
                    {"9", "batch.status_changed", "bat_new"}}));
    EXPECT_EQ(read(path, "SELECT min(id) FROM deliveries WHERE id > 3"), (Rows{{"5"}}));
    EXPECT_EQ(read(path, "SELECT from_status, to_status FROM transitions WHERE batch_id = 'bat_b' ORDER BY seq"),
              (Rows{{"NULL", "running"}, {"running", "completed"}}));
    // Foreign keys hold on the rebuilt tables.
    SQLite::Database writer(path, SQLite::OPEN_READWRITE);
    writer.exec("PRAGMA foreign_keys = ON");
    EXPECT_THROW(writer.exec("INSERT INTO deliveries (event_seq, target) VALUES (999, 'webhook.ops')"),
                 SQLite::Exception);
}

TEST(MigrationToV4, ABatchsHistoryIsFoundByItsIdThroughIndexes) {
    extract::testing::TempDir dir;
    extract::testing::FakeClock clock;
    const std::string path = (dir / "mirror.db").string();
    Mirror mirror(path, clock);
    mirror.apply_page({make_batch("b1", "pending")}, {});
    // The queries docs/schema.md shows: no scan of any table.
    for (const std::string sql :
         {"SELECT * FROM transitions WHERE batch_id = 'b1' ORDER BY seq",
          "SELECT * FROM events WHERE batch_id = 'b1' ORDER BY seq", "SELECT * FROM batches WHERE id = 'b1'"}) {
        const std::string steps = plan(path, sql);
        EXPECT_EQ(steps.find("SCAN"), std::string::npos) << sql << "\n" << steps;
    }
}
