#include "cli/views.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace extract::cli {
namespace {

using nlohmann::json;

const OutputStyle kPlain{false};

json batch(const std::string& id, const std::string& status) {
    return {{"object", "batch"},
            {"id", id},
            {"status", status},
            {"counts", {{"pending", 1}, {"running", 0}, {"succeeded", 8}, {"failed", 1}, {"cancelled", 0}}},
            {"total_items", 10},
            {"engine", nullptr},
            {"options", json::object()},
            {"created_at", "2026-11-30T03:04:05.123456Z"},
            {"expires_at", "2026-12-03T03:04:05.123456Z"}};
}

TEST(CliViews, BatchList) {
    const json batches = json::array({batch("bat_1", "completed"), batch("bat_22", "running")});
    EXPECT_EQ(render_batch_list(batches, kPlain),
              "ID      STATUS     ENGINE  TOTAL  SUCCEEDED  FAILED  CREATED_AT\n"
              "bat_1   completed  -          10          8       1  2026-11-30T03:04:05.123456Z\n"
              "bat_22  running    -          10          8       1  2026-11-30T03:04:05.123456Z\n");
    EXPECT_EQ(render_batch_list(json::array(), kPlain), "no batches\n");
}

// Issue 15: upstream strings cannot move the cursor, clear the screen or fake a row.
TEST(CliViews, ControlBytesInUpstreamStringsAreEscaped) {
    const std::string text =
        render_batch_list(json::array({batch("bat_\x1b[2J\nbat_fake", "running\r"), batch("bat_2", "done")}), kPlain);
    EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
    EXPECT_EQ(text.find('\r'), std::string::npos) << text;
    EXPECT_NE(text.find("bat_\\x1b[2J\\nbat_fake  running\\r"), std::string::npos) << text;
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3);  // the head and two rows
    EXPECT_EQ(render_wait_outcome("bat_\x1b]0;title\x07", "completed", kPlain), "bat_\\x1b]0;title\\x07 completed\n");
}

TEST(CliViews, BatchListShowsRemovalWhenTheAnswerHasIt) {
    json removed = batch("bat_1", "running");
    removed["mirror"] = {{"removed_at", "2026-12-04T00:00:00.000Z"}};
    const std::string text = render_batch_list(json::array({removed, batch("bat_2", "completed")}), kPlain);
    EXPECT_NE(text.find("REMOVED_AT"), std::string::npos);
    EXPECT_NE(text.find("2026-12-04T00:00:00.000Z"), std::string::npos);
}

TEST(CliViews, BatchWithTransitions) {
    json b = batch("bat_1", "completed");
    b["metadata"] = {{"job", "nightly"}};
    b["mirror"] = {{"first_seen_at", "2026-11-30T03:04:06.000Z"},
                   {"last_seen_at", "2026-11-30T04:00:00.000Z"},
                   {"last_changed_at", "2026-11-30T03:10:00.000Z"},
                   {"removed_at", nullptr}};
    b["transitions"] = json::array({{{"seq", 1},
                                     {"batch_id", "bat_1"},
                                     {"from_status", nullptr},
                                     {"to_status", "pending"},
                                     {"observed_at", "2026-11-30T03:04:06.000Z"}},
                                    {{"seq", 9},
                                     {"batch_id", "bat_1"},
                                     {"from_status", "pending"},
                                     {"to_status", "completed"},
                                     {"observed_at", "2026-11-30T03:10:00.000Z"}}});
    EXPECT_EQ(render_batch(b, kPlain),
              "id               bat_1\n"
              "status           completed\n"
              "engine           -\n"
              "items            10 total: 1 pending, 0 running, 8 succeeded, 1 failed, 0 cancelled\n"
              "created_at       2026-11-30T03:04:05.123456Z\n"
              "started_at       -\n"
              "completed_at     -\n"
              "expires_at       2026-12-03T03:04:05.123456Z\n"
              "metadata         {\"job\":\"nightly\"}\n"
              "options          {}\n"
              "first_seen_at    2026-11-30T03:04:06.000Z\n"
              "last_seen_at     2026-11-30T04:00:00.000Z\n"
              "last_changed_at  2026-11-30T03:10:00.000Z\n"
              "removed_at       -\n"
              "\n"
              "transitions:\n"
              "SEQ  FROM     TO         OBSERVED_AT\n"
              "  1  -        pending    2026-11-30T03:04:06.000Z\n"
              "  9  pending  completed  2026-11-30T03:10:00.000Z\n");
}

