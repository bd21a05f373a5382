#include "sync/fast_poll.hpp"

#include <functional>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "core/untrusted_text.hpp"
#include "sync/mass_removal_guard.hpp"
#include "sync/page_pipeline.hpp"

namespace extract::sync {

namespace {

// Writes a status's listing to the mirror in groups and notes every id it listed.
class ListedIds final : public PageWriter {
public:
    ListedIds(std::unordered_set<std::string>& listed, cache::Mirror& mirror, const cache::ApplyOptions& options,
              std::function<void(const cache::ApplyResult&)> on_committed)
        : listed_(listed), mirror_(mirror, options, std::move(on_committed)) {}
    void apply(const upstream::BatchPage& page) override {
        mirror_.apply(page);
        for (const Batch& batch : page.batches) listed_.insert(batch.id);
    }
    void commit() override { mirror_.commit(); }

private:
    std::unordered_set<std::string>& listed_;
    MirrorPageWriter mirror_;
};

}  // namespace

cache::ApplyOptions single_fetch_apply_options(cache::Mirror& mirror, const FullSyncSettings& settings) {
    cache::ApplyOptions apply;
    apply.first_sighting = cache::first_sighting_events(mirror.bootstrap_pending(), settings.emit_on_bootstrap);
    apply.routes = settings.routes;  // no full_pass_run_id: what is not listed stays
    return apply;
}

BatchRefresh apply_fetched(cache::Mirror& mirror, const std::string& id, upstream::Fetched<Batch> fetched,
                           const cache::ApplyOptions& apply) {
    BatchRefresh refresh;
    refresh.status = fetched.status;
    if (fetched.status == upstream::FetchStatus::ok) {
        refresh.batch_status = fetched.value->status;
        refresh.applied = mirror.apply_page({*fetched.value}, apply);
    } else if (fetched.status == upstream::FetchStatus::not_found) {
        // The upstream says it forgot the batch: removed now (docs/sync.md says why not later).
        refresh.removed = mirror.mark_removed(id, apply.routes);
    } else {
        refresh.message = std::move(fetched.message);
    }
    return refresh;
}

SyncOutcome FastPoll::run(const std::vector<std::string>& statuses,
                          const std::vector<cache::MirroredStatus>& nonterminal, const FullSyncSettings& settings) {
    return run_recorded(SyncKind::fast, client_, mirror_, clock_, [&](SyncOutcome& outcome) {
        const cache::ApplyOptions apply = single_fetch_apply_options(mirror_, settings);

        auto progress = [&settings] {
            if (settings.on_progress) settings.on_progress();
        };
        auto fail = [&outcome](upstream::FetchStatus status, std::string message) {
            outcome.result = result_of(status);
            outcome.error = std::move(message);
        };
        // Ids any listing showed in this poll. A batch that moved from one listed status to
        // another while both were paged may be in neither list: the refresh below catches it.
        std::unordered_set<std::string> listed;
        // Bounded by what the mirror knows to be non-terminal, not by a count of the whole history.
        const std::int64_t max_pages =
            listing_page_bound(static_cast<std::int64_t>(nonterminal.size()), client_.page_size());
        for (const std::string& status : statuses) {
            ListedIds writer(listed, mirror_, apply, [&](const cache::ApplyResult& applied) {
                count_applied(outcome, applied);
                ++outcome.counts.pages;
                progress();
            });
            const ListingOutcome listing = page_listing(client_, status, stop_, clock_, writer, max_pages);
            if (listing.status != upstream::FetchStatus::ok) {
                return fail(listing.status, "listing status " + status + ": " + listing.message);
            }
        }
        // The mass-removal guard covers 404s too (a key for another account answers 404 for every
        // id): while a mass removal is held, or once this poll has marked kMassRemovalFloor batches
        // removed, a 404 leaves its batch to the next complete full pass and that pass's guard.
        const bool removal_held = load_hold(mirror_).has_value();
        std::int64_t left_to_full_pass = 0;
        for (const cache::MirroredStatus& mirrored : nonterminal) {
            if (listed.contains(mirrored.id)) continue;
            if (stop_.stop_requested())
                return fail(upstream::FetchStatus::stopped, "stopped before the fast poll completed");
            upstream::Fetched<Batch> fetched = client_.get_batch(mirrored.id);
            if (fetched.status == upstream::FetchStatus::not_found &&
                (removal_held || outcome.counts.removed >= kMassRemovalFloor)) {
                ++outcome.refreshed;
                ++left_to_full_pass;
                progress();
                continue;
            }
            BatchRefresh refreshed = apply_fetched(mirror_, mirrored.id, std::move(fetched), apply);
            ++outcome.refreshed;
            if (refreshed.status == upstream::FetchStatus::ok) {
                count_applied(outcome, refreshed.applied);
            } else if (refreshed.status == upstream::FetchStatus::not_found) {
                outcome.counts.removed += refreshed.removed;
                if (refreshed.removed > 0) outcome.events_by_type["batch.removed"] += refreshed.removed;
            } else {
                return fail(refreshed.status, "refreshing batch " + escape_untrusted(mirrored.id, kMaxBatchIdBytes) +
                                                  ": " + refreshed.message);
            }
            progress();
        }
        if (left_to_full_pass > 0) {
            // While a hold is on, its own warning has said it; every poll would repeat this.
            spdlog::log(removal_held ? spdlog::level::debug : spdlog::level::warn,
                        "{} batches answered 404 in this fast poll but stay live until the next complete full pass, "
                        "whose mass-removal guard decides ({})",
                        left_to_full_pass,
                        removal_held ? "a mass removal is held" : "more than 20 removed in one poll");
        }
    });
}

}  // namespace extract::sync
