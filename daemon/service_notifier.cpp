#include "daemon/service_notifier.hpp"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "core/duration.hpp"

namespace extract::daemon {
namespace {

// STATUS= is refreshed this often when no watchdog asks for more, so that "4s ago" stays true.
constexpr Millis kStatusRefresh{10000};

Millis watchdog_interval() {
    std::uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0) return Millis{0};
    return std::max(Millis{1}, std::chrono::duration_cast<Millis>(std::chrono::microseconds{usec}));
}

// Rounded down to the largest unit that still says something: 59s, 2m, 5h, 3d.
std::string coarse_age(Millis age) {
    using namespace std::chrono;
    if (age < minutes{2}) return format_duration(duration_cast<seconds>(age));
    if (age < hours{2}) return format_duration(duration_cast<minutes>(age));
    if (age < hours{48}) return format_duration(duration_cast<hours>(age));
    return format_duration(duration_cast<days>(age));
}

}  // namespace

std::string service_status_text(const ServiceStatus& status, SteadyTime now) {
    std::string text;
    if (!status.last_sync) {
        text =
            status.batches >= 0 ? std::to_string(status.batches) + " batches, not synced yet" : "starting: first sync";
    } else {
        const auto age = std::max(Millis{0}, std::chrono::duration_cast<Millis>(now - *status.last_sync));
        text = std::to_string(std::max<std::int64_t>(status.batches, 0)) + " batches, last sync " + coarse_age(age) +
               " ago";
    }
    if (!status.problem.empty()) text += "; " + status.problem;
    return text;
}

ServiceNotifier::ServiceNotifier(const Clock& clock, const SyncLiveness& liveness)
    : clock_(clock),
      liveness_(liveness),
      systemd_listens_(std::getenv("NOTIFY_SOCKET") != nullptr),
      watchdog_(watchdog_interval()) {}

ServiceNotifier::~ServiceNotifier() { stop(); }

void ServiceNotifier::start() {
    if (!systemd_listens_ || thread_.joinable()) return;
    if (watchdog_enabled())
        spdlog::info("systemd watchdog: {} (pinged every {})", format_duration(watchdog_),
                     format_duration(watchdog_ / 2));
    thread_ = std::thread([this] { keep_alive_loop(); });
}

void ServiceNotifier::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_thread_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void ServiceNotifier::ready() { send("READY=1"); }

void ServiceNotifier::reloading() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);  // systemd compares it with its own CLOCK_MONOTONIC
    const auto usec =
        static_cast<std::uint64_t>(ts.tv_sec) * 1000000ULL + static_cast<std::uint64_t>(ts.tv_nsec) / 1000;
    send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void ServiceNotifier::stopping() { send("STOPPING=1"); }

void ServiceNotifier::update(ServiceStatus status) {
    std::lock_guard lock(mutex_);
    status_ = std::move(status);
    send_status_locked(clock_.steady_now());
}

void ServiceNotifier::send_status_locked(SteadyTime now) { send("STATUS=" + service_status_text(status_, now)); }

void ServiceNotifier::send(const std::string& message) {
    if (!systemd_listens_) return;
    const int r = sd_notify(0, message.c_str());
    if (r < 0) spdlog::debug("sd_notify failed: {}", std::strerror(-r));
}

void ServiceNotifier::keep_alive_loop() {
    const Millis tick = watchdog_enabled() ? std::min(watchdog_ / 2, kStatusRefresh) : kStatusRefresh;
    auto next_status = clock_.steady_now() + kStatusRefresh;
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, tick, [this] { return stopping_thread_; })) {
        const SteadyTime now = clock_.steady_now();
        if (watchdog_enabled()) {
            // WatchdogSec is the longest one step of a sync may take without a sign of life.
            if (liveness_.alive(watchdog_)) {
                send("WATCHDOG=1");
                if (reported_stuck_) spdlog::info("the sync loop is alive again; pinging the systemd watchdog");
                reported_stuck_ = false;
            } else if (!reported_stuck_) {
                const auto silent = std::chrono::duration_cast<std::chrono::seconds>(liveness_.silent_for());
                spdlog::error(
                    "the sync loop has shown no sign of life for {}: no longer pinging the systemd "
                    "watchdog, which will restart the daemon",
                    format_duration(silent));
                reported_stuck_ = true;
            }
        }
        if (now >= next_status) {
            send_status_locked(now);
            next_status = now + kStatusRefresh;
        }
    }
}

}  // namespace extract::daemon
