// Every route of SPEC §6 against a mirror filled by SQL, through the real socket.

#include <SQLiteCpp/Statement.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <thread>

#include "tests/api/api_fixture.hpp"
#include "tests/support/eventually.hpp"

namespace extract::testing {
namespace {

using nlohmann::json;

std::string created(int minute) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "2026-11-30T%02d:%02d:00.000Z", minute / 60, minute % 60);
    return buf;
}

class ApiRoutes : public ApiTest {
protected:
    // The ids GET /v1/batches`query` lists, in listing order or sorted.
    std::vector<std::string> listed_ids(const std::string& query, bool sorted = true) {
        std::vector<std::string> out;
        const auto body = get_json("/v1/batches" + query);
        for (const auto& item : body["data"]) out.push_back(item["id"]);
        if (sorted) std::sort(out.begin(), out.end());
        return out;
    }
};

TEST_F(ApiRoutes, CursorsAreGoodOnlyWithTheKeyOfTheMirrorThatGaveThem) {
    for (int i = 0; i < 3; ++i) mirror->insert_batch({.id = "b" + std::to_string(i), .created_at = created(i)});
    const auto event = mirror->insert_event("batch.created", "b0", "2026-11-30T12:00:00.000Z");
    for (int i = 0; i < 3; ++i) mirror->insert_delivery(event, "webhook.ops", "failed");
    options.cursor_key = std::string(64, 'a');
    start_server();
    const std::string batches = get_json("/v1/batches?limit=1")["next_cursor"];
    const std::string deliveries = get_json("/v1/deliveries?limit=1")["next_cursor"];
    // The same mirror's key after a restart: the cursors still page on.
    server.reset();
    start_server();
    EXPECT_EQ(get_json("/v1/batches?limit=1&cursor=" + batches)["data"][0]["id"], "b1");
    EXPECT_EQ(get_json("/v1/deliveries?limit=1&cursor=" + deliveries)["data"].size(), 1u);
    // Another mirror's key: 422 naming the cursor, for both lists.
    server.reset();
    options.cursor_key = std::string(64, 'b');
    start_server();
    for (const auto& target : {"/v1/batches?cursor=" + batches, "/v1/deliveries?cursor=" + deliveries,
                               "/v1/deliveries?cursor=" + batches, std::string("/v1/deliveries?cursor=2")}) {
        const auto body = get_json(target, 422);
        EXPECT_EQ(body["detail"][0]["loc"], (json{"query", "cursor"})) << target;
        EXPECT_NE(body["detail"][0]["msg"].get<std::string>().find("from another mirror"), std::string::npos)
            << body.dump();
    }
}

TEST_F(ApiRoutes, ListsBatchesNewestFirstAsTheUpstreamObjects) {
    const auto older = mirror->insert_batch({.id = "b_old", .created_at = created(1)});
    const auto newer = mirror->insert_batch({.id = "b_new", .created_at = created(3)});
    const auto middle = mirror->insert_batch({.id = "b_mid", .created_at = created(2)});
    start_server();
    const auto body = get_json("/v1/batches");
    EXPECT_EQ(body, (json{{"object", "list"}, {"data", {newer, middle, older}}, {"next_cursor", nullptr}}));
    EXPECT_EQ(body["data"][0]["extra"], "kept");  // unknown upstream fields survive
}

TEST_F(ApiRoutes, PagesWithOpaqueCursors) {
    for (int i = 0; i < 7; ++i) mirror->insert_batch({.id = "b" + std::to_string(i), .created_at = created(i)});
    // Two batches created in the same instant are ordered by id, and paging splits them cleanly.
    mirror->insert_batch({.id = "b3x", .created_at = created(3)});
    start_server();
    std::vector<std::string> ids;
    std::string target = "/v1/batches?limit=3";
    int pages = 0;
    while (true) {
        const auto body = get_json(target);
        ++pages;
        for (const auto& item : body["data"]) ids.push_back(item["id"]);
        if (body["next_cursor"].is_null()) break;
        EXPECT_EQ(body["data"].size(), 3u);
        target = "/v1/batches?limit=3&cursor=" + body["next_cursor"].get<std::string>();
    }
    EXPECT_EQ(pages, 3);
    EXPECT_EQ(ids, (std::vector<std::string>{"b6", "b5", "b4", "b3x", "b3", "b2", "b1", "b0"}));
}

