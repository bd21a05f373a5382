#include "upstream/client.hpp"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <thread>

#include "tests/support/fake_clock.hpp"
#include "tests/support/fake_transport.hpp"
#include "tests/support/log_capture.hpp"

using namespace extract;
using namespace extract::upstream;
using extract::testing::FakeClock;
using extract::testing::FakeTransport;
using extract::testing::LogCapture;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr const char* kKey = "sk_live_TOPSECRET_4242";
constexpr const char* kKeySource = "api_key_file /etc/extract-sync/api_key";

json batch_object(const std::string& id) {
    return {{"id", id},          {"status", "running"},       {"counts", {{"pending", 1}}}, {"total_items", 1},
            {"engine", nullptr}, {"options", json::object()}, {"created_at", "c"},          {"expires_at", "e"}};
}

std::string page_body(const std::string& id = "bat_1", const json& next_cursor = nullptr) {
    return json{{"object", "list"}, {"data", {batch_object(id)}}, {"next_cursor", next_cursor}}.dump();
}

// IMF-fixdate, as a server writes Retry-After.
std::string http_date(WallTime t) {
    const std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return buf;
}

// A sleeper whose every wait is cut short by a shutdown.
class StoppedSleeper final : public Sleeper {
public:
    bool sleep_for(Millis) override { return false; }
};

std::size_t count_of(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
}

class UpstreamClientTest : public ::testing::Test {
protected:
    ClientOptions options() const {
        ClientOptions o;
        o.api_key = kKey;
        o.api_key_source = kKeySource;
        o.max_requests_per_second = 0;  // pacing has its own tests; here only backoff sleeps
        return o;
    }
    // jitter 0.5 makes every wait exactly 3/4 of its base.
    UpstreamClient make_client(ClientOptions o) {
        return UpstreamClient(transport, clock, clock, std::move(o), [] { return 0.5; });
    }
    UpstreamClient make_client() { return make_client(options()); }

    Millis since_first(std::size_t request) const {
        const auto requests = transport.requests();
        return std::chrono::duration_cast<Millis>(requests.at(request).sent_at - requests.at(0).sent_at);
    }

    FakeClock clock;
    FakeTransport transport{&clock};
};

}  // namespace

TEST_F(UpstreamClientTest, SendsKeyAcceptAndUserAgent) {
    transport.respond(200, page_body());
    auto client = make_client();
    const auto page = client.list_batches(std::nullopt, std::nullopt);
    ASSERT_EQ(page.status, FetchStatus::ok) << page.message;
    ASSERT_EQ(page.value->batches.size(), 1u);
    EXPECT_EQ(page.value->batches[0].id, "bat_1");
    EXPECT_EQ(page.http_status, 200);
    EXPECT_EQ(page.attempts, 1);

    const auto request = transport.requests().at(0);
    EXPECT_EQ(request.header("X-API-KEY"), kKey);
    EXPECT_EQ(request.header("Accept"), "application/json");
    EXPECT_EQ(request.header("User-Agent"), default_user_agent());
    EXPECT_TRUE(std::regex_match(default_user_agent(), std::regex(R"(extract-sync/\d+\.\d+\.\d+)")))
        << default_user_agent();
}

TEST_F(UpstreamClientTest, ListQueryIsEncoded) {
    transport.respond(200, page_body()).respond(200, page_body()).respond(200, page_body());
    ClientOptions o = options();
    o.page_size = 50;
    auto client = make_client(o);
    client.list_batches(std::nullopt, std::nullopt);
    client.list_batches("running", std::nullopt);
    client.list_batches("partially failed&x=1", "eyJ0IjoiMjAyNiJ9+/=?&%");
    const auto requests = transport.requests();
    ASSERT_EQ(requests.size(), 3u);
    EXPECT_EQ(requests[0].target, "/v1/batches?limit=50");
    EXPECT_EQ(requests[1].target, "/v1/batches?status=running&limit=50");
    EXPECT_EQ(requests[2].target,
              "/v1/batches?status=partially%20failed%26x%3D1&cursor=eyJ0IjoiMjAyNiJ9%2B%2F%3D%3F%26%25&limit=50");
}

