// The real extractctl binary against an in-process fake of the daemon's API.
#include <gtest/gtest.h>
#include <unistd.h>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <memory>

#include "tests/cli/fake_api_server.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/temp_dir.hpp"

namespace extract::cli {
namespace {

using nlohmann::json;
using testing::ChildProcess;
using testing::FakeApiServer;
using testing::TempDir;
using namespace std::chrono_literals;

constexpr auto kExitBound = 10s;

// After the program exited: returns once its output pipes reached end of file (a needle it
// never prints makes wait_for_stdout return exactly then), so all it wrote has been read.
void drain(ChildProcess& process) { process.wait_for_stdout("\x01never printed", kExitBound); }

struct Outcome {
    int code = -1;
    std::string out;
    std::string err;
};

json batch(const std::string& id, const std::string& status) {
    return {{"object", "batch"},
            {"id", id},
            {"status", status},
            {"counts", {{"pending", 0}, {"running", 1}, {"succeeded", 4}, {"failed", 0}, {"cancelled", 0}}},
            {"total_items", 5},
            {"engine", "standard"},
            {"options", json::object()},
            {"metadata", nullptr},
            {"created_at", "2026-11-30T03:04:05.123456Z"},
            {"started_at", nullptr},
            {"completed_at", nullptr},
            {"expires_at", "2026-12-03T03:04:05.123456Z"}};
}

json batch_detail(const std::string& id, const std::string& status) {
    json b = batch(id, status);
    b["mirror"] = {{"first_seen_at", "2026-11-30T03:04:06.000Z"},
                   {"last_seen_at", "2026-11-30T03:05:00.000Z"},
                   {"last_changed_at", "2026-11-30T03:04:06.000Z"},
                   {"removed_at", nullptr}};
    b["transitions"] = json::array({{{"seq", 1},
                                     {"batch_id", id},
                                     {"from_status", nullptr},
                                     {"to_status", status},
                                     {"observed_at", "2026-11-30T03:04:06.000Z"}}});
    return b;
}

json status_event(std::int64_t seq, const std::string& id, const std::string& status, const std::string& previous) {
    return {{"seq", seq},
            {"id", "evt_" + std::to_string(seq)},
            {"type", "batch.status_changed"},
            {"batch_id", id},
            {"created_at", "2026-11-30T03:10:00.000Z"},
            {"data", {{"batch", batch(id, status)}, {"previous_status", previous}}}};
}

class CliExtractctl : public ::testing::Test {
protected:
    std::vector<std::string> argv(std::vector<std::string> args) const {
        args.insert(args.begin(), {EXTRACTCTL_BIN, "--socket", socket_.string()});
        return args;
    }

    std::unique_ptr<ChildProcess> start(std::vector<std::string> args) const {
        return std::make_unique<ChildProcess>(argv(std::move(args)),
                                              std::map<std::string, std::string>{{"NO_COLOR", ""}});
    }

    // Runs extractctl to its end (bounded).
    Outcome run(std::vector<std::string> args) const { return finish(*start(std::move(args))); }

    static Outcome finish(ChildProcess& process) {
        const auto code = process.wait(kExitBound);
        EXPECT_TRUE(code) << "extractctl did not exit in time";
        drain(process);
        return {code.value_or(-1), process.stdout_text(), process.stderr_text()};
    }

