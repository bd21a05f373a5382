#include "sync/sync_outcome.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <exception>

#include "core/duration.hpp"

namespace extract::sync {

SyncResult result_of(upstream::FetchStatus status) {
    switch (status) {
        case upstream::FetchStatus::ok: return SyncResult::ok;
        case upstream::FetchStatus::unauthorized: return SyncResult::unauthorized;
        case upstream::FetchStatus::stopped: return SyncResult::stopped;
        default: return SyncResult::failed;
    }
}

void count_applied(SyncOutcome& outcome, const cache::ApplyResult& applied) {
    outcome.counts.upserted += applied.inserted + applied.updated;
    outcome.live_added += applied.inserted + applied.restored;
    outcome.counts.changed += applied.transitions;
    for (const auto& [status, n] : applied.transitions_to) outcome.transitions_to[status] += n;
    for (const auto& [type, n] : applied.events_by_type) outcome.events_by_type[type] += n;
}

SyncOutcome run_recorded(SyncKind kind, upstream::UpstreamClient& client, cache::Mirror& mirror, const Clock& clock,
                         const std::function<void(SyncOutcome&)>& body) {
    SyncOutcome outcome;
    outcome.kind = kind;
    const auto started = clock.steady_now();
    const std::int64_t requests_before = client.requests_sent();
    outcome.run_id = mirror.begin_sync_run(to_string(kind));
    try {
        body(outcome);
    } catch (const std::exception& e) {
        outcome.result = SyncResult::failed;
        outcome.error = std::string("mirror write failed: ") + e.what();
    }
    outcome.counts.requests = client.requests_sent() - requests_before;
    outcome.duration = std::chrono::duration_cast<Millis>(clock.steady_now() - started);
    try {
        mirror.finish_sync_run(outcome.run_id, outcome.counts,
                               outcome.result == SyncResult::ok ? std::nullopt : std::optional(outcome.error));
    } catch (const std::exception& e) {
        spdlog::error("could not record the end of sync run {}: {}", outcome.run_id, e.what());
    }
    return outcome;
}

std::string describe(const SyncOutcome& o) {
    std::string requests = fmt::format("{} requests", o.counts.requests);
    if (o.planned_requests >= 0) {
        requests += fmt::format(" (planned {}, {} would be {})", o.planned_requests,
                                o.kind == SyncKind::fast ? "a full pass" : "a fast poll", o.alternative_requests);
    }
    const std::string refreshed = o.kind == SyncKind::fast ? fmt::format("{} refreshed, ", o.refreshed) : "";
    return fmt::format("{} sync: {} pages, {}{}, {} upserted, {} changed, {} removed in {:.2f}s", to_string(o.kind),
                       o.counts.pages, refreshed, requests, o.counts.upserted, o.counts.changed, o.counts.removed,
                       std::chrono::duration<double>(o.duration).count());
}

void CycleSummary::add(const SyncOutcome& o) {
    if (o.result != SyncResult::ok) {
        ++failed_;
    } else if (o.kind == SyncKind::fast) {
        ++fast_;
    } else {
        ++full_;
    }
    requests_ += o.counts.requests;
    upserted_ += o.counts.upserted;
    changed_ += o.counts.changed;
    removed_ += o.counts.removed;
}

std::optional<std::string> CycleSummary::take_if_due(SteadyTime now, Millis interval) {
    if (now - since_ < interval) return std::nullopt;
    const auto elapsed = now - since_;
    const Millis period = elapsed >= std::chrono::minutes(1)
                              ? Millis(std::chrono::duration_cast<std::chrono::minutes>(elapsed))
                              : Millis(std::chrono::duration_cast<std::chrono::seconds>(elapsed));
    std::string line = fmt::format(
        "alive: {} cycles in the last {} ({} full, {} fast, {} failed), {} requests, "
        "{} upserted, {} changed, {} removed",
        full_ + fast_ + failed_, format_duration(period), full_, fast_, failed_, requests_, upserted_, changed_,
        removed_);
    *this = CycleSummary(now);
    return line;
}

}  // namespace extract::sync
