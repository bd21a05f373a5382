#include "cache/schema.hpp"

#include <SQLiteCpp/Transaction.h>

#include <array>
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
constexpr std::array<const char*, 4> kMigrations{
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
};

int user_version(SQLite::Database& db) { return db.execAndGet("PRAGMA user_version").getInt(); }

void refuse_newer(int version) {
    if (version > schema_version()) {
        throw std::runtime_error("mirror database schema version " + std::to_string(version) +
                                 " is newer than this extract-sync understands (" +
                                 std::to_string(schema_version()) +
                                 "); upgrade extract-sync or point [cache] path at another file");
    }
}

}  // namespace

int schema_version() { return static_cast<int>(kMigrations.size()); }

void migrate(SQLite::Database& db) {
    int version = user_version(db);
    refuse_newer(version);
    while (version < schema_version()) {
        SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
        version = user_version(db);  // again under the write lock: another process may have migrated
        refuse_newer(version);
        if (version == schema_version()) break;
        db.exec(kMigrations[static_cast<std::size_t>(version)]);
        db.exec("PRAGMA user_version = " + std::to_string(version + 1));
        tx.commit();
        ++version;
    }
}

}  // namespace extract::cache
