#pragma once
// The mirror's schema: an ordered list of migrations keyed on `PRAGMA user_version`.
// The schema is public (docs/schema.md): change it only by appending a migration.

#include <SQLiteCpp/Database.h>

namespace extract::cache {

// The user_version a fully migrated database has.
int schema_version();

// Brings `db` up to schema_version(), each step in its own write transaction (two processes
// opening the same new file migrate it once). Throws std::runtime_error when the file is newer
// than this program understands.
void migrate(SQLite::Database& db);
// The same, stopping at `target_version`: what a file written by an older extract-sync holds
// (the steps are append-only), for tests of the migrations.
void migrate_to(SQLite::Database& db, int target_version);

}  // namespace extract::cache
