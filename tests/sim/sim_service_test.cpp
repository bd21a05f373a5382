// SimService in-process: the upstream contract's validation, auth and error shapes,
// get-by-id with items, every fault kind, statistics, and the control routes.

#include <gtest/gtest.h>

#include "sim/sim_service.hpp"
#include "tests/sim/sim_test_util.hpp"
#include "tests/support/fake_clock.hpp"

namespace extract::sim {
namespace {

using extract::testing::FakeClock;
using nlohmann::json;

constexpr const char* kKey = "test-key";

class SimServiceTest : public ::testing::Test {
protected:
    SimServiceTest() : store_(clock_, frozen_settings()), service_(store_, kKey, clock_) { store_.generate(120); }

    static StoreSettings frozen_settings() {
        StoreSettings s;
        s.frozen = true;
        return s;
    }

    SimResponse get(const std::string& path, std::vector<std::pair<std::string, std::string>> query = {},
                    std::optional<std::string> key = kKey) {
        return service_.handle({"GET", path, std::move(query), std::move(key), ""});
    }
    SimResponse control(const std::string& method, const std::string& path, const json& body = nullptr) {
        return service_.handle({method, path, {}, std::nullopt, body.is_null() ? "" : body.dump()});
    }
    json control_json(const std::string& method, const std::string& path, const json& body = nullptr) {
        const auto response = control(method, path, body);
        EXPECT_EQ(response.status, 200) << method << " " << path << ": " << response.body;
        return json::parse(response.body);
    }
    std::string some_id() { return json::parse(get("/v1/batches", {{"limit", "1"}}).body).at("data").at(0).at("id"); }

