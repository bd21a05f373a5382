// GET /v1/events?wait=…: woken by a commit at once, parked without holding worker threads,
// and answered when its time is up or the server stops.

#include <gtest/gtest.h>

#include <regex>
#include <thread>

#include "tests/api/api_fixture.hpp"
#include "tests/support/eventually.hpp"

namespace extract::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class ApiLongPoll : public ApiTest {
protected:
    ApiLongPoll() { mirror->insert_batch({.id = "a"}); }

    // Parked long polls show in the api_long_polls_waiting gauge; wait (bounded) for `n`.
    bool parked(std::size_t n, Millis timeout = 10s) {
        const std::string want = "extract_sync_api_long_polls_waiting " + std::to_string(n) + "\n";
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            if (metrics.render().find(want) != std::string::npos) return true;
            std::this_thread::sleep_for(2ms);  // polling a gauge: the condition itself, bounded
        }
        return false;
    }

    std::int64_t commit_event(const std::string& type = "batch.status_changed") {
        const auto seq = mirror->insert_event(type, "a", "2026-11-30T03:00:00.000Z");
        notifier.notify(seq);
        return seq;
    }
};

// Woken by the commit's notification, not by its 30 s deadline: the bound only separates the
// two. How fast the wake-up is, is a figure of bench_events (docs/BENCHMARKS.md), not a test.
TEST_F(ApiLongPoll, AnswersWhenACommitNotifiesIt) {
    start_server();
    RawConnection waiter(socket_path);
    ASSERT_TRUE(waiter.send("GET /v1/events?after=0&wait=30s HTTP/1.1\r\n\r\n"));
    ASSERT_TRUE(parked(1));
    const auto committed_at = std::chrono::steady_clock::now();
    const auto seq = commit_event();
    const auto reply = waiter.read_reply(5s);
    const auto latency = std::chrono::steady_clock::now() - committed_at;
    ASSERT_TRUE(reply);
    EXPECT_LT(latency, scaled(2s));
    const auto body = json::parse(reply->body);
    ASSERT_EQ(body["data"].size(), 1u);
    EXPECT_EQ(body["data"][0]["seq"], seq);
    EXPECT_EQ(body["last_seq"], seq);
    EXPECT_TRUE(parked(0));
}

TEST_F(ApiLongPoll, AnswersEmptyWhenTheWaitEnds) {
    const auto seq = mirror->insert_event("batch.created", "a", "2026-11-30T03:00:00.000Z");
    start_server();
    const auto start = std::chrono::steady_clock::now();
    const auto body = get_json("/v1/events?after=" + std::to_string(seq) + "&wait=300ms");
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_GE(took, 300ms);
    EXPECT_LT(took, scaled(3s));
    EXPECT_EQ(body["data"], json::array());
    EXPECT_EQ(body["last_seq"], seq);
}

TEST_F(ApiLongPoll, AnswersAtOnceWhenEventsAreThere) {
    commit_event();
    start_server();
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(get_json("/v1/events?wait=1m")["data"].size(), 1u);
    EXPECT_LT(std::chrono::steady_clock::now() - start, scaled(1s));
}

TEST_F(ApiLongPoll, KeepsWaitingThroughEventsItsFiltersSkip) {
    start_server();
    RawConnection waiter(socket_path);
    ASSERT_TRUE(waiter.send("GET /v1/events?type=batch.removed&wait=30s HTTP/1.1\r\n\r\n"));
    ASSERT_TRUE(parked(1));
    commit_event("batch.updated");
    EXPECT_FALSE(waiter.read_reply(300ms));  // asked again, found nothing, parked again
    EXPECT_TRUE(parked(1));
    const auto seq = commit_event("batch.removed");
    const auto reply = waiter.read_reply(5s);
    ASSERT_TRUE(reply);
    EXPECT_EQ(json::parse(reply->body)["data"][0]["seq"], seq);
}

TEST_F(ApiLongPoll, TwoHundredWaitersDoNotStarveOtherRequests) {
    options.max_connections_per_uid = 256;  // the waiters are all the test's uid (a quarter of 512 is 128)
    start_server();
    std::vector<std::unique_ptr<RawConnection>> waiters;
    for (int i = 0; i < 200; ++i) {
        waiters.push_back(std::make_unique<RawConnection>(socket_path));
        ASSERT_TRUE(waiters.back()->send("GET /v1/events?after=0&wait=60s HTTP/1.1\r\n\r\n"));
    }
    ASSERT_TRUE(parked(200));
    // Far more waiters than worker threads, and still every other request answers promptly.
    for (int i = 0; i < 10; ++i) {
        const auto start = std::chrono::steady_clock::now();
        EXPECT_EQ(get("/v1/health").status, 200);
        EXPECT_EQ(get("/v1/batches").status, 200);
        EXPECT_LT(std::chrono::steady_clock::now() - start, scaled(2s));  // starved would be 60 s
    }
    const auto seq = commit_event();
    for (auto& w : waiters) {
        const auto reply = w->read_reply(10s);
        ASSERT_TRUE(reply);
        EXPECT_EQ(json::parse(reply->body)["data"][0]["seq"], seq);
    }
    EXPECT_TRUE(parked(0));
}

TEST_F(ApiLongPoll, AWaiterThatHangsUpIsForgotten) {
    start_server();
    {
        RawConnection waiter(socket_path);
        ASSERT_TRUE(waiter.send("GET /v1/events?wait=30s HTTP/1.1\r\n\r\n"));
        ASSERT_TRUE(parked(1));
    }
    EXPECT_TRUE(parked(0));
    EXPECT_EQ(get("/v1/health").status, 200);
}

TEST_F(ApiLongPoll, StopAnswersEveryWaiterPromptly) {
    start_server();
    RawConnection waiter(socket_path);
    ASSERT_TRUE(waiter.send("GET /v1/events?wait=5m HTTP/1.1\r\n\r\n"));
    ASSERT_TRUE(parked(1));
    const auto start = std::chrono::steady_clock::now();
    server->stop();
    EXPECT_LT(std::chrono::steady_clock::now() - start, scaled(3s));
    const auto reply = waiter.read_reply(1s);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 200);
    EXPECT_EQ(json::parse(reply->body)["data"], json::array());
    EXPECT_TRUE(waiter.closed_within(1s));
}

}  // namespace
}  // namespace extract::testing
