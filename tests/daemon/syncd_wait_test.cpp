// Waiting for a batch as scripts do (issue 13): POST /v1/batches/{id}/refresh and
// `extractctl wait` against the real extract-syncd, extract-sim and extractctl.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "cli/unix_http_client.hpp"
#include "tests/daemon/syncd_test_env.hpp"
#include "tests/support/eventually.hpp"

using namespace extract;
using namespace extract::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// No cycle of its own finds a new batch during a test (every mirrored batch is terminal, and
// the idle interval is long): what mirrors it is the refresh. Once a batch is not terminal, the
// daemon polls every 200 ms.
const std::string kQuietSync = "poll_interval = 200ms\nidle_poll_interval = 1h\nfull_sync_interval = 1h\n";

// A loopback port nothing listens on (bound, then closed).
int dead_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t length = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
        ::close(fd);
        return 0;
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

std::size_t occurrences(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
    return n;
}

class WaitingDaemon : public ::testing::Test {
protected:
    // extract-sim with no batches, and a daemon that has finished its first full pass.
    void start(const std::string& sync_section = kQuietSync) {
        sim = std::make_unique<SimProcess>(EXTRACT_SIM_BIN, std::vector<std::string>{"--batches", "0", "--frozen",
                                                                                     "--api-key", kSimKey});
        env.write_config(sim->base_url(), sync_section);
        syncd = env.start_syncd({});
        ASSERT_TRUE(eventually([&] { return api("GET", "/v1/health").status == 200; }, 30s)) << syncd->stderr_text();
    }

    // A daemon whose upstream cannot be asked; it serves its API all the same.
    void start_unsynced(const std::string& base_url, const std::string& key) {
        env.write_config(base_url, kQuietSync);
        syncd = env.start_syncd({}, key);
        ASSERT_TRUE(eventually([&] { return api("GET", "/v1/health").status != 0; }, 30s)) << syncd->stderr_text();
    }

    void restart() {
        syncd->signal(SIGTERM);
        ASSERT_EQ(syncd->wait(scaled(30s)), 0) << syncd->stderr_text();
        syncd = env.start_syncd({});
    }

    cli::HttpReply api(const std::string& method, const std::string& target) {
        try {
            return cli::UnixHttpClient(env.socket_path, scaled(40s)).request(method, target);
        } catch (const cli::ConnectError&) {
            return {};
        }
    }

    bool mirrored(const std::string& id) { return api("GET", "/v1/batches/" + id).status == 200; }

    std::unique_ptr<ChildProcess> ctl(std::vector<std::string> args) {
        std::vector<std::string> argv{EXTRACTCTL_BIN, "--socket", env.socket_path};
        argv.insert(argv.end(), args.begin(), args.end());
        return std::make_unique<ChildProcess>(argv);
    }

    // Starts `wait ID`, and returns once it has refreshed the batch into the mirror.
    std::unique_ptr<ChildProcess> wait_until_mirrored(const std::string& id, const std::string& timeout = "2m") {
        auto waiting = ctl({"wait", id, "--timeout", timeout});
        EXPECT_TRUE(eventually([&] { return mirrored(id); }, 20s)) << waiting->stderr_text();
        EXPECT_TRUE(waiting->running()) << waiting->stderr_text();
        return waiting;
    }

    SyncdEnv env;
    std::unique_ptr<SimProcess> sim;
    std::unique_ptr<ChildProcess> syncd;
};