TEST(CliViews, EventsKeepFixedColumnsForStreaming) {
    const json events =
        json::array({{{"seq", 5},
                      {"id", "evt_1"},
                      {"type", "batch.status_changed"},
                      {"batch_id", "bat_1"},
                      {"created_at", "2026-11-30T03:10:00.000Z"},
                      {"data", {{"batch", batch("bat_1", "completed")}, {"previous_status", "running"}}}}});
    const std::string header = render_event_stream_header(kPlain);
    const std::string row = render_event_stream_rows(events, kPlain);
    EXPECT_EQ(header,
              "   SEQ  CREATED_AT                TYPE                  BATCH_ID                  STATUS            "
              "PREVIOUS\n");
    EXPECT_EQ(row,
              "     5  2026-11-30T03:10:00.000Z  batch.status_changed  bat_1                     completed         "
              "running\n");
}

TEST(CliViews, EventLogIsAlignedToItsContent) {
    const json events = json::array({{{"seq", 12},
                                      {"type", "batch.created"},
                                      {"batch_id", "bat_1"},
                                      {"created_at", "2026-11-30T03:10:00.000Z"},
                                      {"data", {{"batch", batch("bat_1", "pending")}, {"previous_status", nullptr}}}}});
    EXPECT_EQ(render_events(events, kPlain),
              "SEQ  CREATED_AT                TYPE           BATCH_ID  STATUS   PREVIOUS\n"
              " 12  2026-11-30T03:10:00.000Z  batch.created  bat_1     pending  -\n");
    EXPECT_EQ(render_events(json::array(), kPlain), "no events\n");
}

TEST(CliViews, StatsHealthAndSyncRun) {
    const json stats = {{"batches",
                         {{"total", 12}, {"by_status", {{"completed", 10}, {"running", 2}}}, {"removed", 1}}},
                        {"events", 40},
                        {"deliveries", {{"pending", 2}, {"failed", 1}, {"delivered", 30}}}};
    EXPECT_EQ(render_stats(stats, kPlain),
              "batches     12 (1 removed)\n"
              "events      40\n"
              "deliveries  30 delivered, 1 failed, 2 pending\n"
              "\n"
              "STATUS     BATCHES\n"
              "completed       10\n"
              "running          2\n");

    const json health = {{"status", "degraded"},
                         {"version", "0.1.0"},
                         {"synced", true},
                         {"last_sync_at", nullptr},
                         {"last_full_sync_at", nullptr},
                         {"last_error", "401 from upstream"},
                         {"consecutive_failures", 3},
                         {"disabled_targets", json::array({"webhook.a"})}};
    EXPECT_EQ(render_health(health, kPlain),
              "status                degraded\n"
              "version               0.1.0\n"
              "synced                yes\n"
              "last_sync_at          -\n"
              "last_full_sync_at     -\n"
              "last_error            401 from upstream\n"
              "consecutive_failures  3\n"
              "disabled_targets      webhook.a\n");

    json first_sync = health;
    first_sync["status"] = "starting";
    first_sync["disabled_targets"] = json::array();
    first_sync["progress"] = {{"pages", 120},
                              {"batches", 24000},
                              {"batches_per_second", 850.5},
                              {"expected_pages", 500},
                              {"estimated_seconds_left", 180}};
    first_sync["held_removals"] = 0;  // fields a newer daemon adds are shown too
    EXPECT_EQ(render_health(first_sync, kPlain),
              "status                starting\n"
              "version               0.1.0\n"
              "synced                yes\n"
              "last_sync_at          -\n"
              "last_full_sync_at     -\n"
              "last_error            401 from upstream\n"
              "consecutive_failures  3\n"
              "disabled_targets      -\n"
              "held_removals         0\n"
              "progress              120 pages, 24000 batches, 850.5 batches/s, about 3m left (of 500 pages)\n");

    const json run = {{"id", 4},    {"kind", "full"},  {"started_at", "a"}, {"finished_at", "b"}, {"requests", 3},
                      {"pages", 3}, {"upserted", 500}, {"changed", 2},      {"removed", 0},       {"error", nullptr}};
    EXPECT_EQ(render_sync_run(run, kPlain),
              "id           4\nkind         full\nstarted_at   a\nfinished_at  b\nrequests     3\npages        3\n"
              "upserted     500\nchanged      2\nremoved      0\nerror        -\n");
}

