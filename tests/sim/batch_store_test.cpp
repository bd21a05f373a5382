// BatchStore in-process with a FakeClock: listing orders, keyset paging under change,
// status indexes, the lifecycle over time, freezing, expiry and control updates.

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/timefmt.hpp"
#include "sim/batch_json.hpp"
#include "tests/sim/sim_test_util.hpp"
#include "tests/support/fake_clock.hpp"

namespace extract::sim {
namespace {

using namespace std::chrono_literals;
using extract::testing::FakeClock;
using testing::expect_consistent;
using testing::ids_of;
using testing::page_through;
using testing::snapshot_of;

StoreSettings settings(ListingOrder order = ListingOrder::newest, bool frozen = false) {
    StoreSettings s;
    s.order = order;
    s.seed = 42;
    s.frozen = frozen;
    return s;
}

class SimBatchStoreOrder : public ::testing::TestWithParam<ListingOrder> {};

TEST_P(SimBatchStoreOrder, PagingVisitsEveryBatchExactlyOnce) {
    FakeClock clock;
    BatchStore store(clock, settings(GetParam(), true));
    store.generate(1000);
    const auto listed = ids_of(page_through(store, "", 37));
    ASSERT_EQ(listed.size(), 1000u);
    EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()).size(), 1000u);
    EXPECT_EQ(listed, ids_of(snapshot_of(store))) << "the snapshot is in listing order too";
}

TEST_P(SimBatchStoreOrder, BatchesCreatedMidPassNeitherSkipNorRepeatExistingOnes) {
    FakeClock clock;
    BatchStore store(clock, settings(GetParam(), true));
    store.generate(600);
    const auto before = ids_of(snapshot_of(store));
    const auto listed = ids_of(page_through(store, "", 50, [&] {
        store.create({.count = 7});
        clock.advance(1ms);
    }));
    std::map<std::string, int> seen;
    for (const auto& id : listed) ++seen[id];
    for (const auto& id : before) EXPECT_EQ(seen[id], 1) << id;
    for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << id;
}

TEST_P(SimBatchStoreOrder, RemovingTheBatchUnderTheCursorKeepsThePassIntact) {
    FakeClock clock;
    BatchStore store(clock, settings(GetParam(), true));
    store.generate(300);
    ListQuery query{"", std::nullopt, 100};
    auto page = nlohmann::json::parse(store.list_page(query));
    const std::string last_served = page.at("data").back().at("id");
    ASSERT_TRUE(store.remove(last_served));
    query.after = decode_cursor(page.at("next_cursor").get<std::string>());
    std::vector<std::string> rest;
    while (true) {
        page = nlohmann::json::parse(store.list_page(query));
        for (const auto& b : page.at("data")) rest.push_back(b.at("id"));
        if (page.at("next_cursor").is_null()) break;
        query.after = decode_cursor(page.at("next_cursor").get<std::string>());
    }
    EXPECT_EQ(rest.size(), 200u);
}

std::string order_name(const ::testing::TestParamInfo<ListingOrder>& info) {
    switch (info.param) {
        case ListingOrder::newest: return "newest";
        case ListingOrder::oldest: return "oldest";
        case ListingOrder::shuffled: return "shuffled";
    }
    return "unknown";
}

INSTANTIATE_TEST_SUITE_P(SimOrders, SimBatchStoreOrder,
                         ::testing::Values(ListingOrder::newest, ListingOrder::oldest, ListingOrder::shuffled),
                         order_name);

TEST(SimBatchStore, NewestAndOldestSortOnCreatedAt) {
    FakeClock clock;
    BatchStore newest(clock, settings(ListingOrder::newest, true));
    newest.generate(300);
    const auto listed = page_through(newest);
    for (std::size_t i = 1; i < listed.size(); ++i) {
        EXPECT_GE(listed[i - 1].at("created_at").get<std::string>(), listed[i].at("created_at").get<std::string>());
    }
    BatchStore oldest(clock, settings(ListingOrder::oldest, true));
    oldest.generate(300);
    const auto ascending = page_through(oldest);
    for (std::size_t i = 1; i < ascending.size(); ++i) {
        EXPECT_LE(ascending[i - 1].at("created_at").get<std::string>(),
                  ascending[i].at("created_at").get<std::string>());
    }
}

