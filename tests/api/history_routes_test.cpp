// The history routes of SPEC §6 (issue 17) against a mirror of known content, through the
// real socket: closed-set validation, paged deliveries, metadata filters, the transition
// feed, the report and the backup.

#include <SQLiteCpp/Statement.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/api/api_fixture.hpp"
#include "tests/support/eventually.hpp"

namespace extract::testing {
namespace {

using nlohmann::json;

class HistoryRoutes : public ApiTest {
protected:
    // The one 422 entry of `target`, checked to name `param`.
    json rejection(const std::string& target, const std::string& param) {
        const auto body = get_json(target, 422);
        EXPECT_EQ(body["detail"].size(), 1u) << body.dump();
        const auto& error = body["detail"][0];
        EXPECT_EQ(error["loc"], (json{"query", param}));
        return error;
    }
};

TEST_F(HistoryRoutes, ClosedSetsAre422NamingTheAllowedValues) {
    mirror->insert_batch({.id = "a"});
    start_server();
    auto error = rejection("/v1/events?type=bogus", "type");
    EXPECT_EQ(error["type"], "literal_error");
    EXPECT_EQ(error["input"], "bogus");
    EXPECT_EQ(error["msg"],
              "Input should be 'batch.created', 'batch.status_changed', 'batch.updated' or 'batch.removed'");
    error = rejection("/v1/deliveries?state=bogus", "state");
    EXPECT_EQ(error["msg"], "Input should be 'pending', 'delivered', 'failed' or 'disabled'");
    const auto reply = post("/v1/deliveries/retry?state=bogus");
    EXPECT_EQ(reply.status, 422) << reply.body;

    // Every allowed value is accepted; open sets (status, engine) still answer an empty 200.
    for (const auto* type : {"batch.created", "batch.status_changed", "batch.updated", "batch.removed"}) {
        EXPECT_EQ(get_json(std::string("/v1/events?type=") + type)["data"], json::array());
    }
    for (const auto* state : {"pending", "delivered", "failed", "disabled"}) {
        EXPECT_EQ(get_json(std::string("/v1/deliveries?state=") + state)["data"], json::array());
    }
    EXPECT_EQ(get_json("/v1/batches?status=bogus")["data"], json::array());
    EXPECT_EQ(get_json("/v1/batches?engine=bogus")["data"], json::array());
}

TEST_F(HistoryRoutes, DeliveriesPageWithCursorsNewestFirst) {
    mirror->insert_batch({.id = "a"});
    const auto event = mirror->insert_event("batch.status_changed", "a", "2026-11-30T12:00:00.000Z");
    std::vector<std::int64_t> failed;
    for (int i = 0; i < 7; ++i) {
        const auto id = mirror->insert_delivery(event, "webhook.ops", i % 2 == 0 ? "failed" : "delivered");
        if (i % 2 == 0) failed.push_back(id);
    }
    start_server();

    const auto walk = [&](const std::string& filter, int limit) {
        std::vector<std::int64_t> ids;
        std::string target = "/v1/deliveries?limit=" + std::to_string(limit) + filter;
        int pages = 0;
        while (true) {
            const auto body = get_json(target);
            ++pages;
            EXPECT_LE(body["data"].size(), static_cast<std::size_t>(limit));
            for (const auto& row : body["data"]) ids.push_back(row["id"]);
            if (body["next_cursor"].is_null()) break;
            EXPECT_TRUE(body["next_cursor"].is_string());
            target = "/v1/deliveries?limit=" + std::to_string(limit) + filter +
                     "&cursor=" + body["next_cursor"].get<std::string>();
        }
        return std::pair(ids, pages);
    };
    const auto [all, pages] = walk("", 3);
    EXPECT_EQ(pages, 3);
    ASSERT_EQ(all.size(), 7u);
    EXPECT_TRUE(std::is_sorted(all.rbegin(), all.rend()));  // newest first, none twice
    EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());

    const auto [only_failed, failed_pages] = walk("&state=failed", 2);
    EXPECT_EQ(failed_pages, 2);
    std::reverse(failed.begin(), failed.end());
    EXPECT_EQ(only_failed, failed);