// Every printable ASCII character, a control, DEL and a UTF-8 pair: only RFC 3986's unreserved
// characters (letters, digits, - . _ ~) stay as they are, in the path and in the query.
TEST_F(UpstreamClientTest, OnlyUnreservedCharactersStayUnencoded) {
    std::string text;
    for (char c = 0x20; c < 0x7F; ++c) text += c;
    text += "\x01\x7F\xC3\xA9";
    const std::string encoded =
        "%20%21%22%23%24%25%26%27%28%29%2A%2B%2C-.%2F0123456789%3A%3B%3C%3D%3E%3F%40ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        "%5B%5C%5D%5E_%60abcdefghijklmnopqrstuvwxyz%7B%7C%7D~%01%7F%C3%A9";
    transport.respond(200, page_body()).respond(404, R"({"detail":"Not Found"})");
    ClientOptions o = options();
    o.page_size = 7;
    auto client = make_client(o);
    client.list_batches(text, text);
    client.get_batch(text);
    const auto requests = transport.requests();
    ASSERT_EQ(requests.size(), 2u);
    EXPECT_EQ(requests[0].target, "/v1/batches?status=" + encoded + "&cursor=" + encoded + "&limit=7");
    EXPECT_EQ(requests[1].target, "/v1/batches/" + encoded + "?limit=1");
}

TEST_F(UpstreamClientTest, GetBatchAsksForOneItem) {
    json detail = batch_object("bat 1/x");
    detail["items"] = json::array();
    transport.respond(200, detail.dump());
    auto client = make_client();
    const auto batch = client.get_batch("bat 1/x");
    ASSERT_EQ(batch.status, FetchStatus::ok) << batch.message;
    EXPECT_EQ(batch.value->id, "bat 1/x");
    EXPECT_EQ(transport.requests().at(0).target, "/v1/batches/bat%201%2Fx?limit=1");
}

TEST_F(UpstreamClientTest, NotFoundOnGetButBadResponseOnList) {
    transport.respond(404, R"({"detail":"Not Found"})").respond(404, R"({"detail":"Not Found"})");
    auto client = make_client();
    const auto gone = client.get_batch("bat_gone");
    EXPECT_EQ(gone.status, FetchStatus::not_found);
    EXPECT_EQ(gone.http_status, 404);
    EXPECT_EQ(gone.attempts, 1);
    const auto list = client.list_batches(std::nullopt, std::nullopt);
    EXPECT_EQ(list.status, FetchStatus::bad_response);
    EXPECT_EQ(list.attempts, 1);
    EXPECT_TRUE(clock.sleeps().empty());
}

TEST_F(UpstreamClientTest, UnauthorizedAtOnceWithoutTheKey) {
    for (const int code : {401, 403}) {
        FakeTransport rejecting(&clock);
        rejecting.respond(code, std::string(R"({"detail":"invalid key )") + kKey + "\"}");
        UpstreamClient client(rejecting, clock, clock, options(), [] { return 0.5; });
        const auto page = client.list_batches(std::nullopt, std::nullopt);
        EXPECT_EQ(page.status, FetchStatus::unauthorized);
        EXPECT_EQ(page.http_status, code);
        EXPECT_EQ(page.attempts, 1);
        EXPECT_EQ(rejecting.requests().size(), 1u);
        EXPECT_EQ(page.message, "upstream rejected the API key (HTTP " + std::to_string(code) +
                                    ") from api_key_file /etc/extract-sync/api_key: check the key");
        EXPECT_EQ(page.message.find(kKey), std::string::npos);
    }
    EXPECT_TRUE(clock.sleeps().empty());
}

TEST_F(UpstreamClientTest, NewKeyIsUsedAndNamedAfterSetApiKey) {
    transport.respond(401, "").respond(200, page_body());
    auto client = make_client();
    EXPECT_EQ(client.list_batches(std::nullopt, std::nullopt).status, FetchStatus::unauthorized);
    client.set_api_key("sk_new", "$EXTRACT_API_KEY");
    EXPECT_EQ(client.list_batches(std::nullopt, std::nullopt).status, FetchStatus::ok);
    EXPECT_EQ(transport.requests().at(1).header("X-API-KEY"), "sk_new");

    transport.respond(403, "");
    EXPECT_EQ(client.list_batches(std::nullopt, std::nullopt).message,
              "upstream rejected the API key (HTTP 403) from $EXTRACT_API_KEY: check the key");
}