TEST_F(WaitingDaemon, RefreshRecordsAFirstSightingAndAnswersAsGetDoes) {
    start();
    const std::string id = sim->create(1, "running").at(0);
    ASSERT_EQ(api("GET", "/v1/batches/" + id).status, 404);

    const auto refreshed = api("POST", "/v1/batches/" + id + "/refresh");
    ASSERT_EQ(refreshed.status, 200) << refreshed.body;
    const auto got = api("GET", "/v1/batches/" + id);
    ASSERT_EQ(got.status, 200);
    EXPECT_EQ(json::parse(refreshed.body), json::parse(got.body));
    const json batch = json::parse(refreshed.body);
    EXPECT_EQ(batch.at("status"), "running");
    ASSERT_EQ(batch.at("transitions").size(), 1u) << refreshed.body;
    EXPECT_TRUE(batch.at("transitions").at(0).at("from_status").is_null());
    EXPECT_EQ(batch.at("transitions").at(0).at("to_status"), "running");
    // After the bootstrap, a first sighting is an event for this batch (whatever its types).
    const json events = json::parse(api("GET", "/v1/events?batch_id=" + id).body);
    EXPECT_FALSE(events.at("data").empty()) << events.dump();

    // Asked again: nothing changed, nothing recorded twice.
    ASSERT_EQ(api("POST", "/v1/batches/" + id + "/refresh").status, 200);
    EXPECT_EQ(json::parse(api("GET", "/v1/batches/" + id).body).at("transitions").size(), 1u);
}

TEST_F(WaitingDaemon, RefreshOfAnIdNoOneKnowsIs404AndABatchUpstreamForgotIsMarkedRemoved) {
    start();
    const auto unknown = api("POST", "/v1/batches/bat_known_nowhere/refresh");
    EXPECT_EQ(unknown.status, 404);
    EXPECT_TRUE(json::parse(unknown.body).at("detail").is_string()) << unknown.body;
    EXPECT_EQ(api("GET", "/v1/batches/bat_known_nowhere").status, 404) << "a 404 records nothing";

    const std::string id = sim->create(1, "running").at(0);
    ASSERT_EQ(api("POST", "/v1/batches/" + id + "/refresh").status, 200);
    sim->remove(id);
    EXPECT_EQ(api("POST", "/v1/batches/" + id + "/refresh").status, 404);
    // Marked removed by the sync thread right after the answer.
    EXPECT_TRUE(eventually(
        [&] { return !json::parse(api("GET", "/v1/batches/" + id).body).at("mirror").at("removed_at").is_null(); },
        10s));
}

TEST_F(WaitingDaemon, RefreshChecksTheIdBeforeItGoesIntoAnUpstreamUrl) {
    start();
    for (const std::string& bad : {std::string("..%2Fbatches"), std::string("-dash-first"), std::string("a%20b"),
                                   std::string("x%0Ay"), std::string(129, 'a')}) {
        const auto reply = api("POST", "/v1/batches/" + bad + "/refresh");
        ASSERT_EQ(reply.status, 422) << bad << ": " << reply.body;
        EXPECT_EQ(json::parse(reply.body).at("detail").at(0).at("loc"), json::array({"path", "batch_id"}));
    }
    EXPECT_EQ(api("POST", "/v1/batches//refresh").status, 404);
}

TEST_F(WaitingDaemon, RefreshIs503WhenSyncingIsPausedOnABadKey) {
    sim = std::make_unique<SimProcess>(EXTRACT_SIM_BIN, std::vector<std::string>{"--api-key", kSimKey});
    start_unsynced(sim->base_url(), "not-the-key");
    ASSERT_TRUE(eventually([&] { return api("GET", "/v1/health").body.find("rejected") != std::string::npos; }, 20s));
    const auto reply = api("POST", "/v1/batches/bat_1/refresh");
    EXPECT_EQ(reply.status, 503);
    EXPECT_NE(json::parse(reply.body).at("detail").get<std::string>().find("paused"), std::string::npos) << reply.body;
}

TEST_F(WaitingDaemon, RefreshIs503NamingTheCauseWhenTheUpstreamIsUnreachable) {
    const int port = dead_port();
    ASSERT_NE(port, 0);
    start_unsynced("http://127.0.0.1:" + std::to_string(port), kSimKey);
    const auto started = std::chrono::steady_clock::now();
    const auto reply = api("POST", "/v1/batches/bat_1/refresh");
    EXPECT_EQ(reply.status, 503) << reply.body;
    EXPECT_NE(json::parse(reply.body).at("detail").get<std::string>().find("cannot ask the upstream"),
              std::string::npos)
        << reply.body;
    EXPECT_LT(std::chrono::steady_clock::now() - started, scaled(25s)) << "bounded by the route's own limit";
}

