#include "daemon/daemon.hpp"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <exception>

#include "core/duration.hpp"
#include "core/timefmt.hpp"
#include "daemon/logging.hpp"
#include "daemon/sync_engine.hpp"
#include "daemon/socket_activation.hpp"

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

PollPacing::Intervals intervals_of(const SyncConfig& sync) {
    return {sync.poll_interval, sync.idle_poll_interval, sync.full_sync_interval};
}

// After a failed cycle: 1 s, 2 s, 4 s ... at most 5 minutes, never later than the next full sync would be.
Millis failure_delay(int consecutive_failures, Millis full_sync_interval) {
    const int shift = std::min(consecutive_failures - 1, 20);
    const Millis delay{1000LL << std::max(shift, 0)};
    return std::min({delay, kMaxFailureDelay, full_sync_interval});
}

// A mirror created before the daemon set its umask (or chmod-ed since) may be readable by
// anyone: said once at start, not changed, since an operator may mean it (a group that reads
// the file with sqlite3 or Datasette).
void warn_if_readable_by_others(const std::string& path) {
    for (const std::string& file : {path, path + "-wal", path + "-shm"}) {
        struct stat st {};
        if (::stat(file.c_str(), &st) != 0 || (st.st_mode & (S_IRGRP | S_IROTH)) == 0) continue;
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        spdlog::warn("{} is readable by other users (mode {}): it holds every batch. If that is not meant, "
                     "`chmod 600 {}*` (the daemon creates new files 0600)",
                     file, mode, path);
    }
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
    transport.max_response_bytes = config_.upstream.max_response_size;
    transport.verify_tls = config_.upstream.verify_tls;
    transport.ca_file = config_.upstream.ca_file;
    transport.user_agent = upstream::default_user_agent();
    transport_ = std::make_unique<upstream::PocoHttpTransport>(transport);
    liveness_transport_ = std::make_unique<LivenessTransport>(*transport_, liveness_);
    client_ = std::make_unique<upstream::UpstreamClient>(*liveness_transport_, clock_, liveness_sleeper_,
                                                         client_options());
    warn_if_readable_by_others(config_.cache.path);
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
    settings.terminal_statuses = config_.sync.terminal_statuses;
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
        spdlog::info("{}", describe(outcome));
        return kExitOk;
    }
    spdlog::error("full sync failed after {} pages: {}", outcome.counts.pages, outcome.error);
    return kExitFailure;
}

int Daemon::run() {
    api::ApiOptions options;
    options.socket_path = config_.api.socket;
    options.socket_mode = config_.api.socket_mode;
    options.allowed_uids = config_.api.allowed_uids;
    options.allowed_gids = config_.api.allowed_gids;
    options.db_path = config_.cache.path;
    options.version = EXTRACT_VERSION;
    options.terminal_statuses = config_.sync.terminal_statuses;
    const InheritedSocket inherited = take_inherited_api_socket(config_.api.socket);
    if (!inherited.error.empty()) {
        spdlog::critical("cannot serve the local API: {}", inherited.error);
        return kExitFailure;
    }
    if (!inherited.note.empty()) spdlog::warn("{}", inherited.note);
    options.inherited_fd = inherited.fd.value_or(-1);
    // Made before the API serves: its worker threads read dispatcher_ (health, retries).
    dispatcher_ = std::make_unique<DeliveryDispatcher>(
        DeliveryOptions{config_.cache.path, config_.api.socket, upstream::default_user_agent()},
        DeliveryTargets{config_.webhooks, config_.triggers}, clock_);
    api_ = std::make_unique<api::ApiServer>(options, *this, notifier_, metrics_);
    try {
        api_->start();
    } catch (const std::exception& e) {
        spdlog::critical("cannot serve the local API: {}", e.what());
        return kExitFailure;
    }
    dispatcher_->start();
    mirror_->set_commit_listener([this](std::int64_t seq) {
        notifier_.notify(seq);
        dispatcher_->wake();
    });
    signal_thread_ = std::thread([this] { signal_loop(); });
    spdlog::info("extract-syncd {} started: upstream {}, mirror {}, socket {}", EXTRACT_VERSION,
                 config_.upstream.base_url, config_.cache.path, config_.api.socket);
    service_.ready();  // the mirror is open and the socket listens
    service_.start();
    // Counted after READY=1 (about 40 ms on 1M rows) and only this once: each cycle adjusts it.
    if (service_.listening()) {
        count_live_batches();
        service_.update(ServiceStatus{live_batches_.value_or(-1), std::nullopt, ""});
    }

    sync_loop();

    service_.stop();

    dispatcher_->stop();  // attempts in flight stay pending and are sent again after a restart
    api_->stop();
    spdlog::info("extract-syncd stopped");
    return kExitOk;
}