    TempDir dir_;
    std::filesystem::path socket_ = dir_ / "api.sock";
    FakeApiServer api_{socket_};
};

TEST_F(CliExtractctl, LsPrintsATableAndSendsTheFilters) {
    api_.on("GET", "/v1/batches", 200,
            {{"object", "list"},
             {"data", json::array({batch("bat_1", "running"), batch("bat_2", "completed")})},
             {"next_cursor", nullptr}});

    const auto result = run({"ls", "--status", "running", "--since", "2026-11-30T05:00:00+02:00"});

    EXPECT_EQ(result.code, 0) << result.err;
    EXPECT_EQ(result.out,
              "ID     STATUS     ENGINE    TOTAL  SUCCEEDED  FAILED  CREATED_AT\n"
              "bat_1  running    standard      5          4       0  2026-11-30T03:04:05.123456Z\n"
              "bat_2  completed  standard      5          4       0  2026-11-30T03:04:05.123456Z\n");
    EXPECT_EQ(result.err, "");
    const auto request = api_.requests().at(0);
    EXPECT_EQ(request.query.at("status"), "running");
    EXPECT_EQ(request.query.at("created_after"), "2026-11-30T03:00:00.000Z");
    EXPECT_EQ(request.query.at("limit"), "50");
    EXPECT_EQ(request.query.count("include_removed"), 0U);
}

TEST_F(CliExtractctl, LsAllFollowsEveryCursorAndIncludesRemoved) {
    api_.on("GET", "/v1/batches", [](const testing::RecordedRequest& request) {
        const bool first = request.query.count("cursor") == 0;
        const json page{{"object", "list"},
                        {"data", json::array({batch(first ? "bat_1" : "bat_2", "completed")})},
                        {"next_cursor", first ? json("c2") : json(nullptr)}};
        return testing::CannedReply{200, page.dump()};
    });

    const auto result = run({"ls", "--all", "--json"});

    EXPECT_EQ(result.code, 0) << result.err;
    const json printed = json::parse(result.out);
    ASSERT_EQ(printed.at("data").size(), 2U);
    EXPECT_EQ(printed["data"][1]["id"], "bat_2");
    EXPECT_TRUE(printed.at("next_cursor").is_null());
    const auto requests = api_.requests();
    ASSERT_EQ(requests.size(), 2U);
    EXPECT_EQ(requests[0].query.at("include_removed"), "true");
    EXPECT_EQ(requests[0].query.at("limit"), "200");
    EXPECT_EQ(requests[1].query.at("cursor"), "c2");
}

TEST_F(CliExtractctl, LsWithMorePagesSaysSoOnStderr) {
    api_.on("GET", "/v1/batches", 200,
            {{"object", "list"}, {"data", json::array({batch("bat_1", "running")})}, {"next_cursor", "c2"}});
    const auto result = run({"ls", "--limit", "1"});
    EXPECT_EQ(result.code, 0);
    EXPECT_NE(result.err.find("--all"), std::string::npos);
    EXPECT_EQ(api_.requests().size(), 1U);
}

TEST_F(CliExtractctl, JsonFlagPrintsTheApisJsonWhereverItStands) {
    const json page{{"object", "list"}, {"data", json::array({batch("bat_1", "running")})}, {"next_cursor", nullptr}};
    api_.on("GET", "/v1/batches", 200, page);
    EXPECT_EQ(json::parse(run({"ls", "--json"}).out), page);
    ChildProcess flag_first({EXTRACTCTL_BIN, "--json", "--socket", socket_.string(), "ls"});
    EXPECT_EQ(json::parse(finish(flag_first).out), page);
}

TEST_F(CliExtractctl, SocketComesFromTheEnvironment) {
    api_.on("GET", "/v1/stats", 200, {{"events", 1}});
    ChildProcess process({EXTRACTCTL_BIN, "stats", "--json"}, {{"EXTRACT_SOCKET", socket_.string()}});
    const auto result = finish(process);
    EXPECT_EQ(result.code, 0) << result.err;
    EXPECT_EQ(json::parse(result.out), json({{"events", 1}}));
}

TEST_F(CliExtractctl, ShowPrintsFieldsAndTransitions) {
    api_.on("GET", "/v1/batches/bat_1", 200, batch_detail("bat_1", "running"));
    const auto result = run({"show", "bat_1"});
    EXPECT_EQ(result.code, 0) << result.err;
    EXPECT_NE(result.out.find("status           running\n"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("first_seen_at    2026-11-30T03:04:06.000Z\n"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find(
                  "transitions:\nSEQ  FROM  TO       OBSERVED_AT\n  1  -     running  2026-11-30T03:04:06.000Z\n"),
              std::string::npos)
        << result.out;
    EXPECT_EQ(result.out.find('\x1b'), std::string::npos);  // not a terminal: no colour
}

TEST_F(CliExtractctl, ShowOfAnUnknownBatchExits1) {
    const auto result = run({"show", "bat_nope"});
    EXPECT_EQ(result.code, 1);
    EXPECT_EQ(result.err, "extractctl: no batch 'bat_nope' in the mirror\n");
    EXPECT_EQ(result.out, "");
}

TEST_F(CliExtractctl, WaitExits0WhenTheBatchCompletesLater) {
    api_.push_event(status_event(7, "bat_other", "running", "pending"));
    api_.on("GET", "/v1/batches/bat_1", 200, batch_detail("bat_1", "running"));

    auto process = start({"wait", "bat_1"});
    // It reads the batch, then parks on the long poll for events after seq 7 of this batch.
    ASSERT_TRUE(api_.wait_for_requests("/v1/events", 2, kExitBound));
    EXPECT_TRUE(process->running());
    api_.push_event(status_event(8, "bat_other", "failed", "running"));  // not ours: keeps waiting
    api_.on("GET", "/v1/batches/bat_1", 200, batch_detail("bat_1", "completed"));
    api_.push_event(status_event(9, "bat_1", "completed", "running"));  // ours: it reads the batch again
    const auto result = finish(*process);

    EXPECT_EQ(result.code, 0) << result.err;
    EXPECT_EQ(result.out, "bat_1 completed\n");
    const auto requests = api_.requests();
    ASSERT_GE(requests.size(), 3U);
    EXPECT_EQ(requests[0].path, "/v1/events");  // the feed's end first, then the batch
    EXPECT_EQ(requests[1].path, "/v1/batches/bat_1");
    EXPECT_EQ(requests[2].query.at("after"), "7");
    EXPECT_EQ(requests[2].query.at("batch_id"), "bat_1");
    EXPECT_TRUE(requests[2].query.count("wait"));
}

TEST_F(CliExtractctl, WaitExits1WhenTheBatchFails) {
    api_.on("GET", "/v1/batches/bat_1", 200, batch_detail("bat_1", "pending"));
    auto process = start({"wait", "bat_1", "--timeout", "1m"});
    ASSERT_TRUE(api_.wait_for_requests("/v1/events", 2, kExitBound));
    api_.on("GET", "/v1/batches/bat_1", 200, batch_detail("bat_1", "failed"));
    api_.push_event(status_event(1, "bat_1", "failed", "pending"));
    const auto result = finish(*process);
    EXPECT_EQ(result.code, 1);
    EXPECT_EQ(result.out, "bat_1 failed\n");
}

TEST_F(CliExtractctl, WaitOnAnAlreadyTerminalBatchAnswersAtOnce) {
    api_.on("GET", "/v1/batches/bat_1", 200, batch_detail("bat_1", "partially_failed"));
    const auto result = run({"wait", "bat_1", "--json"});
    EXPECT_EQ(result.code, 0) << result.err;
    EXPECT_EQ(json::parse(result.out).at("status"), "partially_failed");
    EXPECT_EQ(api_.requests().size(), 2U);  // feed end, batch: no long poll
}

TEST_F(CliExtractctl, WaitOnATerminalKeepsOneProgressLineOnStderr) {
    // script(1) (util-linux) runs extractctl on a pseudo-terminal and copies what it shows.
    const std::string script = "/usr/bin/script";
    if (access(script.c_str(), X_OK) != 0) GTEST_SKIP() << "needs " << script << " for a terminal";
    api_.on("GET", "/v1/batches/bat_1", 200, batch_detail("bat_1", "running"));
    ChildProcess process({script, "-qfec",
                          std::string(EXTRACTCTL_BIN) + " --socket " + socket_.string() + " wait bat_1", "/dev/null"},
                         {{"NO_COLOR", "1"}});
    ASSERT_TRUE(api_.wait_for_requests("/v1/events", 2, kExitBound));
    api_.on("GET", "/v1/batches/bat_1", 200, batch_detail("bat_1", "completed"));
    api_.push_event(status_event(2, "bat_1", "completed", "running"));
    const auto result = finish(process);
    EXPECT_EQ(result.code, 0) << result.out;
    // The line is rewritten in place (carriage return, erase line), then cleared for the final line.
    EXPECT_NE(result.out.find("\r\x1b[Kbat_1 running: 4 succeeded, 0 failed of 5 items\r\x1b[Kbat_1 completed"),
              std::string::npos)
        << json(result.out).dump();
}

TEST_F(CliExtractctl, WaitTimesOutWith124) {
    api_.on("GET", "/v1/batches/bat_1", 200, batch_detail("bat_1", "running"));
    const auto started = std::chrono::steady_clock::now();
    const auto result = run({"wait", "bat_1", "--timeout", "300ms"});
    EXPECT_EQ(result.code, 124);
    EXPECT_GE(std::chrono::steady_clock::now() - started, 300ms);
    EXPECT_EQ(result.err, "extractctl: timed out after 300ms waiting for batch bat_1 (status running)\n");
}

TEST_F(CliExtractctl, WaitForABatchNeitherTheMirrorNorUpstreamKnowsExits4) {
    const auto result = run({"wait", "bat_nope", "--timeout", "10s"});
    EXPECT_EQ(result.code, 4);
    EXPECT_EQ(result.err, "extractctl: no batch bat_nope in the mirror or upstream\n");
    const auto requests = api_.requests();
    ASSERT_EQ(requests.size(), 3U);
    EXPECT_EQ(requests[2].method, "POST");
    EXPECT_EQ(requests[2].path, "/v1/batches/bat_nope/refresh");
}

TEST_F(CliExtractctl, WaitRefreshesABatchTheMirrorHasNotSeenYet) {
    api_.on("POST", "/v1/batches/bat_new/refresh", [this](const testing::RecordedRequest&) {
        api_.on("GET", "/v1/batches/bat_new", 200, batch_detail("bat_new", "completed"));  // mirrored from now on
        return testing::CannedReply{200, batch_detail("bat_new", "pending").dump()};
    });
    auto process = start({"wait", "bat_new", "--timeout", "1m"});
    ASSERT_TRUE(api_.wait_for_requests("/v1/events", 2, kExitBound));  // waiting on the feed after the refresh
    api_.push_event(status_event(1, "bat_new", "completed", "pending"));
    const auto result = finish(*process);
    EXPECT_EQ(result.code, 0) << result.err;
    EXPECT_EQ(result.out, "bat_new completed\n");
}

TEST_F(CliExtractctl, WaitKeepsWaitingWhileTheUpstreamCannotBeAsked) {
    api_.on("POST", "/v1/batches/bat_new/refresh", 503, {{"detail", "cannot ask the upstream: connection refused"}});
    const auto result = run({"wait", "bat_new", "--timeout", "300ms"});
    EXPECT_EQ(result.code, 124);
    EXPECT_EQ(result.err,
              "extractctl: cannot fetch batch bat_new from upstream now (cannot ask the upstream: connection refused); "
              "waiting for the sync to mirror it\n"
              "extractctl: timed out after 300ms waiting for batch bat_new (not mirrored yet)\n");
}

TEST_F(CliExtractctl, WaitReconnectsOnceWhenTheDaemonIsStopping) {
    auto stopping = std::make_shared<std::atomic<int>>(2);  // the first two reads of the batch meet a stopping daemon
    api_.on("GET", "/v1/batches/bat_1", [stopping](const testing::RecordedRequest&) {
        if (stopping->fetch_sub(1) > 0) return testing::CannedReply{503, R"({"detail":"the daemon is stopping"})"};
        return testing::CannedReply{200, batch_detail("bat_1", "completed").dump()};
    });
    const auto result = run({"wait", "bat_1", "--timeout", "1m"});
    EXPECT_EQ(result.code, 0) << result.err;
    EXPECT_EQ(result.out, "bat_1 completed\n");
    EXPECT_EQ(result.err, "extractctl: lost the daemon at " + socket_.string() + ", reconnecting until the timeout\n");
}

TEST_F(CliExtractctl, WaitForADaemonThatIsNotThereExits3AtOnce) {
    ChildProcess process(
        {EXTRACTCTL_BIN, "--socket", (dir_ / "nobody.sock").string(), "wait", "bat_1", "--timeout", "1m"});
    const auto result = finish(process);
    EXPECT_EQ(result.code, 3);
    EXPECT_NE(result.err.find("nobody.sock"), std::string::npos) << result.err;
}

TEST_F(CliExtractctl, WaitEndsWhenTheBatchIsRemovedBeforeItFinishes) {
    api_.on("GET", "/v1/batches/bat_1", 200, batch_detail("bat_1", "running"));
    auto process = start({"wait", "bat_1"});
    ASSERT_TRUE(api_.wait_for_requests("/v1/events", 2, kExitBound));
    json gone = batch_detail("bat_1", "running");
    gone["mirror"]["removed_at"] = "2026-11-30T03:20:00.000Z";
    api_.on("GET", "/v1/batches/bat_1", 200, gone);
    json removed = status_event(3, "bat_1", "running", "running");
    removed["type"] = "batch.removed";
    api_.push_event(removed);
    const auto result = finish(*process);
    EXPECT_EQ(result.code, 1);
    EXPECT_NE(result.err.find("was removed upstream before it finished"), std::string::npos) << result.err;
}

TEST_F(CliExtractctl, WaitRereadsTheBatchWhenEventsWerePruned) {
    auto batch_reads = std::make_shared<std::atomic<int>>(0);
    api_.on("GET", "/v1/batches/bat_1", [batch_reads](const testing::RecordedRequest&) {
        const bool first = batch_reads->fetch_add(1) == 0;
        return testing::CannedReply{200, batch_detail("bat_1", first ? "running" : "cancelled").dump()};
    });
    api_.on("GET", "/v1/events", [](const testing::RecordedRequest& request) {
        const bool feed_end = request.query.at("after") != "4";
        const json answer =
            feed_end ? json{{"object", "list"}, {"data", json::array()}, {"last_seq", 4}}
                     : json{{"object", "list"}, {"data", json::array()}, {"last_seq", 9}, {"truncated", true}};
        return testing::CannedReply{200, answer.dump()};
    });

    const auto result = run({"wait", "bat_1", "--timeout", "10s"});

    EXPECT_EQ(result.code, 1) << result.err;
    EXPECT_EQ(result.out, "bat_1 cancelled\n");
    EXPECT_EQ(batch_reads->load(), 2);
}

TEST_F(CliExtractctl, EventsWarnWhenSomeWerePruned) {
    api_.on("GET", "/v1/events", 200,
            {{"object", "list"},
             {"data", json::array({status_event(40, "bat_1", "running", "pending")})},
             {"last_seq", 40},
             {"truncated", true}});
    const auto result = run({"events", "--after", "3"});
    EXPECT_EQ(result.code, 0);
    EXPECT_NE(result.out.find("bat_1"), std::string::npos);
    EXPECT_NE(result.err.find("already pruned"), std::string::npos) << result.err;
}

TEST_F(CliExtractctl, EventsListsTheLogAsATable) {
    api_.push_event(status_event(1, "bat_1", "running", "pending"));
    api_.push_event(status_event(2, "bat_1", "completed", "running"));
    const auto result = run({"events", "--after", "1"});
    EXPECT_EQ(result.code, 0) << result.err;
    EXPECT_EQ(result.out,
              "SEQ  CREATED_AT                TYPE                  BATCH_ID  STATUS     PREVIOUS\n"
              "  2  2026-11-30T03:10:00.000Z  batch.status_changed  bat_1     completed  running\n");
    EXPECT_EQ(api_.requests().at(0).query.at("after"), "1");
}

TEST_F(CliExtractctl, EventsFollowPrintsNewEventsAsTheyArrive) {
    api_.push_event(status_event(1, "bat_1", "running", "pending"));  // before the follow starts: not printed
    auto process = start({"events", "--follow", "--type", "batch.status_changed"});
    ASSERT_TRUE(process->wait_for_stdout("SEQ", kExitBound));
    ASSERT_TRUE(api_.wait_for_requests("/v1/events", 2, kExitBound));

    api_.push_event(status_event(2, "bat_1", "completed", "running"));
    EXPECT_TRUE(process->wait_for_stdout("completed", kExitBound));
    api_.push_event(status_event(3, "bat_2", "failed", "running"));
    EXPECT_TRUE(process->wait_for_stdout("bat_2", kExitBound));
    EXPECT_TRUE(process->running());

    process->signal(SIGTERM);
    ASSERT_TRUE(process->wait(kExitBound));
    const std::string out = process->stdout_text();
    EXPECT_EQ(out.find("pending"), std::string::npos) << out;
    EXPECT_EQ(api_.requests().back().query.at("type"), "batch.status_changed");
}

TEST_F(CliExtractctl, EventsFollowJsonPrintsOneEventPerLine) {
    auto process = start({"events", "--follow", "--after", "0", "--json"});
    ASSERT_TRUE(api_.wait_for_requests("/v1/events", 1, kExitBound));
    api_.push_event(status_event(1, "bat_1", "running", "pending"));
    const auto line = process->wait_for_stdout("evt_1", kExitBound);
    ASSERT_TRUE(line);
    EXPECT_EQ(json::parse(*line).at("seq"), 1);
}

TEST_F(CliExtractctl, StatsAndDeliveries) {
    api_.on("GET", "/v1/stats", 200,
            {{"batches", {{"total", 2}, {"by_status", {{"completed", 2}}}, {"removed", 0}}},
             {"events", 4},
             {"deliveries", {{"pending", 0}, {"failed", 1}, {"delivered", 3}}}});
    const auto stats = run({"stats"});
    EXPECT_EQ(stats.code, 0) << stats.err;
    EXPECT_EQ(stats.out,
              "batches     2 (0 removed)\nevents      4\ndeliveries  3 delivered, 1 failed, 0 pending\n\n"
              "STATUS     BATCHES\ncompleted        2\n");

    api_.on("GET", "/v1/deliveries", 200,
            {{"object", "list"},
             {"data", json::array({{{"id", 3},
                                    {"event_seq", 2},
                                    {"target", "webhook.a"},
                                    {"state", "failed"},
                                    {"attempts", 8},
                                    {"last_status", 500},
                                    {"next_attempt_at", nullptr},
                                    {"last_error", "HTTP 500"},
                                    {"delivered_at", nullptr}}})}});
    const auto deliveries = run({"deliveries", "--state", "failed", "--target", "webhook.a"});
    EXPECT_EQ(deliveries.code, 0) << deliveries.err;
    EXPECT_NE(deliveries.out.find(" 3      2  webhook.a  failed"), std::string::npos) << deliveries.out;
    const auto request = api_.requests().back();
    EXPECT_EQ(request.query.at("state"), "failed");
    EXPECT_EQ(request.query.at("target"), "webhook.a");
}

TEST_F(CliExtractctl, HealthExits0OnlyWhenOk) {
    json health{{"status", "ok"},           {"version", "0.1.0"},    {"synced", true},           {"last_sync_at", "t"},
                {"last_full_sync_at", "t"}, {"last_error", nullptr}, {"consecutive_failures", 0}};
    api_.on("GET", "/v1/health", 200, health);
    const auto ok = run({"health"});
    EXPECT_EQ(ok.code, 0) << ok.err;
    EXPECT_EQ(ok.out.substr(0, 25), "status                ok\n");

    health["status"] = "degraded";
    health["last_error"] = "upstream answered 401";
    api_.on("GET", "/v1/health", 503, health);
    const auto degraded = run({"health"});
    EXPECT_EQ(degraded.code, 1);
    EXPECT_NE(degraded.out.find("upstream answered 401"), std::string::npos);

    health["held_removals"] = 1200;
    health["last_error"] = "mass removal held: ... confirm with `extractctl sync --full --confirm-removals` ...";
    api_.on("GET", "/v1/health", 503, health);
    const auto held = run({"health"});
    EXPECT_EQ(held.code, 1);
    EXPECT_NE(held.out.find("held_removals         1200\n"), std::string::npos) << held.out;
    EXPECT_NE(held.out.find("--confirm-removals"), std::string::npos) << held.out;
}

TEST_F(CliExtractctl, SyncPrintsTheRunAndFailsWhenItFailed) {
    json run_row{{"id", 5},    {"kind", "full"}, {"started_at", "a"}, {"finished_at", "b"}, {"requests", 2},
                 {"pages", 2}, {"upserted", 10}, {"changed", 1},      {"removed", 0},       {"error", nullptr}};
    api_.on("POST", "/v1/sync", 200, run_row);
    const auto ok = run({"sync", "--full"});
    EXPECT_EQ(ok.code, 0) << ok.err;
    EXPECT_NE(ok.out.find("kind         full\n"), std::string::npos) << ok.out;
    const auto request = api_.requests().back();
    EXPECT_EQ(request.query.at("full"), "true");
    EXPECT_EQ(request.query.at("wait"), "true");

    run_row["error"] = "upstream 503";
    api_.on("POST", "/v1/sync", 200, run_row);
    const auto failed = run({"sync"});
    EXPECT_EQ(failed.code, 1);
    EXPECT_EQ(api_.requests().back().query.at("full"), "false");
    EXPECT_EQ(api_.requests().back().query.count("confirm_removals"), 0u);
}

TEST_F(CliExtractctl, SyncConfirmsHeldRemovalsOnlyWithAFullPass) {
    json run_row{{"id", 6},    {"kind", "full"}, {"started_at", "a"}, {"finished_at", "b"}, {"requests", 1},
                 {"pages", 1}, {"upserted", 0},  {"changed", 0},      {"removed", 1200},    {"error", nullptr}};
    api_.on("POST", "/v1/sync", 200, run_row);
    const auto confirmed = run({"sync", "--full", "--confirm-removals"});
    EXPECT_EQ(confirmed.code, 0) << confirmed.err;
    EXPECT_NE(confirmed.out.find("removed      1200\n"), std::string::npos) << confirmed.out;
    const auto request = api_.requests().back();
    EXPECT_EQ(request.query.at("full"), "true");
    EXPECT_EQ(request.query.at("confirm_removals"), "true");

    const std::size_t sent = api_.requests().size();
    const auto alone = run({"sync", "--confirm-removals"});
    EXPECT_EQ(alone.code, 2);
    EXPECT_NE(alone.err.find("--confirm-removals needs --full"), std::string::npos) << alone.err;
    EXPECT_EQ(api_.requests().size(), sent) << "a usage error sends nothing";
}

TEST_F(CliExtractctl, SyncTimeoutIsSentAndA504Exits124) {
    api_.on("POST", "/v1/sync", 504,
            {{"detail", "the sync did not finish within 20s; it goes on: see GET /v1/health"}});
    const auto late = run({"sync", "--timeout", "20s"});
    EXPECT_EQ(late.code, 124) << late.err;
    EXPECT_NE(late.err.find("timed out: the sync did not finish within 20s"), std::string::npos) << late.err;
    EXPECT_EQ(api_.requests().back().query.at("timeout"), "20s");
    EXPECT_EQ(run({"sync", "--timeout", "soon"}).code, 2);
    EXPECT_EQ(run({"sync", "--timeout", "0s"}).code, 2);
}

TEST_F(CliExtractctl, RedeliverOneOrEveryFailed) {
    api_.on("POST", "/v1/deliveries/3/retry", 200, {{"id", 3}, {"target", "webhook.a"}, {"state", "pending"}});
    const auto one = run({"redeliver", "3"});
    EXPECT_EQ(one.code, 0) << one.err;
    EXPECT_EQ(one.out, "delivery 3 to webhook.a will be sent again now\n");

    api_.on("POST", "/v1/deliveries/retry", 200, {{"retried", 2}});
    const auto failed = run({"redeliver", "--failed", "--target", "webhook.a"});
    EXPECT_EQ(failed.code, 0) << failed.err;
    EXPECT_EQ(failed.out, "2 deliveries will be sent again now\n");
    const auto request = api_.requests().back();
    EXPECT_EQ(request.query.at("state"), "failed");
    EXPECT_EQ(request.query.at("target"), "webhook.a");

    const auto missing = run({"redeliver", "99"});
    EXPECT_EQ(missing.code, 1);
    EXPECT_EQ(missing.err, "extractctl: no delivery 99\n");
}

TEST_F(CliExtractctl, ApiErrorsPrintTheirDetail) {
    api_.on("GET", "/v1/batches", 422,
            {{"detail",
              json::array({{{"loc", {"query", "status"}}, {"msg", "bad status"}, {"type", "value_error"}}})}});
    const auto invalid = run({"ls", "--status", "x"});
    EXPECT_EQ(invalid.code, 2);
    EXPECT_EQ(invalid.err, "extractctl: cannot list batches: query.status: bad status\n");

    api_.on("GET", "/v1/stats", 503, {{"detail", "database is busy"}});
    const auto busy = run({"stats"});
    EXPECT_EQ(busy.code, 1);
    EXPECT_EQ(busy.err, "extractctl: cannot read stats: database is busy\n");
}

TEST_F(CliExtractctl, UsageErrorsExit2AndHelpExits0) {
    const auto bad = run({"ls", "--limit", "none"});
    EXPECT_EQ(bad.code, 2);
    EXPECT_NE(bad.err.find("Usage: extractctl [--socket PATH] [--json] ls"), std::string::npos) << bad.err;
    EXPECT_TRUE(api_.requests().empty());

    const auto help = run({"wait", "--help"});
    EXPECT_EQ(help.code, 0);
    EXPECT_NE(help.out.find("extractctl wait \"$id\""), std::string::npos) << help.out;
    EXPECT_EQ(run({"help", "events"}).code, 0);
}

TEST(CliExtractctlWithoutDaemon, Exits3NamingTheSocket) {
    TempDir dir;
    const auto socket = (dir / "absent.sock").string();
    for (const char* command : {"health", "ls"}) {
        ChildProcess process({EXTRACTCTL_BIN, "--socket", socket, command});
        ASSERT_EQ(process.wait(kExitBound), 3) << command;
        drain(process);
        const std::string err = process.stderr_text();
        EXPECT_NE(err.find(socket), std::string::npos) << err;
        EXPECT_NE(err.find("systemctl status extract-syncd"), std::string::npos) << err;
        EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    }
}

TEST(CliExtractctlWithoutDaemon, ASocketThisUserMayNotOpenSaysWhichPermissionAndHowToGetIt) {
    if (::geteuid() != 0) GTEST_SKIP() << "connecting as another user needs root (setpriv); not running as root";
    TempDir dir;
    std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_all | std::filesystem::perms::group_exec |
                                                 std::filesystem::perms::others_exec);
    const auto socket = (dir / "api.sock").string();
    FakeApiServer api(socket);  // root's socket, mode 0660 as the daemon makes it
    std::filesystem::permissions(socket, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                                             std::filesystem::perms::group_read | std::filesystem::perms::group_write);
    ChildProcess process({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", EXTRACTCTL_BIN,
                          "--socket", socket, "health"});
    ASSERT_EQ(process.wait(kExitBound), 3);
    drain(process);
    const std::string err = process.stderr_text();
    EXPECT_NE(err.find("Permission denied"), std::string::npos) << err;
    EXPECT_NE(err.find("write permission"), std::string::npos) << err;
    EXPECT_NE(err.find("mode 0660"), std::string::npos) << err;
    EXPECT_NE(err.find("SocketGroup="), std::string::npos) << err;
    EXPECT_NE(err.find("socket_mode"), std::string::npos) << err;
    EXPECT_NE(err.find("allowed_gids"), std::string::npos) << err;
    EXPECT_EQ(err.find("is extract-syncd running"), std::string::npos) << "the daemon runs: " << err;
}

}  // namespace
}  // namespace extract::cli