TEST_F(ApiRoutes, PagingWhileASyncInsertsNeitherSkipsNorRepeats) {
    std::set<std::string> before;
    for (int i = 0; i < 300; ++i) {
        const std::string id = "pre" + std::to_string(i);
        mirror->insert_batch({.id = id, .created_at = created(i * 2)});
        before.insert(id);
    }
    start_server();
    std::atomic<bool> paging{true};
    std::atomic<int> written{0};
    // The writer interleaves new batches everywhere in the order, one transaction each, as a
    // sync applies pages while the client pages.
    std::thread writer([&] {
        MirrorFile w(db_path);
        for (int i = 0; paging.load() && i < 5000; ++i) {
            w.insert_batch({.id = "new" + std::to_string(i), .created_at = created((i * 7) % 700)});
            ++written;
        }
    });
    // Paging is fast now (no list sorts the table): let the writer be under way first, so
    // that the pages really interleave with its commits.
    ASSERT_TRUE(eventually([&] { return written.load() > 0; }, std::chrono::seconds(10)));
    std::vector<std::string> ids;
    std::string target = "/v1/batches?limit=7";
    while (true) {
        const auto body = get_json(target);
        for (const auto& item : body["data"]) ids.push_back(item["id"]);
        if (body["next_cursor"].is_null()) break;
        target = "/v1/batches?limit=7&cursor=" + body["next_cursor"].get<std::string>();
    }
    paging = false;
    writer.join();
    EXPECT_GT(written.load(), 0);
    const std::set<std::string> seen(ids.begin(), ids.end());
    EXPECT_EQ(seen.size(), ids.size()) << "a batch was listed twice";
    for (const auto& id : before) EXPECT_TRUE(seen.count(id)) << id << " was skipped";
}

TEST_F(ApiRoutes, FiltersByStatusEngineTimeAndRemoval) {
    mirror->insert_batch({.id = "a", .status = "completed", .created_at = "2026-11-30T01:00:00Z", .engine = "fast"});
    mirror->insert_batch({.id = "b", .status = "running", .created_at = "2026-11-30T02:00:00.500Z"});
    mirror->insert_batch({.id = "c", .status = "completed", .created_at = "2026-11-30T04:00:00+01:00"});  // 03:00Z
    mirror->insert_batch({.id = "gone",
                          .status = "completed",
                          .created_at = "2026-11-30T05:00:00Z",
                          .removed_at = "2026-12-04T00:00:00.000Z"});
    start_server();
    auto ids = [&](const std::string& query) { return listed_ids(query, false); };
    using V = std::vector<std::string>;
    EXPECT_EQ(ids(""), (V{"c", "b", "a"}));
    EXPECT_EQ(ids("?include_removed=true"), (V{"gone", "c", "b", "a"}));
    EXPECT_EQ(ids("?status=completed"), (V{"c", "a"}));
    EXPECT_EQ(ids("?status=completed&include_removed=1"), (V{"gone", "c", "a"}));
    EXPECT_EQ(ids("?status=no_such_status"), V{});
    EXPECT_EQ(ids("?engine=fast"), V{"a"});
    // Bounds are exclusive and compared as instants, whatever the offset either side wrote.
    EXPECT_EQ(ids("?created_after=2026-11-30T02:00:00.500Z"), V{"c"});
    EXPECT_EQ(ids("?created_after=2026-11-30T02:00:00.499Z"), (V{"c", "b"}));
    EXPECT_EQ(ids("?created_before=2026-11-30T04:00:00%2B01:00"), (V{"b", "a"}));
    EXPECT_EQ(ids("?created_after=2026-11-30&created_before=2026-11-30T02:30:00Z"), (V{"b", "a"}));
    EXPECT_EQ(ids("?created_after=2026-11-30T01:00:00Z&include_removed=true"), (V{"gone", "c", "b"}));
}

