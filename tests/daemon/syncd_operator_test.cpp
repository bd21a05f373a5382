// extract-syncd as an operator meets it (issue 16): an unreachable upstream shows in health at
// once and ends --once in bounded time, and one mirror has one daemon.

#include <Poco/Net/ServerSocket.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/unix_http_client.hpp"
#include "tests/daemon/syncd_test_env.hpp"
#include "tests/support/eventually.hpp"

using namespace extract;
using namespace extract::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// A loopback port nothing listens on (bound, then closed): connecting is refused.
std::string refused_url() {
    Poco::Net::ServerSocket closed(Poco::Net::SocketAddress("127.0.0.1", 0));
    return "http://127.0.0.1:" + std::to_string(closed.address().port());
}

// GET /v1/health of the daemon at `socket`; null while it does not answer.
json health_of(const std::string& socket) {
    try {
        const auto reply = cli::UnixHttpClient(socket, 5s).request("GET", "/v1/health");
        return reply.status == 0 ? json() : json::parse(reply.body, nullptr, false);
    } catch (const std::exception&) {
        return json();
    }
}

// Its `status`; empty while the daemon does not answer.
std::string health_status(const std::string& socket) {
    const json health = health_of(socket);
    return health.is_object() ? health.value("status", "") : "";
}

// Waits (bounded) until health is degraded with a last_error; returns that health.
json degraded_health(const SyncdEnv& env, ChildProcess& syncd, std::chrono::milliseconds within) {
    json health;
    const bool degraded = eventually(
        [&] {
            health = health_of(env.socket_path);
            return health.is_object() && health.value("status", "") == "degraded" && health.contains("last_error") &&
                   health.at("last_error").is_string();
        },
        within);
    EXPECT_TRUE(degraded) << health.dump() << "\n" << syncd.stderr_text();
    return health;
}

TEST(SyncdUnreachable, ConnectionRefusedIsDegradedWithItsCauseAfterTheFirstAttempt) {
    SyncdEnv env;
    env.write_config(refused_url());
    auto syncd = env.start_syncd({});
    // The client tries a refused connection 3 times (about 1.5 s); health must not wait for that.
    const json health = degraded_health(env, *syncd, 5s);
    EXPECT_NE(health.value("last_error", "").find("Connection refused"), std::string::npos) << health.dump();
    const std::string log = syncd->stderr_text();
    EXPECT_EQ(log.find("Connection refused: Connection refused"), std::string::npos) << log;
}

TEST(SyncdUnreachable, AnUnknownHostIsDegradedAtOnceAndNotRetriedWithinTheCycle) {
    SyncdEnv env;
    env.write_config("http://no-such-upstream.invalid:8080");
    auto syncd = env.start_syncd({});
    const json health = degraded_health(env, *syncd, 10s);
    EXPECT_NE(health.value("last_error", "").find("no-such-upstream.invalid"), std::string::npos) << health.dump();
    EXPECT_EQ(health.value("last_error", "").find("attempts"), std::string::npos)
        << "an unknown host is not retried like a transient failure: " << health.dump();
}

TEST(SyncdUnreachable, ServerErrorsShowInHealthWhileTheClientIsStillRetrying) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "10", "--frozen", "--api-key", kSimKey});
    sim.set_faults({{"error_rate", 1.0}});
    SyncdEnv env;
    env.write_config(sim.base_url());
    auto syncd = env.start_syncd({});
    // 8 attempts take more than a minute; the first 500 is enough to say so.
    const json health = degraded_health(env, *syncd, 5s);
    EXPECT_NE(health.value("last_error", "").find("HTTP 5"), std::string::npos) << health.dump();
    EXPECT_NE(health.value("last_error", "").find("retrying"), std::string::npos) << health.dump();
}

TEST(SyncdOnceBounded, ARefusedUpstreamEndsOnceWithinItsLimitAndAClearLastLine) {
    SyncdEnv env;
    env.write_config(refused_url());
    const auto started = std::chrono::steady_clock::now();
    auto syncd = env.start_syncd({"--once", "--once-timeout", "3s"});
    ASSERT_EQ(syncd->wait(scaled(20s)), 1) << syncd->stderr_text();
    EXPECT_LT(std::chrono::steady_clock::now() - started, scaled(10s));
    std::string log = syncd->stderr_text();
    while (!log.empty() && log.back() == '\n') log.pop_back();
    const std::string last_line = log.substr(log.rfind('\n') + 1);
    EXPECT_NE(last_line.find("extract-syncd --once failed"), std::string::npos) << log;
    EXPECT_NE(last_line.find("Connection refused"), std::string::npos) << log;
}

TEST(SyncdOnceBounded, AnUnknownHostEndsOnceAtOnce) {
    SyncdEnv env;
    env.write_config("http://no-such-upstream.invalid:8080");
    const auto started = std::chrono::steady_clock::now();
    auto syncd = env.start_syncd({"--once"});  // the default limit is 30 s: it must not be used up
    ASSERT_EQ(syncd->wait(scaled(20s)), 1) << syncd->stderr_text();
    EXPECT_LT(std::chrono::steady_clock::now() - started, scaled(5s)) << syncd->stderr_text();
    EXPECT_NE(syncd->stderr_text().find("extract-syncd --once failed"), std::string::npos) << syncd->stderr_text();
    EXPECT_NE(syncd->stderr_text().find("no-such-upstream.invalid"), std::string::npos) << syncd->stderr_text();
}

