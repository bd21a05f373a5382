// HTTP over the socket at its edges: errors, limits, malformed and slow clients, keep-alive,
// and the socket file's life (mode, stale file replaced, live socket refused).

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/api/api_fixture.hpp"
#include "tests/support/eventually.hpp"

namespace extract::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class ApiProtocol : public ApiTest {};

std::string header_value(const cli::HttpReply& reply, const std::string& name) {
    for (const auto& [n, v] : reply.headers) {
        if (strcasecmp(n.c_str(), name.c_str()) == 0) return v;
    }
    return {};
}

TEST_F(ApiProtocol, UnknownRoutesAre404AndWrongMethods405WithAllow) {
    start_server();
    auto reply = get("/v2/nothing");
    EXPECT_EQ(reply.status, 404);
    EXPECT_EQ(json::parse(reply.body), (json{{"detail", "Not Found"}}));
    EXPECT_EQ(header_value(reply, "Content-Type"), "application/json");

    reply = post("/v1/batches");
    EXPECT_EQ(reply.status, 405);
    EXPECT_EQ(json::parse(reply.body), (json{{"detail", "Method Not Allowed"}}));
    EXPECT_EQ(header_value(reply, "Allow"), "GET");

    reply = get("/v1/deliveries/retry");
    EXPECT_EQ(reply.status, 405);
    EXPECT_EQ(header_value(reply, "Allow"), "POST");
}

// Issue 15: HEAD is answered like GET, without the body; the connection goes on.
TEST_F(ApiProtocol, HeadIsAnsweredLikeGetWithoutTheBody) {
    start_server();
    const auto got = get("/v1/stats");
    ASSERT_EQ(got.status, 200);
    RawConnection c(socket_path);
    // Pipelined: were a body sent after the HEAD's head, it would come before the second reply.
    ASSERT_TRUE(c.send("HEAD /v1/stats HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/stats HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string wire;
    const auto deadline = std::chrono::steady_clock::now() + scaled(5s);
    char buf[4096];
    while (std::count(wire.begin(), wire.end(), '{') < 1 && std::chrono::steady_clock::now() < deadline) {
        const ssize_t n = ::recv(c.fd(), buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0)
            wire.append(buf, static_cast<std::size_t>(n));
        else
            std::this_thread::sleep_for(10ms);
    }
    const auto first_end = wire.find("\r\n\r\n");
    ASSERT_NE(first_end, std::string::npos) << wire;
    const std::string first_head = wire.substr(0, first_end);
    EXPECT_EQ(first_head.rfind("HTTP/1.1 200 ", 0), 0u) << wire;
    EXPECT_NE(first_head.find("Content-Length: " + std::to_string(got.body.size())), std::string::npos) << wire;
    EXPECT_EQ(wire.compare(first_end + 4, 13, "HTTP/1.1 200 "), 0) << "a body followed the HEAD's head: " << wire;
}

TEST_F(ApiProtocol, BodiesOverOneMebibyteAre413) {
    start_server();
    RawConnection c(socket_path);
    ASSERT_TRUE(c.send("POST /v1/sync HTTP/1.1\r\nHost: x\r\nContent-Length: 2097152\r\n\r\n"));
    const auto reply = c.read_reply(5s);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 413);
    EXPECT_TRUE(json::parse(reply->body).contains("detail"));
    EXPECT_TRUE(c.closed_within(5s));
    // A body of exactly 1 MiB is read and served.
    RawConnection ok(socket_path);
    ASSERT_TRUE(ok.send("POST /v1/sync HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n" + std::string(1048576, ' ')));
    const auto accepted = ok.read_reply(5s);
    ASSERT_TRUE(accepted);
    EXPECT_EQ(accepted->status, 202);
}

TEST_F(ApiProtocol, HeadersOver64KiBAre431ThenClosed) {
    start_server();
    RawConnection c(socket_path);
    std::string head = "GET /v1/health HTTP/1.1\r\n";
    while (head.size() < 70 * 1024) head += "X-Filler: " + std::string(1000, 'x') + "\r\n";
    c.send(head);  // the server may close before it has read everything
    const auto reply = c.read_reply(5s);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 431);
    EXPECT_TRUE(c.closed_within(5s));
}

TEST_F(ApiProtocol, MalformedRequestsCloseTheConnectionAndHarmNoOne) {
    start_server();
    // Answered as soon as the bytes show it, without waiting for more: a TLS hello, a broken
    // request line, a broken header.
    for (const std::string& garbage :
         {std::string("\x16\x03\x01\x02\x00\x01", 6), std::string("GET /v1/health SPDY/3\r\n"),
          std::string("GET\r\n\r\n"), std::string("GET /v1/health HTTP/1.1\r\n: no name\r\n\r\n")}) {
        RawConnection c(socket_path);
        ASSERT_TRUE(c.send(garbage));
        const auto reply = c.read_reply(5s);
        ASSERT_TRUE(reply) << garbage;
        EXPECT_EQ(reply->status, 400);
        EXPECT_TRUE(c.closed_within(5s));
    }
    EXPECT_EQ(get("/v1/health").status, 200);
}