    // A page that holds the last row exactly says there is no next one.
    EXPECT_TRUE(get_json("/v1/deliveries?limit=7")["next_cursor"].is_null());
    rejection("/v1/deliveries?cursor=abc", "cursor");
}

TEST_F(HistoryRoutes, MetadataFiltersMustAllHoldOnTopLevelStringValues) {
    const auto at = [](int minute) {
        return "2026-11-30T03:" + std::string(minute < 10 ? "0" : "") + std::to_string(minute) + ":00.000Z";
    };
    mirror->insert_batch({.id = "atlas_eu", .created_at = at(1), .metadata = {{"project", "atlas"}, {"region", "eu"}}});
    mirror->insert_batch({.id = "atlas_us", .created_at = at(2), .metadata = {{"project", "atlas"}, {"region", "us"}}});
    mirror->insert_batch({.id = "zeus_eu", .created_at = at(3), .metadata = {{"project", "zeus"}, {"region", "eu"}}});
    mirror->insert_batch({.id = "no_meta", .created_at = at(4)});
    mirror->insert_batch({.id = "number", .created_at = at(5), .metadata = {{"project", 7}}});
    mirror->insert_batch({.id = "object", .created_at = at(6), .metadata = {{"project", {{"a", 1}}}}});
    mirror->insert_batch({.id = "nested", .created_at = at(7), .metadata = {{"team", {{"name", "atlas"}}}}});
    mirror->insert_batch({.id = "dotted", .created_at = at(8), .metadata = {{"team.name", "atlas"}}});
    mirror->insert_batch({.id = "atlas_gone",
                          .created_at = at(9),
                          .removed_at = "2026-11-30T05:00:00.000Z",
                          .metadata = {{"project", "atlas"}}});
    for (int i = 0; i < 5; ++i) {
        mirror->insert_batch({.id = "atlas_" + std::to_string(i),
                              .created_at = at(20 + i),
                              .engine = i % 2 == 0 ? "fast" : "standard",
                              .metadata = {{"project", "atlas"}}});
    }
    start_server();
    const auto ids = [&](const std::string& query) {
        std::vector<std::string> out;
        const auto body = get_json("/v1/batches" + query);  // alive through the loop
        for (const auto& item : body["data"]) out.push_back(item["id"]);
        return out;
    };
    using Ids = std::vector<std::string>;
    EXPECT_EQ(ids("?metadata.project=atlas"),
              (Ids{"atlas_4", "atlas_3", "atlas_2", "atlas_1", "atlas_0", "atlas_us", "atlas_eu"}));
    EXPECT_EQ(ids("?metadata.project=atlas&metadata.region=eu"), (Ids{"atlas_eu"}));
    EXPECT_EQ(ids("?metadata.region=eu"), (Ids{"zeus_eu", "atlas_eu"}));
    // Every filter must hold: the same key twice with two values matches nothing.
    EXPECT_EQ(ids("?metadata.region=eu&metadata.region=us"), Ids{});
    // Only strings equal VALUE: not the number 7, not an object with that text.
    EXPECT_EQ(ids("?metadata.project=7"), Ids{});
    EXPECT_EQ(ids("?metadata.project=%7B%22a%22%3A1%7D"), Ids{});
    // The key is a top-level key, dots included; nothing descends into nested objects.
    EXPECT_EQ(ids("?metadata.team.name=atlas"), (Ids{"dotted"}));
    EXPECT_EQ(ids("?metadata.unknown=x"), Ids{});
    // Beside the other filters, removed batches on request, and paged by the same cursors.
    EXPECT_EQ(ids("?metadata.project=atlas&engine=fast"), (Ids{"atlas_4", "atlas_2", "atlas_0"}));
    EXPECT_EQ(ids("?metadata.project=atlas&created_before=2026-11-30T03:20:30Z"),
              (Ids{"atlas_0", "atlas_us", "atlas_eu"}));
    EXPECT_EQ(ids("?metadata.project=atlas&include_removed=true").size(), 8u);
    Ids paged;
    std::string target = "/v1/batches?metadata.project=atlas&limit=3";
    while (true) {
        const auto body = get_json(target);
        for (const auto& item : body["data"]) paged.push_back(item["id"]);
        if (body["next_cursor"].is_null()) break;
        target = "/v1/batches?metadata.project=atlas&limit=3&cursor=" + body["next_cursor"].get<std::string>();
    }
    EXPECT_EQ(paged, ids("?metadata.project=atlas"));

    rejection("/v1/batches?metadata.=x", "metadata.");
    rejection("/v1/batches?metadata.a%22b=x", "metadata.a\"b");
    std::string many = "/v1/batches?";
    for (int i = 0; i < 9; ++i) many += "metadata.k" + std::to_string(i) + "=v&";
    rejection(many, "metadata.k8");
}

TEST_F(HistoryRoutes, TransitionFeedPagesTheWholeHistoryOldestFirst) {
    mirror->insert_batch({.id = "a"});
    mirror->insert_batch({.id = "b"});
    for (int i = 0; i < 5; ++i) {
        mirror->insert_transition(i % 2 == 0 ? "a" : "b", i == 0 ? std::nullopt : std::optional<std::string>("pending"),
                                  "running", "2026-11-30T03:00:0" + std::to_string(i) + ".000Z");
    }
    start_server();
    auto body = get_json("/v1/transitions?limit=2");
    EXPECT_EQ(body["object"], "list");
    ASSERT_EQ(body["data"].size(), 2u);
    EXPECT_EQ(body["data"][0], (json{{"seq", 1},
                                     {"batch_id", "a"},
                                     {"from_status", nullptr},
                                     {"to_status", "running"},
                                     {"observed_at", "2026-11-30T03:00:00.000Z"}}));
    EXPECT_EQ(body["last_seq"], 2);  // a full page: its last seq
    std::vector<std::int64_t> seqs;
    std::int64_t after = 0;
    for (int pages = 0; pages < 10; ++pages) {
        body = get_json("/v1/transitions?limit=2&after=" + std::to_string(after));
        for (const auto& row : body["data"]) seqs.push_back(row["seq"]);
        after = body["last_seq"];
        if (body["data"].size() < 2) break;
    }
    EXPECT_EQ(seqs, (std::vector<std::int64_t>{1, 2, 3, 4, 5}));
    EXPECT_EQ(after, 5);
    body = get_json("/v1/transitions?after=5");
    EXPECT_EQ(body["data"], json::array());
    EXPECT_EQ(body["last_seq"], 5);
    EXPECT_EQ(get_json("/v1/transitions")["data"].size(), 5u);  // default limit 100
    rejection("/v1/transitions?limit=1001", "limit");
    rejection("/v1/transitions?after=-1", "after");
}

class HistoryReport : public HistoryRoutes {
protected:
    void SetUp() override {
        using B = MirrorFile::BatchRow;
        const json atlas{{"project", "atlas"}};
        // 2026-11-10: three finished batches, 60 s, 120 s and 300 s.
        mirror->insert_batch(B{.id = "b1",
                               .status = "completed",
                               .created_at = "2026-11-10T10:00:00.000Z",
                               .engine = "fast",
                               .metadata = atlas,
                               .completed_at = "2026-11-10T10:01:00.000Z",
                               .total_items = 10,
                               .succeeded = 10});
        mirror->insert_batch(B{.id = "b2",
                               .status = "failed",
                               .created_at = "2026-11-10T11:00:00.000Z",
                               .engine = "fast",
                               .metadata = atlas,
                               .completed_at = "2026-11-10T11:02:00.000Z",
                               .total_items = 5,
                               .failed = 5});
        mirror->insert_batch(B{.id = "b3",
                               .status = "partially_failed",
                               .created_at = "2026-11-10T12:00:00.000Z",
                               .engine = "standard",
                               .metadata = {{"project", "zeus"}},
                               .completed_at = "2026-11-10T12:05:00.000Z",
                               .total_items = 4,
                               .succeeded = 3,
                               .failed = 1});
        // 2026-11-11: one still running (no duration).
        mirror->insert_batch(B{.id = "b4",
                               .status = "running",
                               .created_at = "2026-11-11T09:00:00.000Z",
                               .engine = "fast",
                               .metadata = atlas,
                               .total_items = 7});
        // Its own offset puts it on 2026-11-12 in UTC; 30 s.
        mirror->insert_batch(B{.id = "b5",
                               .status = "completed",
                               .created_at = "2026-11-11T23:30:00-02:00",
                               .engine = std::nullopt,
                               .completed_at = "2026-11-12T01:30:30Z",
                               .total_items = 2,
                               .succeeded = 2});
        // Removed upstream, still history: 10 s.
        mirror->insert_batch(B{.id = "b6",
                               .status = "completed",
                               .created_at = "2026-11-12T05:00:00.000Z",
                               .engine = "standard",
                               .removed_at = "2026-11-20T00:00:00.000Z",
                               .metadata = {{"project", 7}},
                               .completed_at = "2026-11-12T05:00:10.000Z",
                               .total_items = 1,
                               .succeeded = 1});
        // Before the window.
        mirror->insert_batch(B{.id = "b0",
                               .status = "completed",
                               .created_at = "2026-10-01T00:00:00.000Z",
                               .engine = "fast",
                               .completed_at = "2026-10-01T00:00:01.000Z"});
        start_server();
    }

