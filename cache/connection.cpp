#include "cache/connection.hpp"

#include <stdexcept>

namespace extract::cache {
namespace {

void configure_writer(SQLite::Database& db) {
    // WAL lets sqlite3 / Datasette / the API read while the daemon writes; NORMAL is durable
    // in WAL mode except for the last commits before a power loss, never corrupting.
    const std::string mode = db.execAndGet("PRAGMA journal_mode = WAL").getString();
    if (mode != "wal") throw std::runtime_error("the file does not support WAL (journal_mode " + mode + ")");
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA foreign_keys = ON");
    db.exec("PRAGMA temp_store = MEMORY");
    // 8 MiB of page cache instead of SQLite's 2 MiB: on a 1M-row mirror it holds the interior
    // pages of the table and its indexes, so a page's lookups and updates read leaf pages
    // only. Bounded, so memory does not grow with the mirror (issue 7: 64 MiB peak).
    db.exec("PRAGMA cache_size = -8192");
    // Checkpoint every 8192 WAL pages (32 MiB) instead of 1000: a leaf page of a randomly
    // keyed index (batch id, transitions and events by batch) rewritten by several pages in a
    // row is copied into the file once, and a long sync pays an eighth of the fsyncs.
    db.exec(kWriterAutocheckpoint);
    // A WAL file keeps its largest size until truncated: without a limit it stayed at 33 MB
    // beside a 2.4 MB mirror. After each checkpoint that resets it, it is cut back to 4 MiB.
    db.exec("PRAGMA journal_size_limit = 4194304");
}

}  // namespace

int busy_timeout_ms(ConnectionRole role) {
    switch (role) {
        case ConnectionRole::writer:
        case ConnectionRole::outbox:
        case ConnectionRole::backup: return 5000;
        case ConnectionRole::reader: return 2000;
    }
    return 5000;
}

SQLite::Database open_connection(const std::string& path, ConnectionRole role) {
    switch (role) {
        case ConnectionRole::writer: {
            // NOMUTEX: one thread at a time uses the Mirror (see mirror.hpp), so SQLite's
            // connection mutex is pure cost.
            SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX,
                                busy_timeout_ms(role));
            configure_writer(db);
            return db;
        }
        case ConnectionRole::outbox: {
            SQLite::Database db(path, SQLite::OPEN_READWRITE, busy_timeout_ms(role));
            // As the writer: in WAL mode a commit then waits for no fsync. A power cut may forget
            // the last attempts recorded, and they are sent again (at least once, as after any
            // crash); an fsync per attempt held every target to a few hundred deliveries a
            // second, all of them queued on the write lock (issue 7). A retry the power cut
            // forgets is asked for again.
            db.exec("PRAGMA synchronous = NORMAL");
            return db;
        }
        case ConnectionRole::reader:
            // NOMUTEX: one worker thread owns each reader (MirrorConnections), so SQLite's per-call
            // connection mutex is pure cost (a sixth of a report's CPU over a million rows).
            return SQLite::Database(path, SQLite::OPEN_READONLY | SQLite::OPEN_NOMUTEX, busy_timeout_ms(role));
        case ConnectionRole::backup: return SQLite::Database(path, SQLite::OPEN_READONLY, busy_timeout_ms(role));
    }
    throw std::logic_error("open_connection: unknown role");
}

}  // namespace extract::cache