TEST(CliViews, HealthListsTheBatchesSetAside) {
    const json health = {{"status", "ok"},
                         {"synced", true},
                         {"set_aside",
                          {{"count", 1},
                           {"batches", json::array({{{"batch_id", "bat_x\\x00y"},
                                                     {"reason", "its id contains a NUL or control byte"},
                                                     {"first_seen_at", "2026-12-07T10:00:00.000Z"},
                                                     {"last_seen_at", "2026-12-07T11:00:00.000Z"}}})}}}};
    EXPECT_EQ(render_health(health, kPlain),
              "status     ok\n"
              "synced     yes\n"
              "set_aside  1\n"
              "\n"
              "SET ASIDE BATCH  REASON                                 SINCE\n"
              "bat_x\\x00y       its id contains a NUL or control byte  2026-12-07T10:00:00.000Z\n");
}

TEST(CliViews, DeliveriesAndRedelivery) {
    const json rows = json::array({{{"id", 3},
                                    {"event_seq", 9},
                                    {"target", "webhook.billing"},
                                    {"state", "failed"},
                                    {"attempts", 8},
                                    {"last_status", 500},
                                    {"next_attempt_at", nullptr},
                                    {"last_error", "HTTP 500"},
                                    {"delivered_at", nullptr}}});
    EXPECT_EQ(render_deliveries(rows, kPlain),
              "ID  EVENT  TARGET           STATE   ATTEMPTS  LAST  NEXT_ATTEMPT_AT  DELIVERED_AT  LAST_ERROR\n"
              " 3      9  webhook.billing  failed         8   500  -                -             HTTP 500\n");
    EXPECT_EQ(render_deliveries(json::array(), kPlain), "no deliveries\n");

    EXPECT_EQ(render_redelivered(rows[0], kPlain), "delivery 3 to webhook.billing will be sent again now\n");
    EXPECT_EQ(render_redelivered({{"retried", 2}}, kPlain), "2 deliveries will be sent again now\n");
    EXPECT_EQ(render_redelivered({{"object", "list"}, {"data", rows}}, kPlain).substr(0, 35),
              "1 delivery will be sent again now\nI");
}

TEST(CliViews, WaitOutcomeLine) {
    EXPECT_EQ(render_wait_outcome("bat_1", "failed", kPlain), "bat_1 failed\n");
    EXPECT_EQ(render_wait_outcome("bat_1", "completed", OutputStyle{true}), "bat_1 \x1b[32mcompleted\x1b[0m\n");
}

TEST(CliViews, WaitProgressLine) {
    const json batch{{"id", "bat_1"},
                     {"status", "running"},
                     {"total_items", 12},
                     {"counts", {{"pending", 3}, {"running", 4}, {"succeeded", 4}, {"failed", 1}, {"cancelled", 0}}}};
    EXPECT_EQ(render_wait_progress(batch, kPlain), "bat_1 running: 4 succeeded, 1 failed of 12 items");
    // The upstream's text cannot move the cursor or clear the terminal.
    json hostile = batch;
    hostile["status"] = "run\x1b[2Jning\r";
    EXPECT_EQ(render_wait_progress(hostile, kPlain), "bat_1 run\\x1b[2Jning\\r: 4 succeeded, 1 failed of 12 items");
    EXPECT_EQ(render_wait_progress(json{{"id", "bat_2"}, {"status", "pending"}}, kPlain),
              "bat_2 pending: - succeeded, - failed of - items");
}

TEST(CliViews, CellText) {
    EXPECT_EQ(cell_text(nullptr), "-");
    EXPECT_EQ(cell_text("x"), "x");
    EXPECT_EQ(cell_text(3), "3");
    EXPECT_EQ(cell_text(false), "no");
    EXPECT_EQ(cell_text(member(json::object(), "absent")), "-");
    EXPECT_EQ(cell_text(member(json::array(), "absent")), "-");
}

}  // namespace
}  // namespace extract::cli
