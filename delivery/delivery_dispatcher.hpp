#pragma once
// Sends what the outbox holds: every pending delivery to its target, retried on its schedule,
// recorded. One DeliveryWorker per configured webhook and trigger, each with its own threads
// and its own connection to the mirror.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/clock.hpp"
#include "delivery/delivery_queue.hpp"
#include "delivery/delivery_target.hpp"
#include "delivery/delivery_worker.hpp"
#include "delivery/trigger_runner.hpp"
#include "delivery/webhook_sender.hpp"

namespace extract::delivery {

struct DeliveryOptions {
    std::string db_path;      // the mirror, already created and migrated by cache::Mirror
    std::string socket_path;  // EXTRACT_SOCKET for triggers
    std::string user_agent;   // "extract-sync/VERSION"
};

// Where the outside world enters; tests put fakes here.
struct DeliverySeams {
    std::function<std::unique_ptr<WebhookSender>(const WebhookTarget&)> make_sender;  // default: PocoWebhookSender
    std::function<std::unique_ptr<ProcessRunner>(const TriggerTarget&)> make_runner;  // default: PosixProcessRunner
    std::optional<std::uint64_t> jitter_seed;                                         // default: random
};

class DeliveryDispatcher {
public:
    DeliveryDispatcher(DeliveryOptions options, const DeliveryTargets& targets, const Clock& clock,
                       DeliverySeams seams = {});
    ~DeliveryDispatcher();  // stop()
    DeliveryDispatcher(const DeliveryDispatcher&) = delete;
    DeliveryDispatcher& operator=(const DeliveryDispatcher&) = delete;

    // Starts a worker per target. Throws SQLite::Exception when the mirror cannot be opened.
    void start();
    // Prompt and idempotent: attempts in flight are aborted (HTTP connections shut, triggers'
    // process groups killed) and stay pending, to be sent again after a restart.
    void stop();
    // New deliveries were committed, or a retry was requested: every target looks now.
    void wake();
    // SIGHUP: targets whose configuration changed are restarted (their attempts in flight are
    // sent again), removed ones stopped, new ones started; the others keep running.
    void reconfigure(const DeliveryTargets& targets);

    // "webhook.NAME" of every target a 410 disabled, for health.
    std::vector<std::string> disabled_targets() const;
    // target -> outcome -> attempts since start, for metrics.
    DeliveryOutcomeCounts::ByTarget outcome_counts() const;

private:
    using AnyTarget = std::variant<WebhookTarget, TriggerTarget>;

    static std::map<std::string, AnyTarget> by_target(const DeliveryTargets& targets);
    std::unique_ptr<DeliveryWorker> make_worker(const AnyTarget& config);
    void start_worker(const std::string& target, const AnyTarget& config);

    const DeliveryOptions options_;
    const Clock& clock_;
    DeliverySeams seams_;
    DeliveryOutcomeCounts counts_;

    mutable std::mutex mutex_;
    std::map<std::string, AnyTarget> targets_;
    std::map<std::string, std::unique_ptr<DeliveryWorker>> workers_;
    std::uint64_t workers_made_ = 0;  // varies the jitter seed between workers
    bool started_ = false;
    bool stopped_ = false;
};

}  // namespace extract::delivery
