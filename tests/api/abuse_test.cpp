// Bad input on the socket (issue #8): thousands of malformed requests get 4xx answers or a
// closed connection, never a 500 or a crash (the only 5xx: the protocol answers 501 and 505,
// and 503 from /v1/health); slow clients are cut off by the request and idle timeouts and
// delay nobody; the mirror is untouched and the API healthy afterwards. The same requests against the real daemon: tests/daemon/syncd_abuse_test.cpp.

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
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
    for (const auto& [target, param] : std::vector<std::pair<std::string, std::string>>{
             {"/v1/batches?limit=1000000000", "limit"},
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

TEST_F(ApiAbuse, ConnectionsBeyondTheLimitAre503AndClosedThenServedAgain) {
    options.max_connections = 16;
    options.idle_timeout = 1s;
    start_server();
    std::vector<std::unique_ptr<RawConnection>> held;
    for (int i = 0; i < 16; ++i) held.push_back(std::make_unique<RawConnection>(socket_path));
    RawConnection extra(socket_path);
    const auto reply = extra.read_reply(5s);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 503);
    EXPECT_NE(reply->body.find("too many connections"), std::string::npos) << reply->body;
    // The held ones time out idle; then there is room again.
    for (auto& c : held) EXPECT_TRUE(c->closed_within(5s));
    EXPECT_TRUE(eventually([&] { return get("/v1/health").status == 200; }, 5s));
}

}  // namespace
}  // namespace extract::testing
