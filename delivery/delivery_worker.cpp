#include "delivery/delivery_worker.hpp"

#include <pthread.h>
#include <signal.h>

#include <spdlog/spdlog.h>

#include <exception>

namespace extract::delivery {
namespace {

// After the database refused (busy for longer than its timeout, disk full): how long until the
// queue tries again. Results not yet recorded are kept meanwhile.
constexpr Millis kDatabaseRetry{1000};

}  // namespace

DeliveryWorker::DeliveryWorker(QueueSettings settings, std::unique_ptr<DeliveryChannel> channel,
                               const std::string& db_path, const Clock& clock, DeliveryOutcomeCounts& counts,
                               std::uint64_t jitter_seed)
    : settings_(settings),
      clock_(clock),
      channel_(std::move(channel)),
      queue_(std::make_unique<DeliveryQueue>(std::move(settings), db_path, clock, counts, jitter_seed)) {}

DeliveryWorker::~DeliveryWorker() {
    stop();
    join();
}

void DeliveryWorker::start() {
    std::lock_guard lock(mutex_);
    if (queue_thread_.joinable() || stopping_) return;
    for (int i = 0; i < queue_->settings().max_in_flight; ++i) senders_.emplace_back([this] { run_sender(); });
    queue_thread_ = std::thread([this] { run_queue(); });
}

void DeliveryWorker::wake() {
    {
        std::lock_guard lock(mutex_);
        wake_requested_ = true;
    }
    queue_cv_.notify_one();
}

void DeliveryWorker::stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        stopping_ = true;
    }
    channel_->abort();
    queue_cv_.notify_all();
    sender_cv_.notify_all();
}

void DeliveryWorker::join() {
    for (auto& t : senders_) {
        if (t.joinable()) t.join();
    }
    if (queue_thread_.joinable()) queue_thread_.join();
    std::deque<Finished> finished;
    {
        std::lock_guard lock(mutex_);
        if (joined_) return;
        joined_ = true;
        finished.swap(finished_);
    }
    // Every thread has ended: this thread may use the queue now.
    if (!record(finished)) {
        spdlog::warn(
            "{}: {} finished attempt(s) could not be recorded at shutdown; they are sent again after the "
            "restart",
            settings_.target, finished.size());
    }
}

bool DeliveryWorker::disabled() const {
    std::lock_guard lock(mutex_);
    return disabled_;
}

bool DeliveryWorker::record(std::deque<Finished>& finished) {
    try {
        while (!finished.empty()) {
            const Finished& f = finished.front();
            queue_->finish(f.delivery, f.result, f.started_at, f.duration);
            finished.pop_front();
        }
        return true;
    } catch (const std::exception& e) {
        spdlog::error("{}: cannot record a delivery attempt in the mirror: {}; trying again in {} ms", settings_.target,
                      e.what(), kDatabaseRetry.count());
        return false;
    }
}

void DeliveryWorker::run_queue() {
    bool refresh_owed = false;  // a wake() came while the database refused
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        std::deque<Finished> finished;
        finished.swap(finished_);
        const bool refresh = std::exchange(wake_requested_, false) || std::exchange(refresh_owed, false);
        lock.unlock();

        std::optional<WallTime> next;
        bool database_ok = record(finished);
        if (database_ok) {
            try {
                if (refresh) queue_->refresh();
                // One `now` for both: a delivery falling due between two readings would be missed.
                const WallTime now = clock_.now();
                auto due = queue_->take_due(now);
                next = queue_->next_due(now);
                if (!due.empty()) {
                    std::lock_guard send_lock(mutex_);
                    for (auto& d : due) to_send_.push_back(std::move(d));
                    sender_cv_.notify_all();
                }
            } catch (const std::exception& e) {
                spdlog::error("{}: cannot read the outbox in the mirror: {}; trying again in {} ms", settings_.target,
                              e.what(), kDatabaseRetry.count());
                database_ok = false;
            }
        }

        lock.lock();
        disabled_ = queue_->disabled();
        if (!database_ok) {
            // Keep what was not recorded, ahead of what finished meanwhile, and nothing new is
            // started until it is: a delivery whose outcome is not yet written is not due again.
            for (auto it = finished.rbegin(); it != finished.rend(); ++it) finished_.push_front(std::move(*it));
            refresh_owed = refresh;
            queue_cv_.wait_for(lock, kDatabaseRetry, [this] { return stopping_; });
            continue;
        }
        const auto ready = [this] { return stopping_ || wake_requested_ || !finished_.empty(); };
        if (ready()) continue;
        if (next) {
            // The injected clock says how long; the wait itself is real (a wake() cuts it short).
            const auto wait = std::max(std::chrono::duration_cast<Millis>(*next - clock_.now()), Millis{0});
            queue_cv_.wait_for(lock, wait, ready);
        } else {
            queue_cv_.wait(lock, ready);
        }
    }
}

void DeliveryWorker::run_sender() {
    // A receiver that hangs up mid-request must not raise SIGPIPE in the daemon: Poco and OpenSSL
    // write to sockets without MSG_NOSIGNAL. Blocked here, it stays pending and harmless.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);

    std::unique_lock lock(mutex_);
    while (true) {
        sender_cv_.wait(lock, [this] { return stopping_ || !to_send_.empty(); });
        if (stopping_) return;  // what was not started stays pending in the mirror
        OutboxDelivery delivery = std::move(to_send_.front());
        to_send_.pop_front();
        lock.unlock();

        const WallTime started_at = clock_.now();
        const SteadyTime started = clock_.steady_now();
        AttemptResult result;
        try {
            result = channel_->deliver(delivery);
        } catch (const std::exception& e) {
            // A channel reports expected failures as values; this is a bug or resource exhaustion.
            result.verdict = AttemptResult::Verdict::retry;
            result.error = error_snippet(std::string("internal error: ") + e.what());
        }
        const auto duration = std::chrono::duration_cast<Millis>(clock_.steady_now() - started);

        lock.lock();
        if (result.verdict == AttemptResult::Verdict::aborted && !stopping_) {
            // Only a shutdown may leave an attempt unrecorded; anything else taking that way out
            // would have the queue hand the delivery straight back, in a loop.
            result.verdict = AttemptResult::Verdict::retry;
        }
        finished_.push_back({std::move(delivery), std::move(result), started_at, duration});
        queue_cv_.notify_one();
    }
}

}  // namespace extract::delivery
