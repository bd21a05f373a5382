// The real extractctl against the real API server over a mirror of known content (issue 17):
// filters, closed sets, paging, export, report and backup end to end.

#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/api/api_fixture.hpp"
#include "tests/support/child_process.hpp"

namespace extract::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr auto kExitBound = 20s;

// RFC 4180 records: fields split on commas outside quotes, "" inside quotes is one quote,
// records end with CRLF outside quotes.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
    std::vector<std::vector<std::string>> records;
    std::vector<std::string> record;
    std::string field;
    bool quoted = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (quoted) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                field += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                field += c;
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            record.push_back(std::move(field));
            field.clear();
        } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
            record.push_back(std::move(field));
            field.clear();
            records.push_back(std::move(record));
            record.clear();
            ++i;
        } else {
            field += c;
        }
    }
    EXPECT_FALSE(quoted) << "an unterminated quote";
    EXPECT_TRUE(field.empty() && record.empty()) << "the last record lacks its CRLF";
    return records;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Outcome {
    int code = -1;
    std::string out;
    std::string err;
};

class CliOnMirror : public ApiTest {
protected:
    Outcome run(std::vector<std::string> args) {
        args.insert(args.begin(), {EXTRACTCTL_BIN, "--socket", socket_path});
        ChildProcess process(std::move(args), {{"NO_COLOR", "1"}});
        const auto code = process.wait(kExitBound);
        EXPECT_TRUE(code) << "extractctl did not exit in time";
        process.wait_for_stdout("\x01never printed", kExitBound);  // read to end of file
        return {code.value_or(-1), process.stdout_text(), process.stderr_text()};
    }

    static std::size_t lines(const std::string& text) {
        return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
    }
};

TEST_F(CliOnMirror, ClosedSetTyposExit2WithTheAllowedValues) {
    start_server();
    auto outcome = run({"events", "--type", "bogus"});
    EXPECT_EQ(outcome.code, 2);
    EXPECT_NE(outcome.err.find("batch.created, batch.status_changed, batch.updated or batch.removed"),
              std::string::npos)
        << outcome.err;
    outcome = run({"deliveries", "--state", "bogus"});
    EXPECT_EQ(outcome.code, 2);
    EXPECT_NE(outcome.err.find("pending, delivered, failed or disabled"), std::string::npos) << outcome.err;
}

TEST_F(CliOnMirror, DeliveriesSaysWhenItShowsOnlyTheNewestAndAllPagesThroughEverything) {
    mirror->insert_batch({.id = "a"});
    const auto event = mirror->insert_event("batch.status_changed", "a", "2026-11-30T12:00:00.000Z");
    mirror->db().exec("BEGIN");
    for (int i = 0; i < 1203; ++i) mirror->insert_delivery(event, "webhook.ops", i == 0 ? "failed" : "delivered");
    mirror->db().exec("COMMIT");
    start_server();

    auto outcome = run({"deliveries"});
    EXPECT_EQ(outcome.code, 0) << outcome.err;
    EXPECT_EQ(lines(outcome.out), 1u + 100u);  // header + the newest page
    EXPECT_NE(outcome.err.find("only the newest 100 deliveries shown: --all lists every one"), std::string::npos)
        << outcome.err;

    outcome = run({"deliveries", "--all"});
    EXPECT_EQ(outcome.code, 0) << outcome.err;
    EXPECT_EQ(lines(outcome.out), 1u + 1203u);
    EXPECT_EQ(outcome.err, "");

    outcome = run({"deliveries", "--all", "--json"});
    const auto body = json::parse(outcome.out);
    EXPECT_EQ(body["data"].size(), 1203u);
    EXPECT_EQ(body["data"][1202]["state"], "failed");  // the oldest last

    outcome = run({"deliveries", "--state", "failed"});
    EXPECT_EQ(lines(outcome.out), 2u);
    EXPECT_EQ(outcome.err, "");
}

