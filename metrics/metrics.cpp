#include "metrics/metrics.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace extract::metrics {
namespace {

constexpr std::string_view kPrefix = "extract_sync_";

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (const char c : value) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string escape_help(std::string_view text) {
    std::string out;
    for (const char c : text) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string format_value(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    std::array<char, 64> buf{};
    // The shortest exact form, without an exponent for the magnitudes met here (Unix times).
    const auto format = std::fabs(v) < 1e15 ? std::chars_format::fixed : std::chars_format::general;
    const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v, format);
    return ec == std::errc{} ? std::string(buf.data(), end) : std::string("NaN");
}

std::string render_labels(const Metrics::Labels& labels, const std::string& extra_name = {},
                          const std::string& extra_value = {}) {
    if (labels.empty() && extra_name.empty()) return {};
    std::string out = "{";
    bool first = true;
    for (const auto& [name, value] : labels) {
        if (!first) out += ',';
        first = false;
        out += name + "=\"" + escape_label_value(value) + "\"";
    }
    if (!extra_name.empty()) {
        if (!first) out += ',';
        out += extra_name + "=\"" + extra_value + "\"";
    }
    return out + "}";
}

std::string_view type_name(Metrics::Type type) {
    switch (type) {
        case Metrics::Type::counter: return "counter";
        case Metrics::Type::gauge: return "gauge";
        case Metrics::Type::histogram: return "histogram";
    }
    return "untyped";
}

}  // namespace

Metrics::Metrics() {
    // Sync runs take from well under a second (a fast poll of a quiet account) to many
    // minutes (a full pass over a large history at the rate limit).
    const std::vector<double> sync_buckets{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800};
    declare("upstream_requests_total", Type::counter,
            "Requests made to the extract API, by HTTP status code (0: no response).");
    declare("sync_runs_total", Type::counter, "Sync runs finished, by kind and outcome.");
    declare("sync_duration_seconds", Type::histogram, "How long sync runs took, by kind.", sync_buckets);
    declare("last_successful_sync_timestamp_seconds", Type::gauge, "Unix time when the last successful sync finished.");
    declare("transitions_total", Type::counter, "Status transitions recorded, by the status entered.");
    declare("events_total", Type::counter, "Events written, by type.");
    declare("deliveries_total", Type::counter, "Delivery attempts of webhooks and triggers, by target and outcome.");
    declare("batches", Type::gauge, "Mirrored batches that are not removed, by status.");
    declare("batches_removed", Type::gauge, "Mirrored batches the upstream no longer lists.");
    declare("deliveries", Type::gauge, "Rows of the delivery log, by state.");
    declare("api_requests_total", Type::counter,
            "Requests answered by the local API, by route pattern and HTTP status code.");
    declare("api_long_polls_waiting", Type::gauge, "GET /v1/events long polls waiting for an event.");
    declare("health_status", Type::gauge,
            "1 for the daemon's health status now (ok, starting, degraded), 0 for the others.");
    declare("sync_paused", Type::gauge,
            "1 while syncing is paused because the upstream rejected the API key (401/403).");
    declare("held_removals", Type::gauge,
            "Batches a held mass removal keeps live until complete passes agree or an operator confirms; 0 when none.");
    long_polls_waiting(0);
}

void Metrics::upstream_request(int http_code, std::int64_t count) {
    increment("upstream_requests_total", {{"code", std::to_string(http_code)}}, static_cast<double>(count));
}

void Metrics::sync_run(SyncKind kind, bool ok, Millis duration) {
    const std::string kind_label(to_string(kind));
    increment("sync_runs_total", {{"kind", kind_label}, {"outcome", ok ? "ok" : "error"}});
    observe("sync_duration_seconds", {{"kind", kind_label}}, static_cast<double>(duration.count()) / 1000.0);
}

void Metrics::last_successful_sync(WallTime at) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
    set("last_successful_sync_timestamp_seconds", {}, static_cast<double>(ms) / 1000.0);
}

void Metrics::transition(std::string_view to_status, std::int64_t count) {
    increment("transitions_total", {{"to_status", std::string(to_status)}}, static_cast<double>(count));
}

void Metrics::event_written(std::string_view type, std::int64_t count) {
    increment("events_total", {{"type", std::string(type)}}, static_cast<double>(count));
}

void Metrics::delivery_attempt(std::string_view target, DeliveryOutcome outcome, std::int64_t count) {
    increment("deliveries_total", {{"target", std::string(target)}, {"outcome", std::string(to_string(outcome))}},
              static_cast<double>(count));
}

