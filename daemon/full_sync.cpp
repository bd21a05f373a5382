#include "daemon/full_sync.hpp"

#include <spdlog/spdlog.h>

#include <exception>

namespace extract::daemon {
namespace {

SyncResult result_of(upstream::FetchStatus status) {
    switch (status) {
        case upstream::FetchStatus::ok: return SyncResult::ok;
        case upstream::FetchStatus::unauthorized: return SyncResult::unauthorized;
        case upstream::FetchStatus::stopped: return SyncResult::stopped;
        default: return SyncResult::failed;
    }
}

}  // namespace

SyncOutcome FullSync::run(const FullSyncSettings& settings) {
    SyncOutcome outcome;
    const auto started = clock_.steady_now();
    const std::int64_t requests_before = client_.requests_sent();
    outcome.run_id = mirror_.begin_sync_run("full");
    const bool bootstrap = mirror_.bootstrap_pending();
    if (bootstrap) spdlog::info("first sync into an empty mirror: batch.created events {}",
                                settings.emit_on_bootstrap ? "are emitted" : "are not emitted (emit_on_bootstrap = false)");

    cache::ApplyOptions apply;
    apply.emit_created = !bootstrap || settings.emit_on_bootstrap;
    apply.full_pass_run_id = outcome.run_id;
    apply.routes = settings.routes;

    auto last_progress = started;
    std::int64_t received = 0;
    std::optional<std::string> cursor;
    try {
        while (true) {
            if (stop_.stop_requested()) {
                outcome.result = SyncResult::stopped;
                outcome.error = "stopped before the pass completed";
                break;
            }
            auto page = client_.list_batches(std::nullopt, cursor);
            if (page.status != upstream::FetchStatus::ok) {
                outcome.result = result_of(page.status);
                outcome.error = page.message;
                break;
            }
            const cache::ApplyResult applied = mirror_.apply_page(page.value->batches, apply);
            ++outcome.counts.pages;
            received += applied.received;
            outcome.counts.upserted += applied.inserted + applied.updated;
            outcome.counts.changed += applied.transitions;
            for (const auto& [status, n] : applied.transitions_to) outcome.transitions_to[status] += n;
            for (const auto& [type, n] : applied.events_by_type) outcome.events_by_type[type] += n;

            const auto now = clock_.steady_now();
            if (now - last_progress >= settings.progress_interval) {
                const double secs = std::chrono::duration<double>(now - started).count();
                spdlog::info("full sync in progress: {} pages, {} batches so far, {:.0f} batches/s", outcome.counts.pages,
                             received, secs > 0 ? static_cast<double>(received) / secs : 0.0);
                last_progress = now;
            }
            cursor = std::move(page.value->next_cursor);
            if (!cursor) break;
        }
        if (outcome.result == SyncResult::ok) {
            outcome.counts.removed = mirror_.remove_unseen(outcome.run_id, settings.routes);
            if (outcome.counts.removed > 0) outcome.events_by_type["batch.removed"] += static_cast<int>(outcome.counts.removed);
            if (bootstrap) mirror_.finish_bootstrap();
        }
    } catch (const std::exception& e) {
        // The page's transaction rolled back: nothing of it was written.
        outcome.result = SyncResult::failed;
        outcome.error = std::string("mirror write failed: ") + e.what();
    }

    outcome.counts.requests = client_.requests_sent() - requests_before;
    outcome.duration = std::chrono::duration_cast<Millis>(clock_.steady_now() - started);
    try {
        mirror_.finish_sync_run(outcome.run_id, outcome.counts,
                                outcome.result == SyncResult::ok ? std::nullopt : std::optional(outcome.error));
    } catch (const std::exception& e) {
        spdlog::error("could not record the end of sync run {}: {}", outcome.run_id, e.what());
    }
    return outcome;
}

std::string describe(const SyncOutcome& o, std::string_view kind) {
    return fmt::format("{} sync: {} pages, {} requests, {} upserted, {} changed, {} removed in {:.2f}s", kind,
                       o.counts.pages, o.counts.requests, o.counts.upserted, o.counts.changed, o.counts.removed,
                       std::chrono::duration<double>(o.duration).count());
}

}  // namespace extract::daemon