    FakeClock clock_;
    BatchStore store_;
    SimService service_;
};

void expect_validation_error(const SimResponse& r, const std::string& field, const std::string& type) {
    ASSERT_EQ(r.status, 422) << r.body;
    const auto body = json::parse(r.body);
    ASSERT_TRUE(body.at("detail").is_array()) << r.body;
    ASSERT_EQ(body.at("detail").size(), 1u) << r.body;
    const auto& e = body.at("detail").at(0);
    EXPECT_EQ(e.at("loc"), (json{"query", field}));
    EXPECT_EQ(e.at("type"), type);
    EXPECT_TRUE(e.at("msg").is_string());
    EXPECT_FALSE(e.at("msg").get<std::string>().empty());
}

TEST_F(SimServiceTest, ListsPagesInTheContractShape) {
    const auto r = get("/v1/batches");
    ASSERT_EQ(r.status, 200);
    const auto body = json::parse(r.body);
    EXPECT_EQ(body.at("object"), "list");
    EXPECT_EQ(body.at("data").size(), 50u) << "limit defaults to 50";
    EXPECT_TRUE(body.at("next_cursor").is_string());
    const auto second = json::parse(get("/v1/batches", {{"limit", "200"}, {"cursor", body.at("next_cursor")}}).body);
    EXPECT_EQ(second.at("data").size(), 70u);
    EXPECT_TRUE(second.at("next_cursor").is_null());
    EXPECT_EQ(json::parse(get("/v1/batches", {{"status", "nope"}}).body).at("data").size(), 0u);
}

TEST_F(SimServiceTest, LimitOutsideOneTo200IsA422InFastApisShape) {
    expect_validation_error(get("/v1/batches", {{"limit", "0"}}), "limit", "greater_than_equal");
    expect_validation_error(get("/v1/batches", {{"limit", "-5"}}), "limit", "greater_than_equal");
    expect_validation_error(get("/v1/batches", {{"limit", "201"}}), "limit", "less_than_equal");
    expect_validation_error(get("/v1/batches", {{"limit", "99999999999999999999"}}), "limit", "less_than_equal");
    expect_validation_error(get("/v1/batches", {{"limit", "abc"}}), "limit", "int_parsing");
    expect_validation_error(get("/v1/batches", {{"limit", ""}}), "limit", "int_parsing");
    expect_validation_error(get("/v1/batches", {{"limit", "1.5"}}), "limit", "int_parsing");
    EXPECT_EQ(json::parse(get("/v1/batches", {{"limit", "0"}}).body).at("detail").at(0).at("ctx"), (json{{"ge", 1}}));
    EXPECT_EQ(get("/v1/batches", {{"limit", "1"}}).status, 200);
    EXPECT_EQ(get("/v1/batches", {{"limit", "200"}}).status, 200);
}

TEST_F(SimServiceTest, AnUndecodableCursorIsA422OnTheCursor) {
    expect_validation_error(get("/v1/batches", {{"cursor", "garbage"}}), "cursor", "value_error");
    const auto both = get("/v1/batches", {{"cursor", "garbage"}, {"limit", "0"}});
    EXPECT_EQ(json::parse(both.body).at("detail").size(), 2u) << "every bad parameter is reported";
    EXPECT_EQ(get("/v1/batches", {{"cursor", ""}}).status, 200) << "an empty cursor is no cursor";
}

TEST_F(SimServiceTest, AMissingOrWrongKeyIs401WithADetail) {
    for (const auto& key : {std::optional<std::string>{}, std::optional<std::string>{"wrong"}}) {
        for (const auto* path : {"/v1/batches", "/v1/batches/bat_x"}) {
            const auto r = get(path, {}, key);
            EXPECT_EQ(r.status, 401);
            EXPECT_TRUE(json::parse(r.body).at("detail").is_string());
            EXPECT_EQ(r.body.find(kKey), std::string::npos) << "never echoes the key";
        }
    }
}

TEST_F(SimServiceTest, GetByIdReturnsTheBatchWithPagedItems) {
    const auto ids = store_.create({.count = 1, .status = "running", .total_items = 7});
    const auto r = get("/v1/batches/" + ids.at(0), {{"limit", "1"}});
    ASSERT_EQ(r.status, 200) << r.body;
    const auto body = json::parse(r.body);
    auto batch = body;
    batch.erase("items");
    batch.erase("next_cursor");
    EXPECT_EQ(batch, json::parse(store_.find(ids.at(0))->json)) << "the batch itself, plus items and next_cursor";
    EXPECT_EQ(body.at("items").size(), 1u);
    ASSERT_TRUE(body.at("next_cursor").is_string());

    std::map<std::string, int> item_statuses;
    std::optional<std::string> cursor;
    std::set<std::string> item_ids;
    for (int page = 0; page < 10; ++page) {
        std::vector<std::pair<std::string, std::string>> query{{"limit", "3"}};
        if (cursor) query.emplace_back("cursor", *cursor);
        const auto p = json::parse(get("/v1/batches/" + ids.at(0), query).body);
        for (const auto& item : p.at("items")) {
            ++item_statuses[item.at("status")];
            item_ids.insert(item.at("id"));
        }
        if (p.at("next_cursor").is_null()) break;
        cursor = p.at("next_cursor").get<std::string>();
    }
    EXPECT_EQ(item_ids.size(), 7u);
    const auto counts = batch.at("counts");
    for (const auto* s : {"pending", "running", "succeeded", "failed", "cancelled"}) {
        EXPECT_EQ(item_statuses[s], counts.at(s).get<int>()) << s;
    }
    expect_validation_error(get("/v1/batches/" + ids.at(0), {{"limit", "501"}}), "limit", "less_than_equal");
}

TEST_F(SimServiceTest, UnknownOrRemovedBatchesAre404) {
    const auto unknown = get("/v1/batches/bat_AAAAAAAAAAAAAAAAAAAA");
    EXPECT_EQ(unknown.status, 404);
    EXPECT_EQ(json::parse(unknown.body), (json{{"detail", "Batch not found"}}));
    const auto id = some_id();
    control_json("DELETE", "/_control/batches/" + id);
    EXPECT_EQ(get("/v1/batches/" + id).status, 404);
    EXPECT_EQ(get("/v1/nothing").status, 404);
    EXPECT_EQ(service_.handle({"POST", "/v1/batches", {}, kKey, ""}).status, 405);
}

TEST_F(SimServiceTest, ServerErrorsAndRateLimitsAreInjected) {
    control_json("POST", "/_control/faults", {{"error_rate", 1.0}});
    auto r = get("/v1/batches");
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(json::parse(r.body), (json{{"detail", "Internal Server Error"}}));

    control_json("POST", "/_control/faults", {{"rate_limit_rate", 1.0}, {"retry_after", "7"}});
    r = get("/v1/batches/" + std::string("bat_whatever"));
    EXPECT_EQ(r.status, 429);
    EXPECT_EQ(r.headers, (std::vector<std::pair<std::string, std::string>>{{"Retry-After", "7"}}));

    control_json("POST", "/_control/faults", json::object());
    EXPECT_EQ(get("/v1/batches").status, 200) << "{} clears every fault";
    EXPECT_EQ(control("GET", "/_control/v1/batches").status, 404) << "faults never touch the control API";
}

TEST_F(SimServiceTest, MalformedAndTruncatedBodiesAreInjected) {
    control_json("POST", "/_control/faults", {{"malformed_rate", 1.0}, {"seed", 5}});
    int not_json = 0, wrong_shape = 0;
    for (int i = 0; i < 40; ++i) {
        const auto r = get("/v1/batches");
        ASSERT_EQ(r.status, 200);
        const auto body = json::parse(r.body, nullptr, false);
        if (body.is_discarded())
            ++not_json;
        else if (!body.at("data").is_array())
            ++wrong_shape;
    }
    EXPECT_GT(not_json, 0);
    EXPECT_GT(wrong_shape, 0);
    EXPECT_EQ(not_json + wrong_shape, 40);

    control_json("POST", "/_control/faults", json::object());
    const auto whole = get("/v1/batches", {{"limit", "10"}}).body;
    control_json("POST", "/_control/faults", {{"truncated_rate", 1.0}});
    const auto cut = get("/v1/batches", {{"limit", "10"}});
    EXPECT_EQ(cut.status, 200);
    EXPECT_TRUE(json::parse(cut.body, nullptr, false).is_discarded());
    EXPECT_EQ(cut.body, whole.substr(0, whole.size() / 2));
}

TEST_F(SimServiceTest, SlowResponsesWaitOnTheInjectedSleeper) {
    control_json("POST", "/_control/faults", {{"slow_rate", 1.0}, {"slow_ms", 3000}});
    EXPECT_EQ(get("/v1/batches").status, 200);
    EXPECT_EQ(clock_.sleeps(), (std::vector<Millis>{Millis{3000}}));
}

TEST_F(SimServiceTest, FaultRatesAreRoughlyHonouredAndReplayWithTheSeed) {
    const json faults{{"error_rate", 0.2}, {"rate_limit_rate", 0.1}, {"seed", 9}};
    const auto run = [&] {
        control_json("POST", "/_control/faults", faults);
        std::vector<int> statuses;
        for (int i = 0; i < 1000; ++i) statuses.push_back(get("/v1/batches", {{"limit", "1"}}).status);
        return statuses;
    };
    const auto first = run();
    EXPECT_EQ(run(), first);
    const auto errors = std::count(first.begin(), first.end(), 500);
    const auto limited = std::count(first.begin(), first.end(), 429);
    EXPECT_NEAR(static_cast<double>(errors), 200, 60);
    EXPECT_NEAR(static_cast<double>(limited), 100, 45);
}

TEST_F(SimServiceTest, BadFaultSettingsAreRejected) {
    for (const auto& bad : {json{{"error_rate", 1.5}}, json{{"error_rate", 0.6}, {"rate_limit_rate", 0.6}},
                            json{{"slow_ms", -1}}, json{{"typo_rate", 0.1}}, json::array()}) {
        EXPECT_EQ(control("POST", "/_control/faults", bad).status, 400) << bad.dump();
    }
    EXPECT_EQ(service_.handle({"POST", "/_control/faults", {}, std::nullopt, "{not json"}).status, 400);
}

TEST_F(SimServiceTest, StatsCountUpstreamRequestsByRouteStatusAndFilter) {
    get("/v1/batches");
    get("/v1/batches", {{"status", "pending"}});
    get("/v1/batches", {{"status", "pending"}, {"limit", "0"}});
    get("/v1/batches/bat_unknown");
    get("/v1/batches", {}, std::nullopt);
    control("GET", "/_control/snapshot");
    const auto stats = control_json("GET", "/_control/stats");
    EXPECT_EQ(stats.at("received"), 5);
    EXPECT_EQ(stats.at("requests"), 5);
    EXPECT_EQ(stats.at("by_route"), (json{{"list", 4}, {"get", 1}}));
    EXPECT_EQ(stats.at("by_status"), (json{{"200", 2}, {"401", 1}, {"404", 1}, {"422", 1}}));
    EXPECT_EQ(stats.at("by_filter"), (json{{"<none>", 2}, {"pending", 2}}));
    control_json("POST", "/_control/stats/reset");
    EXPECT_EQ(control_json("GET", "/_control/stats"), (json{{"received", 0},
                                                            {"requests", 0},
                                                            {"by_route", {{"list", 0}, {"get", 0}}},
                                                            {"by_status", json::object()},
                                                            {"by_filter", json::object()}}));
}

TEST_F(SimServiceTest, ControlRoutesCreateUpdateDeleteAndSnapshot) {
    const auto created =
        control_json("POST", "/_control/batches", {{"count", 3}, {"status", "pending"}, {"total_items", 4}});
    ASSERT_EQ(created.at("ids").size(), 3u);
    const std::string id = created.at("ids").at(0);
    const auto snapshot = control_json("GET", "/_control/snapshot").at("batches");
    EXPECT_EQ(snapshot.size(), 123u);
    EXPECT_EQ(snapshot.at(0).at("total_items"), 4) << "newest first";

    const auto updated = control_json("POST", "/_control/batches/" + id, {{"status", "completed"}});
    EXPECT_EQ(updated.at("status"), "completed");
    EXPECT_EQ(updated.at("counts").at("succeeded"), 4);
    EXPECT_EQ(json::parse(get("/v1/batches/" + id, {{"limit", "1"}}).body).at("status"), "completed");

    EXPECT_EQ(control("POST", "/_control/batches/" + id, {{"total_items", "many"}}).status, 400);
    EXPECT_EQ(control("POST", "/_control/batches/bat_missing", {{"status", "completed"}}).status, 404);
    EXPECT_EQ(control("POST", "/_control/batches", {{"count", 0}}).status, 400);
    EXPECT_EQ(control("POST", "/_control/batches", {{"status", 3}}).status, 400);
    control_json("DELETE", "/_control/batches/" + id);
    EXPECT_EQ(control("DELETE", "/_control/batches/" + id).status, 404);
    EXPECT_EQ(control_json("GET", "/_control/snapshot").at("batches").size(), 122u);
    EXPECT_EQ(control("PUT", "/_control/snapshot").status, 405);
    EXPECT_EQ(control("GET", "/_control/nothing").status, 404);
    EXPECT_EQ(get("/").status, 404);
}

TEST_F(SimServiceTest, FreezeAndUnfreezeReportTheState) {
    EXPECT_EQ(control_json("POST", "/_control/unfreeze"), (json{{"frozen", false}}));
    EXPECT_EQ(control_json("POST", "/_control/freeze"), (json{{"frozen", true}}));
}

}  // namespace
}  // namespace extract::sim