TEST_F(UpstreamClientTest, ServerErrorsAreRetriedWithGrowingWaits) {
    transport.respond(500, "oops").respond(502, "").respond(200, page_body());
    auto client = make_client();
    const auto page = client.list_batches(std::nullopt, std::nullopt);
    ASSERT_EQ(page.status, FetchStatus::ok) << page.message;
    EXPECT_EQ(page.attempts, 3);
    EXPECT_EQ(page.http_status, 200);
    EXPECT_EQ(client.requests_sent(), 3);
    EXPECT_EQ(clock.sleeps(), (std::vector<Millis>{750ms, 1500ms}));  // 1 s and 2 s, times 3/4
}

TEST_F(UpstreamClientTest, TransportFailuresAreRetried) {
    transport.fail(TransportError::timeout)
        .fail(TransportError::connect_failed)
        .fail(TransportError::connection_reset)
        .fail(TransportError::tls)
        .respond(200, page_body());
    auto client = make_client();
    const auto page = client.list_batches(std::nullopt, std::nullopt);
    ASSERT_EQ(page.status, FetchStatus::ok) << page.message;
    EXPECT_EQ(page.attempts, 5);
    EXPECT_EQ(client.responses_by_code(), (std::map<int, std::int64_t>{{0, 4}, {200, 1}}));
}

TEST_F(UpstreamClientTest, UnavailableAfterMaxAttemptsNamesTheLastCause) {
    transport.respond(503, "down").fail(TransportError::timeout, "GET /v1/batches?limit=200: Timeout");
    ClientOptions o = options();
    o.max_attempts = 2;
    auto client = make_client(o);
    const auto page = client.list_batches(std::nullopt, std::nullopt);
    EXPECT_EQ(page.status, FetchStatus::unavailable);
    EXPECT_EQ(page.attempts, 2);
    EXPECT_EQ(page.http_status, 0);
    EXPECT_EQ(page.message, "gave up after 2 attempts; last: timeout: GET /v1/batches?limit=200: Timeout");
    EXPECT_EQ(clock.sleeps().size(), 1u);  // no wait after the last attempt
}

TEST_F(UpstreamClientTest, WaitsAreCappedByMaxBackoff) {
    transport.respond_always(500, "");
    ClientOptions o = options();
    o.initial_backoff = 1s;
    o.max_backoff = 5s;
    auto client = make_client(o);
    const auto page = client.list_batches(std::nullopt, std::nullopt);
    EXPECT_EQ(page.status, FetchStatus::unavailable);
    EXPECT_EQ(page.attempts, 8);
    EXPECT_EQ(page.message, "gave up after 8 attempts; last: GET /v1/batches?limit=200: HTTP 500");
    EXPECT_EQ(clock.sleeps(), (std::vector<Millis>{750ms, 1500ms, 3000ms, 3750ms, 3750ms, 3750ms, 3750ms}));
}

TEST(BackoffDelay, FollowsTheFormula) {
    EXPECT_EQ(backoff_delay(1, 1s, 300s, 0.0), 500ms);
    EXPECT_EQ(backoff_delay(1, 1s, 300s, 1.0), 1000ms);
    EXPECT_EQ(backoff_delay(4, 1s, 300s, 1.0), 8000ms);
    EXPECT_EQ(backoff_delay(4, 1s, 300s, 0.0), 4000ms);
    EXPECT_EQ(backoff_delay(9, 1s, 300s, 1.0), 256000ms);
    EXPECT_EQ(backoff_delay(10, 1s, 300s, 1.0), 300000ms);
    EXPECT_EQ(backoff_delay(1000, 1s, 300s, 0.0), 150000ms);  // no overflow on long outages
    EXPECT_EQ(backoff_delay(2, 1s, 300s, 7.0), 2000ms);       // a jitter out of range is clamped
}

