#include "daemon/daemon.hpp"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>

#include "core/duration.hpp"
#include "core/timefmt.hpp"
#include "core/untrusted_text.hpp"
#include "daemon/delivery_targets.hpp"
#include "daemon/logging.hpp"
#include "daemon/socket_activation.hpp"
#include "daemon/sync_schedule.hpp"
#include "sync/sync_engine.hpp"

namespace extract::daemon {

// The sync engine (sync/) is the daemon's main collaborator.
using sync::BatchRefresh;
using sync::CycleSummary;
using sync::FullSync;
using sync::FullSyncSettings;
using sync::load_hold;
using sync::MassRemovalSettings;
using sync::PollPacing;
using sync::SyncEngine;
using sync::SyncOutcome;
using sync::SyncResult;

namespace {

// A refresh is asked for by someone waiting: a few quick attempts, not the sync's long schedule.
constexpr int kRefreshAttempts = 3;
// How long a fetched refresh waits for the sync thread to apply it, at least.
constexpr Millis kMinApplyWait{2000};
// Rows a cycle writes after which the WAL is checkpointed at once (then trimmed to journal_size_limit).
constexpr std::int64_t kLargeWrite = 1000;

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

MassRemovalSettings mass_removal_settings(const SyncConfig& sync) {
    return {sync.mass_removal_threshold, sync.mass_removal_confirm};
}

PollPacing::Intervals intervals_of(const SyncConfig& sync) {
    return {sync.poll_interval, sync.idle_poll_interval, sync.full_sync_interval};
}

// How far a full pass is, for /v1/health: rate since it started, and the time left when the last
// complete pass says how many pages there are.
api::SyncProgress progress_of(const FullSyncSettings::PassProgress& p, std::optional<std::int64_t> expected_pages) {
    api::SyncProgress progress;
    progress.pages = p.pages;
    progress.batches = p.batches;
    const double secs = std::chrono::duration<double>(p.elapsed).count();
    if (secs > 0) progress.batches_per_second = static_cast<double>(p.batches) / secs;
    if (expected_pages && *expected_pages > 0) {
        progress.expected_pages = expected_pages;
        const std::int64_t left = std::max<std::int64_t>(*expected_pages - p.pages, 0);
        if (p.pages > 0)
            progress.estimated_seconds_left =
                std::llround(secs / static_cast<double>(p.pages) * static_cast<double>(left));
    }
    return progress;
}

// Gives the open mirror's files [cache] file_mode. The umask (0077) created them 0600; with
// 0640 their group may read them too (SQLite gives a new -wal/-shm the mirror's own mode, so
// later ones follow). A file readable beyond file_mode (created before the daemon set its
// umask, or chmod-ed since) is said once at start, not changed: an operator may mean it.
void set_mirror_file_mode(const std::string& path, unsigned file_mode) {
    for (const std::string& file : {path, path + "-wal", path + "-shm"}) {
        struct stat st {};
        if (::stat(file.c_str(), &st) != 0) continue;
        const unsigned mode = st.st_mode & 07777;
        if ((mode & (S_IRGRP | S_IROTH) & ~file_mode) != 0) {
            spdlog::warn(
                "{} is readable by other users (mode {:04o}): it holds every batch. If that is not meant, "
                "`chmod {:o} {}*` (the daemon creates new files {:04o}, [cache] file_mode)",
                file, mode, file_mode, path, file_mode);
        } else if ((file_mode & S_IRGRP) != 0 && (mode & S_IRGRP) == 0 && ::chmod(file.c_str(), mode | S_IRGRP) != 0) {
            spdlog::warn("cannot give {} the mode {:04o} of [cache] file_mode: {}", file, mode | S_IRGRP,
                         std::strerror(errno));
        }
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
    client_ =
        std::make_unique<upstream::UpstreamClient>(*liveness_transport_, clock_, liveness_sleeper_, client_options());
    mirror_ = std::make_unique<cache::Mirror>(config_.cache.path, clock_);
    set_mirror_file_mode(config_.cache.path, config_.cache.file_mode);
    const int interrupted = mirror_->close_interrupted_runs();
    if (interrupted > 0) spdlog::warn("{} sync run(s) were interrupted by the last shutdown or crash", interrupted);
}

Daemon::~Daemon() {
    stop_.request_stop();
    // sigwait ends on a handled signal; signal_thread_ (the last member) is joined first.
    if (signal_thread_.joinable()) pthread_kill(signal_thread_.native_handle(), SIGTERM);
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
    settings.mass_removal = mass_removal_settings(config_.sync);
    return settings;
}

int Daemon::run_once(Millis patience) {
    signal_thread_ = std::jthread([this] { signal_loop(); });
    const auto routes = routes_of(config_);
    FullSyncSettings settings = full_sync_settings();
    settings.routes = &routes;

    // Gives up once `patience` passes without a new page: a failing upstream ends the run in that
    // time (for cron), a long healthy first sync does not. A retried pass lists its first pages
    // again, so only a page past the furthest any attempt reached counts: an upstream whose
    // cursors loop, failing every pass after a few pages, ends the run too.
    std::mutex progress_mutex;
    std::condition_variable progress_cv;
    SteadyTime last_progress = clock_.steady_now();
    std::int64_t furthest_page = 0;
    bool finished = false;
    bool gave_up = false;
    settings.on_full_pass_page = [&](const FullSyncSettings::PassProgress& pass) {
        std::lock_guard lock(progress_mutex);
        if (pass.pages <= furthest_page) return;
        furthest_page = pass.pages;
        last_progress = clock_.steady_now();
    };
    std::thread patience_watch([&] {
        std::unique_lock lock(progress_mutex);
        while (!finished) {
            const SteadyTime limit = last_progress + patience;
            if (clock_.steady_now() >= limit) {
                gave_up = true;
                lock.unlock();
                stop_.request_stop();
                transport_->abort();  // a request in flight must not outlast the limit
                return;
            }
            progress_cv.wait_until(lock, limit);
        }
    });
    const SteadyTime started = clock_.steady_now();
    SyncOutcome outcome;
    std::string last_error;
    for (int failures = 0;;) {
        outcome = FullSync(*client_, *mirror_, clock_, stop_).run(settings);
        if (outcome.result != SyncResult::failed) break;
        last_error = outcome.error;
        if (client_->host_unresolved()) break;  // DNS does not change in seconds: say so now
        // A failed pass is tried again on the daemon's schedule (1 s, 2 s, 4 s ...) within the limit.
        spdlog::warn("full sync failed after {} pages (attempt {}): {}", outcome.counts.pages, ++failures,
                     outcome.error);
        if (!stop_.sleep_for(failure_delay(failures, patience))) break;
    }
    {
        std::lock_guard lock(progress_mutex);
        finished = true;
    }
    progress_cv.notify_all();
    patience_watch.join();

    const double secs = std::chrono::duration<double>(clock_.steady_now() - started).count();
    if (outcome.result == SyncResult::ok) {
        spdlog::info("{}", describe(outcome));
        return kExitOk;
    }
    if (gave_up) {
        const std::string cause = client_->failing().value_or(last_error.empty() ? outcome.error : last_error);
        spdlog::error("extract-syncd --once failed: no page for {} (--once-timeout), giving up after {:.1f}s: {}",
                      format_duration(patience), secs, cause);
    } else {
        spdlog::error("extract-syncd --once failed after {:.1f}s: {}", secs, outcome.error);
    }
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
    try {
        options.cursor_key = mirror_->cursor_key();
    } catch (const std::exception& e) {
        // A locked or full mirror must not keep the API from serving: its cursors then last
        // until the daemon stops.
        spdlog::warn("cannot read or make the mirror's cursor key ({}): the API's cursors will not outlive this run",
                     e.what());
    }
    const InheritedSocket inherited = take_inherited_api_socket(config_.api.socket);
    if (!inherited.error.empty()) {
        spdlog::critical("cannot serve the local API: {}", inherited.error);
        return kExitFailure;
    }
    if (!inherited.note.empty()) spdlog::warn("{}", inherited.note);
    options.inherited_fd = inherited.fd.value_or(-1);
    // Made before the API serves: its worker threads read dispatcher_ (health, retries).
    dispatcher_ =
        std::make_unique<delivery::DeliveryDispatcher>(delivery::DeliveryOptions{config_.cache.path, config_.api.socket,
                                                                                 upstream::default_user_agent()},
                                                       delivery_targets(config_), clock_);
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
    signal_thread_ = std::jthread([this] { signal_loop(); });
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
    try {
        const auto held = load_hold(*mirror_);
        std::lock_guard lock(mutex_);
        held_removals_ = held;
        health_.held_removals = held ? held->count : 0;
        if (held) spdlog::warn("{}", describe_hold(*held, mass_removal_settings(config_.sync)));
    } catch (const std::exception& e) {
        spdlog::debug("cannot read a held mass removal from the mirror yet: {}", e.what());  // the first pass reads it
    }
    SyncSchedule schedule;                      // when each cycle runs; this loop only waits for it or a wake-up
    CycleSummary summary(clock_.steady_now());  // the log's sign of life: idle cycles log nothing else
    auto rate_limited_answers = [this] {
        const auto codes = client_->responses_by_code();
        const auto found = codes.find(429);
        return found == codes.end() ? std::int64_t{0} : found->second;
    };
    while (!stop_.stop_requested()) {
        std::uint64_t serving = 0;
        bool full_pass_due = false;
        Millis summary_every{0};
        FullSyncSettings settings;
        std::vector<cache::DeliveryRoute> routes;
        std::deque<std::shared_ptr<PendingRefresh>> refreshes;
        {
            std::unique_lock lock(mutex_);
            while (true) {
                // From the [sync] intervals in force now: a reload wakes the wait.
                const SteadyTime at = schedule
                                          .next_cycle({intervals_of(config_.sync), engine.any_nonterminal(),
                                                       requested_gen_ > completed_gen_})
                                          .at;
                if (stop_.stop_requested() || !refreshes_.empty() || clock_.steady_now() >= at) break;
                wake_.wait_until(lock, at);
            }
            if (stop_.stop_requested()) break;
            refreshes.swap(refreshes_);
        }
        if (!refreshes.empty()) {  // between cycles; then the loop looks again at what is due
            for (const auto& request : refreshes) {
                api::RefreshOutcome outcome = apply_refresh(engine, *request);
                std::lock_guard lock(mutex_);
                ++mirror_writes_;
                request->outcome = std::move(outcome);
            }
            refreshed_.notify_all();
            continue;
        }
        {
            std::unique_lock lock(mutex_);
            ++mirror_writes_;
            cycle_running_ = true;
            serving = requested_gen_;
            full_pass_due = schedule.full_pass_due(clock_.steady_now(), config_.sync.full_sync_interval,
                                                   std::exchange(full_pass_requested_, false));
            settings = full_sync_settings();
            // For this one pass: if it does not complete, nothing is removed and the operator asks again.
            settings.confirm_removals = std::exchange(confirm_removals_requested_, false);
            routes = routes_of(config_);
            summary_every = config_.sync.full_sync_interval;
        }
        settings.routes = &routes;
        settings.on_progress = [this] { liveness_.working(); };  // a long write is a sign of life too
        settings.on_full_pass_page = [this,
                                      expected = expected_full_pass_pages()](const FullSyncSettings::PassProgress& p) {
            std::lock_guard lock(mutex_);
            health_.progress = progress_of(p, expected);
        };

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
        summary.add(outcome);
        if (auto line = summary.take_if_due(clock_.steady_now(), summary_every)) spdlog::info("{}", *line);
        report_cycle(outcome);
        record_metrics(outcome);
        if (outcome.result == SyncResult::ok) prune_old_events();
        if (outcome.counts.upserted + outcome.counts.removed >= kLargeWrite) checkpoint_mirror();
        // glibc keeps freed memory for reuse; handed back, the daemon idles at what it holds, not at
        // the peak of its busiest cycle (docs/BENCHMARKS.md, memory).
        ::malloc_trim(0);

        std::lock_guard lock(mutex_);
        const int stretch_before = schedule.pacing().stretch();
        schedule.observe(
            {clock_.steady_now(), outcome.result, outcome.kind, rate_limited_answers() > rate_limited_before});
        if (schedule.pacing().stretch() != stretch_before) {
            const Millis base = engine.any_nonterminal() ? config_.sync.poll_interval : config_.sync.idle_poll_interval;
            const Millis now_every = schedule.pacing().wait(engine.any_nonterminal(), intervals_of(config_.sync));
            if (schedule.pacing().stretch() > stretch_before) {
                spdlog::warn("the upstream answers 429 (rate limited): polling every {} instead of {} until it stops",
                             format_duration(now_every), format_duration(base));
            } else {
                spdlog::info("the upstream no longer rate-limits: polling every {} again", format_duration(base));
            }
        }
        cycle_running_ = false;
        completed_gen_ = serving;
        last_run_id_ = outcome.run_id;
        run_done_.notify_all();
    }
    std::lock_guard lock(mutex_);
    completed_gen_ = requested_gen_;  // nobody waits for a sync that will not run
    run_done_.notify_all();
    for (const auto& request : refreshes_)
        request->outcome = {api::RefreshResult::unavailable, "the daemon is stopping"};
    refreshes_.clear();
    refreshed_.notify_all();
}

api::RefreshOutcome Daemon::apply_refresh(SyncEngine& engine, PendingRefresh& request) {
    using api::RefreshResult;
    const std::string& id = request.batch_id;
    const bool found = request.fetched.status == upstream::FetchStatus::ok;
    FullSyncSettings settings;
    std::vector<cache::DeliveryRoute> routes;
    {
        std::lock_guard lock(mutex_);
        settings = full_sync_settings();
        routes = routes_of(config_);
    }
    settings.routes = &routes;
    BatchRefresh refreshed;
    try {
        // What a cycle wrote meanwhile is at least as new as what the sync saw; the next poll
        // brings anything later. A batch the mirror lacks has nothing newer to be overwritten.
        if (found && request.may_be_stale && mirror_->contains(id)) return {RefreshResult::refreshed, ""};
        refreshed = engine.apply_refresh(id, std::move(request.fetched), settings);
    } catch (const std::exception& e) {
        spdlog::error("refreshing batch {}: the mirror cannot be written: {}", escape_untrusted(id), e.what());
        return {RefreshResult::unavailable, std::string("the mirror cannot be written: ") + e.what()};
    }
    if (!found) {
        if (refreshed.removed > 0) {
            count_changes({}, {{"batch.removed", refreshed.removed}});
            if (live_batches_) *live_batches_ -= refreshed.removed;
            spdlog::info("batch {} marked removed: the upstream no longer knows it (refresh)", escape_untrusted(id));
        }
        return {RefreshResult::not_found, ""};
    }
    count_changes(refreshed.applied.transitions_to, refreshed.applied.events_by_type);
    if (live_batches_) *live_batches_ += refreshed.applied.inserted + refreshed.applied.restored;
    if (refreshed.applied.inserted > 0) {
        spdlog::info("batch {} ({}) mirrored on request (refresh)", escape_untrusted(id),
                     escape_untrusted(refreshed.batch_status));
    }
    return {RefreshResult::refreshed, ""};
}

api::RefreshOutcome Daemon::refresh_batch(const std::string& batch_id, Millis max_wait) {
    using api::RefreshResult;
    const SteadyTime give_up_at = clock_.steady_now() + max_wait;
    std::uint64_t writes_before = 0;
    bool cycle_was_running = false;
    {
        std::lock_guard lock(mutex_);
        if (stop_.stop_requested()) return {RefreshResult::unavailable, "the daemon is stopping"};
        if (auth_paused_) {
            return {RefreshResult::unavailable,
                    "syncing is paused: " + health_.last_error.value_or("the upstream rejected the API key") +
                        "; fix the key, then reload the daemon (SIGHUP)"};
        }
        writes_before = mirror_writes_;
        cycle_was_running = cycle_running_;
    }
    if (const auto held = client_->held_until(); held && *held > give_up_at) {
        const auto left = std::chrono::ceil<std::chrono::seconds>(*held - clock_.steady_now());
        return {RefreshResult::unavailable,
                "the upstream rate-limits this account (HTTP 429): every request is held for " +
                    std::to_string(left.count()) + "s more; try again then"};
    }
    // Fetched on this thread (the client is shared: rate limit, 429 hold), with sleeps that are not
    // the sync loop's (the watchdog's liveness is the sync loop's alone).
    auto fetched = client_->get_batch(batch_id, upstream::FetchBounds{kRefreshAttempts, give_up_at, &stop_});
    switch (fetched.status) {
        case upstream::FetchStatus::ok:
        case upstream::FetchStatus::not_found: break;
        case upstream::FetchStatus::stopped: return {RefreshResult::unavailable, "the daemon is stopping"};
        default: return {RefreshResult::unavailable, "cannot ask the upstream: " + fetched.message};
    }
    const bool found = fetched.status == upstream::FetchStatus::ok;
    auto request = std::make_shared<PendingRefresh>();
    request->batch_id = batch_id;
    request->fetched = std::move(fetched);
    std::unique_lock lock(mutex_);
    if (stop_.stop_requested()) return {RefreshResult::unavailable, "the daemon is stopping"};
    request->may_be_stale = cycle_was_running || mirror_writes_ != writes_before;
    refreshes_.push_back(request);
    wake_.notify_all();
    // A 404 needs no waiting: a mirrored copy is marked removed between cycles.
    if (!found) return {RefreshResult::not_found, "batch not found: the upstream does not know " + batch_id};
    const SteadyTime apply_by = std::max(give_up_at, clock_.steady_now() + kMinApplyWait);
    if (refreshed_.wait_until(lock, apply_by, [&] { return request->outcome.has_value(); })) {
        return *request->outcome;
    }
    // Left queued: it is applied when the cycle ends (and only if nothing newer came meanwhile).
    return {RefreshResult::unavailable,
            "fetched from the upstream, but the daemon is busy with a long sync; "
            "the batch is recorded when that ends: try again"};
}

std::optional<std::int64_t> Daemon::expected_full_pass_pages() {
    try {
        return mirror_->last_full_pass_pages();
    } catch (const std::exception&) {
        return std::nullopt;  // the cycle meets the same trouble and reports it
    }
}

void Daemon::record(const SyncOutcome& outcome) {
    const std::string now = format_timestamp(clock_.now());
    std::lock_guard lock(mutex_);
    health_.progress.reset();
    if (outcome.removals) held_removals_ = outcome.removals->hold;
    if (outcome.result == SyncResult::ok) {
        // At info: a cycle that changed something, and a recovery; idle cycles go to the summary.
        if (health_.consecutive_failures > 0) {
            spdlog::info("sync recovered after {} failed cycle(s): {}", health_.consecutive_failures,
                         describe(outcome));
        } else {
            spdlog::log(changed_anything(outcome) ? spdlog::level::info : spdlog::level::debug, "{}",
                        describe(outcome));
        }
        health_.status = HealthStatus::ok;
        health_.synced = true;
        health_.last_sync_at = now;
        if (outcome.kind == SyncKind::full) health_.last_full_sync_at = now;
        health_.last_error.reset();
        health_.consecutive_failures = 0;
        auth_paused_ = false;
        show_held_removals();
        return;
    }
    ++health_.consecutive_failures;
    health_.status = HealthStatus::degraded;
    const bool same_error = health_.last_error == outcome.error;
    health_.last_error = outcome.error;
    if (outcome.result == SyncResult::unauthorized) {
        if (!auth_paused_) {
            spdlog::error("{}; syncing is paused: retrying every 5 minutes or at once after a reload (SIGHUP)",
                          outcome.error);
        } else {
            spdlog::debug("still unauthorized: {}", outcome.error);
        }
        auth_paused_ = true;
        show_held_removals();
        return;
    }
    // Once per cause: a failure that repeats itself every backoff step is at debug until it changes
    // or recovers (health and the summary line keep counting).
    spdlog::log(same_error ? spdlog::level::debug : spdlog::level::err,
                "{} sync failed after {} pages ({} in a row): {}", to_string(outcome.kind), outcome.counts.pages,
                health_.consecutive_failures, outcome.error);
    show_held_removals();
}

void Daemon::show_held_removals() {
    health_.held_removals = held_removals_ ? held_removals_->count : 0;
    // A failing sync's own error stays in last_error (fixing it comes first); held_removals still shows.
    if (!held_removals_ || health_.consecutive_failures > 0) return;
    health_.status = HealthStatus::degraded;
    health_.last_error = describe_hold(*held_removals_, mass_removal_settings(config_.sync));
}

void Daemon::report_cycle(const SyncOutcome& outcome) {
    liveness_.waiting();                // until the next cycle's first request
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
            status.problem = "sync failing (" + std::to_string(health_.consecutive_failures) +
                             " in a row): " + health_.last_error.value_or("");
        } else if (health_.held_removals > 0) {
            status.problem = std::to_string(health_.held_removals) +
                             " removals held (mass removal): extractctl health says how to confirm";
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

void Daemon::checkpoint_mirror() {
    try {
        mirror_->checkpoint();
    } catch (const std::exception& e) {
        spdlog::debug("WAL checkpoint after a large write did not run: {}", e.what());  // SQLite retries on its own
    }
}

void Daemon::record_metrics(const SyncOutcome& outcome) {
    const bool ok = outcome.result == SyncResult::ok;
    metrics_.sync_run(outcome.kind, ok, outcome.duration);
    if (ok) metrics_.last_successful_sync(clock_.now());
    count_changes(outcome.transitions_to, outcome.events_by_type);
    // The client and the dispatcher keep running totals; the metrics get what grew since the last cycle.
    auto growth = [](std::int64_t total, std::int64_t& reported) {
        const std::int64_t grew = total > reported ? total - reported : 0;
        reported = total;
        return grew;
    };
    if (dispatcher_) {
        for (const auto& [target, outcomes] : dispatcher_->outcome_counts()) {
            for (const auto& [result, total] : outcomes) {
                if (const auto n = growth(total, delivery_outcomes_seen_[target][result])) {
                    metrics_.delivery_attempt(target, result, n);
                }
            }
        }
    }
    for (const auto& [code, total] : client_->responses_by_code()) {
        if (const auto n = growth(total, upstream_codes_seen_[code])) metrics_.upstream_request(code, n);
    }
}

void Daemon::count_changes(const std::map<std::string, int, std::less<>>& transitions_to,
                           const std::map<std::string, int, std::less<>>& events_by_type) {
    for (const auto& [status, n] : transitions_to) metrics_.transition(status, n);
    for (const auto& [type, n] : events_by_type) metrics_.event_written(type, n);
}

api::HealthSnapshot Daemon::health() const {
    api::HealthSnapshot snapshot;
    {
        std::lock_guard lock(mutex_);
        snapshot = health_;
        snapshot.paused = auth_paused_;
    }
    // A cycle whose requests are failing is shown at its first failed attempt, not when the
    // client has used up its retries (seconds to minutes later).
    if (auto failing = client_->failing()) {
        snapshot.status = HealthStatus::degraded;
        snapshot.last_error = *failing + " (retrying)";
    }
    if (dispatcher_) snapshot.disabled_targets = dispatcher_->disabled_targets();
    return snapshot;
}

std::optional<std::int64_t> Daemon::request_sync(api::SyncRequest what, bool wait, Millis max_wait) {
    std::unique_lock lock(mutex_);
    if (what.full) full_pass_requested_ = true;  // else the planner chooses, as in any cycle
    if (what.full && what.confirm_removals) confirm_removals_requested_ = true;
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
    if (dispatcher_) dispatcher_->reconfigure(delivery_targets(config_));
    if (auth_paused_) {
        auth_paused_ = false;
        ++requested_gen_;  // the key may be fixed: try again now, not in 5 minutes
    }
    wake_.notify_all();
    spdlog::info("configuration reloaded from {}", config_.file);
}

}  // namespace extract::daemon