TEST(SimBatchStore, ShuffledOrderDependsOnTheSeed) {
    FakeClock clock;
    auto s = settings(ListingOrder::shuffled, true);
    BatchStore a(clock, s);
    a.generate(200);
    s.seed = 43;
    BatchStore b(clock, s);
    b.generate(200);
    const auto ids = ids_of(page_through(a));
    auto sorted = ids;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_NE(ids, sorted) << "not simply id order";
    EXPECT_NE(ids_of(page_through(a)), ids_of(page_through(b)));
}

TEST(SimBatchStore, GeneratedBatchesShowARealisticConsistentMix) {
    FakeClock clock;
    BatchStore store(clock, settings());
    store.generate(2000);
    std::map<std::string, int> by_status;
    int with_region = 0, null_engine = 0, null_metadata = 0;
    const auto batches = snapshot_of(store);
    const std::string now = format_upstream_timestamp(
        std::chrono::duration_cast<std::chrono::microseconds>(clock.now().time_since_epoch()).count());
    const std::string two_days_ago = format_upstream_timestamp(
        std::chrono::duration_cast<std::chrono::microseconds>((clock.now() - 48h).time_since_epoch()).count());
    for (const auto& b : batches) {
        expect_consistent(b);
        ++by_status[b.at("status")];
        with_region += b.contains("region");
        null_engine += b.at("engine").is_null();
        null_metadata += b.at("metadata").is_null();
        EXPECT_LE(b.at("created_at").get<std::string>(), now);
        EXPECT_GE(b.at("created_at").get<std::string>(), two_days_ago);
        const auto created = parse_timestamp(b.at("created_at").get<std::string>());
        const auto expires = parse_timestamp(b.at("expires_at").get<std::string>());
        ASSERT_TRUE(created && expires);
        EXPECT_EQ(*expires - *created, std::chrono::hours(72));
    }
    EXPECT_GT(by_status["completed"], 1000);
    for (const auto* s : {"pending", "running", "partially_failed", "failed", "cancelled"}) {
        EXPECT_GT(by_status[s], 20) << s;
        EXPECT_LT(by_status[s], 400) << s;
    }
    EXPECT_GT(with_region, 100);
    EXPECT_GT(null_engine, 50);
    EXPECT_GT(null_metadata, 200);
}

TEST(SimBatchStore, StatusFilterListsExactlyTheBatchesInThatStatus) {
    FakeClock clock;
    BatchStore store(clock, settings(ListingOrder::newest, true));
    store.generate(1500);
    std::map<std::string, std::vector<std::string>> expected;
    for (const auto& b : snapshot_of(store)) expected[b.at("status")].push_back(b.at("id"));
    ASSERT_EQ(expected.size(), 6u);
    for (const auto& [status, ids] : expected) {
        const auto listed = page_through(store, status, 23);
        for (const auto& b : listed) EXPECT_EQ(b.at("status"), status);
        EXPECT_EQ(ids_of(listed), ids) << status;
    }
    EXPECT_TRUE(page_through(store, "no-such-status").empty());
}

TEST(SimBatchStore, ALastPageThatIsExactlyFullHasNoCursor) {
    FakeClock clock;
    BatchStore store(clock, settings(ListingOrder::newest, true));
    store.generate(400);
    const auto first = nlohmann::json::parse(store.list_page({"", std::nullopt, 200}));
    ASSERT_FALSE(first.at("next_cursor").is_null());
    const auto second =
        nlohmann::json::parse(store.list_page({"", decode_cursor(first.at("next_cursor").get<std::string>()), 200}));
    EXPECT_EQ(second.at("data").size(), 200u);
    EXPECT_TRUE(second.at("next_cursor").is_null());
}

TEST(SimBatchStore, ALifecycleRunsFromPendingToTerminalAsTimePasses) {
    FakeClock clock;
    BatchStore store(clock, settings());
    const auto ids = store.create({.count = 30, .status = std::nullopt, .total_items = 400});
    std::map<std::string, std::vector<std::string>> seen;  // statuses each batch went through
    for (int step = 0; step <= 3 * 360; ++step) {          // 3 h in steps of 10 s
        for (const auto& id : ids) {
            const auto b = nlohmann::json::parse(store.find(id)->json);
            expect_consistent(b);
            auto& history = seen[id];
            if (history.empty() || history.back() != b.at("status")) history.push_back(b.at("status"));
        }
        // The status indexes follow the lifecycle.
        if (step % 30 == 0) {
            for (const auto* s : {"pending", "running"}) {
                for (const auto& b : page_through(store, s, 200)) EXPECT_EQ(b.at("status"), s);
            }
        }
        clock.advance(10s);
    }
    int passed_through_running = 0;
    for (const auto& [id, history] : seen) {
        EXPECT_EQ(history.front(), "pending") << id;
        EXPECT_NE(std::find(testing::kTerminal.begin(), testing::kTerminal.end(), history.back()),
                  testing::kTerminal.end())
            << id << " ended " << history.back();
        passed_through_running += std::find(history.begin(), history.end(), "running") != history.end();
    }
    EXPECT_GT(passed_through_running, 20);
}

