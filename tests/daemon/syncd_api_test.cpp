// The running daemon as its users meet it: extract-sim upstream, extract-syncd, and the
// local API and extractctl on the real Unix socket.

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <set>
#include <thread>

#include "cli/unix_http_client.hpp"
#include "core/timefmt.hpp"
#include "tests/daemon/syncd_test_env.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/live_db.hpp"

using namespace extract;
using namespace extract::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

class RunningDaemon : public ::testing::Test {
protected:
    void start(std::vector<std::string> sim_args, const std::string& sync_section = "full_sync_interval = 1s\n") {
        sim_args.insert(sim_args.end(), {"--api-key", kSimKey});
        sim = std::make_unique<SimProcess>(EXTRACT_SIM_BIN, sim_args);
        env.write_config(sim->base_url(), sync_section);
        syncd = env.start_syncd({});
        ASSERT_TRUE(eventually([&] { return api("GET", "/v1/health").status == 200; }, 30s)) << syncd->stderr_text();
    }

    cli::HttpReply api(const std::string& method, const std::string& target) {
        try {
            return cli::UnixHttpClient(env.socket_path, 15s).request(method, target);
        } catch (const cli::ConnectError&) {
            return {};
        }
    }
    // The answer's JSON; null when the daemon did not answer (yet).
    json api_json(const std::string& target) {
        const auto reply = api("GET", target);
        return reply.status == 0 ? json() : json::parse(reply.body);
    }

    std::unique_ptr<ChildProcess> ctl(std::vector<std::string> args) {
        std::vector<std::string> argv{EXTRACTCTL_BIN, "--socket", env.socket_path};
        argv.insert(argv.end(), args.begin(), args.end());
        return std::make_unique<ChildProcess>(argv);
    }

    std::string batch_with_status(const std::string& status) {
        for (const auto& b : sim->snapshot()) {
            if (b.at("status") == status) return b.at("id").get<std::string>();
        }
        return {};
    }

    SyncdEnv env;
    std::unique_ptr<SimProcess> sim;
    std::unique_ptr<ChildProcess> syncd;
};

