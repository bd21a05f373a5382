// Bad input on the socket (issue #8): thousands of malformed requests get 4xx answers or a
// closed connection, never a 500 or a crash (the only 5xx: the protocol answers 501 and 505,
// and 503 from /v1/health); slow clients are cut off by the request and idle timeouts and
// delay nobody; one user's connections cannot lock out another or root, and connections that never
// spoke make room first; the mirror is untouched and the API healthy afterwards. The same
// requests against the real daemon: tests/daemon/syncd_abuse_test.cpp.

#include <grp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "tests/api/api_fixture.hpp"
#include "tests/api/hostile_clients.hpp"
#include "tests/support/eventually.hpp"

namespace extract::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class ApiAbuse : public ApiTest {
protected:
    void fill_mirror() {
        for (int i = 0; i < 30; ++i) {
            const std::string id = "batch_" + std::to_string(i);
            mirror->insert_batch({.id = id, .status = i % 2 ? "running" : "completed"});
            mirror->insert_transition(id, std::nullopt, "pending", "2026-11-30T03:00:01.000Z");
            const auto seq = mirror->insert_event("batch.created", id, "2026-11-30T03:00:01.000Z");
            mirror->insert_delivery(seq, "webhook.a", "failed");
        }
    }
    // What no request may change: every row of the mirror's tables.
    json snapshot() {
        json out;
        for (const auto* table : {"batches", "transitions", "events"}) {
            out[table] = mirror->db().execAndGet(std::string("SELECT count(*) FROM ") + table).getInt64();
        }
        out["ids"] = mirror->db().execAndGet("SELECT group_concat(id) FROM batches").getString();
        return out;
    }
};

TEST_F(ApiAbuse, ThousandsOfMalformedRequestsGet4xxOrAClosedConnection) {
    fill_mirror();
    options.request_timeout = 1s;
    start_server();
    const json before = snapshot();
    const auto requests = hostile_requests(1500, 8);
    ASSERT_GT(requests.size(), 2000u);
    const auto outcome = send_hostile_requests(socket_path, requests, 8, static_cast<int>(scaled(10s).count()));
    EXPECT_EQ(outcome.sent, requests.size());
    EXPECT_EQ(outcome.failures, std::vector<std::string>{});
    EXPECT_GT(outcome.answered, requests.size() / 2);  // most are answered with a reason, not just dropped

    // Healthy afterwards, with the mirror as it was (no injected SQL ran).
    EXPECT_EQ(get("/v1/health").status, 200);
    EXPECT_EQ(get_json("/v1/batches?limit=200").at("data").size(), 30u);
    EXPECT_EQ(get_json("/v1/stats").at("batches").at("total"), 30);
    EXPECT_EQ(snapshot(), before);
}

TEST_F(ApiAbuse, InjectionAndBadValuesAreAnsweredWithTheRightShapes) {
    fill_mirror();
    start_server();
    // A value is a value, never SQL: the filter matches nothing.
    EXPECT_EQ(get_json("/v1/batches?status=%27%20OR%201=1--").at("data").size(), 0u);
    EXPECT_EQ(get_json("/v1/batches?engine=x%27%3B%20DROP%20TABLE%20batches%3B--").at("data").size(), 0u);
    EXPECT_EQ(get("/v1/batches/batch_1'%20OR%20'1'='1").status, 404);
    // Bad numbers, cursors and UTF-8 are 422 naming the parameter.
    for (const auto& [target, param] :
         std::vector<std::pair<std::string, std::string>>{{"/v1/batches?limit=1000000000", "limit"},
                                                          {"/v1/batches?limit=99999999999999999999999", "limit"},
                                                          {"/v1/events?after=-1", "after"},
                                                          {"/v1/batches?cursor=WyJhIiwiYiJd.AAAAAAAAAAA", "cursor"},
                                                          {"/v1/batches?cursor=%ff%fe", "cursor"},
                                                          {"/v1/batches?created_after=%ff", "created_after"},
                                                          {"/v1/events?wait=%ff", "wait"},
                                                          {"/v1/deliveries?limit=%00", "limit"}}) {
        const auto reply = get(target);
        ASSERT_EQ(reply.status, 422) << target << ": " << reply.body;
        const json body = json::parse(reply.body);  // valid JSON even when the input was not UTF-8
        EXPECT_EQ(body.at("detail").at(0).at("loc"), (json{"query", param})) << target;
    }
    EXPECT_EQ(get("/../../etc/passwd").status, 404);
    EXPECT_EQ(get("/v1/batches/..%2f..%2fetc%2fpasswd").status, 404);
}