// The created_at filters also bound created_at as text so that an index can find the first
// match (api/mirror_reader.cpp): the most extreme offsets, a day boundary away from the bound
// in UTC, must still be found, and a created_at that is not a timestamp never matches.
TEST_F(ApiRoutes, TimeFiltersFindEveryOffsetAcrossDayBoundaries) {
    // Local dates a day and a half before and a day after their instants' UTC dates.
    mirror->insert_batch({.id = "late_west", .created_at = "2026-11-30T23:59:00-23:59"});   // 12-01T23:58Z
    mirror->insert_batch({.id = "early_east", .created_at = "2026-12-03T00:00:00+23:59"});  // 12-02T00:01Z
    mirror->insert_batch({.id = "lower_t", .created_at = "2026-12-01t12:00:00z"});
    mirror->insert_batch({.id = "date_only", .created_at = "2026-12-02"});
    mirror->insert_batch({.id = "not_a_time", .created_at = "yesterday"});
    start_server();
    auto ids = [&](const std::string& query) { return listed_ids(query); };
    using V = std::vector<std::string>;
    EXPECT_EQ(ids("?created_after=2026-12-01T23:57:59Z&created_before=2026-12-01T23:58:01Z"), V{"late_west"});
    EXPECT_EQ(ids("?created_after=2026-12-02T00:00:59Z&created_before=2026-12-02T00:01:01Z"), V{"early_east"});
    EXPECT_EQ(ids("?created_after=2026-12-01T23:00:00Z"), (V{"date_only", "early_east", "late_west"}));
    EXPECT_EQ(ids("?created_before=2026-12-02T00:00:01Z"), (V{"date_only", "late_west", "lower_t"}));
    EXPECT_EQ(ids("?created_before=2026-12-01T12:00:01%2B00:00&created_after=2026-12-01T11:59:59Z"), V{"lower_t"});
    const V all{"date_only", "early_east", "late_west", "lower_t"};
    EXPECT_EQ(ids("?created_after=1970-01-01T00:00:00Z"), all);
    EXPECT_EQ(ids("?created_before=2200-01-01T00:00:00Z"), all);
}

TEST_F(ApiRoutes, TimeFiltersReadTheUpstreamShapeToTheMicrosecond) {
    // extract_time_us() reads the upstream's own shape (`…THH:MM:SS[.f…]Z`) on a fast path of
    // its own: it must agree with the general parser to the microsecond and refuse what it refuses.
    mirror->insert_batch({.id = "whole", .created_at = "2026-12-05T10:00:00Z"});
    mirror->insert_batch({.id = "half", .created_at = "2026-12-05T10:00:00.5Z"});
    mirror->insert_batch({.id = "seven_digits", .created_at = "2026-12-05T10:00:00.0000019Z"});  // 1 µs
    mirror->insert_batch({.id = "february_30", .created_at = "2026-02-30T10:00:00Z"});
    mirror->insert_batch({.id = "month_13", .created_at = "2026-13-01T10:00:00Z"});
    start_server();
    auto ids = [&](const std::string& query) { return listed_ids(query); };
    using V = std::vector<std::string>;
    EXPECT_EQ(ids("?created_after=2026-12-05T09:59:59.999999Z&created_before=2026-12-05T10:00:00.000001Z"), V{"whole"});
    EXPECT_EQ(ids("?created_after=2026-12-05T10:00:00Z&created_before=2026-12-05T10:00:00.000002Z"), V{"seven_digits"});
    EXPECT_EQ(ids("?created_after=2026-12-05T10:00:00.499999Z&created_before=2026-12-05T10:00:00.500001Z"), V{"half"});
    EXPECT_EQ(ids("?created_after=1970-01-01T00:00:00Z"), (V{"half", "seven_digits", "whole"}));
}

TEST_F(ApiRoutes, CreatedBeforeFindsLowercaseTAndOffsetsNearItsBound) {
    // The created_before text bound is exact to the minute, 23:59 (the largest offset) past the
    // bound; a lowercase 't' sorts above every 'T' of its date and is looked for in its own range.
    mirror->insert_batch({.id = "far_east", .created_at = "2026-12-02T23:58:00+23:59"});  // 12-01T23:59Z
    mirror->insert_batch({.id = "lower_t", .created_at = "2026-12-02t23:58:00+23:59"});   // 12-01T23:59Z
    mirror->insert_batch({.id = "spaced", .created_at = "2026-12-02 23:58:00+23:59"});    // 12-01T23:59Z
    mirror->insert_batch({.id = "too_late", .created_at = "2026-12-02T23:59:30+23:59"});  // 12-02T00:00:30Z
    mirror->insert_batch({.id = "late_t", .created_at = "2026-12-02t23:59:30+23:59"});    // 12-02T00:00:30Z
    start_server();
    auto ids = [&](const std::string& query) { return listed_ids(query, false); };
    using V = std::vector<std::string>;
    // Listing order is the text's: 't' > 'T' > ' '.
    EXPECT_EQ(ids("?created_before=2026-12-02T00:00:00Z"), (V{"lower_t", "far_east", "spaced"}));
    EXPECT_EQ(ids("?created_before=2026-12-02T00:00:31Z"), (V{"late_t", "lower_t", "too_late", "far_east", "spaced"}));
    // Paged one at a time, across the two ranges.
    auto page = get_json("/v1/batches?created_before=2026-12-02T00:00:00Z&limit=1");
    EXPECT_EQ(page["data"][0]["id"], "lower_t");
    page = get_json("/v1/batches?created_before=2026-12-02T00:00:00Z&limit=1&cursor=" +
                    page["next_cursor"].get<std::string>());
    EXPECT_EQ(page["data"][0]["id"], "far_east");
}

