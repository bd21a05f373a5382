#pragma once
// Reading the mirror a running daemon writes. A reader can meet a lock it must wait out: the
// daemon restarted after a kill -9 recovers the WAL under an exclusive lock, and a migration or
// a checkpoint holds one briefly. A bare open would throw "database is locked" at that moment;
// this one waits (scaled, like every bounded wait in the tests) as the daemon's own readers do.

#include <SQLiteCpp/Database.h>

#include <chrono>
#include <string>

#include "tests/support/eventually.hpp"

namespace extract::testing {

inline SQLite::Database open_live_db(const std::string& path) {
    return SQLite::Database(path, SQLite::OPEN_READONLY, static_cast<int>(scaled(std::chrono::seconds(10)).count()));
}

}  // namespace extract::testing
