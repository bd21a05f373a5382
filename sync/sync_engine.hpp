#pragma once
// Runs one planned sync cycle: reads what the planner needs from the mirror, lets it choose a
// fast poll or a full pass, runs that, and remembers what the next plan needs to know.

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "cache/mirror.hpp"
#include "core/clock.hpp"
#include "sync/fast_poll.hpp"
#include "sync/sync_outcome.hpp"
#include "sync/sync_planner.hpp"
#include "upstream/client.hpp"

namespace extract::sync {

class SyncEngine {
public:
    SyncEngine(upstream::UpstreamClient& client, cache::Mirror& mirror, const Clock& clock, const StopSignal& stop,
               int page_size)
        : client_(client), mirror_(mirror), clock_(clock), stop_(stop), page_size_(page_size) {}

    // One cycle. `full_pass_due`: full_sync_interval has elapsed or a full pass was asked for;
    // one is also due while no full pass has ever completed. May throw SQLite::Exception when
    // the mirror cannot be read.
    SyncOutcome run_cycle(const FullSyncSettings& settings, bool full_pass_due);

    // POST /v1/batches/{id}/refresh, between cycles: one batch fetched by the API applied now. A
    // batch that is not terminal makes the next poll come after poll_interval, not idle_poll_interval.
    BatchRefresh apply_refresh(const std::string& id, upstream::Fetched<Batch> fetched,
                               const FullSyncSettings& settings);

    // Whether any mirrored batch was not terminal after the last cycle (poll_interval applies).
    bool any_nonterminal() const { return any_nonterminal_; }

private:
    upstream::UpstreamClient& client_;
    cache::Mirror& mirror_;
    const Clock& clock_;
    const StopSignal& stop_;
    const int page_size_;
    // Statuses listed by every fast poll even when no mirrored batch has them now, so a batch
    // created after the last full pass is looked at by the next poll: `pending` (every new batch
    // starts there), `running` (where it goes next, possibly before any poll saw it pending),
    // and every other non-terminal status seen since start. A list of an empty status costs one
    // request; the planner counts it.
    std::set<std::string, std::less<>> listed_statuses_{"pending", "running"};
    RefreshEstimate refreshes_;  // from the last fast poll's share of refreshes, applied to each cycle's counts
    bool any_nonterminal_ = true;
};

}  // namespace extract::sync