void expect_422(const json& body, const std::string& parameter, const std::string& where = "query") {
    ASSERT_TRUE(body["detail"].is_array()) << body;
    bool named = false;
    for (const auto& e : body["detail"]) {
        EXPECT_TRUE(e.contains("msg") && e.contains("type")) << e;
        if (e["loc"] == json({where, parameter})) named = true;
    }
    EXPECT_TRUE(named) << parameter << " not named in " << body;
}

TEST_F(ApiRoutes, BadParametersAre422NamingTheParameter) {
    mirror->insert_batch({.id = "a"});
    mirror->insert_batch({.id = "b", .created_at = created(5)});
    start_server();
    const auto cursor = get_json("/v1/batches?limit=1")["next_cursor"].get<std::string>();
    std::string tampered = cursor;
    tampered[2] = tampered[2] == 'x' ? 'y' : 'x';
    const std::vector<std::pair<std::string, std::string>> cases{
        {"/v1/batches?limit=0", "limit"},
        {"/v1/batches?limit=201", "limit"},
        {"/v1/batches?limit=ten", "limit"},
        {"/v1/batches?cursor=" + tampered, "cursor"},
        {"/v1/batches?cursor=not-a-cursor", "cursor"},
        {"/v1/batches?created_after=last%20tuesday", "created_after"},
        {"/v1/batches?created_before=2026-13-01", "created_before"},
        {"/v1/batches?include_removed=maybe", "include_removed"},
        {"/v1/events?after=x", "after"},
        {"/v1/events?limit=1001", "limit"},
        {"/v1/events?wait=forever", "wait"},
        {"/v1/deliveries?limit=0", "limit"},
    };
    for (const auto& [target, parameter] : cases) {
        SCOPED_TRACE(target);
        expect_422(get_json(target, 422), parameter);
    }
    const auto sync = post("/v1/sync?full=perhaps");
    EXPECT_EQ(sync.status, 422);
    expect_422(json::parse(sync.body), "full");
    const auto since = post("/v1/deliveries/retry?since=soon");
    EXPECT_EQ(since.status, 422);
    expect_422(json::parse(since.body), "since");
    const auto id = post("/v1/deliveries/abc/retry");
    EXPECT_EQ(id.status, 422);
    expect_422(json::parse(id.body), "delivery_id", "path");
    // Unknown parameters are ignored, as FastAPI does.
    EXPECT_EQ(get_json("/v1/batches?colour=blue")["data"].size(), 2u);
}

TEST_F(ApiRoutes, ServesOneBatchWithMirrorFieldsAndTransitions) {
    const auto raw = mirror->insert_batch({.id = "b/1", .status = "completed"});
    mirror->insert_transition("b/1", std::nullopt, "pending", "2026-11-30T03:00:01.000Z");
    mirror->insert_transition("b/1", "pending", "completed", "2026-11-30T03:10:00.000Z");
    mirror->insert_batch({.id = "removed", .removed_at = "2026-12-04T00:00:00.000Z"});
    start_server();

    auto body = get_json("/v1/batches/b%2F1");
    EXPECT_EQ(body["mirror"], (json{{"first_seen_at", "2026-11-30T03:00:01.000Z"},
                                    {"last_seen_at", "2026-11-30T03:00:01.000Z"},
                                    {"last_changed_at", "2026-11-30T03:00:01.000Z"},
                                    {"removed_at", nullptr}}));
    ASSERT_EQ(body["transitions"].size(), 2u);
    EXPECT_EQ(body["transitions"][0], (json{{"seq", 1},
                                            {"batch_id", "b/1"},
                                            {"from_status", nullptr},
                                            {"to_status", "pending"},
                                            {"observed_at", "2026-11-30T03:00:01.000Z"}}));
    EXPECT_EQ(body["transitions"][1]["from_status"], "pending");
    body.erase("mirror");
    body.erase("transitions");
    EXPECT_EQ(body, raw);

    EXPECT_EQ(get_json("/v1/batches/removed")["mirror"]["removed_at"], "2026-12-04T00:00:00.000Z");
    // An upstream object that has members of these names (unknown fields are kept) gets ours
    // in their place, never a second member of the same name.
    mirror->db().exec(R"(UPDATE batch_rows SET raw = json_set(raw, '$.mirror', 'upstream', '$.transitions', 3)
                         WHERE id = 'removed')");
    const auto clash = get("/v1/batches/removed");
    EXPECT_EQ(clash.body.find(R"("mirror":"upstream")"), std::string::npos) << clash.body;
    EXPECT_EQ(json::parse(clash.body)["mirror"]["removed_at"], "2026-12-04T00:00:00.000Z");
    EXPECT_TRUE(json::parse(clash.body)["transitions"].is_array());
    EXPECT_EQ(get_json("/v1/batches/nope", 404), (json{{"detail", "batch not found"}}));

    const auto transitions = get_json("/v1/batches/b%2F1/transitions");
    EXPECT_EQ(transitions["object"], "list");
    EXPECT_EQ(transitions["data"], get_json("/v1/batches/b%2F1")["transitions"]);
    EXPECT_EQ(get_json("/v1/batches/nope/transitions", 404), (json{{"detail", "batch not found"}}));
}

