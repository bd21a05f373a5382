#include "sync/sync_engine.hpp"

#include <algorithm>

#include "sync/full_sync.hpp"

namespace extract::sync {

SyncOutcome SyncEngine::run_cycle(const FullSyncSettings& settings, bool full_pass_due) {
    const std::vector<std::string>& terminal_statuses = settings.terminal_statuses;
    // Counts only: the list of non-terminal batches is loaded when a fast poll needs it, so a full
    // pass does not hold it (about 100 bytes a batch; 126k of them in the 1M bench mirror).
    PlannerInput input;
    input.nonterminal_by_status = mirror_.nonterminal_counts(terminal_statuses);
    for (const auto& [status, n] : input.nonterminal_by_status) listed_statuses_.insert(status);
    // A status configured terminal after a reload is no longer polled.
    std::erase_if(listed_statuses_, [&](const std::string& status) {
        return std::find(terminal_statuses.begin(), terminal_statuses.end(), status) != terminal_statuses.end();
    });
    input.always_listed = listed_statuses_;
    input.last_full_pass_pages = mirror_.last_full_pass_pages();
    // The planner prices a full pass by the last one; only without one does it need the count
    // (a COUNT(*), tens of ms on a 1M mirror, was run before every cycle).
    if (!input.last_full_pass_pages) input.mirrored_batches = mirror_.batch_count();
    input.expected_refreshes = refreshes_.expected(nonterminal_total(input));
    input.page_size = page_size_;
    input.full_pass_due = full_pass_due || !input.last_full_pass_pages;
    const SyncPlan plan = plan_sync(input);

    SyncOutcome outcome = plan.kind == SyncKind::fast
                              ? FastPoll(client_, mirror_, clock_, stop_)
                                    .run(plan.statuses, mirror_.nonterminal_batches(terminal_statuses), settings)
                              : FullSync(client_, mirror_, clock_, stop_).run(settings);
    outcome.planned_requests = plan.planned_requests();
    outcome.alternative_requests = plan.alternative_requests();
    if (outcome.kind == SyncKind::fast && outcome.result == SyncResult::ok) {
        refreshes_.observe(nonterminal_total(input), outcome.refreshed);
    }
    if (outcome.result == SyncResult::ok) any_nonterminal_ = !mirror_.nonterminal_counts(terminal_statuses).empty();
    return outcome;
}

BatchRefresh SyncEngine::apply_refresh(const std::string& id, upstream::Fetched<Batch> fetched,
                                       const FullSyncSettings& settings) {
    BatchRefresh refreshed =
        apply_fetched(mirror_, id, std::move(fetched), single_fetch_apply_options(mirror_, settings));
    const auto& terminal = settings.terminal_statuses;
    if (refreshed.status == upstream::FetchStatus::ok &&
        std::find(terminal.begin(), terminal.end(), refreshed.batch_status) == terminal.end()) {
        any_nonterminal_ = true;
    }
    return refreshed;
}

}  // namespace extract::sync