TEST_F(ApiAbuse, SlowClientsAreCutOffAndDelayNobody) {
    options.request_timeout = 500ms;
    options.idle_timeout = 500ms;
    start_server();
    // Slowloris: many connections that trickle a request that never ends, and some that send nothing.
    std::vector<std::unique_ptr<RawConnection>> slow, silent;
    for (int i = 0; i < 40; ++i) {
        slow.push_back(std::make_unique<RawConnection>(socket_path));
        ASSERT_TRUE(slow.back()->send("GET /v1/health HTTP/1.1\r\nX-Slow: "));
        silent.push_back(std::make_unique<RawConnection>(socket_path));
    }
    std::atomic<bool> trickling{true};
    std::thread trickler([&] {
        while (trickling) {
            for (auto& c : slow) (void)c->send("a");
            std::this_thread::sleep_for(50ms);  // the pace of the attack, not a wait for a condition
        }
    });
    for (int i = 0; i < 20; ++i) {
        const auto start = std::chrono::steady_clock::now();
        EXPECT_EQ(get("/v1/health").status, 200);
        EXPECT_LT(std::chrono::steady_clock::now() - start, scaled(1000ms));
    }
    // Each trickler gets 408 and is closed when its request_timeout passes, although it never stops sending.
    for (auto& c : slow) {
        const auto reply = c->read_reply(5s);
        ASSERT_TRUE(reply);
        EXPECT_EQ(reply->status, 408);
        EXPECT_TRUE(c->closed_within(5s));
    }
    trickling = false;
    trickler.join();
    for (auto& c : silent) EXPECT_TRUE(c->closed_within(5s));
    EXPECT_EQ(get("/v1/health").status, 200);
}

// A request answered, then a second one begun and left unfinished: once the first reply is
// read, the server has read both, so the connection has certainly spoken (it is never closed
// to make room) and is mid-request.
std::unique_ptr<RawConnection> mid_request(std::unique_ptr<RawConnection> c) {
    EXPECT_TRUE(c->send("GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/health HTTP/1.1\r\nHost: x\r\n"));
    const auto first = c->read_reply(5s);
    EXPECT_TRUE(first && first->status == 200);
    return c;
}

// Finishes what mid_request began: the answer to the second request.
int finish_request(RawConnection& c) {
    if (!c.send("\r\n")) return 0;
    const auto reply = c.read_reply(5s);
    return reply ? reply->status : -1;
}

// One byte that carries one fd (SCM_RIGHTS), as sendmsg and recvmsg take it.
struct FdMessage {
    char byte = 'x';
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))]{};
    msghdr message{};
    FdMessage() {
        message.msg_iov = &iov;
        message.msg_iovlen = 1;
        message.msg_control = control;
        message.msg_controllen = sizeof control;
    }
    FdMessage(const FdMessage&) = delete;
    FdMessage& operator=(const FdMessage&) = delete;
};

// `count` connections to `socket_path` made by a child running as `uid` and handed back over
// SCM_RIGHTS: SO_PEERCRED keeps the uid of the connect, so the server sees that user. Needs root.
std::vector<std::unique_ptr<RawConnection>> connections_as(uid_t uid, const std::string& socket_path, int count) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return {};
    const pid_t child = ::fork();
    if (child == 0) {
        // Only system calls from here on: the parent has threads, the child has one.
        if (::setgroups(0, nullptr) != 0 || ::setresgid(uid, uid, uid) != 0 || ::setresuid(uid, uid, uid) != 0)
            ::_exit(2);
        for (int i = 0; i < count; ++i) {
            const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
            sockaddr_un addr{};
            addr.sun_family = AF_UNIX;
            std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
            if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) ::_exit(3);
            FdMessage out;
            cmsghdr* header = CMSG_FIRSTHDR(&out.message);
            header->cmsg_level = SOL_SOCKET;
            header->cmsg_type = SCM_RIGHTS;
            header->cmsg_len = CMSG_LEN(sizeof(int));
            std::memcpy(CMSG_DATA(header), &fd, sizeof fd);
            if (::sendmsg(pair[1], &out.message, 0) != 1) ::_exit(4);
            ::close(fd);
        }
        ::_exit(0);
    }
    ::close(pair[1]);
    std::vector<std::unique_ptr<RawConnection>> out;
    for (int i = 0; i < count; ++i) {
        FdMessage in;
        if (::recvmsg(pair[0], &in.message, MSG_CMSG_CLOEXEC) != 1) break;
        const cmsghdr* header = CMSG_FIRSTHDR(&in.message);
        if (header == nullptr || header->cmsg_type != SCM_RIGHTS) break;
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(header), sizeof fd);
        out.push_back(std::make_unique<RawConnection>(fd));
    }
    ::close(pair[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child could not connect as uid " << uid;
    EXPECT_EQ(out.size(), static_cast<std::size_t>(count));
    return out;
}

TEST_F(ApiAbuse, ConnectionsBeyondTheLimitAre503AndClosedThenServedAgain) {
    options.max_connections = 16;  // one uid (the test's) may hold 4
    options.idle_timeout = 1s;
    start_server();
    // Connections that have spoken (a request answered, kept alive): none is closed for room.
    std::vector<std::unique_ptr<RawConnection>> held;
    for (int i = 0; i < 4; ++i) {
        held.push_back(std::make_unique<RawConnection>(socket_path));
        ASSERT_TRUE(held.back()->send("GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"));
        ASSERT_TRUE(held.back()->read_reply(5s));
    }
    RawConnection extra(socket_path);
    const auto reply = extra.read_reply(5s);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 503);
    EXPECT_NE(reply->body.find("too many connections to the API from uid " + std::to_string(::geteuid())),
              std::string::npos)
        << reply->body;
    EXPECT_NE(reply->body.find("one user may hold 4 of the 16"), std::string::npos) << reply->body;
    // The held ones time out idle; then there is room again.
    for (auto& c : held) EXPECT_TRUE(c->closed_within(5s));
    EXPECT_TRUE(eventually([&] { return get("/v1/health").status == 200; }, 5s));
}