    json groups(const std::string& query) {
        const auto body = get_json("/v1/report?since=2026-11-01T00:00:00Z" + query);
        EXPECT_EQ(body["object"], "report");
        EXPECT_EQ(body["since"], "2026-11-01T00:00:00.000Z");
        return body["groups"];
    }
};

TEST_F(HistoryReport, CountsPerDayWithDurationPercentiles) {
    const auto days = groups("");
    ASSERT_EQ(days.size(), 3u) << days.dump();
    EXPECT_EQ(days[0], (json{{"key", "2026-11-10"},
                             {"batches", 3},
                             {"by_status", {{"completed", 1}, {"failed", 1}, {"partially_failed", 1}}},
                             {"items", 19},
                             {"failed_items", 6},
                             {"duration_s", {{"p50", 120.0}, {"p95", 300.0}}}}));
    EXPECT_EQ(days[1], (json{{"key", "2026-11-11"},
                             {"batches", 1},
                             {"by_status", {{"running", 1}}},
                             {"items", 7},
                             {"failed_items", 0},
                             {"duration_s", {{"p50", nullptr}, {"p95", nullptr}}}}));
    EXPECT_EQ(days[2]["key"], "2026-11-12");
    EXPECT_EQ(days[2]["batches"], 2);
    EXPECT_EQ(days[2]["duration_s"], (json{{"p50", 10.0}, {"p95", 30.0}}));
}

TEST_F(HistoryReport, GroupsByEngineStatusAndMetadata) {
    const auto engines = groups("&by=engine");
    ASSERT_EQ(engines.size(), 3u) << engines.dump();
    EXPECT_EQ(engines[0]["key"], "fast");  // most batches first
    EXPECT_EQ(engines[0]["batches"], 3);
    EXPECT_EQ(engines[1]["key"], "standard");
    EXPECT_EQ(engines[2]["key"], nullptr);

    const auto statuses = groups("&by=status");
    ASSERT_EQ(statuses[0]["key"], "completed");
    EXPECT_EQ(statuses[0]["batches"], 2 + 0 + 1);
    EXPECT_EQ(statuses[0]["by_status"], (json{{"completed", 3}}));
    EXPECT_EQ(statuses[0]["duration_s"], (json{{"p50", 30.0}, {"p95", 60.0}}));

    const auto projects = groups("&by=metadata.project");
    ASSERT_EQ(projects.size(), 3u) << projects.dump();
    EXPECT_EQ(projects[0]["key"], "atlas");
    EXPECT_EQ(projects[0]["batches"], 3);
    EXPECT_EQ(projects[0]["items"], 22);
    EXPECT_EQ(projects[0]["failed_items"], 5);
    EXPECT_EQ(projects[0]["duration_s"], (json{{"p50", 60.0}, {"p95", 120.0}}));
    // No such string (none, or the number 7): one group without a key.
    EXPECT_EQ(projects[1]["key"], nullptr);
    EXPECT_EQ(projects[1]["batches"], 2);
    EXPECT_EQ(projects[2]["key"], "zeus");
}

TEST_F(HistoryReport, PercentilesAreNearestRank) {
    for (int i = 1; i <= 20; ++i) {
        const std::string completed =
            std::string("2026-11-20T10:00:") + (i < 10 ? "0" : "") + std::to_string(i) + ".000Z";
        mirror->insert_batch({.id = "p" + std::to_string(i),
                              .status = "completed",
                              .created_at = "2026-11-20T10:00:00.000Z",
                              .metadata = {{"project", "many"}},
                              .completed_at = completed});
    }
    const auto projects = groups("&by=metadata.project");
    const auto many = std::find_if(projects.begin(), projects.end(), [](const json& g) { return g["key"] == "many"; });
    ASSERT_NE(many, projects.end());
    EXPECT_EQ((*many)["batches"], 20);
    EXPECT_EQ((*many)["duration_s"], (json{{"p50", 10.0}, {"p95", 19.0}}));
}

TEST_F(HistoryReport, SinceTakesADurationAndClosedSetsAreChecked) {
    // A century back holds every batch; the default (7 days) holds none of these from 2026-11.
    const auto body = get_json("/v1/report?since=36500d&by=status");
    std::int64_t total = 0;
    for (const auto& g : body["groups"]) total += g["batches"].get<std::int64_t>();
    EXPECT_EQ(total, 7);
    EXPECT_EQ(get_json("/v1/report")["by"], "day");
    auto error = rejection("/v1/report?by=week", "by");
    EXPECT_EQ(error["type"], "literal_error");
    EXPECT_EQ(error["msg"], "Input should be 'day', 'engine', 'status' or 'metadata.KEY'");
    rejection("/v1/report?by=metadata.", "by");
    rejection("/v1/report?since=last-week", "since");
}

// What a backup file holds: integrity_check's verdict and the rows of each table.
struct BackupContents {
    std::string integrity;
    std::int64_t batches = 0, transitions = 0, events = 0, deliveries = 0;
    std::string journal_mode;
};

BackupContents read_backup(const std::filesystem::path& path) {
    SQLite::Database db(path.string(), SQLite::OPEN_READONLY);
    BackupContents c;
    c.integrity = db.execAndGet("PRAGMA integrity_check").getString();
    c.batches = db.execAndGet("SELECT COUNT(*) FROM batches").getInt64();
    c.transitions = db.execAndGet("SELECT COUNT(*) FROM transitions").getInt64();
    c.events = db.execAndGet("SELECT COUNT(*) FROM events").getInt64();
    c.deliveries = db.execAndGet("SELECT COUNT(*) FROM deliveries").getInt64();
    c.journal_mode = db.execAndGet("PRAGMA journal_mode").getString();
    return c;
}

TEST_F(HistoryRoutes, BackupIsTheWholeMirrorAsASqliteFileAndLeavesNothingBehind) {
    mirror->db().exec("BEGIN");
    for (int i = 0; i < 300; ++i) {
        const std::string id = "b" + std::to_string(i);
        mirror->insert_batch({.id = id, .metadata = {{"n", i}}});
        mirror->insert_transition(id, std::nullopt, "pending", "2026-11-30T03:00:01.000Z");
    }
    const auto seq = mirror->insert_event("batch.created", "b1", "2026-11-30T03:00:01.000Z");
    mirror->insert_delivery(seq, "webhook.ops", "failed");
    mirror->db().exec("COMMIT");
    start_server();

    const auto reply = get("/v1/backup");
    ASSERT_EQ(reply.status, 200) << reply.body;
    const auto type = std::find_if(reply.headers.begin(), reply.headers.end(),
                                   [](const auto& h) { return h.first == "Content-Type"; });
    ASSERT_NE(type, reply.headers.end());
    EXPECT_EQ(type->second, "application/vnd.sqlite3");
    ASSERT_GT(reply.body.size(), 16u);
    EXPECT_EQ(reply.body.substr(0, 16), std::string("SQLite format 3\0", 16));
    const auto copy = dir.write("copy.db", reply.body);
    const auto contents = read_backup(copy);
    EXPECT_EQ(contents.integrity, "ok");
    EXPECT_EQ(contents.batches, 300);
    EXPECT_EQ(contents.transitions, 300);
    EXPECT_EQ(contents.events, 1);
    EXPECT_EQ(contents.deliveries, 1);
    // The snapshot file in the state directory is gone once the reply is out.
    for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
        EXPECT_EQ(entry.path().filename().string().find(".backup-"), std::string::npos) << entry.path();
    }