void Daemon::sync_loop() {
    SyncEngine engine(*client_, *mirror_, clock_, stop_, config_.upstream.page_size);
    PollPacing pacing;
    std::optional<SteadyTime> cycle_ended;     // nullopt: the first cycle runs at once
    std::optional<SteadyTime> full_pass_ended;  // nullopt: a full pass is due
    SyncResult last_result = SyncResult::ok;
    // When the next cycle is due, from the [sync] intervals in force now (a reload wakes the wait).
    auto next_cycle_at = [&]() -> SteadyTime {  // under mutex_
        if (!cycle_ended) return SteadyTime::min();
        switch (last_result) {
            case SyncResult::ok: {
                const SteadyTime poll = *cycle_ended + pacing.wait(engine.any_nonterminal(), intervals_of(config_.sync));
                return full_pass_ended ? std::min(poll, *full_pass_ended + config_.sync.full_sync_interval) : poll;
            }
            case SyncResult::unauthorized: return *cycle_ended + kAuthPause;
            default:
                return *cycle_ended + failure_delay(health_.consecutive_failures, config_.sync.full_sync_interval);
        }
    };
    auto rate_limited_answers = [this] {
        const auto codes = client_->responses_by_code();
        const auto found = codes.find(429);
        return found == codes.end() ? std::int64_t{0} : found->second;
    };
    while (!stop_.stop_requested()) {
        std::uint64_t serving = 0;
        bool full_pass_due = false;
        FullSyncSettings settings;
        std::vector<cache::DeliveryRoute> routes;
        {
            std::unique_lock lock(mutex_);
            while (true) {
                const SteadyTime at = next_cycle_at();
                if (stop_.stop_requested() || requested_gen_ > completed_gen_ || std::chrono::steady_clock::now() >= at) {
                    break;
                }
                wake_.wait_until(lock, at);
            }
            if (stop_.stop_requested()) break;
            serving = requested_gen_;
            full_pass_due = std::exchange(full_pass_requested_, false) || !full_pass_ended ||
                            std::chrono::steady_clock::now() >= *full_pass_ended + config_.sync.full_sync_interval;
            settings = full_sync_settings();
            routes = routes_of(config_);
        }
        settings.routes = &routes;
        settings.on_progress = [this] { liveness_.working(); };  // a long write is a sign of life too

        const std::int64_t rate_limited_before = rate_limited_answers();
        SyncOutcome outcome;
        try {
            outcome = engine.run_cycle(settings, full_pass_due);
        } catch (const std::exception& e) {
            outcome.result = SyncResult::failed;
            outcome.error = std::string("mirror unavailable: ") + e.what();
        }
        if (outcome.result == SyncResult::stopped) break;
        record(outcome);
        report_cycle(outcome);
        record_metrics(outcome);
        if (outcome.result == SyncResult::ok) prune_old_events();
        // glibc keeps freed memory for reuse; handed back, the daemon idles at what it holds, not at
        // the peak of its busiest cycle (docs/BENCHMARKS.md, memory).
        ::malloc_trim(0);

        std::lock_guard lock(mutex_);
        const int stretch_before = pacing.stretch();
        pacing.observe(rate_limited_answers() > rate_limited_before);
        if (pacing.stretch() != stretch_before) {
            const Millis base = engine.any_nonterminal() ? config_.sync.poll_interval : config_.sync.idle_poll_interval;
            const Millis now_every = pacing.wait(engine.any_nonterminal(), intervals_of(config_.sync));
            if (pacing.stretch() > stretch_before) {
                spdlog::warn("the upstream answers 429 (rate limited): polling every {} instead of {} until it stops",
                             format_duration(now_every), format_duration(base));
            } else {
                spdlog::info("the upstream no longer rate-limits: polling every {} again", format_duration(base));
            }
        }
        cycle_ended = std::chrono::steady_clock::now();
        last_result = outcome.result;
        if (outcome.result == SyncResult::ok && outcome.kind == "full") full_pass_ended = cycle_ended;
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
        spdlog::info("{}", describe(outcome));
        health_.status = "ok";
        health_.synced = true;
        health_.last_sync_at = now;
        if (outcome.kind == "full") health_.last_full_sync_at = now;
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
    spdlog::error("{} sync failed after {} pages ({} in a row): {}", outcome.kind, outcome.counts.pages,
                  health_.consecutive_failures, outcome.error);
}

void Daemon::report_cycle(const SyncOutcome& outcome) {
    liveness_.waiting();  // until the next cycle's first request
    if (!service_.listening()) return;  // the count and the status text are for systemd only
    if (live_batches_) {
        *live_batches_ += outcome.live_added - outcome.counts.removed;
    } else {
        count_live_batches();  // the count after READY=1 failed: try again
    }
    ServiceStatus status;
    status.batches = live_batches_.value_or(-1);
    {
        std::lock_guard lock(mutex_);
        if (outcome.result == SyncResult::ok) last_good_sync_ = clock_.steady_now();
        status.last_sync = last_good_sync_;
        if (auth_paused_) {
            status.problem = "paused: unauthorized";
        } else if (health_.consecutive_failures > 0) {
            status.problem = "sync failing (" + std::to_string(health_.consecutive_failures) + " in a row): " +
                             health_.last_error.value_or("");
        }
    }
    service_.update(std::move(status));
}

void Daemon::count_live_batches() {
    try {
        live_batches_ = mirror_->batch_count();
    } catch (const std::exception& e) {
        live_batches_.reset();
        spdlog::debug("cannot count the mirror's batches for systemd's STATUS: {}", e.what());
    }
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
    metrics_.sync_run(outcome.kind, ok, outcome.duration);
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

std::optional<std::int64_t> Daemon::request_sync(bool full, bool wait, Millis max_wait) {
    std::unique_lock lock(mutex_);
    if (full) full_pass_requested_ = true;  // else the planner chooses, as in any cycle
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
            service_.reloading();
            reload();
            service_.ready();  // also after a failed reload: the old configuration still runs
            continue;
        }
        if (!stop_.stop_requested()) spdlog::info("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
        service_.stopping();
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
