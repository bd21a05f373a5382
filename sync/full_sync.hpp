#pragma once
// One full pass: pages the whole upstream list into the mirror, then marks as removed
// what a complete pass did not list, unless the mass-removal guard holds those removals
// (mass_removal_guard.hpp). An incomplete pass removes nothing.

#include "cache/mirror.hpp"
#include "core/clock.hpp"
#include "sync/sync_outcome.hpp"
#include "upstream/client.hpp"

namespace extract::sync {

class FullSync {
public:
    FullSync(upstream::UpstreamClient& client, cache::Mirror& mirror, const Clock& clock, const StopSignal& stop)
        : client_(client), mirror_(mirror), clock_(clock), stop_(stop) {}

    SyncOutcome run(const FullSyncSettings& settings);

private:
    // After a complete listing: asks the guard, then removes, or holds (kept in `meta`).
    void remove_unseen_unless_held(SyncOutcome& outcome, const FullSyncSettings& settings);

    upstream::UpstreamClient& client_;
    cache::Mirror& mirror_;
    const Clock& clock_;
    const StopSignal& stop_;
};

}  // namespace extract::sync
