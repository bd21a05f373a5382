#pragma once
// One fast poll: lists each planned status (all pages) into the mirror and refreshes, one by
// one, the mirrored non-terminal batches that no list showed; a 404 marks a batch removed.
// It never removes what it merely did not list (only a complete full pass does that).

#include <string>
#include <vector>

#include "cache/mirror.hpp"
#include "core/clock.hpp"
#include "daemon/sync_outcome.hpp"
#include "upstream/client.hpp"

namespace extract::daemon {

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

}  // namespace extract::daemon