TEST_F(CliOnMirror, LsFiltersByEngineEndDateMetadataAndRemoval) {
    mirror->insert_batch({.id = "a_fast",
                          .created_at = "2026-11-01T10:00:00.000Z",
                          .engine = "fast",
                          .metadata = {{"project", "atlas"}, {"team", "ops"}}});
    mirror->insert_batch({.id = "a_std",
                          .created_at = "2026-11-02T10:00:00.000Z",
                          .engine = "standard",
                          .metadata = {{"project", "atlas"}, {"team", "ops"}}});
    mirror->insert_batch({.id = "a_other_team",
                          .created_at = "2026-11-03T10:00:00.000Z",
                          .engine = "fast",
                          .metadata = {{"project", "atlas"}, {"team", "web"}}});
    mirror->insert_batch({.id = "a_gone",
                          .created_at = "2026-11-04T10:00:00.000Z",
                          .engine = "fast",
                          .removed_at = "2026-11-09T00:00:00.000Z",
                          .metadata = {{"project", "atlas"}, {"team", "ops"}}});
    mirror->insert_batch({.id = "z_late",
                          .created_at = "2026-11-20T10:00:00.000Z",
                          .engine = "fast",
                          .metadata = {{"project", "atlas"}, {"team", "ops"}}});
    start_server();
    const auto ids = [&](std::vector<std::string> args) {
        args.insert(args.begin(), "ls");
        args.push_back("--json");
        const auto outcome = run(args);
        EXPECT_EQ(outcome.code, 0) << outcome.err;
        std::vector<std::string> out;
        const auto body = json::parse(outcome.out);  // alive through the loop
        for (const auto& item : body["data"]) out.push_back(item["id"]);
        return out;
    };
    using Ids = std::vector<std::string>;
    EXPECT_EQ(ids({"--metadata", "project=atlas", "--metadata", "team=ops", "--until", "2026-11-10"}),
              (Ids{"a_std", "a_fast"}));
    EXPECT_EQ(ids({"--metadata", "project=atlas", "--metadata=team=ops", "--until", "2026-11-10", "--removed"}),
              (Ids{"a_gone", "a_std", "a_fast"}));
    EXPECT_EQ(ids({"--engine", "fast", "--since", "2026-11-02", "--until", "2026-11-19"}), (Ids{"a_other_team"}));
    EXPECT_EQ(ids({"--all", "--engine", "fast", "--metadata", "team=ops"}), (Ids{"z_late", "a_gone", "a_fast"}));

    const auto table = run({"ls", "--engine", "standard"});
    EXPECT_EQ(table.code, 0);
    EXPECT_NE(table.out.find("ENGINE"), std::string::npos) << table.out;
    EXPECT_NE(table.out.find("a_std  pending  standard"), std::string::npos) << table.out;

    EXPECT_EQ(run({"ls", "--metadata", "project"}).code, 2);
    EXPECT_EQ(run({"ls", "--until", "yesterday"}).code, 2);
}

TEST_F(CliOnMirror, EventsOfOneBatchUpToALimit) {
    mirror->insert_batch({.id = "a"});
    mirror->insert_batch({.id = "b"});
    for (int i = 0; i < 1500; ++i)
        mirror->insert_event("batch.updated", i % 3 == 0 ? "a" : "b", "2026-11-30T12:00:00.000Z");
    start_server();
    auto outcome = run({"events", "--batch", "a", "--json"});
    EXPECT_EQ(outcome.code, 0) << outcome.err;
    auto body = json::parse(outcome.out);
    EXPECT_EQ(body["data"].size(), 500u);
    for (const auto& event : body["data"]) EXPECT_EQ(event["batch_id"], "a");

    outcome = run({"events", "--batch", "b", "--limit", "10", "--json"});
    EXPECT_EQ(json::parse(outcome.out)["data"].size(), 10u);
    outcome = run({"events", "--limit", "1200", "--json"});  // across two pages of 1000
    body = json::parse(outcome.out);
    ASSERT_EQ(body["data"].size(), 1200u);
    EXPECT_EQ(body["last_seq"], body["data"][1199]["seq"]);  // where the next --after starts

    outcome = run({"events", "--limit", "3"});
    EXPECT_EQ(outcome.code, 0) << outcome.err;
    EXPECT_EQ(lines(outcome.out), 1u + 3u);
    EXPECT_EQ(run({"events", "--limit", "3", "--follow"}).code, 2);
    EXPECT_EQ(run({"events", "--limit", "0"}).code, 2);
}

