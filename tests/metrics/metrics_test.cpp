// The metrics registry on its own: the text it renders, and its guard against recording into
// a family that is not declared (GET /metrics end to end: tests/api/metrics_test.cpp).

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <string_view>

#include "metrics/metrics.hpp"

namespace extract::metrics {

// The by-name registry is private to Metrics; the test reaches its guard through this friend.
struct MetricsRegistryProbe {
    static void increment(Metrics& m, std::string_view name) { m.increment(name); }
    static void set(Metrics& m, std::string_view name, double value) { m.set(name, {}, value); }
};

namespace {

TEST(ApiMetricsRegistry, RendersPrometheusTextWithTheDaemonsFamilies) {
    Metrics m;
    m.upstream_request(200);
    m.upstream_request(200);
    m.upstream_request(429);
    m.sync_run(SyncKind::full, true, Millis{1500});
    m.sync_run(SyncKind::fast, false, Millis{50});
    m.last_successful_sync(WallTime{std::chrono::milliseconds{1'790'000'000'500}});
    m.transition("completed");
    m.event_written("batch.status_changed");
    m.delivery_attempt("webhook.ops", DeliveryOutcome::delivered);
    m.api_request("/v1/batches/{batch_id}", 404);
    m.batches_by_status({{"we\"ird\\\n", 3}});
    const std::string text = m.render();
    EXPECT_NE(text.find("# TYPE extract_sync_upstream_requests_total counter\n"), std::string::npos) << text;
    EXPECT_NE(text.find("extract_sync_upstream_requests_total{code=\"200\"} 2\n"), std::string::npos);
    EXPECT_NE(text.find("extract_sync_sync_duration_seconds_bucket{kind=\"full\",le=\"1\"} 0\n"), std::string::npos);
    EXPECT_NE(text.find("extract_sync_sync_duration_seconds_bucket{kind=\"full\",le=\"2.5\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("extract_sync_sync_duration_seconds_bucket{kind=\"full\",le=\"+Inf\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("extract_sync_sync_duration_seconds_sum{kind=\"full\"} 1.5\n"), std::string::npos);
    EXPECT_NE(text.find("extract_sync_sync_duration_seconds_bucket{kind=\"fast\",le=\"0.1\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("extract_sync_sync_runs_total{kind=\"fast\",outcome=\"error\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("extract_sync_last_successful_sync_timestamp_seconds 1790000000.5\n"), std::string::npos);
    EXPECT_NE(text.find("extract_sync_batches{status=\"we\\\"ird\\\\\\n\"} 3\n"), std::string::npos) << text;
    EXPECT_THROW(MetricsRegistryProbe::increment(m, "no_such_family"), std::logic_error);
    EXPECT_THROW(MetricsRegistryProbe::set(m, "upstream_requests_total", 1), std::logic_error);
}

}  // namespace
}  // namespace extract::metrics