TEST_F(UpstreamClientTest, DefaultJitterStaysWithinHalfAndWholeDelay) {
    transport.respond_always(500, "");
    ClientOptions o = options();
    o.max_attempts = 40;
    o.initial_backoff = 1s;
    o.max_backoff = 8s;
    UpstreamClient client(transport, clock, clock, o);  // the real, seeded jitter
    EXPECT_EQ(client.list_batches(std::nullopt, std::nullopt).status, FetchStatus::unavailable);
    const auto sleeps = clock.sleeps();
    ASSERT_EQ(sleeps.size(), 39u);
    std::set<Millis> distinct;
    for (std::size_t i = 0; i < sleeps.size(); ++i) {
        const Millis base = std::min<Millis>(8s, 1s * (1LL << std::min<std::size_t>(i, 10)));
        EXPECT_GE(sleeps[i], base / 2) << "wait " << i;
        EXPECT_LE(sleeps[i], base) << "wait " << i;
        distinct.insert(sleeps[i]);
    }
    EXPECT_GT(distinct.size(), 10u);  // it does vary
}

TEST_F(UpstreamClientTest, RetryAfterSecondsHoldsTheNextRequest) {
    transport.respond(429, R"({"detail":"slow down"})", {{"retry-after", "7"}}).respond(200, page_body());
    auto client = make_client();
    const auto page = client.list_batches(std::nullopt, std::nullopt);
    ASSERT_EQ(page.status, FetchStatus::ok) << page.message;
    EXPECT_EQ(page.attempts, 2);
    EXPECT_GE(since_first(1), 7s);
    EXPECT_EQ(client.held_until(), std::nullopt);  // over by now
}

TEST_F(UpstreamClientTest, RetryAfterHttpDateHoldsTheNextRequest) {
    const std::string in_12s = http_date(clock.now() + 12s);
    transport.respond(429, "", {{"Retry-After", in_12s}}).respond(200, page_body());
    auto client = make_client();
    ASSERT_EQ(client.list_batches(std::nullopt, std::nullopt).status, FetchStatus::ok);
    EXPECT_GE(since_first(1), 12s);
    EXPECT_LE(since_first(1), 13s);
}

TEST_F(UpstreamClientTest, RetryAfterMissingOrUnreadableFallsBackToBackoff) {
    transport.respond(429, "").respond(429, "", {{"Retry-After", "soon"}}).respond(200, page_body());
    auto client = make_client();
    ASSERT_EQ(client.list_batches(std::nullopt, std::nullopt).status, FetchStatus::ok);
    EXPECT_GE(since_first(1), 750ms);
    EXPECT_GE(since_first(2) - since_first(1), 1500ms);
}

TEST_F(UpstreamClientTest, RetryAfterIsBounded) {
    transport.respond(429, "", {{"Retry-After", "99999999999"}})
        .respond(429, "", {{"Retry-After", http_date(clock.now() - 1h)}})
        .respond(200, page_body());
    auto client = make_client();
    ASSERT_EQ(client.list_batches(std::nullopt, std::nullopt).status, FetchStatus::ok);
    EXPECT_EQ(since_first(1), 24h);                   // a day at most
    EXPECT_EQ(since_first(2) - since_first(1), 0ms);  // a date already past holds nothing
}

TEST_F(UpstreamClientTest, A429HoldsEveryRequestOfTheClient) {
    transport.respond(429, "", {{"Retry-After", "30"}}).respond(200, page_body());
    ClientOptions o = options();
    o.max_attempts = 1;
    auto client = make_client(o);
    const auto first = client.list_batches("running", std::nullopt);
    EXPECT_EQ(first.status, FetchStatus::unavailable);
    ASSERT_TRUE(client.held_until().has_value());
    EXPECT_EQ(*client.held_until(), transport.requests().at(0).sent_at + 30s);

    // Another fetch, e.g. of a single batch, waits for the same hold.
    const auto second = client.list_batches(std::nullopt, std::nullopt);
    EXPECT_EQ(second.status, FetchStatus::ok) << second.message;
    EXPECT_GE(since_first(1), 30s);
}

