#pragma once
// One full pass: pages the whole upstream list into the mirror, then marks as removed
// what a complete pass did not list. An incomplete pass removes nothing.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cache/mirror.hpp"
#include "core/clock.hpp"
#include "upstream/client.hpp"

namespace extract::daemon {

enum class SyncResult { ok, unauthorized, failed, stopped };

struct SyncOutcome {
    std::int64_t run_id = 0;
    SyncResult result = SyncResult::ok;
    std::string error;  // empty when ok
    cache::SyncRunCounts counts;
    Millis duration{0};
    std::map<std::string, int, std::less<>> transitions_to;  // for metrics
    std::map<std::string, int, std::less<>> events_by_type;
};

struct FullSyncSettings {
    bool emit_on_bootstrap = false;
    const std::vector<cache::DeliveryRoute>* routes = nullptr;
    Millis progress_interval{5000};  // a progress log line at most this often during a long pass
};

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

// "full sync: 25 pages, 26 requests, 5000 upserted, 12 changed, 0 removed in 1.23s"
std::string describe(const SyncOutcome& outcome, std::string_view kind);

}  // namespace extract::daemon