TEST_F(ApiRoutes, ListsEventsAfterASeqWithFilters) {
    mirror->insert_batch({.id = "a"});
    mirror->insert_batch({.id = "b"});
    const auto e1 = mirror->insert_event("batch.created", "a", "2026-11-30T03:00:00.000Z");
    mirror->insert_event("batch.created", "b", "2026-11-30T03:00:01.000Z");
    const auto e3 = mirror->insert_event("batch.status_changed", "a", "2026-11-30T03:00:02.000Z");
    start_server();

    auto body = get_json("/v1/events");
    ASSERT_EQ(body["data"].size(), 3u);
    EXPECT_EQ(body["last_seq"], e3);
    EXPECT_EQ(body["truncated"], false);
    EXPECT_EQ(body["data"][0], (json{{"seq", e1},
                                     {"id", "evt_1_a"},
                                     {"type", "batch.created"},
                                     {"batch_id", "a"},
                                     {"created_at", "2026-11-30T03:00:00.000Z"},
                                     {"data", {{"batch", {{"id", "a"}}}, {"previous_status", "pending"}}}}));

    body = get_json("/v1/events?after=1&limit=1");
    ASSERT_EQ(body["data"].size(), 1u);
    EXPECT_EQ(body["data"][0]["seq"], 2);
    EXPECT_EQ(body["last_seq"], 2);  // a full page: continue from its last event

    body = get_json("/v1/events?type=batch.status_changed&batch_id=a");
    ASSERT_EQ(body["data"].size(), 1u);
    EXPECT_EQ(body["data"][0]["seq"], e3);

    // Nothing matched, but every event up to 3 was looked at: the next poll starts there.
    body = get_json("/v1/events?type=batch.removed");
    EXPECT_EQ(body["data"], json::array());
    EXPECT_EQ(body["last_seq"], 3);
    // Asked from beyond the end, the answer says where the feed ends.
    EXPECT_EQ(get_json("/v1/events?after=99")["last_seq"], 3);
}

TEST_F(ApiRoutes, SaysWhenEventsAfterTheSeqWerePruned) {
    mirror->insert_batch({.id = "a"});
    for (int i = 0; i < 8; ++i) mirror->insert_event("batch.updated", "a", "2026-11-30T03:00:00.000Z");
    mirror->db().exec("DELETE FROM event_rows WHERE seq <= 5");
    mirror->set_meta("pruned_through_seq", "5");
    start_server();
    auto body = get_json("/v1/events?after=2");
    EXPECT_EQ(body["truncated"], true);
    EXPECT_EQ(body["data"][0]["seq"], 6);
    EXPECT_EQ(get_json("/v1/events?after=5")["truncated"], false);
    EXPECT_EQ(get_json("/v1/events?after=7")["truncated"], false);
    // A long poll that missed events answers at once instead of waiting.
    const auto start = std::chrono::steady_clock::now();
    body = get_json("/v1/events?after=4&wait=60s&type=batch.removed");
    EXPECT_LT(std::chrono::steady_clock::now() - start, scaled(std::chrono::seconds(2)));
    EXPECT_EQ(body["truncated"], true);
}

TEST_F(ApiRoutes, SummarisesTheMirror) {
    mirror->insert_batch({.id = "a", .status = "completed"});
    mirror->insert_batch({.id = "b", .status = "completed"});
    mirror->insert_batch({.id = "c", .status = "running"});
    mirror->insert_batch({.id = "d", .status = "completed", .removed_at = "2026-12-04T00:00:00.000Z"});
    const auto e = mirror->insert_event("batch.created", "a", "2026-11-30T03:00:00.000Z");
    mirror->insert_delivery(e, "webhook.ops", "pending");
    mirror->insert_delivery(e, "webhook.ops", "failed");
    mirror->insert_delivery(e, "trigger.done", "failed");
    start_server();
    EXPECT_EQ(get_json("/v1/stats"),
              (json{{"batches", {{"total", 4}, {"by_status", {{"completed", 2}, {"running", 1}}}, {"removed", 1}}},
                    {"events", 1},
                    {"set_aside", 0},
                    {"deliveries", {{"pending", 1}, {"failed", 2}, {"delivered", 0}}}}));
}

