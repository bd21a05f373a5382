#pragma once
// The one way a statement is reused on a mirror connection (cache/README.md, "Statements"):
// prepared once and kept beside its connection (a member; a StatementCache member for SQL that
// a request's filters shape), and every use of it inside a StatementUse.

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <memory>
#include <string>
#include <unordered_map>

namespace extract::cache {

// One use of a prepared statement: on entry cleared of what the last use left behind (its
// bindings, and a step that threw: tryReset(), as reset() would throw that error again), on
// exit reset, so that no read snapshot outlives the use. A statement left stepping would pin
// the WAL (no checkpoint gets past it) and keep its connection from seeing what others commit.
class StatementUse {
public:
    explicit StatementUse(SQLite::Statement& statement) : statement_(statement) {
        statement_.tryReset();
        statement_.clearBindings();
    }
    ~StatementUse() { statement_.tryReset(); }
    StatementUse(const StatementUse&) = delete;
    StatementUse& operator=(const StatementUse&) = delete;

private:
    SQLite::Statement& statement_;
};

// Prepared statements of one connection, keyed by their SQL: queries whose WHERE clause
// depends on which filters a request gave are prepared once per shape, then reused (SQLiteCpp's
// "keep the Statement next to its Database", for a family of statements). The API's readers
// keep their fixed SQL here too: a reader prepares only what the routes it serves ask for.
class StatementCache {
public:
    explicit StatementCache(SQLite::Database& db) : db_(db) {}

    // The statement for `sql`, prepared on first use; use it inside a StatementUse.
    SQLite::Statement& get(const std::string& sql) {
        auto& slot = statements_[sql];
        if (!slot) slot = std::make_unique<SQLite::Statement>(db_, sql);
        return *slot;
    }

private:
    SQLite::Database& db_;
    std::unordered_map<std::string, std::unique_ptr<SQLite::Statement>> statements_;
};

}  // namespace extract::cache