TEST_F(ApiProtocol, ASlowClientDoesNotDelayOthers) {
    start_server();
    RawConnection slow(socket_path);
    ASSERT_TRUE(slow.send("GET /v1/health HTTP/1.1\r\nHost: x\r\n"));  // and then nothing
    RawConnection silent(socket_path);                                 // connects, sends nothing
    for (int i = 0; i < 20; ++i) {
        const auto start = std::chrono::steady_clock::now();
        EXPECT_EQ(get("/v1/health").status, 200);
        EXPECT_LT(std::chrono::steady_clock::now() - start, scaled(1s));
    }
    // The slow one is still served when it finishes.
    ASSERT_TRUE(slow.send("\r\n"));
    const auto reply = slow.read_reply(5s);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 200);
}

TEST_F(ApiProtocol, KeepsConnectionsAliveAndAnswersPipelinedRequestsInOrder) {
    mirror->insert_batch({.id = "a"});
    start_server();
    RawConnection c(socket_path);
    ASSERT_TRUE(c.send("GET /v1/health HTTP/1.1\r\n\r\nGET /v1/batches/a HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\n"));
    const auto first = c.read_reply(5s);
    const auto second = c.read_reply(5s);
    const auto third = c.read_reply(5s);
    ASSERT_TRUE(first && second && third);
    EXPECT_EQ(first->status, 200);
    EXPECT_EQ(json::parse(first->body)["status"], "ok");
    EXPECT_EQ(json::parse(second->body)["id"], "a");
    EXPECT_EQ(third->status, 404);
    ASSERT_TRUE(c.send("GET /v1/health HTTP/1.1\r\nConnection: close\r\n\r\n"));
    const auto last = c.read_reply(5s);
    ASSERT_TRUE(last);
    EXPECT_NE(last->head.find("Connection: close"), std::string::npos);
    EXPECT_TRUE(c.closed_within(5s));
}

TEST_F(ApiProtocol, ClosesAKeptAliveConnectionItsIdleTimeoutAfterTheLastReply) {
    // A request alone on its connection is answered by the worker itself, without waking the
    // loop: the idle timeout must still run from that reply, not from the loop's next wake-up.
    mirror->insert_batch({.id = "a"});
    options.idle_timeout = 300ms;
    start_server();
    RawConnection c(socket_path);
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(c.send("GET /v1/batches/a HTTP/1.1\r\n\r\n"));
        const auto reply = c.read_reply(5s);
        ASSERT_TRUE(reply);
        EXPECT_EQ(reply->status, 200);
        EXPECT_EQ(reply->head.find("Connection: close"), std::string::npos);
    }
    const auto answered = std::chrono::steady_clock::now();
    EXPECT_TRUE(c.closed_within(5s));
    EXPECT_GE(std::chrono::steady_clock::now() - answered, 250ms);
}

TEST_F(ApiProtocol, CreatesTheSocketWithItsModeAndRemovesItOnStop) {
    options.socket_mode = 0600;
    start_server();
    struct stat st {};
    ASSERT_EQ(::stat(socket_path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    server->stop();
    server->stop();  // idempotent
    EXPECT_FALSE(std::filesystem::exists(socket_path));
    EXPECT_THROW(cli::UnixHttpClient(socket_path, 1s).request("GET", "/v1/health"), cli::ConnectError);
}

TEST_F(ApiProtocol, ReplacesAStaleSocketFile) {
    // What a crashed daemon leaves: a socket file nobody listens on.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
    ASSERT_TRUE(std::filesystem::is_socket(socket_path));
    start_server();
    EXPECT_EQ(get("/v1/health").status, 200);
}

TEST_F(ApiProtocol, RefusesASocketAnotherProcessServes) {
    start_server();
    api::ApiServer second(options, link, notifier, metrics);
    try {
        second.start();
        FAIL() << "a second server took over a live socket";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(socket_path), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("another process"), std::string::npos) << e.what();
    }
    EXPECT_EQ(get("/v1/health").status, 200);  // the first one is untouched
}

TEST_F(ApiProtocol, RefusesToReplaceAFileThatIsNotASocket) {
    std::ofstream(socket_path) << "precious";
    server = std::make_unique<api::ApiServer>(options, link, notifier, metrics);
    EXPECT_THROW(server->start(), std::runtime_error);
    std::ifstream in(socket_path);
    std::string content;
    in >> content;
    EXPECT_EQ(content, "precious");
}

TEST_F(ApiProtocol, TooManyConnectionsAreRefusedWith503) {
    options.max_connections = 3;
    options.max_connections_per_uid = 3;  // the test's connections are all one uid
    start_server();
    std::vector<std::unique_ptr<RawConnection>> held;
    for (int i = 0; i < 3; ++i) held.push_back(std::make_unique<RawConnection>(socket_path));
    // Make sure the server has accepted all three before the fourth arrives.
    for (auto& c : held) {
        ASSERT_TRUE(c->send("GET /v1/health HTTP/1.1\r\n\r\n"));
        ASSERT_TRUE(c->read_reply(5s));
    }
    RawConnection extra(socket_path);
    const auto reply = extra.read_reply(5s);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 503);
    held.clear();
}

}  // namespace
}  // namespace extract::testing
