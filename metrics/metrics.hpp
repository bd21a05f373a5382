#pragma once
// A small thread-safe Prometheus registry: counters, gauges and histograms (in seconds) with
// labels, every name prefixed `extract_sync_`, rendered in the text format by GET /metrics.
//
// The families extract-sync exports are declared by the constructor (see metrics.cpp and
// docs/api.md); every caller records into them through the typed methods below, one per
// family, so a family name is written in one place only. Labels never carry a batch id: their
// values are bounded sets (HTTP codes, statuses, targets). No I/O: GET /metrics renders it.
//
//   family (without prefix)               type       labels
//   upstream_requests_total               counter    code ("0" when no response came)
//   sync_runs_total                       counter    kind (full|fast), outcome (ok|error)
//   sync_duration_seconds                 histogram  kind
//   last_successful_sync_timestamp_seconds gauge     -
//   transitions_total                     counter    to_status
//   events_total                          counter    type
//   deliveries_total                      counter    target, outcome (delivered|retried|failed|disabled)
//   batches                               gauge      status  (not removed; read from the mirror per scrape)
//   batches_removed                       gauge      -       (read from the mirror per scrape)
//   deliveries                            gauge      state   (read from the mirror per scrape)
//   api_requests_total                    counter    route (the pattern, e.g. /v1/batches/{batch_id}), code
//   api_long_polls_waiting                gauge      -
//   health_status                         gauge      status (ok|starting|degraded: 1 for the current one; per scrape)
//   sync_paused                           gauge      -       (1 while a 401/403 pauses syncing; per scrape)
//   held_removals                         gauge      -       (batches a held mass removal keeps live; per scrape)

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/delivery_outcome.hpp"
#include "core/health_status.hpp"
#include "core/sync_kind.hpp"

namespace extract::metrics {

class Metrics {
public:
    using Labels = std::vector<std::pair<std::string, std::string>>;
    enum class Type { counter, gauge, histogram };

    Metrics();  // declares the families listed above
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;

    // What the daemon records (`count`: how many happened since it last recorded).
    void upstream_request(int http_code, std::int64_t count = 1);  // 0: no response (timeout, refused, broken)
    void sync_run(SyncKind kind, bool ok, Millis duration);
    void last_successful_sync(WallTime at);
    void transition(std::string_view to_status, std::int64_t count = 1);
    void event_written(std::string_view type, std::int64_t count = 1);
    void delivery_attempt(std::string_view target, DeliveryOutcome outcome, std::int64_t count = 1);

    // What the API records.
    void api_request(std::string_view route, int http_code);
    void long_polls_waiting(std::size_t n);

    // What the API reads from the mirror and the daemon at each scrape. Each replaces every
    // sample of its gauge, so that a status that disappeared disappears from the output too.
    void batches_by_status(const std::map<std::string, std::int64_t>& live_by_status);
    void batches_removed(std::int64_t n);
    void deliveries_by_state(const std::map<std::string, std::int64_t>& by_state);
    void health_status(HealthStatus status);  // 1 for it, 0 for the other statuses
    void sync_paused(bool paused);
    void held_removals(std::int64_t n);

    // Prometheus text exposition format 0.0.4.
    std::string render() const;

private:
    // The generic registry behind the typed methods. `name` is without the prefix; recording
    // into a family that was never declared, or with another type, is a bug in metrics.cpp and
    // throws std::logic_error (tests/metrics/metrics_test.cpp checks it through this friend).
    friend struct MetricsRegistryProbe;

    void declare(std::string name, Type type, std::string help, std::vector<double> buckets = {});
    void increment(std::string_view name, const Labels& labels = {}, double by = 1);
    void set(std::string_view name, const Labels& labels, double value);
    void observe(std::string_view name, const Labels& labels, double value);
    void replace(std::string_view name, const std::vector<std::pair<Labels, double>>& samples);

    struct Histogram {
        std::vector<std::uint64_t> bucket_counts;  // not cumulative; one per bound
        std::uint64_t count = 0;
        double sum = 0;
    };
    struct Family {
        Type type = Type::counter;
        std::string help;
        std::vector<double> buckets;
        std::map<Labels, double> values;         // counters, gauges
        std::map<Labels, Histogram> histograms;  // histograms
    };
    Family& family(std::string_view name, Type expected);

    mutable std::mutex mutex_;
    std::map<std::string, Family, std::less<>> families_;
};

}  // namespace extract::metrics