TEST(SimBatchStore, SpeedRunsLifecyclesFaster) {
    FakeClock clock;
    auto s = settings();
    s.speed = 1000;
    BatchStore store(clock, s);
    const auto ids = store.create({.count = 50, .status = std::nullopt, .total_items = 5000});
    clock.advance(20s);  // 20 s of wall time is 5.5 h of lifecycle time: longer than any plan
    for (const auto& id : ids) {
        const auto b = nlohmann::json::parse(store.find(id)->json);
        EXPECT_FALSE(b.at("completed_at").is_null()) << b.dump();
    }
}

TEST(SimBatchStore, AFrozenStoreNeverChangesByItselfAndResumesWhenThawed) {
    FakeClock clock;
    BatchStore store(clock, settings(ListingOrder::newest, true));
    store.generate(300);
    const auto created = store.create({.count = 5});
    const auto before = store.snapshot();
    clock.advance(24h);
    EXPECT_EQ(store.snapshot(), before) << "no lifecycle step and no expiry while frozen";

    store.unfreeze();
    clock.advance(1h);
    EXPECT_NE(store.snapshot(), before);
    for (const auto& id : created) {
        const auto b = nlohmann::json::parse(store.find(id)->json);
        ASSERT_NE(b.at("status"), "pending") << "an hour of lifecycle after thawing: " << b.dump();
        // Lifecycle time stood still while frozen: the batch moved after the thaw, not during the freeze.
        const auto& moved_at = b.at("started_at").is_null() ? b.at("completed_at") : b.at("started_at");
        EXPECT_GE(*parse_timestamp(moved_at.get<std::string>()), clock.now() - 1h) << b.dump();
    }
    store.freeze();
    const auto frozen_again = store.snapshot();
    clock.advance(1h);
    EXPECT_EQ(store.snapshot(), frozen_again);
    store.unfreeze();
    clock.advance(72h);
    EXPECT_EQ(store.size(), 0u) << "everything expired once time ran again";
}

TEST(SimBatchStore, ExpiredBatchesDisappearFromListsFiltersAndLookups) {
    FakeClock clock;
    auto s = settings(ListingOrder::oldest);
    s.retention = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::hours(1)).count();
    BatchStore store(clock, s);
    store.generate(100);
    const auto early = store.create({.count = 3, .status = "completed"});
    clock.advance(30min);
    const auto late = store.create({.count = 2, .status = "completed"});
    for (const auto& b : snapshot_of(store)) {
        // A burst of creations gets strictly increasing microseconds, so the last may be a few µs ahead.
        EXPECT_LE(*parse_timestamp(b.at("created_at").get<std::string>()), clock.now() + 1ms);
        EXPECT_GT(*parse_timestamp(b.at("expires_at").get<std::string>()), clock.now());
    }
    clock.advance(31min);
    for (const auto& id : early) EXPECT_FALSE(store.find(id)) << id;
    for (const auto& id : late) EXPECT_TRUE(store.find(id)) << id;
    const auto completed = ids_of(page_through(store, "completed"));
    EXPECT_EQ(std::set<std::string>(completed.begin(), completed.end()),
              std::set<std::string>(late.begin(), late.end()));
    EXPECT_EQ(store.size(), 2u) << "every generated batch (created within the last 40 min) expired too";
}

TEST(SimBatchStore, UpdatingAStatusPinsTheBatchAndFitsCountsAndTimestamps) {
    FakeClock clock;
    BatchStore store(clock, settings());
    const auto id = store.create({.count = 1, .status = std::nullopt, .total_items = 12}).at(0);
    ASSERT_EQ(store.update(id, {{"status", "running"}}).outcome, UpdateResult::Outcome::updated);
    auto b = nlohmann::json::parse(store.find(id)->json);
    EXPECT_EQ(b.at("status"), "running");
    EXPECT_TRUE(b.at("started_at").is_string());
    expect_consistent(b);

    ASSERT_EQ(store.update(id, {{"status", "partially_failed"}}).outcome, UpdateResult::Outcome::updated);
    clock.advance(24h);
    b = nlohmann::json::parse(store.find(id)->json);
    EXPECT_EQ(b.at("status"), "partially_failed") << "pinned: no lifecycle any more";
    expect_consistent(b);
    EXPECT_EQ(ids_of(page_through(store, "partially_failed")), std::vector<std::string>{id});
    EXPECT_TRUE(page_through(store, "running").empty());
}

