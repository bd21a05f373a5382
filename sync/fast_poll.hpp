#pragma once
// One fast poll: lists each planned status (all pages) into the mirror and refreshes, one by
// one, the mirrored non-terminal batches that no list showed; a 404 marks a batch removed.
// It never removes what it merely did not list (only a complete full pass does that).

#include <string>
#include <vector>

#include "cache/mirror.hpp"
#include "core/clock.hpp"
#include "sync/sync_outcome.hpp"
#include "upstream/client.hpp"

namespace extract::sync {

// What fetching one batch (GET /v1/batches/{id}?limit=1) and applying it did.
struct BatchRefresh {
    upstream::FetchStatus status = upstream::FetchStatus::ok;  // not_found: upstream forgot it
    std::string message;                                       // when neither ok nor not_found
    std::string batch_status;                                  // ok: the status upstream answered
    cache::ApplyResult applied;                                // ok: what the write did
    int removed = 0;  // not_found: 1 when a live mirrored batch was marked removed
};

// How a fast poll or a refresh writes what it fetched (no full pass: what it does not see stays).
cache::ApplyOptions single_fetch_apply_options(cache::Mirror& mirror, const FullSyncSettings& settings);

// Applies one fetched batch (GET /v1/batches/{id}?limit=1) like any sync, or marks it removed
// when the fetch was a 404 (docs/sync.md says why at once). On the thread that owns `mirror`.
BatchRefresh apply_fetched(cache::Mirror& mirror, const std::string& id, upstream::Fetched<Batch> fetched,
                           const cache::ApplyOptions& apply);

class FastPoll {
public:
    FastPoll(upstream::UpstreamClient& client, cache::Mirror& mirror, const Clock& clock, const StopSignal& stop)
        : client_(client), mirror_(mirror), clock_(clock), stop_(stop) {}

    // `statuses`: the listings to page; `nonterminal`: the mirror's non-terminal batches taken
    // before the poll, those to refresh when no listing shows them.
    SyncOutcome run(const std::vector<std::string>& statuses, const std::vector<cache::MirroredStatus>& nonterminal,
                    const FullSyncSettings& settings);

private:
    upstream::UpstreamClient& client_;
    cache::Mirror& mirror_;
    const Clock& clock_;
    const StopSignal& stop_;
};

}  // namespace extract::sync
