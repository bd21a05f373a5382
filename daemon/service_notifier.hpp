#pragma once
// Tells systemd (sd_notify over $NOTIFY_SOCKET) where the daemon is in its life: READY,
// STATUS, RELOADING, STOPPING, and WATCHDOG keep-alives sent only while the sync loop is alive.
// When systemd did not start the daemon (no $NOTIFY_SOCKET) every call does nothing.

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/clock.hpp"
#include "daemon/sync_liveness.hpp"

namespace extract::daemon {

// What STATUS= says about the sync.
struct ServiceStatus {
    std::int64_t batches = -1;            // in the mirror, not removed; -1: not counted yet
    std::optional<SteadyTime> last_sync;  // the last successful sync
    std::string problem;                  // empty while syncing works, e.g. "paused: unauthorized"
};

// "12345 batches, last sync 4s ago", "starting: first sync", "12345 batches, last sync 2m ago;
// paused: unauthorized". The age is coarse (4s, 2m, 3h, 2d): systemctl status shows it.
std::string service_status_text(const ServiceStatus& status, SteadyTime now);

class ServiceNotifier {
public:
    // `liveness` decides whether a WATCHDOG=1 is deserved; both must outlive the notifier.
    ServiceNotifier(const Clock& clock, const SyncLiveness& liveness);
    ~ServiceNotifier();
    ServiceNotifier(const ServiceNotifier&) = delete;
    ServiceNotifier& operator=(const ServiceNotifier&) = delete;

    // Starts the thread that pings the watchdog (every half of $WATCHDOG_USEC, while the sync
    // loop is alive) and keeps STATUS's "ago" current. Nothing starts outside systemd.
    void start();
    // Joins that thread. Idempotent; the destructor calls it.
    void stop();

    void ready();                       // READY=1: the mirror is open and the socket listens (or a reload ended)
    void reloading();                   // RELOADING=1 with MONOTONIC_USEC, as Type=notify-reload expects too
    void stopping();                    // STOPPING=1
    void update(ServiceStatus status);  // sends STATUS= now

    bool watchdog_enabled() const { return watchdog_.count() > 0; }
    // Whether systemd listens (NOTIFY_SOCKET): without it, STATUS= is not worth computing.
    bool listening() const { return systemd_listens_; }

private:
    void keep_alive_loop();
    void send(const std::string& message);
    void send_status_locked(SteadyTime now);

    const Clock& clock_;
    const SyncLiveness& liveness_;
    const bool systemd_listens_;
    const Millis watchdog_;  // WatchdogSec, 0 when the watchdog is off

    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_thread_ = false;
    bool reported_stuck_ = false;
    ServiceStatus status_;
    std::thread thread_;
};

}  // namespace extract::daemon