TEST_F(UpstreamClientTest, BoundedFetchStopsAtItsAttemptsOrItsDeadline) {
    transport.respond_always(500, "");
    auto client = make_client();
    const auto few = client.get_batch("bat_1", FetchBounds{3, std::nullopt, nullptr});
    EXPECT_EQ(few.status, FetchStatus::unavailable);
    EXPECT_EQ(few.attempts, 3);
    EXPECT_EQ(clock.sleeps(), (std::vector<Millis>{750ms, 1500ms}));

    // A backoff that would end past the deadline is not slept: the fetch ends now.
    const auto deadline = clock.steady_now() + 1s;
    const auto bounded = client.get_batch("bat_1", FetchBounds{0, deadline, nullptr});
    EXPECT_EQ(bounded.status, FetchStatus::unavailable);
    EXPECT_EQ(bounded.attempts, 2);  // 750 ms fits, then 1500 ms would not
    EXPECT_LE(clock.steady_now(), deadline);
    EXPECT_NE(bounded.message.find("HTTP 500"), std::string::npos) << bounded.message;

    // Its waits go to the sleeper it names, not the client's.
    FakeClock other;
    const auto sleeps_before = clock.sleeps().size();
    client.get_batch("bat_1", FetchBounds{2, std::nullopt, &other});
    EXPECT_EQ(clock.sleeps().size(), sleeps_before);
    EXPECT_EQ(other.sleeps(), (std::vector<Millis>{750ms}));
}

TEST_F(UpstreamClientTest, BoundedFetchDoesNotWaitOutA429HoldPastItsDeadline) {
    transport.respond(429, "", {{"Retry-After", "30"}});
    ClientOptions o = options();
    o.max_attempts = 1;
    auto client = make_client(o);
    ASSERT_EQ(client.list_batches(std::nullopt, std::nullopt).status, FetchStatus::unavailable);
    const auto sent = client.requests_sent();
    const auto sleeps = clock.sleeps().size();

    const auto held = client.get_batch("bat_1", FetchBounds{3, clock.steady_now() + 10s, nullptr});
    EXPECT_EQ(held.status, FetchStatus::unavailable);
    EXPECT_NE(held.message.find("429 hold"), std::string::npos) << held.message;
    EXPECT_EQ(client.requests_sent(), sent) << "nothing sent while held";
    EXPECT_EQ(clock.sleeps().size(), sleeps) << "the hold is not waited out";
}

TEST_F(UpstreamClientTest, MalformedBodyThenGoodBodyIsOk) {
    transport.respond(200, R"({"data":[{"id":"bat_1","status":)").respond(200, page_body());
    auto client = make_client();
    const auto page = client.list_batches(std::nullopt, std::nullopt);
    ASSERT_EQ(page.status, FetchStatus::ok) << page.message;
    EXPECT_EQ(page.attempts, 2);
    EXPECT_EQ(clock.sleeps(), std::vector<Millis>{750ms});
}

TEST_F(UpstreamClientTest, MalformedBodyEveryTimeIsBadResponse) {
    json broken = json::parse(page_body());
    broken["data"][0]["counts"]["pending"] = "1";
    transport.respond_always(200, broken.dump());
    ClientOptions o = options();
    o.max_attempts = 4;
    auto client = make_client(o);
    const auto page = client.list_batches(std::nullopt, std::nullopt);
    EXPECT_EQ(page.status, FetchStatus::bad_response);
    EXPECT_EQ(page.attempts, 4);
    EXPECT_EQ(page.http_status, 200);
    EXPECT_EQ(page.message,
              "gave up after 4 attempts; last: GET /v1/batches?limit=200: HTTP 200 with a body that is not the "
              "contract's JSON: data[0].counts.pending: expected an integer, got string");
}

TEST_F(UpstreamClientTest, APageWithMoreBatchesThanTheLimitIsBadResponse) {
    json page_json = json::parse(page_body());
    for (int i = 2; i <= 3; ++i) page_json["data"].push_back(batch_object("bat_" + std::to_string(i)));
    transport.respond_always(200, page_json.dump());
    ClientOptions o = options();
    o.page_size = 2;
    o.max_attempts = 2;
    auto client = make_client(o);
    const auto page = client.list_batches(std::nullopt, std::nullopt);
    EXPECT_EQ(page.status, FetchStatus::bad_response);
    EXPECT_EQ(page.message,
              "gave up after 2 attempts; last: GET /v1/batches?limit=2: HTTP 200 with a body that is not the "
              "contract's JSON: data: 3 batches, more than the limit=2 asked for");
}

