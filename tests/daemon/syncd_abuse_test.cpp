// Bad input on the real daemon's socket (issue #8): thousands of malformed requests, while
// slow clients hold connections open, get 4xx answers or closed connections, never a 5xx
// (but 503 from /v1/health); afterwards the daemon is healthy and its sync still runs. The
// kinds of request: tests/api/hostile_clients.hpp; limits and timeouts: tests/api/abuse_test.cpp.

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cli/unix_http_client.hpp"
#include "tests/api/hostile_clients.hpp"
#include "tests/daemon/syncd_test_env.hpp"
#include "tests/support/eventually.hpp"

using namespace extract;
using namespace extract::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

TEST(SyncdAbuse, MalformedRequestsLeaveTheDaemonHealthyAndSyncing) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "50", "--frozen", "--api-key", kSimKey});
    SyncdEnv env;
    env.write_config(sim.base_url(), "full_sync_interval = 1s\n");
    auto syncd = env.start_syncd({});
    auto api = [&](const std::string& method, const std::string& target) {
        try {
            return cli::UnixHttpClient(env.socket_path, 15s).request(method, target);
        } catch (const cli::ConnectError&) {
            return cli::HttpReply{};
        }
    };
    ASSERT_TRUE(eventually([&] { return api("GET", "/v1/health").status == 200; }, 30s)) << syncd->stderr_text();

    // Slow clients hold connections (a head that never ends) through the whole run.
    std::vector<int> held;
    for (int i = 0; i < 20; ++i) {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, env.socket_path.c_str(), sizeof addr.sun_path - 1);
        ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        const std::string partial = "GET /v1/health HTTP/1.1\r\nX-Slow: ";
        ASSERT_EQ(::send(fd, partial.data(), partial.size(), MSG_NOSIGNAL), static_cast<ssize_t>(partial.size()));
        held.push_back(fd);
    }
    const auto requests = hostile_requests(1000, 11);
    const auto outcome = send_hostile_requests(env.socket_path, requests, 4, static_cast<int>(scaled(20s).count()));
    EXPECT_EQ(outcome.sent, requests.size());
    EXPECT_EQ(outcome.failures, std::vector<std::string>{});
    ASSERT_TRUE(syncd->running()) << syncd->stderr_text();
    for (const int fd : held) ::close(fd);

    // Healthy, with the mirror intact, and the sync still runs: a change upstream arrives.
    EXPECT_EQ(api("GET", "/v1/health").status, 200);
    EXPECT_EQ(json::parse(api("GET", "/v1/stats").body).at("batches").at("total"), 50);
    const std::string id = sim.snapshot().at(0).at("id");
    sim.set_status(id, "completed");
    const auto sync = api("POST", "/v1/sync?full=true&wait=true");
    ASSERT_EQ(sync.status, 200) << sync.body;
    EXPECT_EQ(json::parse(api("GET", "/v1/batches/" + id).body).at("status"), "completed");
    EXPECT_EQ(env.count("SELECT count(*) FROM batches"), 50);
}

}  // namespace
