#include "cache/schema.hpp"

#include <SQLiteCpp/Transaction.h>

#include <array>
#include <stdexcept>
#include <string>

namespace extract::cache {
namespace {

// Index i holds the step from user_version i to i + 1.
constexpr std::array<const char*, 1> kMigrations{
    R"sql(
CREATE TABLE batches (
    id               TEXT PRIMARY KEY,
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
    raw              TEXT NOT NULL,
    first_seen_at    TEXT NOT NULL,
    last_seen_at     TEXT NOT NULL,
    last_changed_at  TEXT NOT NULL,
    removed_at       TEXT,
    seen_in_run      INTEGER          -- sync_runs.id of the latest full pass that listed it
) WITHOUT ROWID;
CREATE INDEX batches_created ON batches (created_at DESC, id DESC);
CREATE INDEX batches_status ON batches (status, created_at DESC, id DESC);

CREATE TABLE transitions (
    seq          INTEGER PRIMARY KEY,
    batch_id     TEXT NOT NULL,
    from_status  TEXT,
    to_status    TEXT NOT NULL,
    observed_at  TEXT NOT NULL
);
CREATE INDEX transitions_batch ON transitions (batch_id, seq);

CREATE TABLE events (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    batch_id    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    payload     TEXT NOT NULL
);
CREATE INDEX events_batch ON events (batch_id, seq);

CREATE TABLE deliveries (
    id               INTEGER PRIMARY KEY,
    event_seq        INTEGER NOT NULL REFERENCES events (seq),
    target           TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'pending',
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
    kind         TEXT NOT NULL,
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
};

}  // namespace

int schema_version() { return static_cast<int>(kMigrations.size()); }

void migrate(SQLite::Database& db) {
    int version = db.execAndGet("PRAGMA user_version").getInt();
    if (version > schema_version()) {
        throw std::runtime_error("database schema version " + std::to_string(version) +
                                 " is newer than this extract-syncd understands (" +
                                 std::to_string(schema_version()) + "); upgrade extract-sync");
    }
    for (; version < schema_version(); ++version) {
        SQLite::Transaction tx(db);
        db.exec(kMigrations[static_cast<std::size_t>(version)]);
        db.exec("PRAGMA user_version = " + std::to_string(version + 1));
        tx.commit();
    }
}

}  // namespace extract::cache
