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

}  // namespace extract::cache