void Metrics::api_request(std::string_view route, int http_code) {
    increment("api_requests_total", {{"route", std::string(route)}, {"code", std::to_string(http_code)}});
}

void Metrics::long_polls_waiting(std::size_t n) { set("api_long_polls_waiting", {}, static_cast<double>(n)); }

void Metrics::batches_by_status(const std::map<std::string, std::int64_t>& live_by_status) {
    std::vector<std::pair<Labels, double>> samples;
    for (const auto& [status, n] : live_by_status) samples.push_back({{{"status", status}}, static_cast<double>(n)});
    replace("batches", samples);
}

void Metrics::batches_removed(std::int64_t n) { replace("batches_removed", {{{}, static_cast<double>(n)}}); }

void Metrics::deliveries_by_state(const std::map<std::string, std::int64_t>& by_state) {
    std::vector<std::pair<Labels, double>> samples;
    for (const auto& [state, n] : by_state) samples.push_back({{{"state", state}}, static_cast<double>(n)});
    replace("deliveries", samples);
}

void Metrics::health_status(HealthStatus status) {
    std::vector<std::pair<Labels, double>> samples;
    for (const HealthStatus s : kHealthStatuses) {
        samples.push_back({{{"status", std::string(to_string(s))}}, status == s ? 1.0 : 0.0});
    }
    replace("health_status", samples);
}

void Metrics::sync_paused(bool paused) { replace("sync_paused", {{{}, paused ? 1.0 : 0.0}}); }

void Metrics::held_removals(std::int64_t n) { replace("held_removals", {{{}, static_cast<double>(n)}}); }

void Metrics::declare(std::string name, Type type, std::string help, std::vector<double> buckets) {
    std::sort(buckets.begin(), buckets.end());
    std::lock_guard lock(mutex_);
    auto& f = families_[std::move(name)];
    f.type = type;
    f.help = std::move(help);
    f.buckets = std::move(buckets);
}

Metrics::Family& Metrics::family(std::string_view name, Type expected) {
    const auto it = families_.find(name);
    if (it == families_.end()) throw std::logic_error("metric family not declared: " + std::string(name));
    if (it->second.type != expected) throw std::logic_error("metric family has another type: " + std::string(name));
    return it->second;
}

void Metrics::increment(std::string_view name, const Labels& labels, double by) {
    std::lock_guard lock(mutex_);
    family(name, Type::counter).values[labels] += by;
}

void Metrics::set(std::string_view name, const Labels& labels, double value) {
    std::lock_guard lock(mutex_);
    family(name, Type::gauge).values[labels] = value;
}

void Metrics::observe(std::string_view name, const Labels& labels, double value) {
    std::lock_guard lock(mutex_);
    auto& f = family(name, Type::histogram);
    auto& h = f.histograms[labels];
    if (h.bucket_counts.empty()) h.bucket_counts.assign(f.buckets.size(), 0);
    const auto bound = std::lower_bound(f.buckets.begin(), f.buckets.end(), value);
    if (bound != f.buckets.end()) ++h.bucket_counts[static_cast<std::size_t>(bound - f.buckets.begin())];
    ++h.count;
    h.sum += value;
}

void Metrics::replace(std::string_view name, const std::vector<std::pair<Labels, double>>& samples) {
    std::lock_guard lock(mutex_);
    auto& f = family(name, Type::gauge);
    f.values.clear();
    for (const auto& [labels, value] : samples) f.values[labels] = value;
}

std::string Metrics::render() const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& [short_name, f] : families_) {
        const std::string name = std::string(kPrefix) + short_name;
        out += "# HELP " + name + " " + escape_help(f.help) + "\n";
        out += "# TYPE " + name + " " + std::string(type_name(f.type)) + "\n";
        if (f.type != Type::histogram) {
            for (const auto& [labels, value] : f.values)
                out += name + render_labels(labels) + " " + format_value(value) + "\n";
            continue;
        }
        for (const auto& [labels, h] : f.histograms) {
            std::uint64_t cumulative = 0;
            for (std::size_t i = 0; i < f.buckets.size(); ++i) {
                cumulative += h.bucket_counts[i];
                out += name + "_bucket" + render_labels(labels, "le", format_value(f.buckets[i])) + " " +
                       std::to_string(cumulative) + "\n";
            }
            out += name + "_bucket" + render_labels(labels, "le", "+Inf") + " " + std::to_string(h.count) + "\n";
            out += name + "_sum" + render_labels(labels) + " " + format_value(h.sum) + "\n";
            out += name + "_count" + render_labels(labels) + " " + std::to_string(h.count) + "\n";
        }
    }
    return out;
}

}  // namespace extract::metrics
