#pragma once
// What one sync cycle (a full pass or a fast poll) reports: its result, its counts, and what
// the planner expected it to cost; the settings every kind of cycle shares.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/mirror.hpp"
#include "core/batch.hpp"
#include "core/clock.hpp"
#include "sync/mass_removal_guard.hpp"
#include "sync/sync_planner.hpp"
#include "upstream/client.hpp"

namespace extract::sync {

enum class SyncResult { ok, unauthorized, failed, stopped };

// ok -> ok, unauthorized -> unauthorized, stopped -> stopped; any other failure -> failed.
SyncResult result_of(upstream::FetchStatus status);

struct SyncOutcome {
    SyncKind kind = SyncKind::full;  // sync_runs.kind is to_string(kind)
    std::int64_t run_id = 0;
    SyncResult result = SyncResult::ok;
    std::string error;  // empty when ok
    cache::SyncRunCounts counts;
    std::int64_t refreshed = 0;  // fast poll: batches fetched one by one (GET /v1/batches/{id})
    // Batches that joined the live (not removed) mirror: new ones and removed ones listed again.
    // With counts.removed it keeps systemd's STATUS count without counting the mirror each cycle.
    std::int64_t live_added = 0;
    Millis duration{0};
    // The planner's estimates in requests; -1 when no planner chose this cycle (--once).
    std::int64_t planned_requests = -1;
    std::int64_t alternative_requests = -1;                  // what the plan not chosen would have cost
    std::map<std::string, int, std::less<>> transitions_to;  // for metrics
    std::map<std::string, int, std::less<>> events_by_type;
    // A complete full pass: what the mass-removal guard decided (its hold, if any, after the pass).
    std::optional<RemovalDecision> removals;
};

// Adds one applied page (or one refreshed batch) to the cycle's counts.
void count_applied(SyncOutcome& outcome, const cache::ApplyResult& applied);

// What every kind of cycle takes (the name predates the fast poll).
struct FullSyncSettings {
    bool emit_on_bootstrap = false;
    const std::vector<cache::DeliveryRoute>* routes = nullptr;
    std::vector<std::string> terminal_statuses{kDefaultTerminalStatuses.begin(), kDefaultTerminalStatuses.end()};
    MassRemovalSettings mass_removal;  // [sync] mass_removal_threshold / mass_removal_confirm
    // POST /v1/sync?full=true&confirm_removals=true: this full pass removes what it did not list,
    // however many (a held mass removal is applied).
    bool confirm_removals = false;
    Millis progress_interval{5000};  // a progress log line at most this often during a long pass
    // Called on the syncing thread after every page applied and every single-batch refresh of
    // any cycle: a liveness signal (e.g. the systemd watchdog), so it must be quick and not throw.
    std::function<void()> on_progress;
    // Called after every page of a full pass with how far it is (for /v1/health `progress`).
    struct PassProgress {
        std::int64_t pages = 0, batches = 0;
        Millis elapsed{0};
    };
    std::function<void(const PassProgress&)> on_full_pass_page;
};

// Runs `body` as one sync run of `kind`: its sync_runs row is opened before
// and finished after (a failure to finish it is logged, not thrown), requests and duration are
// counted, and an exception from the mirror becomes a failed outcome (the transaction that
// threw rolled back, so nothing of its page was written).
SyncOutcome run_recorded(SyncKind kind, upstream::UpstreamClient& client, cache::Mirror& mirror, const Clock& clock,
                         const std::function<void(SyncOutcome&)>& body);

// Whether a cycle wrote anything: a batch upserted, a transition, a removal. At info only such
// cycles get a line of their own; the others are counted in the periodic summary.
inline bool changed_anything(const SyncOutcome& o) {
    return o.counts.upserted > 0 || o.counts.changed > 0 || o.counts.removed > 0;
}

// What the sync loop did since its last summary line, the daemon's sign of life in the log:
// "alive: 90 cycles in 15m (1 full, 89 fast, 0 failed), 182 requests, 3 upserted, 1 changed, 0 removed".
// Pure: the caller passes the time.
class CycleSummary {
public:
    explicit CycleSummary(SteadyTime start) : since_(start) {}
    void add(const SyncOutcome& outcome);
    // The line once `interval` has passed since the last one (or the start), then counts anew.
    std::optional<std::string> take_if_due(SteadyTime now, Millis interval);

private:
    SteadyTime since_;
    int full_ = 0, fast_ = 0, failed_ = 0;
    std::int64_t requests_ = 0, upserted_ = 0, changed_ = 0, removed_ = 0;
};

// "full sync: 25 pages, 26 requests, 5000 upserted, 12 changed, 0 removed in 1.23s", and for a
// planned cycle "fast sync: 3 pages, 1 refreshed, 4 requests (planned 3, a full pass would be 500), …"
std::string describe(const SyncOutcome& outcome);

}  // namespace extract::sync
