#include "cache/schema.hpp"

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <spdlog/spdlog.h>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace extract::cache {
namespace {

// Index i holds the step from user_version i to i + 1.
//
// Choices in v1 that readers of the file may wonder about:
// - `batches` is an ordinary rowid table: its rows (the raw object and its fields) are far above
//   the twentieth of a page under which SQLite advises WITHOUT ROWID, and rows inserted together
//   (one upstream page) stay together, so the per-page last_seen_at update touches few pages.
// - events.seq and deliveries.id are AUTOINCREMENT: pruning may delete the newest events, and a
//   reused seq would hide new events from a client polling with `after=SEQ`.
// - `raw` is checked with json_valid(): every event payload embeds it verbatim, so this one check
//   keeps payloads valid too. options and metadata are cut from raw; checking them (and each
//   payload) again cost a fifth of the time of applying a changed batch.
// - deliveries.state is checked with ORs, not IN (…): SQLite builds a temporary table for a
//   CHECK's IN list on every insert.
constexpr std::array<const char*, 5> kMigrations{
    R"sql(
CREATE TABLE batches (
    id               TEXT NOT NULL PRIMARY KEY,
    status           TEXT NOT NULL,
    total_items      INTEGER NOT NULL,
    count_pending    INTEGER NOT NULL,
    count_running    INTEGER NOT NULL,
    count_succeeded  INTEGER NOT NULL,
    count_failed     INTEGER NOT NULL,
    count_cancelled  INTEGER NOT NULL,
    engine           TEXT,
    options          TEXT NOT NULL,
    metadata         TEXT,
    created_at       TEXT NOT NULL,
    started_at       TEXT,
    completed_at     TEXT,
    expires_at       TEXT NOT NULL,
    raw              TEXT NOT NULL CHECK (json_valid(raw)),
    first_seen_at    TEXT NOT NULL,
    last_seen_at     TEXT NOT NULL,
    last_changed_at  TEXT NOT NULL,
    removed_at       TEXT,
    seen_in_run      INTEGER          -- sync_runs.id of the latest full pass that listed it
);
CREATE INDEX batches_created ON batches (created_at DESC, id DESC);
CREATE INDEX batches_status ON batches (status, created_at DESC, id DESC);
CREATE INDEX batches_removed ON batches (removed_at);

CREATE TABLE transitions (
    seq          INTEGER PRIMARY KEY,
    batch_id     TEXT NOT NULL REFERENCES batches (id),
    from_status  TEXT,
    to_status    TEXT NOT NULL,
    observed_at  TEXT NOT NULL
);
CREATE INDEX transitions_batch ON transitions (batch_id, seq);

CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    batch_id    TEXT NOT NULL REFERENCES batches (id),
    created_at  TEXT NOT NULL,
    payload     TEXT NOT NULL
);
CREATE INDEX events_batch ON events (batch_id, seq);
CREATE INDEX events_created ON events (created_at);

CREATE TABLE deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    event_seq        INTEGER NOT NULL REFERENCES events (seq),
    target           TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'pending'
                     CHECK (state = 'pending' OR state = 'delivered' OR state = 'failed' OR state = 'disabled'),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT,
    last_status      INTEGER,
    last_error       TEXT,
    delivered_at     TEXT
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_event ON deliveries (event_seq);

CREATE TABLE sync_runs (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('full', 'fast')),
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    requests     INTEGER NOT NULL DEFAULT 0,
    pages        INTEGER NOT NULL DEFAULT 0,
    upserted     INTEGER NOT NULL DEFAULT 0,
    changed      INTEGER NOT NULL DEFAULT 0,
    removed      INTEGER NOT NULL DEFAULT 0,
    error        TEXT
);

-- Small facts the daemon keeps about itself (e.g. whether the bootstrap sync finished).
CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
) WITHOUT ROWID;
)sql",
    // 2: the delivery attempt log (one row per attempt of a webhook or trigger delivery).
    R"sql(
