#pragma once
// What the API asks of the running daemon: its health, a sync now, a look at the deliveries
// again. The daemon implements it; tests fake it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.hpp"
#include "core/health_status.hpp"

namespace extract::api {

// A full pass in progress (a long first sync, above all), for /v1/health `progress`.
struct SyncProgress {
    std::int64_t pages = 0;    // applied so far
    std::int64_t batches = 0;  // listed so far
    double batches_per_second = 0;
    std::optional<std::int64_t> expected_pages;          // the last complete full pass's; unknown on a first sync
    std::optional<std::int64_t> estimated_seconds_left;  // only when expected_pages is known
};

struct HealthSnapshot {
    HealthStatus status = HealthStatus::starting;
    bool synced = false;
    std::optional<std::string> last_sync_at;
    std::optional<std::string> last_full_sync_at;
    std::optional<std::string> last_error;
    int consecutive_failures = 0;
    std::vector<std::string> disabled_targets;  // webhook.NAME disabled by a 410
    std::optional<SyncProgress> progress;       // while a full pass runs
    bool paused = false;                        // syncing paused by a 401/403 (metrics: sync_paused)
    // Batches a complete full pass did not list but the mass-removal guard keeps live until
    // passes agree or an operator confirms; 0 when nothing is held (then status may be ok).
    std::int64_t held_removals = 0;
};

// What POST /v1/sync asks for.
struct SyncRequest {
    bool full = false;              // a full pass, not the planner's choice
    bool confirm_removals = false;  // with full: that pass removes what it did not list, however many
};

// What POST /v1/batches/{id}/refresh got: the batch fetched and applied (read it from the
// mirror), unknown upstream (404), or the upstream could not be asked (503).
enum class RefreshResult { refreshed, not_found, unavailable };

struct RefreshOutcome {
    RefreshResult result = RefreshResult::unavailable;
    std::string detail;  // not refreshed: why, as the answer's `detail`
};

class DaemonLink {
public:
    virtual ~DaemonLink() = default;
    virtual HealthSnapshot health() const = 0;
    // Asks for a sync now (`what`). wait=false: returns at once (nullopt). wait=true: blocks until that
    // sync ends (at most max_wait) and returns its sync_runs id; nullopt when it did not end in
    // time. Called from a thread of the API's own; it must return when the daemon stops.
    virtual std::optional<std::int64_t> request_sync(SyncRequest what, bool wait, Millis max_wait) = 0;
    // Fetches one batch from upstream now and applies it like any sync, on the thread that
    // owns the mirror. Blocks at most about max_wait (then `unavailable`); called from a thread
    // of the API's own; it must return when the daemon stops.
    virtual RefreshOutcome refresh_batch(const std::string& batch_id, Millis max_wait) = 0;
    // The delivery dispatcher should look at the deliveries table again (after a retry request
    // made them due).
    virtual void deliveries_changed() = 0;
};

}  // namespace extract::api
