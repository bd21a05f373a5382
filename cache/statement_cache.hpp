#pragma once
// Prepared statements of one connection, keyed by their SQL: queries whose WHERE clause
// depends on which filters a request gave are prepared once per shape, then reused
// (SQLiteCpp's "keep the Statement next to its Database", for a family of statements).

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <memory>
#include <string>
#include <unordered_map>

namespace extract::api {

class StatementCache {
public:
    explicit StatementCache(SQLite::Database& db) : db_(db) {}

    // The statement for `sql`, reset with its bindings cleared, ready to bind and step.
    SQLite::Statement& get(const std::string& sql) {
        auto& slot = statements_[sql];
        if (!slot) slot = std::make_unique<SQLite::Statement>(db_, sql);
        slot->reset();
        slot->clearBindings();
        return *slot;
    }

private:
    SQLite::Database& db_;
    std::unordered_map<std::string, std::unique_ptr<SQLite::Statement>> statements_;
};

// Resets a statement when a query is done with it, so that no read snapshot outlives the
// request (an idle open statement would pin the WAL and stop checkpoints).
class StatementDone {
public:
    explicit StatementDone(SQLite::Statement& statement) : statement_(statement) {}
    ~StatementDone() { statement_.tryReset(); }
    StatementDone(const StatementDone&) = delete;
    StatementDone& operator=(const StatementDone&) = delete;

private:
    SQLite::Statement& statement_;
};

}  // namespace extract::api
