#include "daemon/daemon.hpp"

#include <pthread.h>
#include <signal.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>

#include "core/duration.hpp"
#include "core/timefmt.hpp"
#include "daemon/logging.hpp"

namespace extract::daemon {
namespace {

constexpr Millis kAuthPause{5 * 60 * 1000};
constexpr Millis kMaxFailureDelay{5 * 60 * 1000};

sigset_t handled_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    return set;
}

std::vector<cache::DeliveryRoute> routes_of(const Config& config) {
    std::vector<cache::DeliveryRoute> routes;
    for (const auto& w : config.webhooks) routes.push_back({"webhook." + w.name, w.events, w.statuses});
    for (const auto& t : config.triggers) routes.push_back({"trigger." + t.name, t.events, t.statuses});
    return routes;
}

// After a failed cycle: 1 s, 2 s, 4 s ... at most 5 minutes, never later than the next full sync would be.
Millis failure_delay(int consecutive_failures, Millis full_sync_interval) {
    const int shift = std::min(consecutive_failures - 1, 20);
    const Millis delay{1000LL << std::max(shift, 0)};
    return std::min({delay, kMaxFailureDelay, full_sync_interval});
}

}  // namespace

void block_handled_signals() {
    const sigset_t set = handled_signals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

Daemon::Daemon(Config config, ApiKey key) : config_(std::move(config)), key_(std::move(key)) {
    upstream::TransportOptions transport;
    transport.base_url = config_.upstream.base_url;
    transport.request_timeout = config_.upstream.request_timeout;
    transport.verify_tls = config_.upstream.verify_tls;
    transport.ca_file = config_.upstream.ca_file;
    transport.user_agent = upstream::default_user_agent();
    transport_ = std::make_unique<upstream::PocoHttpTransport>(transport);
    client_ = std::make_unique<upstream::UpstreamClient>(*transport_, clock_, stop_, client_options());
    mirror_ = std::make_unique<cache::Mirror>(config_.cache.path, clock_);
    const int interrupted = mirror_->close_interrupted_runs();
    if (interrupted > 0) spdlog::warn("{} sync run(s) were interrupted by the last shutdown or crash", interrupted);
}

Daemon::~Daemon() {
    stop_.request_stop();
    if (signal_thread_.joinable()) {
        pthread_kill(signal_thread_.native_handle(), SIGTERM);
        signal_thread_.join();
    }
}

upstream::ClientOptions Daemon::client_options() const {
    upstream::ClientOptions options;
    options.api_key = key_.value;
    options.api_key_source = key_.source;
    options.page_size = config_.upstream.page_size;
    options.max_requests_per_second = config_.upstream.max_requests_per_second;
    return options;
}

FullSyncSettings Daemon::full_sync_settings() const {
    FullSyncSettings settings;
    settings.emit_on_bootstrap = config_.sync.emit_on_bootstrap;
    return settings;
}

int Daemon::run_once() {
    signal_thread_ = std::thread([this] { signal_loop(); });
    const auto routes = routes_of(config_);
    FullSyncSettings settings = full_sync_settings();
    settings.routes = &routes;
    FullSync sync(*client_, *mirror_, clock_, stop_);
    const SyncOutcome outcome = sync.run(settings);
    if (outcome.result == SyncResult::ok) {
        spdlog::info("{}", describe(outcome, "full"));
        return kExitOk;
    }
    spdlog::error("full sync failed after {} pages: {}", outcome.counts.pages, outcome.error);
    return kExitFailure;
}

int Daemon::run() {
    api::ApiOptions options;
    options.socket_path = config_.api.socket;
    options.socket_mode = config_.api.socket_mode;
    options.db_path = config_.cache.path;
    options.version = EXTRACT_VERSION;
    options.terminal_statuses = config_.sync.terminal_statuses;
    api_ = std::make_unique<api::ApiServer>(options, *this, notifier_, metrics_);
    try {
        api_->start();
    } catch (const std::exception& e) {
        spdlog::critical("cannot serve the local API: {}", e.what());
        return kExitFailure;
    }
    dispatcher_ = std::make_unique<DeliveryDispatcher>(
        DeliveryOptions{config_.cache.path, config_.api.socket, upstream::default_user_agent()},
        DeliveryTargets{config_.webhooks, config_.triggers}, clock_);
    dispatcher_->start();
    mirror_->set_commit_listener([this](std::int64_t seq) {
        notifier_.notify(seq);
        dispatcher_->wake();
    });
    signal_thread_ = std::thread([this] { signal_loop(); });
    spdlog::info("extract-syncd {} started: upstream {}, mirror {}, socket {}", EXTRACT_VERSION,
                 config_.upstream.base_url, config_.cache.path, config_.api.socket);

    sync_loop();

    dispatcher_->stop();  // attempts in flight stay pending and are sent again after a restart
    api_->stop();
    spdlog::info("extract-syncd stopped");
    return kExitOk;
}

void Daemon::sync_loop() {
    auto next_full = std::chrono::steady_clock::now();  // a full sync at start
    while (!stop_.stop_requested()) {
        std::uint64_t serving = 0;
        FullSyncSettings settings;
        std::vector<cache::DeliveryRoute> routes;
        {
            std::unique_lock lock(mutex_);
            wake_.wait_until(lock, next_full, [&] {
                return stop_.stop_requested() || requested_gen_ > completed_gen_ ||
                       std::chrono::steady_clock::now() >= next_full;
            });
            if (stop_.stop_requested()) break;
            serving = requested_gen_;
            settings = full_sync_settings();
            routes = routes_of(config_);
        }
        settings.routes = &routes;

        SyncOutcome outcome;
        try {
            FullSync sync(*client_, *mirror_, clock_, stop_);
            outcome = sync.run(settings);
        } catch (const std::exception& e) {
            outcome.result = SyncResult::failed;
            outcome.error = std::string("mirror unavailable: ") + e.what();
        }
        if (outcome.result == SyncResult::stopped) break;
        record(outcome);
        record_metrics(outcome);
        if (outcome.result == SyncResult::ok) prune_old_events();

        std::lock_guard lock(mutex_);
        const auto now = std::chrono::steady_clock::now();
        switch (outcome.result) {
            case SyncResult::ok: next_full = now + config_.sync.full_sync_interval; break;
            case SyncResult::unauthorized: next_full = now + kAuthPause; break;
            default:
                next_full = now + failure_delay(health_.consecutive_failures, config_.sync.full_sync_interval);
        }
        completed_gen_ = serving;
        last_run_id_ = outcome.run_id;
        run_done_.notify_all();
    }
    std::lock_guard lock(mutex_);
    completed_gen_ = requested_gen_;  // nobody waits for a sync that will not run
    run_done_.notify_all();
}

void Daemon::record(const SyncOutcome& outcome) {
    const std::string now = format_timestamp(clock_.now());
    std::lock_guard lock(mutex_);
    if (outcome.result == SyncResult::ok) {
        spdlog::info("{}", describe(outcome, "full"));
        health_.status = "ok";
        health_.synced = true;
        health_.last_sync_at = now;
        health_.last_full_sync_at = now;
        health_.last_error.reset();
        health_.consecutive_failures = 0;
        auth_paused_ = false;
        return;
    }
    ++health_.consecutive_failures;
    health_.status = "degraded";
    health_.last_error = outcome.error;
    if (outcome.result == SyncResult::unauthorized) {
        if (!auth_paused_) {
            spdlog::error("{}; syncing is paused: retrying every 5 minutes or at once after a reload (SIGHUP)",
                          outcome.error);
        } else {
            spdlog::debug("still unauthorized: {}", outcome.error);
        }
        auth_paused_ = true;
        return;
    }
    spdlog::error("full sync failed after {} pages ({} in a row): {}", outcome.counts.pages,
                  health_.consecutive_failures, outcome.error);
}

void Daemon::prune_old_events() {
    Millis retention{0};
    {
        std::lock_guard lock(mutex_);
        retention = config_.cache.event_retention;
    }
    try {
        const int pruned = mirror_->prune_events(clock_.now() - retention);
        if (pruned > 0) spdlog::info("pruned {} events older than {}", pruned, format_duration(retention));
    } catch (const std::exception& e) {
        spdlog::warn("could not prune old events: {}", e.what());
    }
}

void Daemon::record_metrics(const SyncOutcome& outcome) {
    const bool ok = outcome.result == SyncResult::ok;
    metrics_.sync_run("full", ok, outcome.duration);
    if (ok) metrics_.last_successful_sync(clock_.now());
    for (const auto& [status, n] : outcome.transitions_to) metrics_.increment("transitions_total", {{"to_status", status}}, n);
    for (const auto& [type, n] : outcome.events_by_type) metrics_.increment("events_total", {{"type", type}}, n);
    // The client and the dispatcher keep running totals; the metrics get what grew since the last cycle.
    auto add_growth = [this](std::string_view counter, const api::Metrics::Labels& labels, std::int64_t total,
                             std::int64_t& reported) {
        if (total > reported) metrics_.increment(counter, labels, static_cast<double>(total - reported));
        reported = total;
    };
    if (dispatcher_) {
        for (const auto& [target, outcomes] : dispatcher_->outcome_counts()) {
            for (const auto& [outcome, total] : outcomes) {
                add_growth("deliveries_total", {{"target", target}, {"outcome", outcome}}, total,
                           delivery_outcomes_seen_[target][outcome]);
            }
        }
    }
    for (const auto& [code, total] : client_->responses_by_code()) {
        add_growth("upstream_requests_total", {{"code", std::to_string(code)}}, total, upstream_codes_seen_[code]);
    }
}

api::HealthSnapshot Daemon::health() const {
    api::HealthSnapshot snapshot;
    {
        std::lock_guard lock(mutex_);
        snapshot = health_;
    }
    if (dispatcher_) snapshot.disabled_targets = dispatcher_->disabled_targets();
    return snapshot;
}

std::optional<std::int64_t> Daemon::request_sync(bool /*full: every cycle is a full pass for now*/, bool wait,
                                                 Millis max_wait) {
    std::unique_lock lock(mutex_);
    const std::uint64_t mine = ++requested_gen_;
    wake_.notify_all();
    if (!wait) return std::nullopt;
    if (!run_done_.wait_for(lock, max_wait, [&] { return completed_gen_ >= mine; })) return std::nullopt;
    if (stop_.stop_requested()) return std::nullopt;
    return last_run_id_;
}

void Daemon::deliveries_changed() {
    if (dispatcher_) dispatcher_->wake();
}

void Daemon::signal_loop() {
    const sigset_t set = handled_signals();
    while (true) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGHUP && !stop_.stop_requested()) {
            reload();
            continue;
        }
        if (!stop_.stop_requested()) spdlog::info("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
        {
            std::lock_guard lock(mutex_);
            stop_.request_stop();
        }
        transport_->abort();  // an in-flight request must not hold the stop for request_timeout
        wake_.notify_all();
        run_done_.notify_all();
        return;
    }
}