CREATE TABLE IF NOT EXISTS delivery_attempts (
    id           INTEGER PRIMARY KEY,
    delivery_id  INTEGER NOT NULL,
    attempt      INTEGER NOT NULL,
    started_at   TEXT NOT NULL,
    duration_ms  INTEGER NOT NULL,
    status       INTEGER,
    error        TEXT
);
CREATE INDEX IF NOT EXISTS delivery_attempts_delivery ON delivery_attempts (delivery_id, attempt);
)sql",
    // 3: each target's pending deliveries in sending order. Without it, every look at a
    // target's queue (one per finished attempt) read and sorted every pending delivery of
    // every target: a cost growing with the backlog, 40k rows after a burst of 10k events to
    // 4 webhooks (issue 7).
    R"sql(
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (target, event_seq, id) WHERE state = 'pending';
)sql",
    // 4: batches set aside (issue 15, docs/reliability.md): listed upstream, but not storable as
    // they are (nesting, an id with control bytes or too long, a value a CHECK refuses). One row
    // per batch, gone once the batch is stored or a complete full pass no longer lists it. The id
    // is escaped (escape_untrusted: control bytes as \xNN, at most kMaxBatchIdBytes of it shown),
    // so the key itself never holds the bytes that made the batch unstorable.
    R"sql(
CREATE TABLE IF NOT EXISTS set_aside_batches (
    batch_id       TEXT NOT NULL PRIMARY KEY,
    reason         TEXT NOT NULL,
    first_seen_at  TEXT NOT NULL,
    last_seen_at   TEXT NOT NULL,
    seen_in_run    INTEGER          -- sync_runs.id of the latest full pass that listed it
);
)sql",
    // 5: layout v4 (issue 14, docs/schema.md): writes follow change, not history.
    // - batch_rows keys each batch by an integer; transition_rows and event_rows reference that
    //   key, so the random upstream id is the key of one B-tree only (the unique index
    //   batches_id) instead of three tables and three indexes. batches_id is an index of its own,
    //   not a UNIQUE column, so that a first sync into an empty mirror can drop it and build it
    //   once, sorted, at the end of the pass (Mirror, "bulk load"), and so that this step builds it
    //   after copying the rows instead of inserting a million random keys one by one.
    // - An unchanged batch is not written: last_seen_at is NULL while the batch is live and
    //   derived by the `batches` view from the last complete full pass (meta
    //   `last_full_pass_at`, which every such pass saw all live batches in); a removal freezes it.
    //   Which batches a pass listed is kept in the writer's memory (seen_in_run is gone).
    // - options is read out of raw by the view instead of being stored twice; metadata stays a
    //   column because batches_created needs it.
    // - batches_created also holds the columns GET /v1/report and the metadata filters read
    //   (issue 17): a report over a million batches reads the index, not a gigabyte of rows.
    // - The views batches, transitions and events keep the v3 names and columns for readers
    //   (the API, sqlite3, Datasette). The LEFT JOINs let SQLite skip the batch lookup when a
    //   query uses no column of it, and become inner joins (with the id index first) when a
    //   query filters on batch_id.
    // - deliveries is rebuilt only to reference event_rows instead of events.
    // migrate() runs this step with foreign keys off and checks them (foreign_key_check)
    // before it commits. AUTOINCREMENT counters are carried over: a pruned seq is never reused.
    R"sql(
CREATE TEMP TABLE v3_sequence AS SELECT name, seq FROM sqlite_sequence;

CREATE TABLE batch_rows (
    key              INTEGER PRIMARY KEY,
    id               TEXT NOT NULL,   -- unique: batches_id
    status           TEXT NOT NULL,
    total_items      INTEGER NOT NULL,
    count_pending    INTEGER NOT NULL,
    count_running    INTEGER NOT NULL,
    count_succeeded  INTEGER NOT NULL,
    count_failed     INTEGER NOT NULL,
    count_cancelled  INTEGER NOT NULL,
    engine           TEXT,
    metadata         TEXT,            -- JSON object or NULL; in batches_created for metadata filters and reports
    created_at       TEXT NOT NULL,
    started_at       TEXT,
    completed_at     TEXT,
    expires_at       TEXT NOT NULL,
    first_seen_at    TEXT NOT NULL,
    last_changed_at  TEXT NOT NULL,
    last_seen_at     TEXT,            -- NULL while live (derived by the view); frozen at removal
    removed_at       TEXT,
    raw              TEXT NOT NULL CHECK (json_valid(raw))
);
INSERT INTO batch_rows (key, id, status, total_items, count_pending, count_running, count_succeeded,
                        count_failed, count_cancelled, engine, metadata, created_at, started_at, completed_at,
                        expires_at, first_seen_at, last_changed_at, last_seen_at, removed_at, raw)