TEST_F(ApiRoutes, ReportsHealthWithItsStatusCode) {
    start_server();
    EXPECT_EQ(get_json("/v1/health"), (json{{"status", "ok"},
                                            {"version", "0.1.0-test"},
                                            {"synced", true},
                                            {"last_sync_at", "2026-11-30T03:04:05.123Z"},
                                            {"last_full_sync_at", nullptr},
                                            {"last_error", nullptr},
                                            {"consecutive_failures", 0},
                                            {"disabled_targets", json::array()},
                                            {"held_removals", 0},
                                            {"progress", nullptr},
                                            {"set_aside", {{"count", 0}, {"batches", json::array()}}}}));
    api::HealthSnapshot degraded;
    degraded.status = HealthStatus::degraded;
    degraded.last_error = "401 from the extract API (key from api_key_file)";
    degraded.consecutive_failures = 3;
    link.set_health(degraded);
    const auto body = get_json("/v1/health", 503);
    EXPECT_EQ(body["status"], "degraded");
    EXPECT_EQ(body["consecutive_failures"], 3);
    link.set_health(api::HealthSnapshot{});
    EXPECT_EQ(get_json("/v1/health", 503)["status"], "starting");

    api::HealthSnapshot held;  // a mass removal held by the guard
    held.status = HealthStatus::degraded;
    held.synced = true;
    held.held_removals = 1200;
    held.last_error = "mass removal held: ...";
    link.set_health(held);
    const auto held_body = get_json("/v1/health", 503);
    EXPECT_EQ(held_body["held_removals"], 1200);
    EXPECT_EQ(held_body["last_error"], "mass removal held: ...");

    api::HealthSnapshot first_sync;  // a long first sync: no page count to estimate from
    first_sync.progress = api::SyncProgress{120, 24000, 850.54, std::nullopt, std::nullopt};
    link.set_health(first_sync);
    EXPECT_EQ(get_json("/v1/health", 503)["progress"], (json{{"pages", 120},
                                                             {"batches", 24000},
                                                             {"batches_per_second", 850.5},
                                                             {"expected_pages", nullptr},
                                                             {"estimated_seconds_left", nullptr}}));
    first_sync.progress->expected_pages = 500;
    first_sync.progress->estimated_seconds_left = 180;
    link.set_health(first_sync);
    EXPECT_EQ(get_json("/v1/health", 503)["progress"]["estimated_seconds_left"], 180);
}