TEST(SyncdOnceBounded, AnUpstreamThatKeepsFailingCannotHoldOncePastItsLimit) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "10", "--frozen", "--api-key", kSimKey});
    sim.set_faults({{"error_rate", 1.0}});
    SyncdEnv env;
    env.write_config(sim.base_url());
    const auto started = std::chrono::steady_clock::now();
    // The client alone would retry a 500 for over a minute.
    auto syncd = env.start_syncd({"--once", "--once-timeout", "2s"});
    ASSERT_EQ(syncd->wait(scaled(20s)), 1) << syncd->stderr_text();
    EXPECT_LT(std::chrono::steady_clock::now() - started, scaled(10s));
    EXPECT_NE(syncd->stderr_text().find("no page for 2s (--once-timeout)"), std::string::npos) << syncd->stderr_text();
}

TEST(SyncdInstanceLock, ASecondDaemonOnTheSameMirrorExitsOneNamingTheFirstWhichCarriesOn) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "20", "--frozen", "--api-key", kSimKey});
    SyncdEnv env;
    env.write_config(sim.base_url(), "poll_interval = 200ms\nidle_poll_interval = 200ms\n");
    auto first = env.start_syncd({});
    ASSERT_TRUE(eventually([&] { return health_status(env.socket_path) == "ok"; }, 30s)) << first->stderr_text();

    // Same [cache] path, another socket and another configuration file.
    const std::string other_socket = (env.dir / "other.sock").string();
    const auto other_config =
        env.dir.write("other.ini", "[upstream]\nbase_url = " + sim.base_url() + "\n[cache]\npath = " + env.db_path +
                                       "\n[api]\nsocket = " + other_socket + "\n");
    for (const std::vector<std::string>& args : {std::vector<std::string>{}, std::vector<std::string>{"--once"}}) {
        std::vector<std::string> argv{EXTRACT_SYNCD_BIN, "--config", other_config.string()};
        argv.insert(argv.end(), args.begin(), args.end());
        ChildProcess second(argv, {{"EXTRACT_API_KEY", kSimKey}});
        ASSERT_EQ(second.wait(15s), 1) << second.stderr_text();
        const std::string err = second.stderr_text();
        EXPECT_NE(err.find("PID " + std::to_string(first->pid())), std::string::npos) << err;
        EXPECT_NE(err.find("socket " + env.socket_path), std::string::npos) << err;
        EXPECT_NE(err.find(env.db_path), std::string::npos) << err;
        EXPECT_FALSE(std::filesystem::exists(other_socket)) << "the second daemon must not serve";
    }
    // The first is unaffected: still serving, still syncing.
    const auto runs = env.count("SELECT count(*) FROM sync_runs WHERE error IS NULL");
    EXPECT_TRUE(first->running());
    EXPECT_EQ(health_status(env.socket_path), "ok");
    EXPECT_TRUE(
        eventually([&] { return env.count("SELECT count(*) FROM sync_runs WHERE error IS NULL") > runs; }, 10s));

    // Once the first has stopped, the lock is free for the next one.
    first->signal(SIGTERM);
    ASSERT_EQ(first->wait(10s), 0) << first->stderr_text();
    auto next = env.start_syncd({"--once"});
    EXPECT_EQ(next->wait(30s), 0) << next->stderr_text();
}

TEST(SyncdQuietLogs, AnIdleDaemonAtInfoLogsOnlyItsSummaryAtMostOncePerPeriod) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "30", "--frozen", "--api-key", kSimKey});
    SyncdEnv env;
    // Cycles every 50 ms, a full pass (and so the summary period) every second.
    env.write_config(sim.base_url(), "poll_interval = 50ms\nidle_poll_interval = 50ms\nfull_sync_interval = 1s\n");
    auto syncd = env.start_syncd({});
    ASSERT_TRUE(syncd->wait_for_stderr("full sync: 1 pages", 20s)) << syncd->stderr_text();
    const std::size_t mark = syncd->stderr_text().size();
    const auto marked_at = std::chrono::steady_clock::now();
    const auto runs_at_mark = env.count("SELECT count(*) FROM sync_runs");

    // Dozens of cycles that change nothing, and at least two summary periods.
    ASSERT_TRUE(eventually(
        [&] {
            const std::string since = syncd->stderr_text().substr(mark);
            std::size_t summaries = 0;
            for (auto at = since.find("alive: "); at != std::string::npos; at = since.find("alive: ", at + 1))
                ++summaries;
            return summaries >= 2 && env.count("SELECT count(*) FROM sync_runs") >= runs_at_mark + 20;
        },
        30s))
        << syncd->stderr_text();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - marked_at).count();
    const std::string since = syncd->stderr_text().substr(mark);
    std::size_t lines = 0;
    for (std::size_t start = 0; start < since.size();) {
        const auto end = since.find('\n', start);
        const std::string line = since.substr(start, end - start);
        EXPECT_NE(line.find("alive: "), std::string::npos) << "an idle cycle logged at info: " << line;
        ++lines;
        if (end == std::string::npos) break;
        start = end + 1;
    }
    EXPECT_LE(static_cast<double>(lines), seconds / 1.0 + 1) << since;
    EXPECT_NE(since.find("fast, 0 failed)"), std::string::npos) << since;
}

TEST(SyncdFlags, AFlagWithoutItsValueSaysWhichValueIsMissing) {
    auto p = std::make_unique<ChildProcess>(std::vector<std::string>{EXTRACT_SYNCD_BIN, "--config"});
    EXPECT_EQ(p->wait(10s), 64);
    EXPECT_NE(p->stderr_text().find("--config needs a value (FILE)"), std::string::npos) << p->stderr_text();
}

}  // namespace