SELECT rowid, id, status, total_items, count_pending, count_running, count_succeeded, count_failed,
       count_cancelled, engine, metadata, created_at, started_at, completed_at, expires_at, first_seen_at,
       last_changed_at, CASE WHEN removed_at IS NULL THEN NULL ELSE last_seen_at END, removed_at, raw
FROM batches ORDER BY rowid;

CREATE TABLE transition_rows (
    seq          INTEGER PRIMARY KEY,
    batch_key    INTEGER NOT NULL REFERENCES batch_rows (key),
    from_status  TEXT,
    to_status    TEXT NOT NULL,
    observed_at  TEXT NOT NULL
);
INSERT INTO transition_rows (seq, batch_key, from_status, to_status, observed_at)
SELECT t.seq, b.rowid, t.from_status, t.to_status, t.observed_at
FROM transitions t JOIN batches b ON b.id = t.batch_id ORDER BY t.seq;

CREATE TABLE event_rows (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    batch_key   INTEGER NOT NULL REFERENCES batch_rows (key),
    created_at  TEXT NOT NULL,
    payload     TEXT NOT NULL
);
INSERT INTO event_rows (seq, id, type, batch_key, created_at, payload)
SELECT e.seq, e.id, e.type, b.rowid, e.created_at, e.payload
FROM events e JOIN batches b ON b.id = e.batch_id ORDER BY e.seq;

CREATE TABLE deliveries_v4 (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    event_seq        INTEGER NOT NULL REFERENCES event_rows (seq),
    target           TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'pending'
                     CHECK (state = 'pending' OR state = 'delivered' OR state = 'failed' OR state = 'disabled'),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT,
    last_status      INTEGER,
    last_error       TEXT,
    delivered_at     TEXT
);
INSERT INTO deliveries_v4 (id, event_seq, target, state, attempts, next_attempt_at, last_status, last_error, delivered_at)
SELECT id, event_seq, target, state, attempts, next_attempt_at, last_status, last_error, delivered_at
FROM deliveries ORDER BY id;

DROP TABLE deliveries;
DROP TABLE events;
DROP TABLE transitions;
DROP TABLE batches;
ALTER TABLE deliveries_v4 RENAME TO deliveries;

DELETE FROM sqlite_sequence WHERE name IN ('event_rows', 'deliveries', 'deliveries_v4');
INSERT INTO sqlite_sequence (name, seq)
SELECT CASE name WHEN 'events' THEN 'event_rows' ELSE name END, seq FROM temp.v3_sequence
WHERE name IN ('events', 'deliveries');
DROP TABLE temp.v3_sequence;

INSERT OR REPLACE INTO meta (key, value)
SELECT 'last_full_pass_at', started_at FROM sync_runs
WHERE kind = 'full' AND finished_at IS NOT NULL AND error IS NULL ORDER BY id DESC LIMIT 1;

CREATE UNIQUE INDEX batches_id ON batch_rows (id);
-- The listing's order, and what GET /v1/report sums and metadata filters test, so that a report
-- or a filter walk over a million batches reads this index only (a tenth of the table's bytes:
-- raw stays in the table).
CREATE INDEX batches_created ON batch_rows (created_at DESC, id DESC, status, engine, total_items, count_failed,
                                            completed_at, metadata);