TEST_F(UpstreamClientTest, AnAnswerTooLargeIsRetriedThenBadResponse) {
    transport.fail(TransportError::too_large, "GET /v1/batches?limit=200: answer of more than 65536 bytes")
        .fail(TransportError::too_large, "GET /v1/batches?limit=200: answer of more than 65536 bytes");
    ClientOptions o = options();
    o.max_attempts = 2;
    auto client = make_client(o);
    const auto page = client.list_batches(std::nullopt, std::nullopt);
    EXPECT_EQ(page.status, FetchStatus::bad_response);
    EXPECT_EQ(page.attempts, 2);
    EXPECT_NE(page.message.find("answer too large"), std::string::npos) << page.message;
}

TEST_F(UpstreamClientTest, OtherClientErrorsAreBadResponseAtOnceWithASnippet) {
    const std::string head = R"({"detail":[{"loc":["query","limit"],"msg":")";
    transport.respond(422, head + std::string(500, 'x') + "\"}]}");
    auto client = make_client();
    const auto page = client.list_batches(std::nullopt, std::nullopt);
    EXPECT_EQ(page.status, FetchStatus::bad_response);
    EXPECT_EQ(page.attempts, 1);
    EXPECT_EQ(page.http_status, 422);
    // The first 200 characters of the body, and a mark that it was cut.
    EXPECT_EQ(page.message,
              "GET /v1/batches?limit=200: HTTP 422: " + head + std::string(200 - head.size(), 'x') + "\u2026");
    EXPECT_TRUE(clock.sleeps().empty());
}

TEST_F(UpstreamClientTest, BodySnippetsNeverShowTheKey) {
    transport.respond(400, std::string("bad header X-API-KEY: ") + kKey);
    auto client = make_client();
    const auto page = client.list_batches(std::nullopt, std::nullopt);
    EXPECT_EQ(page.status, FetchStatus::bad_response);
    EXPECT_EQ(page.message, "GET /v1/batches?limit=200: HTTP 400: bad header X-API-KEY: [redacted]");
}

TEST_F(UpstreamClientTest, StoppedWhenTheSleeperSaysStop) {
    StoppedSleeper stopping;
    transport.respond(500, "");
    UpstreamClient client(transport, clock, stopping, options(), [] { return 0.5; });
    const auto page = client.list_batches(std::nullopt, std::nullopt);
    EXPECT_EQ(page.status, FetchStatus::stopped);
    EXPECT_EQ(page.attempts, 1);
    EXPECT_EQ(transport.requests().size(), 1u);
}

TEST_F(UpstreamClientTest, StoppedWhenTheTransportIsAborted) {
    transport.fail(TransportError::aborted, "GET /v1/batches?limit=200: request aborted at shutdown");
    auto client = make_client();
    const auto page = client.list_batches(std::nullopt, std::nullopt);
    EXPECT_EQ(page.status, FetchStatus::stopped);
    EXPECT_EQ(page.attempts, 1);
    EXPECT_TRUE(clock.sleeps().empty());
}

TEST_F(UpstreamClientTest, StoppedWhileWaitingForTheRateLimitSendsNothing) {
    StoppedSleeper stopping;
    transport.respond(200, page_body());
    ClientOptions o = options();
    o.max_requests_per_second = 1;
    UpstreamClient client(transport, clock, stopping, o, [] { return 0.5; });
    EXPECT_EQ(client.list_batches(std::nullopt, std::nullopt).status, FetchStatus::ok);
    const auto second = client.list_batches(std::nullopt, std::nullopt);
    EXPECT_EQ(second.status, FetchStatus::stopped);
    EXPECT_EQ(second.attempts, 0);
    EXPECT_EQ(transport.requests().size(), 1u);
}

TEST_F(UpstreamClientTest, RateLimitSpacesRequests) {
    transport.respond_always(200, page_body());
    ClientOptions o = options();
    o.max_requests_per_second = 5;
    auto client = make_client(o);
    for (int i = 0; i < 10; ++i) ASSERT_EQ(client.list_batches(std::nullopt, std::nullopt).status, FetchStatus::ok);
    const auto requests = transport.requests();
    ASSERT_EQ(requests.size(), 10u);
    EXPECT_GE(since_first(9), 1800ms);
    EXPECT_LE(since_first(9), 1810ms);  // and no slower than asked
    for (std::size_t i = 1; i < requests.size(); ++i) EXPECT_GE(requests[i].sent_at - requests[i - 1].sent_at, 200ms);
}