TEST_F(ApiAbuse, ConnectionsThatNeverSpokeAreClosedFirstToMakeRoom) {
    options.max_connections = 16;  // 4 per uid
    start_server();
    std::vector<std::unique_ptr<RawConnection>> speaking;
    for (int i = 0; i < 2; ++i) speaking.push_back(mid_request(std::make_unique<RawConnection>(socket_path)));
    RawConnection silent_old(socket_path);  // accepted in this order (the listen queue is FIFO)
    RawConnection silent_new(socket_path);
    // The uid is at its 4: each newcomer takes the slot of the oldest connection that never spoke.
    std::vector<std::unique_ptr<RawConnection>> newcomers;
    for (auto* silent : {&silent_old, &silent_new}) {
        newcomers.push_back(std::make_unique<RawConnection>(socket_path));
        ASSERT_TRUE(newcomers.back()->send("GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"));  // and kept alive
        const auto reply = newcomers.back()->read_reply(5s);
        ASSERT_TRUE(reply);
        EXPECT_EQ(reply->status, 200) << reply->body;
        const auto notice = silent->read_reply(5s);
        ASSERT_TRUE(notice);
        EXPECT_EQ(notice->status, 503);
        EXPECT_NE(notice->body.find("sent nothing since it was accepted"), std::string::npos) << notice->body;
        EXPECT_TRUE(silent->closed_within(5s));
    }
    // Every connection has spoken (two mid-request, two between requests): none is closed, the
    // newcomer is refused.
    RawConnection refused(socket_path);
    const auto reply = refused.read_reply(5s);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 503);
    EXPECT_NE(reply->body.find("too many connections to the API"), std::string::npos) << reply->body;
    for (auto& c : speaking) EXPECT_EQ(finish_request(*c), 200);
    for (auto& c : newcomers) {
        ASSERT_TRUE(c->send("GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"));
        const auto again = c->read_reply(5s);
        EXPECT_TRUE(again && again->status == 200);
    }
}

class ApiConnectionShares : public ApiAbuse {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "connecting as other users needs root (setresuid); not running as root";
        // Other users must reach the socket: the limits, not the file's mode, are under test.
        std::filesystem::permissions(dir.path(), std::filesystem::perms(0755));
        options.socket_mode = 0666;
        options.max_connections = 16;  // 4 per uid; 14 for users other than root and the daemon's
    }
};

TEST_F(ApiConnectionShares, OneUserCannotLockOutAnother) {
    start_server();
    std::vector<std::unique_ptr<RawConnection>> nobody;
    for (auto& c : connections_as(65534, socket_path, 4)) nobody.push_back(mid_request(std::move(c)));
    ASSERT_EQ(nobody.size(), 4u);
    auto fifth = connections_as(65534, socket_path, 1);
    ASSERT_EQ(fifth.size(), 1u);
    const auto reply = fifth[0]->read_reply(5s);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 503);
    EXPECT_NE(reply->body.find("from uid 65534: one user may hold 4 of the 16"), std::string::npos) << reply->body;
    // Another user, and root, are served meanwhile.
    auto other = connections_as(65533, socket_path, 1);
    ASSERT_EQ(other.size(), 1u);
    EXPECT_EQ(finish_request(*mid_request(std::move(other[0]))), 200);
    EXPECT_EQ(get("/v1/health").status, 200);
    for (auto& c : nobody) EXPECT_EQ(finish_request(*c), 200);
}

TEST_F(ApiConnectionShares, RootKeepsAReserveWhenOtherUsersTakeTheRest) {
    start_server();
    std::vector<std::unique_ptr<RawConnection>> held;
    for (const auto& [uid, count] :
         std::vector<std::pair<uid_t, int>>{{65534, 4}, {65533, 4}, {65532, 4}, {65531, 2}}) {
        for (auto& c : connections_as(uid, socket_path, count)) held.push_back(mid_request(std::move(c)));
    }
    ASSERT_EQ(held.size(), 14u);
    auto late = connections_as(65531, socket_path, 1);  // within its own 4, but the users' 14 are taken
    ASSERT_EQ(late.size(), 1u);
    const auto reply = late[0]->read_reply(5s);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 503);
    EXPECT_NE(reply->body.find("the 14 that users other than root and the daemon's own may hold are in use"),
              std::string::npos)
        << reply->body;
    // Root (here also the daemon's own user) gets one of the 2 kept for it.
    EXPECT_EQ(get("/v1/health").status, 200);
    EXPECT_EQ(finish_request(*mid_request(std::make_unique<RawConnection>(socket_path))), 200);
    for (auto& c : held) EXPECT_EQ(finish_request(*c), 200);
}

}  // namespace
}  // namespace extract::testing
