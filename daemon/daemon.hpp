#pragma once
// The running extract-syncd: owns the mirror, the upstream client and the local API,
// schedules sync cycles on one thread, and answers signals (stop, reload) on another.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "api/daemon_link.hpp"
#include "api/server.hpp"
#include "cache/mirror.hpp"
#include "core/clock.hpp"
#include "daemon/config.hpp"
#include "daemon/service_notifier.hpp"
#include "daemon/sync_liveness.hpp"
#include "delivery/delivery_dispatcher.hpp"
#include "http/event_notifier.hpp"
#include "metrics/metrics.hpp"
#include "sync/full_sync.hpp"
#include "sync/sync_engine.hpp"
#include "upstream/client.hpp"
#include "upstream/http_transport.hpp"

namespace extract::daemon {

// Exit codes of extract-syncd.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 64;   // EX_USAGE
inline constexpr int kExitConfig = 78;  // EX_CONFIG

class Daemon final : public api::DaemonLink {
public:
    Daemon(Config config, ApiKey key);
    ~Daemon() override;
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    // Serves until SIGTERM / SIGINT; returns the process exit code.
    int run();
    // One full sync, no API, no deliveries: 0 on success, 1 on failure. A failed pass is tried
    // again until `patience` passes without a page applied.
    int run_once(Millis patience);

    api::HealthSnapshot health() const override;
    std::optional<std::int64_t> request_sync(api::SyncRequest what, bool wait, Millis max_wait) override;
    api::RefreshOutcome refresh_batch(const std::string& batch_id, Millis max_wait) override;
    void deliveries_changed() override;

private:
    // POST /v1/batches/{id}/refresh: fetched on an API thread, handed to the sync thread (which
    // owns the mirror) to be applied between cycles.
    struct PendingRefresh {
        std::string batch_id;
        upstream::Fetched<Batch> fetched;  // ok or not_found
        // A cycle or another refresh wrote while it was fetched: the mirror may hold something newer,
        // so only a first sighting (or a 404) is applied.
        bool may_be_stale = false;
        std::optional<api::RefreshOutcome> outcome;  // set by the sync thread
    };

    void sync_loop();
    api::RefreshOutcome apply_refresh(sync::SyncEngine& engine, PendingRefresh& request);
    void count_changes(const std::map<std::string, int, std::less<>>& transitions_to,
                       const std::map<std::string, int, std::less<>>& events_by_type);
    void signal_loop();
    void reload();
    void report_cycle(const sync::SyncOutcome& outcome);  // STATUS= and liveness after each cycle
    void count_live_batches();  // live_batches_ from the mirror (a COUNT(*): once, not per cycle)
    void record(const sync::SyncOutcome& outcome);
    void show_held_removals();                               // health_ from held_removals_, under mutex_
    std::optional<std::int64_t> expected_full_pass_pages();  // for health's progress estimate
    void record_metrics(const sync::SyncOutcome& outcome);
    void prune_old_events();   // [cache] event_retention: events, settled deliveries, sync_runs
    void checkpoint_mirror();  // after a large write: the WAL stays small
    sync::FullSyncSettings full_sync_settings() const;
    upstream::ClientOptions client_options() const;

    const SystemClock clock_;
    StopSignal stop_;
    // systemd: the watchdog pings only while the sync loop shows signs of life (sync_liveness.hpp).
    SyncLiveness liveness_{clock_};
    LivenessSleeper liveness_sleeper_{stop_, liveness_};
    ServiceNotifier service_{clock_, liveness_};
    Config config_;  // guarded by mutex_ after start
    ApiKey key_;
    std::unique_ptr<upstream::PocoHttpTransport> transport_;
    std::unique_ptr<LivenessTransport> liveness_transport_;  // transport_, each request a sign of life
    std::unique_ptr<upstream::UpstreamClient> client_;
    std::unique_ptr<cache::Mirror> mirror_;
    http::EventNotifier notifier_;
    metrics::Metrics metrics_;
    std::unique_ptr<api::ApiServer> api_;
    std::unique_ptr<delivery::DeliveryDispatcher> dispatcher_;

    mutable std::mutex mutex_;
    std::condition_variable wake_;                           // sync loop: a request, a reload or a stop
    std::condition_variable run_done_;                       // request_sync(wait=true) callers
    std::condition_variable refreshed_;                      // refresh_batch callers
    std::deque<std::shared_ptr<PendingRefresh>> refreshes_;  // not yet taken by the sync thread
    std::uint64_t mirror_writes_ = 0;                        // bumped by each cycle's start and each refresh applied
    bool cycle_running_ = false;
    std::uint64_t requested_gen_ = 0;          // bumped by each request_sync
    std::uint64_t completed_gen_ = 0;          // the request generation the last finished cycle served
    bool full_pass_requested_ = false;         // POST /v1/sync?full=true: the next cycle is a full pass
    bool confirm_removals_requested_ = false;  // ...&confirm_removals=true: it removes whatever it did not list
    // The mass-removal guard's hold, as the latest complete full pass left it (loaded from the
    // mirror at start); shown in health until a pass applies or clears it.
    std::optional<sync::HeldRemovals> held_removals_;
    std::int64_t last_run_id_ = 0;
    bool auth_paused_ = false;                  // a 401/403: wait 5 minutes or a SIGHUP
    std::optional<SteadyTime> last_good_sync_;  // for systemd's STATUS= "last sync 4s ago"
    // systemd's STATUS= "12345 batches": counted once after READY=1, then moved by each cycle's outcome
    // (live_added - removed); nullopt until a count succeeded. Sync thread only.
    std::optional<std::int64_t> live_batches_;
    api::HealthSnapshot health_;
    std::map<int, std::int64_t> upstream_codes_seen_;  // the client's totals at the last report
    std::map<std::string, std::map<DeliveryOutcome, std::int64_t>>
        delivery_outcomes_seen_;  // likewise, the dispatcher's

    std::jthread signal_thread_;  // last: joined before anything it uses is destroyed
};

// `extract-syncd` as a program: flags, configuration, exit codes.
int run_syncd(int argc, char** argv);

}  // namespace extract::daemon