TEST_F(RunningDaemon, HealthStatsAndListAnswerFromTheMirror) {
    start({"--batches", "300", "--frozen"});
    const json health = api_json("/v1/health");
    EXPECT_EQ(health.at("status"), "ok");
    EXPECT_EQ(health.at("synced"), true);
    EXPECT_EQ(api_json("/v1/stats").at("batches").at("total"), 300);

    auto ls = ctl({"ls", "--json", "--limit", "7"});
    ASSERT_EQ(ls->wait(10s), 0) << ls->stderr_text();
    EXPECT_EQ(json::parse(ls->stdout_text()).at("data").size(), 7u);

    // The daemon feeds the metrics: upstream answers by code, transitions, the last good sync.
    const std::string metrics = api("GET", "/metrics").body;
    EXPECT_NE(metrics.find("extract_sync_upstream_requests_total{code=\"200\"}"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("extract_sync_transitions_total{to_status=\""), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("extract_sync_sync_runs_total{kind=\"full\",outcome=\"ok\"}"), std::string::npos) << metrics;
    EXPECT_EQ(metrics.find("extract_sync_last_successful_sync_timestamp_seconds 0\n"), std::string::npos) << metrics;

    auto health_cmd = ctl({"health"});
    EXPECT_EQ(health_cmd->wait(10s), 0) << health_cmd->stderr_text();
    auto sync_cmd = ctl({"sync", "--full"});
    EXPECT_EQ(sync_cmd->wait(30s), 0) << sync_cmd->stderr_text();
    EXPECT_NE(sync_cmd->stdout_text().find("full"), std::string::npos) << sync_cmd->stdout_text();
}

TEST_F(RunningDaemon, EveryCommandAndRouteAnswersFromTheRunningDaemon) {
    start({"--batches", "50", "--frozen"});
    const std::string id = batch_with_status("running");
    ASSERT_FALSE(id.empty());
    sim->set_status(id, "completed");
    ASSERT_TRUE(eventually(
        [&] { return api_json("/v1/batches/" + id + "/transitions").value("data", json::array()).size() == 2; }, 20s));

    const json detail = api_json("/v1/batches/" + id);
    EXPECT_EQ(detail.at("status"), "completed");
    EXPECT_EQ(detail.at("transitions").size(), 2u);
    EXPECT_TRUE(detail.at("mirror").at("removed_at").is_null());

    struct Case {
        std::vector<std::string> args;
        int exit_code;
        std::string expect;  // in stdout
    };
    const std::vector<Case> cases{
        {{"show", id}, 0, "completed"},
        {{"events", "--type", "batch.status_changed"}, 0, id},
        {{"events", "--json"}, 0, "\"last_seq\""},
        {{"stats"}, 0, "50"},
        {{"health", "--json"}, 0, "\"ok\""},
        {{"deliveries"}, 0, ""},
        {{"redeliver", "--failed"}, 0, ""},
        {{"ls", "--status", "completed", "--all"}, 0, id},
        {{"show", "bat_does_not_exist"}, 1, ""},
        {{"ls", "--limit", "0"}, 2, ""},
    };
    for (const auto& c : cases) {
        auto p = ctl(c.args);
        EXPECT_EQ(p->wait(20s), c.exit_code) << c.args.at(0) << ": " << p->stderr_text();
        EXPECT_NE(p->stdout_text().find(c.expect), std::string::npos) << c.args.at(0) << ": " << p->stdout_text();
    }

    // Bad input against the real socket: the documented error shapes.
    EXPECT_EQ(api("GET", "/v1/nothing").status, 404);
    const auto wrong_method = api("DELETE", "/v1/batches");
    EXPECT_EQ(wrong_method.status, 405);
    const auto bad_limit = api("GET", "/v1/batches?limit=500");
    EXPECT_EQ(bad_limit.status, 422);
    EXPECT_EQ(json::parse(bad_limit.body).at("detail").at(0).at("loc"), json::array({"query", "limit"}));
    EXPECT_EQ(api("GET", "/openapi.json").status, 200);
    EXPECT_TRUE(syncd->running());
}

TEST_F(RunningDaemon, WaitExitsZeroOneOrTimeoutAsTheBatchEnds) {
    start({"--batches", "200", "--frozen"});
    const std::string to_complete = batch_with_status("running");
    const auto pending = sim->create(2, "pending");
    ASSERT_FALSE(to_complete.empty());
    ASSERT_TRUE(eventually([&] { return api("GET", "/v1/batches/" + pending[1]).status == 200; }, 10s));

    auto completes = ctl({"wait", to_complete, "--timeout", "30s"});
    auto fails = ctl({"wait", pending[0], "--timeout", "30s"});
    auto times_out = ctl({"wait", pending[1], "--timeout", "1s"});
    sim->set_status(to_complete, "completed");
    sim->set_status(pending[0], "failed");
    EXPECT_EQ(completes->wait(30s), 0) << completes->stderr_text();
    EXPECT_EQ(fails->wait(30s), 1) << fails->stderr_text();
    EXPECT_EQ(times_out->wait(30s), 124) << times_out->stderr_text();
}

// Woken by the commit, not by the 20 s deadline of its wait; the latency itself is a figure of
// bench_events (docs/BENCHMARKS.md), not a test.
TEST_F(RunningDaemon, ALongPollIsWokenByTheCommit) {
    start({"--batches", "100", "--frozen"}, "full_sync_interval = 500ms\n");
    const std::string id = batch_with_status("running");
    ASSERT_FALSE(id.empty());
    const std::int64_t after = api_json("/v1/events?after=9223372036854775807").at("last_seq").get<std::int64_t>();

    json answer;
    WallTime answered_at;
    std::thread poller([&] {
        const auto reply =
            cli::UnixHttpClient(env.socket_path, 30s)
                .request("GET", "/v1/events?after=" + std::to_string(after) + "&batch_id=" + id + "&wait=20s");
        answered_at = std::chrono::system_clock::now();
        answer = json::parse(reply.body);
    });
    sim->set_status(id, "completed");
    poller.join();
    ASSERT_EQ(answer.at("data").size(), 1u) << answer.dump();
    const auto committed = parse_timestamp(answer.at("data").at(0).at("created_at").get<std::string>());
    ASSERT_TRUE(committed.has_value());
    EXPECT_LT(answered_at - *committed, scaled(2s));
    EXPECT_EQ(answer.at("data").at(0).at("type"), "batch.status_changed");
}

TEST_F(RunningDaemon, PagingTheLocalListWhileASyncWritesNeitherSkipsNorRepeats) {
    // A slow upstream keeps the first sync writing while the list is paged.
    sim = std::make_unique<SimProcess>(EXTRACT_SIM_BIN,
                                       std::vector<std::string>{"--batches", "4000", "--frozen", "--api-key", kSimKey});
    sim->set_faults({{"slow_rate", 1.0}, {"slow_ms", 40}});
    env.write_config(sim->base_url());
    syncd = env.start_syncd({});
    ASSERT_TRUE(eventually(
        [&] {
            const json stats = api_json("/v1/stats");
            return stats.is_object() && stats.at("batches").at("total").get<int>() >= 400;
        },
        30s))
        << syncd->stderr_text();

    const auto before = api_json("/v1/stats").at("batches").at("total").get<int>();
    std::set<std::string> ids_before;
    {
        auto db = open_live_db(env.db_path);
        SQLite::Statement q(db, "SELECT id FROM batches");
        while (q.executeStep()) ids_before.insert(q.getColumn(0).getString());
    }
    std::set<std::string> seen;
    std::string cursor;
    int pages = 0;
    int total = before;
    do {
        const json page = api_json("/v1/batches?limit=50" + (cursor.empty() ? "" : "&cursor=" + cursor));
        for (const auto& b : page.at("data")) {
            EXPECT_TRUE(seen.insert(b.at("id").get<std::string>()).second) << "repeated " << b.at("id");
        }
        cursor = page.at("next_cursor").is_null() ? "" : page.at("next_cursor").get<std::string>();
        ++pages;
        // Let the sync commit another page before the next one is read.
        if (total < 4000) {
            eventually([&] { return api_json("/v1/stats").at("batches").at("total").get<int>() > total; }, 5s);
            total = api_json("/v1/stats").at("batches").at("total").get<int>();
        }
    } while (!cursor.empty());
    const auto after = api_json("/v1/stats").at("batches").at("total").get<int>();
    EXPECT_GT(after, before) << "the sync must have been writing while the list was paged";
    for (const auto& id : ids_before) EXPECT_TRUE(seen.count(id)) << "skipped " << id;
    EXPECT_GT(pages, 8);
}

TEST_F(RunningDaemon, ACursorOutlivesARestartAndAnotherMirrorsDaemonRefusesIt) {
    start({"--batches", "20", "--frozen"}, "full_sync_interval = 1h\n");
    ASSERT_TRUE(eventually([&] { return api_json("/v1/stats").at("batches").at("total") == 20; }, 30s));
    const std::string cursor = api_json("/v1/batches?limit=5").at("next_cursor");
    const json second_page = api_json("/v1/batches?limit=5&cursor=" + cursor).at("data");
    ASSERT_EQ(second_page.size(), 5u);
    {
        auto db = open_live_db(env.db_path);
        EXPECT_EQ(db.execAndGet("SELECT length(value) FROM meta WHERE key = 'cursor_key'").getInt(), 64);
    }

    // The same mirror after a restart: its key is kept, the cursor pages on.
    syncd->signal(SIGTERM);
    ASSERT_EQ(syncd->wait(15s), 0) << syncd->stderr_text();
    syncd = env.start_syncd({});
    ASSERT_TRUE(eventually([&] { return api("GET", "/v1/health").status == 200; }, 30s)) << syncd->stderr_text();
    EXPECT_EQ(api_json("/v1/batches?limit=5&cursor=" + cursor).at("data"), second_page);

    // A daemon on another mirror of the same upstream has a key of its own: 422 on `cursor`.
    SyncdEnv other;
    other.write_config(sim->base_url(), "full_sync_interval = 1h\n");
    auto other_syncd = other.start_syncd({});
    ASSERT_TRUE(eventually(
        [&] {
            try {
                return cli::UnixHttpClient(other.socket_path, 2s).request("GET", "/v1/health").status == 200;
            } catch (const cli::ConnectError&) {
                return false;
            }
        },
        30s))
        << other_syncd->stderr_text();
    const auto refused =
        cli::UnixHttpClient(other.socket_path, 15s).request("GET", "/v1/batches?limit=5&cursor=" + cursor);
    EXPECT_EQ(refused.status, 422) << refused.body;
    EXPECT_NE(refused.body.find("from another mirror"), std::string::npos) << refused.body;
}

TEST_F(RunningDaemon, ASecondDaemonOnALiveSocketIsRefusedAndAStaleSocketIsReplaced) {
    start({"--batches", "20", "--frozen"});
    SyncdEnv other;
    other.write_config(sim->base_url());
    other.socket_path = env.socket_path;
    const auto second_config = other.dir.write("second.ini", "[upstream]\nbase_url = " + sim->base_url() +
                                                                 "\n[cache]\npath = " + other.db_path +
                                                                 "\n[api]\nsocket = " + env.socket_path + "\n");
    other.config_path = second_config.string();
    auto second = other.start_syncd({});
    EXPECT_EQ(second->wait(15s), 1);
    EXPECT_NE(second->stderr_text().find(env.socket_path), std::string::npos) << second->stderr_text();
    EXPECT_EQ(api("GET", "/v1/health").status, 200) << "the first daemon still serves";

    // A socket file nobody listens on (left by a crash) is replaced.
    SyncdEnv third;
    third.write_config(sim->base_url());
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", third.socket_path.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
    auto replaced = third.start_syncd({});
    EXPECT_TRUE(eventually(
        [&] {
            try {
                return cli::UnixHttpClient(third.socket_path, 2s).request("GET", "/v1/health").status != 0;
            } catch (const cli::ConnectError&) {
                return false;
            }
        },
        20s))
        << replaced->stderr_text();
}

}  // namespace
