#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

#include "cache/mirror.hpp"
#include "cache/schema.hpp"
#include "tests/cache/mirror_fixture.hpp"

using namespace extract::cache;
using namespace extract::cache::testing;

namespace {

std::set<std::string> columns_of(const std::string& path, const std::string& table) {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    SQLite::Statement query(db, "SELECT name FROM pragma_table_info(?1)");
    query.bind(1, table);
    std::set<std::string> out;
    while (query.executeStep()) out.insert(query.getColumn(0).getString());
    return out;
}

}  // namespace

TEST_F(MirrorTest, MigratesAnEmptyFileToTheCurrentVersion) {
    EXPECT_EQ(value("PRAGMA user_version"), std::to_string(schema_version()));
    EXPECT_EQ(value("PRAGMA journal_mode"), "wal");

    // Every column SPEC §4 names.
    const std::map<std::string, std::set<std::string>> spec{
        {"batches",
         {"id",
          "status",
          "total_items",
          "count_pending",
          "count_running",
          "count_succeeded",
          "count_failed",
          "count_cancelled",
          "engine",
          "options",
          "metadata",
          "created_at",
          "started_at",
          "completed_at",
          "expires_at",
          "raw",
          "first_seen_at",
          "last_seen_at",
          "last_changed_at",
          "removed_at"}},
        {"transitions", {"seq", "batch_id", "from_status", "to_status", "observed_at"}},
        {"events", {"seq", "id", "type", "batch_id", "created_at", "payload"}},
        {"deliveries",
         {"id", "event_seq", "target", "state", "attempts", "next_attempt_at", "last_status", "last_error",
          "delivered_at"}},
        {"sync_runs",
         {"id", "kind", "started_at", "finished_at", "requests", "pages", "upserted", "changed", "removed", "error"}},
    };
    for (const auto& [table, names] : spec) {
        const auto actual = columns_of(path, table);
        for (const auto& name : names) EXPECT_TRUE(actual.count(name)) << table << "." << name;
    }
}

TEST_F(MirrorTest, ReopeningIsIdempotentAndKeepsTheData) {
    mirror->apply_page({make_batch("b1", "pending")}, {});
    reopen();
    reopen();
    EXPECT_EQ(value("PRAGMA user_version"), std::to_string(schema_version()));
    EXPECT_EQ(count("batches"), 1);
    EXPECT_EQ(count("transitions"), 1);
    // Migrating an already current connection changes nothing.
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    migrate(db);
    EXPECT_EQ(db.execAndGet("PRAGMA user_version").getInt(), schema_version());
}

TEST(Schema, ANewerFileIsAClearError) {
    extract::testing::TempDir dir;
    extract::testing::FakeClock clock;
    const std::string path = (dir / "mirror.db").string();
    {
        SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        db.exec("PRAGMA user_version = " + std::to_string(schema_version() + 1));
    }
    try {
        Mirror mirror(path, clock);
        FAIL() << "opened a newer schema";
    } catch (const MirrorOpenError& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find(path), std::string::npos) << message;
        EXPECT_NE(message.find("newer"), std::string::npos) << message;
        EXPECT_NE(message.find("upgrade extract-sync"), std::string::npos) << message;
    }
}

TEST(Schema, AMissingDirectoryIsAClearErrorAndCreatesNothing) {
    extract::testing::TempDir dir;
    extract::testing::FakeClock clock;
    const auto missing = dir / "no-such-dir";
    try {
        Mirror mirror((missing / "mirror.db").string(), clock);
        FAIL() << "opened a file in a missing directory";
    } catch (const MirrorOpenError& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find("directory " + missing.string() + " does not exist"), std::string::npos) << message;
    }
    EXPECT_FALSE(std::filesystem::exists(missing));
}

TEST(Schema, AFileThatIsNotADatabaseIsAClearError) {
    extract::testing::TempDir dir;
    extract::testing::FakeClock clock;
    const auto path = dir.write("mirror.db", std::string(8192, 'x'));
    try {
        Mirror mirror(path.string(), clock);
        FAIL() << "opened garbage";
    } catch (const MirrorOpenError& e) {
        EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    }
}
