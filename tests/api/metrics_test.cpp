// GET /metrics: Prometheus text of the daemon's counters plus gauges read from the mirror,
// checked by promtool when it is installed (CI installs it: there it must be present).

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "tests/api/api_fixture.hpp"

namespace extract::testing {
namespace {

class ApiMetricsRoute : public ApiTest {
protected:
    std::string scrape() {
        const auto reply = get("/metrics");
        EXPECT_EQ(reply.status, 200);
        for (const auto& [name, value] : reply.headers) {
            if (name == "Content-Type") {
                EXPECT_EQ(value, "text/plain; version=0.0.4; charset=utf-8");
            }
        }
        return reply.body;
    }
};

TEST_F(ApiMetricsRoute, ExportsTheDaemonsCountersAndTheMirrorsGauges) {
    mirror->insert_batch({.id = "batch_a1b2c3", .status = "completed"});
    mirror->insert_batch({.id = "batch_d4e5f6", .status = "completed"});
    mirror->insert_batch({.id = "batch_g7h8i9", .status = "running"});
    mirror->insert_batch({.id = "batch_removed", .status = "running", .removed_at = "2026-12-04T00:00:00.000Z"});
    const auto e = mirror->insert_event("batch.created", "batch_a1b2c3", "2026-11-30T03:00:00.000Z");
    mirror->insert_delivery(e, "webhook.ops", "failed");
    metrics.upstream_request(200);
    metrics.upstream_request(503);
    metrics.sync_run(SyncKind::full, true, Millis{2500});
    metrics.last_successful_sync(WallTime{std::chrono::seconds{1'790'000'000}});
    metrics.transition("completed");
    metrics.event_written("batch.status_changed");
    metrics.delivery_attempt("webhook.ops", DeliveryOutcome::retried);
    start_server();
    get("/v1/batches/batch_a1b2c3");
    get("/v1/batches/unknown_batch_id");

    const std::string text = scrape();
    for (const char* line : {
             "extract_sync_batches{status=\"completed\"} 2\n",
             "extract_sync_batches{status=\"running\"} 1\n",
             "extract_sync_batches_removed 1\n",
             "extract_sync_deliveries{state=\"failed\"} 1\n",
             "extract_sync_upstream_requests_total{code=\"503\"} 1\n",
             "extract_sync_sync_runs_total{kind=\"full\",outcome=\"ok\"} 1\n",
             "extract_sync_sync_duration_seconds_count{kind=\"full\"} 1\n",
             "extract_sync_last_successful_sync_timestamp_seconds 1790000000\n",
             "extract_sync_transitions_total{to_status=\"completed\"} 1\n",
             "extract_sync_events_total{type=\"batch.status_changed\"} 1\n",
             "extract_sync_deliveries_total{target=\"webhook.ops\",outcome=\"retried\"} 1\n",
             "extract_sync_api_requests_total{route=\"/v1/batches/{batch_id}\",code=\"404\"} 1\n",
             "extract_sync_api_long_polls_waiting 0\n",
         }) {
        EXPECT_NE(text.find(line), std::string::npos) << "missing: " << line << "in:\n" << text;
    }
    for (const char* id : {"batch_a1b2c3", "batch_d4e5f6", "batch_g7h8i9", "batch_removed", "unknown_batch_id"}) {
        EXPECT_EQ(text.find(id), std::string::npos) << id << " leaked into a label:\n" << text;
    }

    // A status that is gone from the mirror is gone from the next scrape.
    mirror->db().exec("UPDATE batch_rows SET status = 'completed'");
    EXPECT_EQ(scrape().find("status=\"running\""), std::string::npos);
}

TEST_F(ApiMetricsRoute, HealthStatusAPausedSyncAndHeldRemovalsAreGauges) {
    api::HealthSnapshot health;
    health.status = HealthStatus::degraded;
    health.paused = true;
    health.held_removals = 42;
    link.set_health(health);
    start_server();
    std::string text = scrape();
    for (const char* line :
         {"extract_sync_health_status{status=\"ok\"} 0\n", "extract_sync_health_status{status=\"starting\"} 0\n",
          "extract_sync_health_status{status=\"degraded\"} 1\n", "extract_sync_sync_paused 1\n",
          "extract_sync_held_removals 42\n"}) {
        EXPECT_NE(text.find(line), std::string::npos) << "missing: " << line << "in:\n" << text;
    }
    health.status = HealthStatus::ok;
    health.paused = false;
    health.held_removals = 0;
    link.set_health(health);
    text = scrape();
    EXPECT_NE(text.find("extract_sync_health_status{status=\"ok\"} 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("extract_sync_sync_paused 0\n"), std::string::npos) << text;
    EXPECT_NE(text.find("extract_sync_held_removals 0\n"), std::string::npos) << text;
}

TEST_F(ApiMetricsRoute, PassesPromtoolCheck) {
    if (std::system("command -v promtool > /dev/null 2>&1") != 0) {
        if (std::getenv("CI") != nullptr) FAIL() << "promtool is missing (Debian package prometheus)";
        GTEST_SKIP() << "promtool is not installed (Debian package prometheus)";
    }
    mirror->insert_batch({.id = "a", .status = "completed"});
    metrics.upstream_request(200);
    metrics.sync_run(SyncKind::fast, false, Millis{120});
    metrics.sync_run(SyncKind::full, true, Millis{90'000});
    metrics.last_successful_sync(WallTime{std::chrono::milliseconds{1'790'000'000'123}});
    metrics.transition("completed");
    metrics.event_written("batch.created");
    metrics.delivery_attempt("trigger.done", DeliveryOutcome::delivered);
    start_server();
    const auto path = dir / "metrics.txt";
    std::ofstream(path) << scrape();
    const std::string command =
        "promtool check metrics < '" + path.string() + "' > '" + (dir / "promtool.out").string() + "' 2>&1";
    const int status = std::system(command.c_str());
    std::ifstream out(dir / "promtool.out");
    const std::string report((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
    EXPECT_EQ(status, 0) << report;
}

}  // namespace
}  // namespace extract::testing
