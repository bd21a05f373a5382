// The real extract-sim over loopback, driven through SimProcess: start-up line, paging in
// every order while batches are created, the error shapes on the wire, faults as a client
// sees them, lifecycle and expiry in real (sped-up) time, and a clean exit.

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "tests/support/eventually.hpp"
#include "tests/support/sim_process.hpp"

namespace extract::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::string kKey = "process-test-key";
const std::map<std::string, std::string> kAuth{{"X-API-KEY", kKey}};

json get_json(const SimProcess& sim, const std::string& target, int expected_status = 200) {
    const auto reply = sim.request("GET", target, "", kAuth);
    EXPECT_EQ(reply.status, expected_status) << target << ": " << reply.body;
    return json::parse(reply.body);
}

class SimProgramOrder : public ::testing::TestWithParam<std::string> {};

TEST_P(SimProgramOrder, PagingWhileBatchesAreCreatedSeesEveryExistingBatchOnce) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "1000", "--frozen", "--order", GetParam(), "--api-key", kKey});
    std::vector<std::string> before;
    for (const auto& b : sim.snapshot()) before.push_back(b.at("id"));
    ASSERT_EQ(before.size(), 1000u);

    std::map<std::string, int> seen;
    std::string target = "/v1/batches?limit=200";
    for (int page = 0; page < 100; ++page) {
        const auto body = get_json(sim, target);
        for (const auto& b : body.at("data")) ++seen[b.at("id")];
        if (body.at("next_cursor").is_null()) break;
        sim.create(5);
        target = "/v1/batches?limit=200&cursor=" + body.at("next_cursor").get<std::string>();
    }
    for (const auto& id : before) EXPECT_EQ(seen[id], 1) << id;
    for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << id;
}

INSTANTIATE_TEST_SUITE_P(SimOrders, SimProgramOrder, ::testing::Values("newest", "oldest", "shuffled"),
                         [](const ::testing::TestParamInfo<std::string>& param_info) { return param_info.param; });

TEST(SimProgram, ServesTheContractsErrorShapesOnTheWire) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "10", "--api-key", kKey});
    EXPECT_EQ(get_json(sim, "/v1/batches?limit=0", 422).at("detail").at(0).at("loc"), (json{"query", "limit"}));
    EXPECT_EQ(get_json(sim, "/v1/batches?limit=201", 422).at("detail").at(0).at("type"), "less_than_equal");
    EXPECT_EQ(get_json(sim, "/v1/batches?limit=abc", 422).at("detail").at(0).at("type"), "int_parsing");
    EXPECT_EQ(get_json(sim, "/v1/batches?cursor=%21%21", 422).at("detail").at(0).at("loc"), (json{"query", "cursor"}));
    EXPECT_EQ(get_json(sim, "/v1/batches/bat_unknown?limit=1", 404), (json{{"detail", "Batch not found"}}));
    EXPECT_EQ(sim.request("GET", "/v1/batches").status, 401);
    EXPECT_EQ(sim.request("GET", "/v1/batches", "", {{"X-API-KEY", "wrong"}}).status, 401);
    EXPECT_EQ(sim.request("GET", "/v1/batches", "", {{"x-api-key", kKey}}).status, 200) << "header names ignore case";

    const auto id = sim.create(1, "running").at(0);
    const auto batch = get_json(sim, "/v1/batches/" + id + "?limit=1");
    EXPECT_EQ(batch.at("status"), "running");
    EXPECT_EQ(batch.at("items").size(), 1u);
    EXPECT_TRUE(batch.contains("next_cursor"));
    const auto all = sim.snapshot();
    const auto running =
        std::count_if(all.begin(), all.end(), [](const json& b) { return b.at("status") == "running"; });
    EXPECT_EQ(get_json(sim, "/v1/batches?status=running&limit=200").at("data").size(),
              static_cast<std::size_t>(running));
}

TEST(SimProgram, EveryFaultKindIsVisibleToAClient) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "30", "--frozen", "--api-key", kKey});
    sim.set_faults({{"error_rate", 1.0}});
    EXPECT_EQ(sim.request("GET", "/v1/batches", "", kAuth).status, 500);

    sim.set_faults({{"rate_limit_rate", 1.0}, {"retry_after", "1"}});
    const auto limited = sim.request("GET", "/v1/batches", "", kAuth);
    EXPECT_EQ(limited.status, 429);
    EXPECT_EQ(limited.headers.at("retry-after"), "1");

    sim.set_faults({{"malformed_rate", 1.0}});
    const auto malformed = sim.request("GET", "/v1/batches", "", kAuth);
    EXPECT_EQ(malformed.status, 200);
    const auto parsed = json::parse(malformed.body, nullptr, false);
    EXPECT_TRUE(parsed.is_discarded() || !parsed.at("data").is_array()) << malformed.body;

    sim.set_faults({{"truncated_rate", 1.0}});
    const auto truncated = sim.request("GET", "/v1/batches", "", kAuth);
    EXPECT_EQ(truncated.status, 200);
    EXPECT_EQ(truncated.headers.at("content-length"), std::to_string(truncated.body.size()))
        << "a complete HTTP message carrying half a JSON document";
    EXPECT_TRUE(json::parse(truncated.body, nullptr, false).is_discarded());

    sim.set_faults({{"slow_rate", 1.0}, {"slow_ms", 300}});
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(sim.request("GET", "/v1/batches", "", kAuth).status, 200);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);

    sim.set_faults({});
    EXPECT_EQ(sim.request("GET", "/v1/batches", "", kAuth).status, 200);
    const auto stats = sim.stats();
    EXPECT_EQ(stats.at("requests"), 6);
    EXPECT_EQ(stats.at("by_status"), (json{{"200", 4}, {"429", 1}, {"500", 1}}));
    sim.reset_stats();
    EXPECT_EQ(sim.stats().at("requests"), 0);
}

