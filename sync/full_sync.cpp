#include "sync/full_sync.hpp"

#include <spdlog/spdlog.h>

#include <atomic>

#include "core/duration.hpp"
#include "core/timefmt.hpp"
#include "sync/page_pipeline.hpp"

namespace extract::sync {

SyncOutcome FullSync::run(const FullSyncSettings& settings) {
    return run_recorded(SyncKind::full, client_, mirror_, clock_, [&](SyncOutcome& outcome) {
        const auto started = clock_.steady_now();
        const bool bootstrap = mirror_.bootstrap_pending();
        // Said once per process, not again on every retry of a failing first pass.
        static std::atomic<bool> bootstrap_announced{false};
        if (bootstrap && !bootstrap_announced.exchange(true)) {
            spdlog::info("first sync into an empty mirror: {}",
                         settings.emit_on_bootstrap
                             ? "batch.created events are emitted, no batch.status_changed (emit_on_bootstrap = true)"
                             : "no events are emitted (emit_on_bootstrap = false)");
        }

        cache::ApplyOptions apply;
        apply.first_sighting = cache::first_sighting_events(bootstrap, settings.emit_on_bootstrap);
        apply.full_pass_run_id = outcome.run_id;
        apply.routes = settings.routes;

        auto last_progress = started;
        std::int64_t received = 0;
        const std::int64_t max_pages = listing_page_bound(mirror_.batch_count(), client_.page_size());
        // Each page is counted once its group has committed, so progress says what is stored.
        MirrorPageWriter writer(mirror_, apply, [&](const cache::ApplyResult& applied) {
            ++outcome.counts.pages;
            received += applied.received;
            count_applied(outcome, applied);
            if (settings.on_progress) settings.on_progress();

            const auto now = clock_.steady_now();
            if (settings.on_full_pass_page) {
                settings.on_full_pass_page(
                    {outcome.counts.pages, received, std::chrono::duration_cast<Millis>(now - started)});
            }
            if (now - last_progress >= settings.progress_interval) {
                const double secs = std::chrono::duration<double>(now - started).count();
                spdlog::info("full sync in progress: {} pages, {} batches so far, {:.0f} batches/s",
                             outcome.counts.pages, received, secs > 0 ? static_cast<double>(received) / secs : 0.0);
                last_progress = now;
            }
        });
        const ListingOutcome listing = page_listing(client_, std::nullopt, stop_, clock_, writer, max_pages);
        if (listing.status != upstream::FetchStatus::ok) {
            outcome.result = result_of(listing.status);
            outcome.error = listing.message;
            return;  // an incomplete pass removes nothing
        }
        remove_unseen_unless_held(outcome, settings);
        if (bootstrap) mirror_.finish_bootstrap();
    });
}

void FullSync::remove_unseen_unless_held(SyncOutcome& outcome, const FullSyncSettings& settings) {
    const std::int64_t unseen = mirror_.count_unseen(outcome.run_id);
    // The live count (a COUNT(*) over the mirror) matters only above the floor.
    const std::int64_t live = unseen > kMassRemovalFloor ? mirror_.batch_count() : unseen;
    const std::optional<HeldRemovals> held_before = load_hold(mirror_);
    const RemovalDecision decision =
        decide_removals(unseen, live, held_before, settings.mass_removal, settings.confirm_removals, clock_.now());
    outcome.removals = decision;
    switch (decision.verdict) {
        case RemovalVerdict::hold_begun:
            spdlog::warn("{}", describe_hold(*decision.hold, settings.mass_removal));
            break;
        case RemovalVerdict::held:
            spdlog::debug("mass removal still held: {} of {} live batches not listed", unseen, live);
            break;
        case RemovalVerdict::hold_cleared:
            spdlog::info(
                "mass removal no longer held: this complete pass did not list {} live batches, which is not "
                "a mass removal; the hold since {} is dropped",
                unseen, format_timestamp(held_before->since));
            break;
        case RemovalVerdict::apply_agreed:
            spdlog::warn(
                "held mass removal applied: every complete pass since {} agreed for mass_removal_confirm {}; "
                "marking {} batches removed",
                format_timestamp(held_before->since), format_duration(settings.mass_removal.confirm), unseen);
            break;
        case RemovalVerdict::apply_confirmed:
            if (is_mass_removal(unseen, live, settings.mass_removal.threshold_percent)) {
                spdlog::warn("mass removal confirmed on request: marking {} of {} live batches removed", unseen, live);
            }
            break;
        case RemovalVerdict::remove: break;
    }
    if (decision.removes()) {
        outcome.counts.removed = mirror_.remove_unseen(outcome.run_id, settings.routes);
        if (outcome.counts.removed > 0)
            outcome.events_by_type["batch.removed"] += static_cast<int>(outcome.counts.removed);
    }
    if (decision.hold != held_before) store_hold(mirror_, decision.hold);
}

}  // namespace extract::sync