// The limit is fixed when the client is built (a changed [upstream] max_requests_per_second
// needs a restart); each client spaces its own requests by it, and 0 lifts it.
TEST_F(UpstreamClientTest, RateLimitIsSetAtConstructionOrLifted) {
    transport.respond_always(200, page_body());
    const auto two_requests = [this](double max_requests_per_second) {
        ClientOptions o = options();
        o.max_requests_per_second = max_requests_per_second;
        auto client = make_client(o);
        client.list_batches(std::nullopt, std::nullopt);
        client.list_batches(std::nullopt, std::nullopt);
    };
    two_requests(1);
    EXPECT_EQ(since_first(1), 1000ms);
    two_requests(10);
    EXPECT_EQ(since_first(3) - since_first(2), 100ms);
    two_requests(0);
    EXPECT_EQ(since_first(5), since_first(4));
}

// Each thread keeps its own fake time, which only its own sleeps advance. A shared fake clock
// lets one thread's sleep move time under another that has just taken its turn, so what the
// transport records drifts from the slot the limiter gave; with a clock per thread, a request
// is recorded at exactly the instant its thread was let through.
class PerThreadClock final : public Clock, public Sleeper {
public:
    WallTime now() const override { return WallTime{} + offset(); }
    SteadyTime steady_now() const override { return SteadyTime{} + offset(); }
    bool sleep_for(Millis d) override {
        std::lock_guard lock(mutex_);
        offsets_[std::this_thread::get_id()] += d;
        return true;
    }

private:
    Millis offset() const {
        std::lock_guard lock(mutex_);
        const auto it = offsets_.find(std::this_thread::get_id());
        return it == offsets_.end() ? Millis{0} : it->second;
    }
    mutable std::mutex mutex_;
    std::map<std::thread::id, Millis> offsets_;
};

TEST_F(UpstreamClientTest, RateLimitHoldsAcrossThreads) {
    PerThreadClock clocks;
    FakeTransport shared(&clocks);
    shared.respond_always(200, page_body());
    ClientOptions o = options();
    o.max_requests_per_second = 5;
    UpstreamClient client(shared, clocks, clocks, std::move(o), [] { return 0.5; });
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&client] {
            for (int i = 0; i < 5; ++i) client.list_batches(std::nullopt, std::nullopt);
        });
    }
    for (auto& thread : threads) thread.join();
    const auto requests = shared.requests();
    ASSERT_EQ(requests.size(), 20u);
    EXPECT_EQ(client.requests_sent(), 20);
    // Twenty requests from four threads take the twenty slots one interval apart, none twice.
    std::vector<SteadyTime> sent;
    std::vector<SteadyTime> slots;
    for (const auto& r : requests) sent.push_back(r.sent_at);
    for (int k = 0; k < 20; ++k) slots.push_back(SteadyTime{} + k * 200ms);
    std::sort(sent.begin(), sent.end());
    EXPECT_EQ(sent, slots);
}

TEST_F(UpstreamClientTest, CountsEveryAttemptByCode) {
    transport.respond(500, "").fail(TransportError::connection_reset).respond(200, page_body());
    transport.respond(404, "");
    auto client = make_client();
    client.list_batches(std::nullopt, std::nullopt);
    client.get_batch("bat_x");
    EXPECT_EQ(client.requests_sent(), 4);
    EXPECT_EQ(client.responses_by_code(), (std::map<int, std::int64_t>{{0, 1}, {200, 1}, {404, 1}, {500, 1}}));
}

TEST_F(UpstreamClientTest, LogsNeverContainTheKeyAndA429HoldOnce) {
    LogCapture log;
    transport.respond(500, kKey)
        .respond(429, kKey, {{"Retry-After", "5"}})
        .respond(429, "", {{"Retry-After", "5"}})
        .respond(200, page_body())
        .respond(401, kKey);
    auto client = make_client();
    EXPECT_EQ(client.list_batches(std::nullopt, std::nullopt).status, FetchStatus::ok);
    EXPECT_EQ(client.list_batches(std::nullopt, std::nullopt).status, FetchStatus::unauthorized);
    const std::string text = log.text();
    EXPECT_EQ(text.find(kKey), std::string::npos) << text;
    EXPECT_EQ(count_of(text, "holding every request for 5.0s"), 2u) << text;  // two holds, one line each
    EXPECT_NE(text.find("HTTP 500"), std::string::npos) << text;
}