void Daemon::reload() {
    LoadedConfig loaded = load_config(config_.file);
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) spdlog::error("reload: {}", e.to_string());
        spdlog::error("reload failed: keeping the running configuration");
        return;
    }
    for (const auto& w : loaded.warnings) spdlog::warn("{}", w);
    std::string level_error;
    if (!set_log_level(loaded.config->log.level, level_error)) spdlog::error("reload: {}", level_error);

    std::lock_guard lock(mutex_);
    const auto restart = sections_needing_restart(config_, *loaded.config);
    for (const auto& section : restart) spdlog::warn("reload: changes to [{}] need a restart to take effect", section);
    config_.sync = loaded.config->sync;
    config_.log = loaded.config->log;
    config_.webhooks = loaded.config->webhooks;
    config_.triggers = loaded.config->triggers;
    key_ = *loaded.api_key;
    client_->set_api_key(key_.value, key_.source);
    if (dispatcher_) dispatcher_->reconfigure(DeliveryTargets{config_.webhooks, config_.triggers});
    if (auth_paused_) {
        auth_paused_ = false;
        ++requested_gen_;  // the key may be fixed: try again now, not in 5 minutes
    }
    wake_.notify_all();
    spdlog::info("configuration reloaded from {}", config_.file);
}

}  // namespace extract::daemon
