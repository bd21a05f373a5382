#pragma once
// One full pass: pages the whole upstream list into the mirror, then marks as removed
// what a complete pass did not list. An incomplete pass removes nothing.

#include "cache/mirror.hpp"
#include "core/clock.hpp"
#include "daemon/sync_outcome.hpp"
#include "upstream/client.hpp"

namespace extract::daemon {

class FullSync {
public:
    FullSync(upstream::UpstreamClient& client, cache::Mirror& mirror, const Clock& clock, const StopSignal& stop)
        : client_(client), mirror_(mirror), clock_(clock), stop_(stop) {}

    SyncOutcome run(const FullSyncSettings& settings);

private:
    upstream::UpstreamClient& client_;
    cache::Mirror& mirror_;
    const Clock& clock_;
    const StopSignal& stop_;
};

}  // namespace extract::daemon