TEST_F(WaitingDaemon, WaitOnABatchCreatedAMomentAgoExits0WhenItCompletes) {
    start();
    const std::string id = sim->create(1, "pending").at(0);
    auto waiting = wait_until_mirrored(id);
    sim->set_status(id, "completed");
    ASSERT_EQ(waiting->wait(scaled(30s)), 0) << waiting->stderr_text();
    EXPECT_EQ(waiting->stdout_text(), id + " completed\n");
    EXPECT_EQ(waiting->stderr_text(), "") << "not a terminal: no progress line";
}

TEST_F(WaitingDaemon, WaitRidesOutADaemonRestart) {
    start();
    const std::string id = sim->create(1, "running").at(0);
    auto waiting = wait_until_mirrored(id);
    restart();
    sim->set_status(id, "completed");
    ASSERT_EQ(waiting->wait(scaled(60s)), 0) << waiting->stderr_text() << syncd->stderr_text();
    EXPECT_EQ(waiting->stdout_text(), id + " completed\n");
    EXPECT_EQ(occurrences(waiting->stderr_text(), "reconnecting"), 1u) << waiting->stderr_text();
    EXPECT_NE(waiting->stderr_text().find("lost the daemon at " + env.socket_path), std::string::npos)
        << waiting->stderr_text();
}

TEST_F(WaitingDaemon, WaitExits3WhenTheDaemonIsNotBackByTheTimeout) {
    start();
    const std::string id = sim->create(1, "running").at(0);
    // Long enough that the daemon is gone before it passes, even on a loaded machine.
    auto waiting = wait_until_mirrored(id, std::to_string(scaled(8s).count()) + "ms");
    syncd->signal(SIGTERM);
    ASSERT_EQ(syncd->wait(scaled(30s)), 0) << syncd->stderr_text();
    ASSERT_EQ(waiting->wait(scaled(20s)), 3) << waiting->stderr_text();
    EXPECT_EQ(occurrences(waiting->stderr_text(), "reconnecting until the timeout"), 1u) << waiting->stderr_text();
    EXPECT_NE(waiting->stderr_text().find("still unreachable at the timeout"), std::string::npos)
        << waiting->stderr_text();
}

TEST_F(WaitingDaemon, WaitOnAnIdNoOneKnowsExits4WithinSeconds) {
    start();
    const auto started = std::chrono::steady_clock::now();
    auto waiting = ctl({"wait", "bat_known_nowhere", "--timeout", "2m"});
    ASSERT_EQ(waiting->wait(scaled(10s)), 4) << waiting->stderr_text();
    EXPECT_LT(std::chrono::steady_clock::now() - started, scaled(10s));
    EXPECT_EQ(waiting->stderr_text(), "extractctl: no batch bat_known_nowhere in the mirror or upstream\n");
}

TEST_F(WaitingDaemon, WaitOnABatchThatFailsExits1) {
    start();
    const std::string id = sim->create(1, "pending").at(0);
    auto waiting = wait_until_mirrored(id);
    sim->set_status(id, "failed");
    ASSERT_EQ(waiting->wait(scaled(30s)), 1) << waiting->stderr_text();
    EXPECT_EQ(waiting->stdout_text(), id + " failed\n");
}

TEST_F(WaitingDaemon, WaitOnABatchRemovedUpstreamExits1SayingSo) {
    start();
    const std::string id = sim->create(1, "running").at(0);
    auto waiting = wait_until_mirrored(id);
    sim->remove(id);
    ASSERT_EQ(waiting->wait(scaled(30s)), 1) << waiting->stderr_text();
    EXPECT_NE(waiting->stderr_text().find("was removed upstream"), std::string::npos) << waiting->stderr_text();
    EXPECT_EQ(waiting->stdout_text(), "");
}

TEST_F(WaitingDaemon, WaitTimesOutWith124) {
    start();
    const std::string id = sim->create(1, "running").at(0);
    auto waiting = ctl({"wait", id, "--timeout", "1s"});
    ASSERT_EQ(waiting->wait(scaled(20s)), 124) << waiting->stderr_text();
    EXPECT_NE(waiting->stderr_text().find("timed out after 1s"), std::string::npos) << waiting->stderr_text();
    EXPECT_TRUE(mirrored(id)) << "refreshed before it timed out";
}

}  // namespace