TEST_F(UpstreamClientTest, RefusedConnectionsGiveUpAfterMaxConnectAttempts) {
    transport.fail(TransportError::connect_failed, "connecting to 127.0.0.1:9: Connection refused")
        .fail(TransportError::connect_failed, "connecting to 127.0.0.1:9: Connection refused")
        .fail(TransportError::connect_failed, "connecting to 127.0.0.1:9: Connection refused");
    auto client = make_client();  // max_connect_attempts 3 by default
    const auto page = client.list_batches(std::nullopt, std::nullopt);
    EXPECT_EQ(page.status, FetchStatus::unavailable);
    EXPECT_EQ(page.attempts, 3);
    EXPECT_EQ(page.message,
              "gave up after 3 attempts; last: connect failed: connecting to 127.0.0.1:9: Connection refused");
    EXPECT_EQ(clock.sleeps(), (std::vector<Millis>{750ms, 1500ms}));
}

TEST_F(UpstreamClientTest, AConnectionThatComesBackResetsTheCountOfConnectFailures) {
    transport.fail(TransportError::connect_failed)
        .fail(TransportError::connect_failed)
        .respond(503, "")
        .fail(TransportError::connect_failed)
        .respond(200, page_body());
    auto client = make_client();
    const auto page = client.list_batches(std::nullopt, std::nullopt);
    ASSERT_EQ(page.status, FetchStatus::ok) << page.message;
    EXPECT_EQ(page.attempts, 5);
}

TEST_F(UpstreamClientTest, AnUnknownHostIsNotRetried) {
    transport.fail(TransportError::unknown_host,
                   "connecting to api.example.invalid:443: Host not found: api.example.invalid");
    auto client = make_client();
    const auto page = client.list_batches(std::nullopt, std::nullopt);
    EXPECT_EQ(page.status, FetchStatus::unavailable);
    EXPECT_EQ(page.attempts, 1);
    EXPECT_TRUE(clock.sleeps().empty());
    EXPECT_NE(page.message.find("Host not found: api.example.invalid"), std::string::npos) << page.message;
    EXPECT_NE(page.message.find("not retried"), std::string::npos) << page.message;
    EXPECT_TRUE(client.host_unresolved());
    transport.respond(200, page_body());
    ASSERT_EQ(client.list_batches(std::nullopt, std::nullopt).status, FetchStatus::ok);
    EXPECT_FALSE(client.host_unresolved()) << "only the last fetch counts";
}

// The cause of a failed attempt is visible while the fetch still retries, and gone once it ends.
class ObservingSleeper final : public Sleeper {
public:
    ObservingSleeper(Sleeper& inner, std::function<void()> on_sleep) : inner_(inner), on_sleep_(std::move(on_sleep)) {}
    bool sleep_for(Millis d) override {
        on_sleep_();
        return inner_.sleep_for(d);
    }

private:
    Sleeper& inner_;
    std::function<void()> on_sleep_;
};

TEST_F(UpstreamClientTest, FailingNamesTheLastFailedAttemptOnlyWhileTheFetchRetries) {
    transport.respond(503, "down for maintenance").respond(502, "").respond(200, page_body());
    std::vector<std::optional<std::string>> seen;
    UpstreamClient* observed = nullptr;
    ObservingSleeper sleeper(clock, [&] { seen.push_back(observed->failing()); });
    UpstreamClient client(transport, clock, sleeper, options(), [] { return 0.5; });
    observed = &client;
    EXPECT_FALSE(client.failing());
    const auto page = client.list_batches(std::nullopt, std::nullopt);
    ASSERT_EQ(page.status, FetchStatus::ok) << page.message;
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0], "GET /v1/batches?limit=200: HTTP 503: down for maintenance");
    EXPECT_EQ(seen[1], "GET /v1/batches?limit=200: HTTP 502");
    EXPECT_FALSE(client.failing()) << "the fetch is over";
}
