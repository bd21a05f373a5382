#pragma once
// Every connection to the mirror file is opened here, by the role it plays: the flags, the
// busy timeout and the pragmas each role needs, in one place (cache/README.md, "Connections").

#include <SQLiteCpp/Database.h>

#include <string>

namespace extract::cache {

enum class ConnectionRole {
    // cache::Mirror, the one writer of batches, transitions, events and deliveries: creates the
    // file, WAL (checked), synchronous NORMAL, foreign keys, an 8 MiB page cache, a checkpoint
    // every 8192 WAL pages. Not migrated here: Mirror migrates after opening.
    writer,
    // cache::DeliveryStore, the outbox (the dispatcher's attempts, the API's retries): an
    // existing file, read-write, synchronous NORMAL as the writer.
    outbox,
    // The API's readers (api::MirrorReader), one per worker thread: read-only, no SQLite mutex.
    reader,
    // GET /v1/backup's source for VACUUM INTO: read-only, on a thread of its own.
    backup,
};

// WAL pages between the writer's automatic checkpoints (8192, 32 MiB, instead of SQLite's
// 1000), and during a bulk load: a first sync of a million batches then checkpoints (and
// fsyncs) 10 times instead of 75, with the WAL at up to 256 MiB meanwhile (trimmed to
// journal_size_limit after the last one).
inline constexpr const char* kWriterAutocheckpoint = "PRAGMA wal_autocheckpoint = 8192";
inline constexpr const char* kBulkLoadAutocheckpoint = "PRAGMA wal_autocheckpoint = 65536";

// How long each role waits for a lock before SQLITE_BUSY ("database is locked"), in ms.
// Writers wait out each other's transactions (a page, an attempt, a retry) for up to 5 s; the
// daemon's cycle gives up on a lock held elsewhere within it (tests/daemon/storage_test.cpp).
// A reader in WAL mode waits only while a connection recovers the WAL: 2 s, so that a worker
// thread is not held longer than a request's usual bound.
int busy_timeout_ms(ConnectionRole role);

// Opens `path` for `role`. Throws SQLite::Exception (std::runtime_error for a file that cannot
// be put in WAL mode) naming what failed.
SQLite::Database open_connection(const std::string& path, ConnectionRole role);

}  // namespace extract::cache