// Batches whose text needs every kind of CSV quoting, and more than one page of them.
class CliExport : public CliOnMirror {
protected:
    void SetUp() override {
        mirror->db().exec("BEGIN");
        mirror->insert_batch(
            {.id = "tricky,\"id\"",
             .status = "completed",
             .created_at = "2026-11-29T00:00:00.000Z",
             .metadata = {{"note", "commas, \"quotes\"\nand a newline\r\n"}, {"emoji", "\xc3\xa9t\xc3\xa9"}}});
        mirror->insert_batch(
            {.id = "gone", .created_at = "2026-11-28T00:00:00.000Z", .removed_at = "2026-11-30T00:00:00.000Z"});
        for (int i = 0; i < 450; ++i) {
            char created[64];  // room for any int the format could print (GCC checks it under -O1)
            std::snprintf(created, sizeof created, "2026-11-%02dT%02d:%02d:00.000Z", 1 + i / 100, (i / 60) % 24,
                          i % 60);
            mirror->insert_batch({.id = "b" + std::to_string(i), .created_at = created, .metadata = {{"i", i}}});
        }
        for (int i = 0; i < 1500; ++i) {
            mirror->insert_transition("b" + std::to_string(i % 450), std::nullopt, "pending",
                                      i < 1000 ? "2026-11-01T00:00:00.000Z" : "2026-11-20T00:00:00.000Z");
        }
        for (int i = 0; i < 30; ++i) mirror->insert_event("batch.created", "tricky,\"id\"", "2026-11-29T00:00:00.000Z");
        mirror->db().exec("COMMIT");
        start_server();
    }
};

TEST_F(CliExport, JsonlRoundTripsEveryBatchRemovedOnesIncluded) {
    const auto file = dir / "batches.jsonl";
    const auto outcome = run({"export", "batches", "-o", file.string()});
    ASSERT_EQ(outcome.code, 0) << outcome.err;
    EXPECT_EQ(outcome.out, "");
    std::vector<json> exported;
    std::istringstream lines(read_file(file));
    for (std::string line; std::getline(lines, line);) exported.push_back(json::parse(line));
    ASSERT_EQ(exported.size(), 452u);
    // Each line is the batch exactly as the API serves it.
    const auto tricky = get_json("/v1/batches?limit=1");
    EXPECT_EQ(exported[0], tricky["data"][0]);
    EXPECT_EQ(exported[0]["metadata"]["note"], "commas, \"quotes\"\nand a newline\r\n");
    std::set<std::string> ids;
    for (const auto& batch : exported) ids.insert(batch["id"]);
    EXPECT_EQ(ids.size(), 452u);
    EXPECT_TRUE(ids.count("gone"));
    // No temporary file is left beside it.
    std::size_t files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(file.parent_path()))
        if (entry.path().filename().string().starts_with("batches.jsonl")) ++files;
    EXPECT_EQ(files, 1u);
}

TEST_F(CliExport, CsvQuotesCommasQuotesAndNewlines) {
    const auto outcome = run({"export", "batches", "--format", "csv", "--since", "2026-11-28T12:00:00Z"});
    ASSERT_EQ(outcome.code, 0) << outcome.err;
    const auto records = parse_csv(outcome.out);
    ASSERT_EQ(records.size(), 2u);  // the header and the one batch created since
    EXPECT_EQ(records[0].front(), "id");
    EXPECT_EQ(records[0].back(), "options");
    const auto& row = records[1];
    ASSERT_EQ(row.size(), records[0].size());
    EXPECT_EQ(row[0], "tricky,\"id\"");
    EXPECT_EQ(row[1], "completed");
    const auto metadata_at = std::find(records[0].begin(), records[0].end(), "metadata") - records[0].begin();
    EXPECT_EQ(json::parse(row[static_cast<std::size_t>(metadata_at)]),
              (json{{"note", "commas, \"quotes\"\nand a newline\r\n"}, {"emoji", "\xc3\xa9t\xc3\xa9"}}));
}

TEST_F(CliExport, TransitionsAndEventsAsFeeds) {
    auto outcome = run({"export", "transitions", "--format", "csv"});
    ASSERT_EQ(outcome.code, 0) << outcome.err;
    auto records = parse_csv(outcome.out);
    ASSERT_EQ(records.size(), 1u + 1500u);  // more than one page of 1000
    EXPECT_EQ(records[0], (std::vector<std::string>{"seq", "batch_id", "from_status", "to_status", "observed_at"}));
    EXPECT_EQ(records[1], (std::vector<std::string>{"1", "b0", "", "pending", "2026-11-01T00:00:00.000Z"}));
    EXPECT_EQ(records[1500][0], "1500");

    outcome = run({"export", "transitions", "--since", "2026-11-10"});
    std::istringstream lines(outcome.out);
    std::size_t count = 0;
    for (std::string line; std::getline(lines, line); ++count)
        EXPECT_EQ(json::parse(line)["observed_at"], "2026-11-20T00:00:00.000Z");
    EXPECT_EQ(count, 500u);

    outcome = run({"export", "events", "--format", "csv"});
    records = parse_csv(outcome.out);
    ASSERT_EQ(records.size(), 31u);
    EXPECT_EQ(records[1][3], "tricky,\"id\"");
    EXPECT_EQ(json::parse(records[1][5])["batch"]["id"], "tricky,\"id\"");  // data as JSON text

    EXPECT_EQ(run({"export", "items"}).code, 2);
    EXPECT_EQ(run({"export", "batches", "--format", "xml"}).code, 2);
}