TEST(SimProgram, BatchesMoveThroughTheirLifecycleInSpedUpTime) {
    // At 10000x a plan of at most 4 h 20 min of lifecycle time takes under 1.6 s.
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "0", "--speed", "10000", "--frozen", "--api-key", kKey});
    const auto ids = sim.create(20);
    for (const auto& b : sim.snapshot()) EXPECT_EQ(b.at("status"), "pending") << "frozen: nothing moves";
    sim.unfreeze();
    std::set<std::string> terminal{"completed", "partially_failed", "failed", "cancelled"};
    EXPECT_TRUE(eventually(
        [&] {
            const auto all = sim.snapshot();
            return std::all_of(all.begin(), all.end(),
                               [&](const json& b) { return terminal.contains(b.at("status")); });
        },
        10s))
        << sim.snapshot().dump();
    for (const auto& b : sim.snapshot()) {
        EXPECT_TRUE(b.at("completed_at").is_string());
        const auto& c = b.at("counts");
        EXPECT_EQ(c.at("pending").get<int>() + c.at("running").get<int>(), 0);
    }
}

TEST(SimProgram, ExpiredBatchesVanishFromTheListAndGet404) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "0", "--retention", "1s", "--api-key", kKey});
    const auto id = sim.create(1, "completed").at(0);
    EXPECT_EQ(sim.request("GET", "/v1/batches/" + id, "", kAuth).status, 200);
    EXPECT_TRUE(eventually([&] { return sim.request("GET", "/v1/batches/" + id, "", kAuth).status == 404; }, 10s));
    EXPECT_TRUE(get_json(sim, "/v1/batches").at("data").empty());
}

TEST(SimProgram, APostWithoutABodyNeedsNoContentLength) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "0"});
    Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(sim.port()));
    session.setTimeout(Poco::Timespan(5, 0));
    Poco::Net::HTTPRequest request("POST", "/_control/freeze",
                                   Poco::Net::HTTPMessage::HTTP_1_1);  // as `curl -XPOST` sends it
    session.sendRequest(request);
    Poco::Net::HTTPResponse response;
    std::string body;
    Poco::StreamCopier::copyToString(session.receiveResponse(response), body);
    EXPECT_EQ(response.getStatus(), Poco::Net::HTTPResponse::HTTP_OK);
    EXPECT_EQ(json::parse(body), (json{{"frozen", true}}));
}

TEST(SimProgram, ExitsCleanlyOnSigtermAndSigint) {
    for (const int sig : {SIGTERM, SIGINT}) {
        SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "100"});
        // A connection held open (keep-alive) must not hold up the exit.
        Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(sim.port()));
        Poco::Net::HTTPRequest request("GET", "/_control/stats", Poco::Net::HTTPMessage::HTTP_1_1);
        session.sendRequest(request);
        Poco::Net::HTTPResponse response;
        std::string body;
        Poco::StreamCopier::copyToString(session.receiveResponse(response), body);
        sim.process().signal(sig);
        EXPECT_EQ(sim.process().wait(5s), 0) << sim.process().stderr_text();
    }
}

TEST(SimProgram, BadFlagsExitTwoWithAMessage) {
    ChildProcess bad({EXTRACT_SIM_BIN, "--order", "sideways"});
    EXPECT_EQ(bad.wait(10s), 2);
    EXPECT_TRUE(bad.wait_for_stderr("--order", 1s)) << bad.stderr_text();
    ChildProcess help({EXTRACT_SIM_BIN, "--help"});
    EXPECT_EQ(help.wait(10s), 0);
    EXPECT_TRUE(help.wait_for_stdout("--frozen", 1s));
}

TEST(SimProgram, SayWhenThePortIsTaken) {
    SimProcess first(EXTRACT_SIM_BIN, {"--batches", "0"});
    ChildProcess second({EXTRACT_SIM_BIN, "--port", std::to_string(first.port())});
    EXPECT_EQ(second.wait(10s), 1);
    EXPECT_TRUE(second.wait_for_stderr("cannot listen", 1s)) << second.stderr_text();
}

}  // namespace
}  // namespace extract::testing