TEST_F(ApiRoutes, RunsASyncAndWaitsForItsRow) {
    link.run_id_to_return = mirror->insert_sync_run("full");
    start_server();
    auto reply = post("/v1/sync");
    EXPECT_EQ(reply.status, 202);
    EXPECT_EQ(json::parse(reply.body), (json{{"detail", "sync requested"}}));
    EXPECT_FALSE(link.last_full.load());
    EXPECT_FALSE(link.last_wait.load());

    reply = post("/v1/sync?full=true&wait=true");
    EXPECT_EQ(reply.status, 200) << reply.body;
    EXPECT_EQ(json::parse(reply.body), (json{{"id", link.run_id_to_return},
                                             {"kind", "full"},
                                             {"started_at", "2026-11-30T03:00:00.000Z"},
                                             {"finished_at", "2026-11-30T03:00:02.000Z"},
                                             {"requests", 3},
                                             {"pages", 2},
                                             {"upserted", 10},
                                             {"changed", 4},
                                             {"removed", 0},
                                             {"error", nullptr}}));
    EXPECT_TRUE(link.last_full.load());
    EXPECT_TRUE(link.last_wait.load());
    EXPECT_EQ(link.sync_requests.load(), 2);
    EXPECT_EQ(link.last_max_wait_ms.load(), 600'000);  // the default limit
    EXPECT_EQ(post("/v1/sync?wait=true&timeout=20s").status, 200);
    EXPECT_EQ(link.last_max_wait_ms.load(), 20'000);
    EXPECT_EQ(post("/v1/sync?wait=true&timeout=2h").status, 200);
    EXPECT_EQ(link.last_max_wait_ms.load(), 600'000) << "never past the daemon's limit";
    EXPECT_EQ(post("/v1/sync?wait=true&timeout=soon").status, 422);
    EXPECT_EQ(get(("/v1/sync")).status, 405);
    EXPECT_FALSE(link.last_confirm_removals.load());
}

TEST_F(ApiRoutes, ConfirmingRemovalsNeedsAFullPass) {
    link.run_id_to_return = mirror->insert_sync_run("full");
    start_server();
    const auto without_full = post("/v1/sync?confirm_removals=true&wait=true");
    EXPECT_EQ(without_full.status, 422) << without_full.body;
    const json detail = json::parse(without_full.body).at("detail");
    ASSERT_EQ(detail.size(), 1u) << detail.dump();
    EXPECT_EQ(detail[0].at("loc"), (json{"query", "confirm_removals"}));
    EXPECT_NE(detail[0].at("msg").get<std::string>().find("needs full=true"), std::string::npos) << detail.dump();
    EXPECT_EQ(post("/v1/sync?full=false&confirm_removals=true").status, 422);
    EXPECT_EQ(post("/v1/sync?full=true&confirm_removals=maybe").status, 422);
    EXPECT_EQ(link.sync_requests.load(), 0) << "a refused request asks for no sync";

    EXPECT_EQ(post("/v1/sync?full=true&confirm_removals=true&wait=true").status, 200);
    EXPECT_TRUE(link.last_full.load());
    EXPECT_TRUE(link.last_confirm_removals.load());
    EXPECT_EQ(post("/v1/sync?full=true&confirm_removals=false").status, 202);
    EXPECT_FALSE(link.last_confirm_removals.load());
}

TEST_F(ApiRoutes, RefreshAnswersTheBatchAsGetDoesOrTheDaemonsCause) {
    mirror->insert_batch({.id = "bat_1", .status = "running"});
    start_server();
    link.refresh_outcome = {api::RefreshResult::refreshed, ""};
    const auto refreshed = post("/v1/batches/bat_1/refresh");
    EXPECT_EQ(refreshed.status, 200) << refreshed.body;
    EXPECT_EQ(json::parse(refreshed.body), get_json("/v1/batches/bat_1"));

    link.refresh_outcome = {api::RefreshResult::not_found, "batch not found: the upstream does not know bat_2"};
    EXPECT_EQ(post("/v1/batches/bat_2/refresh").status, 404);
    link.refresh_outcome = {api::RefreshResult::unavailable, "syncing is paused: the key"};
    const auto paused = post("/v1/batches/bat_2/refresh");
    EXPECT_EQ(paused.status, 503);
    EXPECT_EQ(json::parse(paused.body), (json{{"detail", "syncing is paused: the key"}}));
    EXPECT_EQ(link.refresh_requests.load(), 3);

    // The id goes into an upstream URL: checked before the daemon is asked.
    for (const std::string& bad :
         {std::string(".."), std::string("..%2Fx"), std::string("a%20b"), std::string("-a"), std::string(129, 'a')}) {
        const auto reply = post("/v1/batches/" + bad + "/refresh");
        EXPECT_EQ(reply.status, 422) << bad;
        EXPECT_EQ(json::parse(reply.body)["detail"][0]["loc"], json::array({"path", "batch_id"})) << bad;
    }
    EXPECT_EQ(post("/v1/batches//refresh").status, 404);
    EXPECT_EQ(get("/v1/batches/bat_1/refresh").status, 405);
    EXPECT_EQ(link.refresh_requests.load(), 3);
}

TEST_F(ApiRoutes, ListsAndRetriesDeliveries) {
    mirror->insert_batch({.id = "a"});
    const auto old_event = mirror->insert_event("batch.status_changed", "a", "2026-11-29T00:00:00.000Z");
    const auto new_event = mirror->insert_event("batch.status_changed", "a", "2026-11-30T12:00:00.000Z");
    const auto d1 = mirror->insert_delivery(old_event, "webhook.ops", "failed");
    const auto d2 = mirror->insert_delivery(new_event, "webhook.ops", "failed");
    const auto d3 = mirror->insert_delivery(new_event, "trigger.done", "failed");
    const auto d4 = mirror->insert_delivery(new_event, "webhook.ops", "delivered");
    mirror->db().exec(
        "INSERT INTO delivery_attempts (delivery_id, attempt, started_at, duration_ms, status, error) VALUES "
        "(" +
        std::to_string(d1) +
        ", 1, '2026-11-29T00:00:01.000Z', 12, 500, 'HTTP 500'), "
        "(" +
        std::to_string(d1) + ", 2, '2026-11-29T00:00:06.000Z', 9, NULL, 'connection refused')");
    start_server();

    auto body = get_json("/v1/deliveries");
    ASSERT_EQ(body["data"].size(), 4u);
    EXPECT_EQ(body["data"][0]["id"], d4);  // newest first
    EXPECT_EQ(body["data"][3], (json{{"id", d1},
                                     {"event_seq", old_event},
                                     {"event_id", "evt_1_a"},
                                     {"event_type", "batch.status_changed"},
                                     {"batch_id", "a"},
                                     {"target", "webhook.ops"},
                                     {"state", "failed"},
                                     {"attempts", 3},
                                     {"next_attempt_at", nullptr},
                                     {"last_status", 500},
                                     {"last_error", "HTTP 500"},
                                     {"delivered_at", nullptr},
                                     {"attempt_log",
                                      {{{"attempt", 1},
                                        {"started_at", "2026-11-29T00:00:01.000Z"},
                                        {"duration_ms", 12},
                                        {"status", 500},
                                        {"error", "HTTP 500"}},
                                       {{"attempt", 2},
                                        {"started_at", "2026-11-29T00:00:06.000Z"},
                                        {"duration_ms", 9},
                                        {"status", nullptr},
                                        {"error", "connection refused"}}}}}));
    EXPECT_EQ(body["data"][0]["attempt_log"], json::array());
    EXPECT_EQ(get_json("/v1/deliveries?state=failed&target=webhook.ops")["data"].size(), 2u);
    EXPECT_EQ(get_json("/v1/deliveries?limit=1")["data"].size(), 1u);

    // One, whatever its state.
    auto reply = post("/v1/deliveries/" + std::to_string(d4) + "/retry");
    EXPECT_EQ(reply.status, 200) << reply.body;
    body = json::parse(reply.body);
    EXPECT_EQ(body["id"], d4);
    EXPECT_EQ(body["state"], "pending");
    EXPECT_TRUE(body["next_attempt_at"].is_string());
    EXPECT_EQ(body["attempts"], 3);  // history is kept
    EXPECT_EQ(link.deliveries_changed_calls.load(), 1);
    reply = post("/v1/deliveries/999/retry");
    EXPECT_EQ(reply.status, 404);
    EXPECT_EQ(json::parse(reply.body), (json{{"detail", "delivery not found"}}));

    // Every failed one of a target since a time.
    reply = post("/v1/deliveries/retry?state=failed&target=webhook.ops&since=2026-11-30T00:00:00Z");
    EXPECT_EQ(reply.status, 200) << reply.body;
    body = json::parse(reply.body);
    EXPECT_EQ(body["count"], 1);
    ASSERT_EQ(body["data"].size(), 1u);
    EXPECT_EQ(body["data"][0]["id"], d2);
    EXPECT_EQ(body["data"][0]["state"], "pending");
    EXPECT_EQ(link.deliveries_changed_calls.load(), 2);

    // Default state=failed, any target: d1 and d3 are left.
    body = json::parse(post("/v1/deliveries/retry").body);
    EXPECT_EQ(body["count"], 2);
    EXPECT_EQ(body["data"][0]["id"], d3);
    EXPECT_EQ(body["data"][1]["id"], d1);
    // The answer keeps the attempts made so far, as GET /v1/deliveries does.
    EXPECT_EQ(body["data"][1]["attempt_log"].size(), 2u) << body.dump();
    EXPECT_EQ(body["data"][1]["attempt_log"][1]["error"], "connection refused");
    EXPECT_EQ(json::parse(post("/v1/deliveries/" + std::to_string(d1) + "/retry").body)["attempt_log"],
              get_json("/v1/deliveries?state=pending&target=webhook.ops")["data"].back()["attempt_log"]);
    EXPECT_EQ(get_json("/v1/deliveries?state=failed")["data"].size(), 0u);
    // Nothing matched: nothing for the dispatcher to look at.
    EXPECT_EQ(json::parse(post("/v1/deliveries/retry").body)["count"], 0);
    EXPECT_EQ(link.deliveries_changed_calls.load(), 4);  // d4, d2, d3 + d1, d1 again; not this one
}

TEST_F(ApiRoutes, AnswersAMissingDatabaseWith503AndRecovers) {
    options.db_path = (dir / "later.db").string();
    start_server();
    const auto body = get_json("/v1/stats", 503);
    EXPECT_NE(body["detail"].get<std::string>().find("mirror database"), std::string::npos) << body;
    MirrorFile later(options.db_path);
    EXPECT_EQ(get_json("/v1/stats")["events"], 0);
}

}  // namespace
}  // namespace extract::testing
