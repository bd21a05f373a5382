#pragma once
// Runs one target: its DeliveryQueue on a thread of its own and its attempts on up to
// max_in_flight sender threads, so a slow or dead target never holds up another.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.hpp"
#include "delivery/delivery_channel.hpp"
#include "delivery/delivery_queue.hpp"

namespace extract::delivery {

class DeliveryWorker {
public:
    // Opens the queue's connection here, so a mirror that cannot be opened fails the caller
    // (throws SQLite::Exception); no thread runs until start().
    DeliveryWorker(QueueSettings settings, std::unique_ptr<DeliveryChannel> channel, const std::string& db_path,
                   const Clock& clock, DeliveryOutcomeCounts& counts, std::uint64_t jitter_seed);
    ~DeliveryWorker();  // stop() and join()
    DeliveryWorker(const DeliveryWorker&) = delete;
    DeliveryWorker& operator=(const DeliveryWorker&) = delete;

    void start();
    // Look again now: new deliveries were committed, a retry was requested, time was moved.
    void wake();
    // Asks the threads to end and aborts the attempts in flight; returns at once.
    void stop();
    // Waits for the threads, then records what finished (an attempt that ended, whatever its
    // outcome, is recorded; an aborted one is not, so it is sent again after a restart).
    void join();

    bool disabled() const;
    const QueueSettings& settings() const { return settings_; }

private:
    struct Finished {
        OutboxDelivery delivery;
        AttemptResult result;
        WallTime started_at;
        Millis duration{0};
    };

    void run_queue();
    void run_sender();
    // Records what finished; returns false (keeping the rest) when the database refused.
    bool record(std::deque<Finished>& finished);

    const QueueSettings settings_;
    const Clock& clock_;
    std::unique_ptr<DeliveryChannel> channel_;
    std::unique_ptr<DeliveryQueue> queue_;  // used by the queue thread only (and by join() after it)

    mutable std::mutex mutex_;
    std::condition_variable queue_cv_;   // the queue thread: a wake, a finished attempt, a stop
    std::condition_variable sender_cv_;  // sender threads: a delivery to send, a stop
    std::deque<OutboxDelivery> to_send_;
    std::deque<Finished> finished_;
    bool wake_requested_ = true;  // the first round refreshes the disabled state
    bool stopping_ = false;
    bool disabled_ = false;  // the queue's, published for other threads
    bool joined_ = false;

    std::thread queue_thread_;
    std::vector<std::thread> senders_;
};

}  // namespace extract::delivery