TEST(SimBatchStore, UpdatesSetGivenFieldsVerbatimAndKeepUnknownOnes) {
    FakeClock clock;
    BatchStore store(clock, settings(ListingOrder::newest, true));
    const auto id = store.create({.count = 1, .status = "pending", .total_items = 10}).at(0);
    const nlohmann::json fields{{"status", "weird_status"},
                                {"counts", {{"succeeded", 4}, {"failed", 1}, {"running", 5}}},
                                {"metadata", {{"k", "v"}}},
                                {"engine", nullptr},
                                {"completed_at", "2026-01-02T03:04:05.5Z"},
                                {"zone", 7}};
    ASSERT_EQ(store.update(id, fields).outcome, UpdateResult::Outcome::updated);
    const auto b = nlohmann::json::parse(store.find(id)->json);
    EXPECT_EQ(b.at("status"), "weird_status");
    EXPECT_EQ(b.at("counts"),
              (nlohmann::json{{"pending", 0}, {"running", 5}, {"succeeded", 4}, {"failed", 1}, {"cancelled", 0}}));
    EXPECT_EQ(b.at("metadata"), (nlohmann::json{{"k", "v"}}));
    EXPECT_TRUE(b.at("engine").is_null());
    EXPECT_EQ(b.at("completed_at"), "2026-01-02T03:04:05.500000Z");
    EXPECT_EQ(b.at("zone"), 7);
    EXPECT_EQ(ids_of(page_through(store, "weird_status")), std::vector<std::string>{id});
}

TEST(SimBatchStore, InvalidUpdatesChangeNothing) {
    FakeClock clock;
    BatchStore store(clock, settings(ListingOrder::newest, true));
    const auto id = store.create({.count = 1, .status = "pending"}).at(0);
    const auto before = store.find(id)->json;
    for (const auto& fields :
         {nlohmann::json{{"status", "completed"}, {"counts", {{"succeeded", -1}}}}, nlohmann::json{{"status", 5}},
          nlohmann::json{{"created_at", "yesterday"}}, nlohmann::json{{"id", "bat_x"}}, nlohmann::json::array()}) {
        const auto result = store.update(id, fields);
        EXPECT_EQ(result.outcome, UpdateResult::Outcome::invalid) << fields.dump();
        EXPECT_FALSE(result.message.empty());
    }
    EXPECT_EQ(store.find(id)->json, before);
    EXPECT_EQ(store.update("bat_nope", {{"status", "completed"}}).outcome, UpdateResult::Outcome::not_found);
}

TEST(SimBatchStore, ChangingCreatedAtMovesTheBatchInTheListingOrder) {
    FakeClock clock;
    BatchStore store(clock, settings(ListingOrder::newest, true));
    store.generate(50);
    const auto id = store.create({.count = 1}).at(0);
    EXPECT_EQ(ids_of(page_through(store)).front(), id);
    ASSERT_EQ(store.update(id, {{"created_at", "2000-01-01T00:00:00Z"}}).outcome, UpdateResult::Outcome::updated);
    EXPECT_EQ(ids_of(page_through(store)).back(), id);
}

TEST(SimBatchStore, CreatedBatchesAreNewestInCreationOrderAndRemovedOnesAreGone) {
    FakeClock clock;
    BatchStore store(clock, settings(ListingOrder::newest, true));
    store.generate(20);
    const auto ids = store.create({.count = 3});
    const auto listed = ids_of(page_through(store));
    EXPECT_EQ(std::vector<std::string>(listed.begin(), listed.begin() + 3),
              (std::vector<std::string>{ids[2], ids[1], ids[0]}));
    EXPECT_TRUE(store.remove(ids[1]));
    EXPECT_FALSE(store.remove(ids[1]));
    EXPECT_FALSE(store.find(ids[1]));
    EXPECT_EQ(store.size(), 22u);
    // The freed slot is reused without the old batch coming back.
    const auto more = store.create({.count = 1});
    EXPECT_EQ(store.size(), 23u);
    const auto after = ids_of(page_through(store));
    EXPECT_EQ(std::count(after.begin(), after.end(), ids[1]), 0);
    EXPECT_EQ(after.front(), more.at(0));
}

}  // namespace
}  // namespace extract::sim