CREATE INDEX batches_status ON batch_rows (status, created_at DESC, id DESC);
CREATE INDEX batches_removed ON batch_rows (removed_at);
CREATE INDEX transitions_batch ON transition_rows (batch_key, seq);
CREATE INDEX events_batch ON event_rows (batch_key, seq);
CREATE INDEX events_created ON event_rows (created_at);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_event ON deliveries (event_seq);
CREATE INDEX deliveries_pending ON deliveries (target, event_seq, id) WHERE state = 'pending';

CREATE VIEW batches AS
SELECT b.id, b.status, b.total_items, b.count_pending, b.count_running, b.count_succeeded, b.count_failed,
       b.count_cancelled, b.engine, json_extract(b.raw, '$.options') AS options, b.metadata, b.created_at, b.started_at, b.completed_at,
       b.expires_at, b.raw, b.first_seen_at,
       coalesce(b.last_seen_at,
                max(b.last_changed_at, coalesce((SELECT value FROM meta WHERE key = 'last_full_pass_at'), ''))) AS last_seen_at,
       b.last_changed_at, b.removed_at, b.key
FROM batch_rows b;

CREATE VIEW transitions AS
SELECT t.seq, b.id AS batch_id, t.from_status, t.to_status, t.observed_at, t.batch_key
FROM transition_rows t LEFT JOIN batch_rows b ON b.key = t.batch_key;

CREATE VIEW events AS
SELECT e.seq, e.id, e.type, b.id AS batch_id, e.created_at, e.payload, e.batch_key
FROM event_rows e LEFT JOIN batch_rows b ON b.key = e.batch_key;
)sql",
};

// The step (index into kMigrations) that rewrites the layout: the one that takes long on a large file.
constexpr int kLayoutV4Step = 4;

int user_version(SQLite::Database& db) { return db.execAndGet("PRAGMA user_version").getInt(); }

void refuse_newer(int version) {
    if (version > schema_version()) {
        throw std::runtime_error("mirror database schema version " + std::to_string(version) +
                                 " is newer than this extract-sync understands (" + std::to_string(schema_version()) +
                                 "); upgrade extract-sync or point [cache] path at another file");
    }
}

}  // namespace

int schema_version() { return static_cast<int>(kMigrations.size()); }

void migrate(SQLite::Database& db) { migrate_to(db, schema_version()); }

void migrate_to(SQLite::Database& db, int target_version) {
    if (target_version < 0 || target_version > schema_version()) {
        throw std::invalid_argument("migrate_to: no schema version " + std::to_string(target_version));
    }
    int version = user_version(db);
    refuse_newer(version);
    if (version >= target_version) return;
    // A step may rebuild a table that others reference (SQLite's documented procedure: foreign
    // keys off, which only works outside a transaction, and foreign_key_check before commit).
    const bool foreign_keys = db.execAndGet("PRAGMA foreign_keys").getInt() != 0;
    db.exec("PRAGMA foreign_keys = OFF");
    try {
        while (version < target_version) {
            SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
            version = user_version(db);  // again under the write lock: another process may have migrated
            refuse_newer(version);
            if (version >= target_version) break;
            if (version == kLayoutV4Step) {
                if (const std::int64_t rows = db.execAndGet("SELECT count(*) FROM batches").getInt64(); rows > 0) {
                    spdlog::info(
                        "upgrading the mirror to layout v4 ({} batches): every row is copied once, which "
                        "takes about a minute per million batches; syncing starts after it",
                        rows);
                }
            }
            db.exec(kMigrations[static_cast<std::size_t>(version)]);
            SQLite::Statement violations(db, "PRAGMA foreign_key_check");
            if (violations.executeStep()) {
                throw std::runtime_error("migration to schema version " + std::to_string(version + 1) +
                                         " would break a reference in table " + violations.getColumn(0).getString() +
                                         "; the file is left at version " + std::to_string(version));
            }
            db.exec("PRAGMA user_version = " + std::to_string(version + 1));
            tx.commit();
            ++version;
        }
    } catch (...) {
        if (foreign_keys) db.exec("PRAGMA foreign_keys = ON");
        throw;
    }
    if (foreign_keys) db.exec("PRAGMA foreign_keys = ON");
}

}  // namespace extract::cache