TEST_F(CliOnMirror, ReportPrintsATableWithBarsOrTheApisJson) {
    mirror->insert_batch({.id = "a",
                          .status = "completed",
                          .created_at = "2026-11-10T10:00:00.000Z",
                          .completed_at = "2026-11-10T10:01:00.000Z",
                          .total_items = 4,
                          .succeeded = 4});
    mirror->insert_batch({.id = "b",
                          .status = "failed",
                          .created_at = "2026-11-10T11:00:00.000Z",
                          .completed_at = "2026-11-10T11:00:30.000Z",
                          .total_items = 2,
                          .failed = 2});
    mirror->insert_batch({.id = "c",
                          .status = "completed",
                          .created_at = "2026-11-11T10:00:00.000Z",
                          .completed_at = "2026-11-11T10:00:10.000Z",
                          .total_items = 1,
                          .succeeded = 1});
    start_server();
    auto outcome = run({"report", "--since", "2026-11-01T00:00:00Z"});
    EXPECT_EQ(outcome.code, 0) << outcome.err;
    // Not a terminal: '#' bars; 2026-11-10 has the most batches, so the longest bar.
    EXPECT_EQ(outcome.out,
              "batches created since 2026-11-01T00:00:00.000Z, by day\n"
              "GROUP       BATCHES                                  ITEMS  FAILED_ITEMS    P50    P95  BY_STATUS\n"
              "2026-11-10        2  ##############################      6             2  30.0s  1m00s  completed 1, "
              "failed 1\n"
              "2026-11-11        1  ###############                     1             0  10.0s  10.0s  completed 1\n");
    outcome = run({"report", "--since", "2026-11-01T00:00:00Z", "--by", "status", "--json"});
    EXPECT_EQ(json::parse(outcome.out), get_json("/v1/report?since=2026-11-01T00:00:00.000Z&by=status"));
    outcome = run({"report", "--by", "week"});
    EXPECT_EQ(outcome.code, 2);
    EXPECT_NE(outcome.err.find("day, engine, status or metadata.KEY"), std::string::npos) << outcome.err;
    EXPECT_EQ(run({"report", "--since", "last-week"}).code, 2);
}

TEST_F(CliOnMirror, BackupWritesACompleteSqliteFileAtomically) {
    mirror->db().exec("BEGIN");
    for (int i = 0; i < 500; ++i) {
        mirror->insert_batch({.id = "b" + std::to_string(i)});
        mirror->insert_transition("b" + std::to_string(i), std::nullopt, "pending", "2026-11-30T03:00:01.000Z");
    }
    mirror->db().exec("COMMIT");
    start_server();
    const auto target = dir / "backups" / "mirror.db";
    std::filesystem::create_directories(target.parent_path());
    auto outcome = run({"backup", target.string()});
    ASSERT_EQ(outcome.code, 0) << outcome.err;
    EXPECT_NE(outcome.out.find("wrote a snapshot of the mirror to " + target.string()), std::string::npos);
    {
        SQLite::Database copy(target.string(), SQLite::OPEN_READONLY);
        EXPECT_EQ(copy.execAndGet("PRAGMA integrity_check").getString(), "ok");
        EXPECT_EQ(copy.execAndGet("SELECT COUNT(*) FROM batches").getInt64(), 500);
        EXPECT_EQ(copy.execAndGet("SELECT COUNT(*) FROM transitions").getInt64(), 500);
    }
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(target.parent_path())) ++files;
    EXPECT_EQ(files, 1u);  // no temporary file left beside it

    // A directory that does not exist: exit 1 naming it, nothing written.
    outcome = run({"backup", (dir / "missing" / "m.db").string()});
    EXPECT_EQ(outcome.code, 1);
    EXPECT_NE(outcome.err.find("missing"), std::string::npos) << outcome.err;
    EXPECT_EQ(run({"backup"}).code, 2);
}

}  // namespace
}  // namespace extract::testing
