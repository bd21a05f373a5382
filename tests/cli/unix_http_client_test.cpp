#include "cli/unix_http_client.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "tests/cli/fake_api_server.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/temp_dir.hpp"

namespace extract::cli {
namespace {

using testing::FakeApiServer;
using testing::TempDir;

TEST(CliUnixHttpClient, GetsStatusHeadersAndBodyOverTheSocket) {
    TempDir dir;
    FakeApiServer server(dir / "api.sock");
    server.on("GET", "/v1/stats", 200, {{"events", 3}});

    UnixHttpClient client((dir / "api.sock").string(), Millis{2000});
    const HttpReply reply = client.request("GET", "/v1/stats");

    EXPECT_EQ(reply.status, 200);
    EXPECT_EQ(reply.body, R"({"events":3})");
    const bool has_json_type = std::any_of(reply.headers.begin(), reply.headers.end(), [](const auto& h) {
        return h.first == "Content-Type" && h.second == "application/json";
    });
    EXPECT_TRUE(has_json_type);
    ASSERT_EQ(server.requests().size(), 1U);
    EXPECT_EQ(server.requests()[0].host, "localhost");
}

TEST(CliUnixHttpClient, ErrorStatusIsAReplyNotAnException) {
    TempDir dir;
    FakeApiServer server(dir / "api.sock");

    UnixHttpClient client((dir / "api.sock").string(), Millis{2000});
    const HttpReply reply = client.request("GET", "/v1/batches/nope");

    EXPECT_EQ(reply.status, 404);
    EXPECT_EQ(reply.body, R"({"detail":"Not Found"})");
}

TEST(CliUnixHttpClient, PostsTheBodyAndQuery) {
    TempDir dir;
    FakeApiServer server(dir / "api.sock");
    server.on("POST", "/v1/sync", 200, {{"id", 7}});

    UnixHttpClient client((dir / "api.sock").string(), Millis{2000});
    EXPECT_EQ(client.request("POST", "/v1/sync?full=true&wait=true", R"({"x":1})").status, 200);
    EXPECT_EQ(client.request("POST", "/v1/sync").status, 200);

    const auto requests = server.requests();
    ASSERT_EQ(requests.size(), 2U);
    EXPECT_EQ(requests[0].body, R"({"x":1})");
    EXPECT_EQ(requests[0].query.at("full"), "true");
    EXPECT_EQ(requests[1].body, "");
}

TEST(CliUnixHttpClient, MissingSocketIsAConnectErrorNamingThePath) {
    TempDir dir;
    UnixHttpClient client((dir / "absent.sock").string(), Millis{500});
    try {
        client.request("GET", "/v1/health");
        FAIL() << "expected ConnectError";
    } catch (const ConnectError& e) {
        EXPECT_NE(std::string(e.what()).find((dir / "absent.sock").string()), std::string::npos) << e.what();
    }
}

TEST(CliUnixHttpClient, DaemonThatDoesNotAnswerInTimeIsAConnectError) {
    TempDir dir;
    FakeApiServer server(dir / "api.sock");
    // The feed is empty, so this long poll would hold the reply for 60 s.
    UnixHttpClient client((dir / "api.sock").string(), Millis{200});
    const auto started = std::chrono::steady_clock::now();
    EXPECT_THROW(client.request("GET", "/v1/events?after=0&wait=60s"), ConnectError);
    EXPECT_LT(std::chrono::steady_clock::now() - started, extract::testing::scaled(std::chrono::seconds(3)));
}

}  // namespace
}  // namespace extract::cli