    // HEAD says how long the file would be and sends none of it: the next reply on the same
    // connection follows the head at once.
    RawConnection c(socket_path);
    ASSERT_TRUE(c.send("HEAD /v1/backup HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"));
    // Read raw bytes: a reader framed by Content-Length would wait for the body HEAD must not send.
    std::string wire;
    const auto deadline = std::chrono::steady_clock::now() + scaled(std::chrono::seconds(10));
    while (wire.find("{") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        char buf[4096];
        const ssize_t n = ::recv(c.fd(), buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0)
            wire.append(buf, static_cast<std::size_t>(n));
        else
            std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling a socket: the condition itself
    }
    const auto first_end = wire.find("\r\n\r\n");
    ASSERT_NE(first_end, std::string::npos) << wire.substr(0, 200);
    EXPECT_EQ(wire.rfind("HTTP/1.1 200 ", 0), 0u) << wire.substr(0, 200);
    EXPECT_NE(wire.substr(0, first_end).find("Content-Length: "), std::string::npos) << wire.substr(0, first_end);
    EXPECT_EQ(wire.compare(first_end + 4, 13, "HTTP/1.1 200 "), 0) << "a body followed the HEAD's head";
}

TEST_F(HistoryRoutes, BackupDuringASyncIsConsistentAndTheWriterGoesOn) {
    for (int i = 0; i < 200; ++i) mirror->insert_batch({.id = "pre" + std::to_string(i)});
    start_server();
    // The writer commits a batch and its transition together, as a sync does, until told to stop.
    std::atomic<bool> writing{true};
    std::atomic<std::int64_t> committed{0};
    std::thread writer([&] {
        MirrorFile w(db_path);
        for (int i = 0; writing.load(); ++i) {
            w.db().exec("BEGIN IMMEDIATE");
            const std::string id = "sync" + std::to_string(i);
            w.insert_batch({.id = id, .metadata = {{"blob", std::string(2000, 'x')}}});
            w.insert_transition(id, std::nullopt, "pending", "2026-11-30T03:00:01.000Z");
            w.db().exec("COMMIT");
            ++committed;
        }
    });
    ASSERT_TRUE(eventually([&] { return committed.load() >= 50; }, std::chrono::seconds(20)));
    const std::int64_t before = committed.load();
    const auto reply = get("/v1/backup");
    const std::int64_t after = committed.load();
    // The writer was never stopped for the snapshot: it kept committing after it too.
    ASSERT_TRUE(eventually([&] { return committed.load() > after + 20; }, std::chrono::seconds(20)));
    writing = false;
    writer.join();

    ASSERT_EQ(reply.status, 200) << reply.body;
    const auto contents = read_backup(dir.write("during.db", reply.body));
    EXPECT_EQ(contents.integrity, "ok");
    // One moment of the mirror: every batch with its transition, none half-written.
    EXPECT_EQ(contents.batches - 200, contents.transitions);
    EXPECT_GE(contents.batches, 200 + before);
    EXPECT_LE(contents.batches, 200 + after);
    EXPECT_EQ(contents.journal_mode, "delete");  // a plain file, openable without its -wal
}

TEST_F(HistoryRoutes, OneBackupAtATime) {
    mirror->insert_batch({.id = "a"});
    start_server();
    // Sequential backups each succeed: the guard drops when one ends.
    EXPECT_EQ(get("/v1/backup").status, 200);
    EXPECT_EQ(get("/v1/backup").status, 200);
}

}  // namespace
}  // namespace extract::testing
