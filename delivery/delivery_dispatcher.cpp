#include "delivery/delivery_dispatcher.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <random>

#include "cache/delivery_store.hpp"
#include "delivery/trigger_channel.hpp"
#include "delivery/webhook_channel.hpp"

namespace extract::delivery {
namespace {

QueueSettings queue_settings(const WebhookTarget& hook) {
    return {"webhook." + hook.name, hook.url, hook.max_in_flight, false, hook.retry_schedule};
}

QueueSettings queue_settings(const TriggerTarget& trigger) {
    // One instance at a time, in event order: a command may rely on seeing events as they happened.
    return {"trigger." + trigger.name, "", 1, true, trigger.retry_schedule};
}

}  // namespace

DeliveryDispatcher::DeliveryDispatcher(DeliveryOptions options, const DeliveryTargets& targets, const Clock& clock,
                                       DeliverySeams seams)
    : options_(std::move(options)), clock_(clock), seams_(std::move(seams)), targets_(by_target(targets)) {
    if (!seams_.make_sender) {
        seams_.make_sender = [](const WebhookTarget&) { return std::make_unique<PocoWebhookSender>(); };
    }
    if (!seams_.make_runner) {
        seams_.make_runner = [](const TriggerTarget&) { return std::make_unique<PosixProcessRunner>(); };
    }
}

DeliveryDispatcher::~DeliveryDispatcher() { stop(); }

std::map<std::string, DeliveryDispatcher::AnyTarget> DeliveryDispatcher::by_target(const DeliveryTargets& targets) {
    std::map<std::string, AnyTarget> out;
    for (const auto& hook : targets.webhooks) out.emplace("webhook." + hook.name, hook);
    for (const auto& trigger : targets.triggers) out.emplace("trigger." + trigger.name, trigger);
    return out;
}

std::unique_ptr<DeliveryWorker> DeliveryDispatcher::make_worker(const AnyTarget& config) {
    const std::uint64_t seed = seams_.jitter_seed ? *seams_.jitter_seed + workers_made_ : std::random_device{}();
    ++workers_made_;
    if (const auto* hook = std::get_if<WebhookTarget>(&config)) {
        auto channel = std::make_unique<WebhookChannel>(*hook, options_.user_agent, seams_.make_sender(*hook), clock_);
        return std::make_unique<DeliveryWorker>(queue_settings(*hook), std::move(channel), options_.db_path, clock_,
                                                counts_, seed);
    }
    const auto& trigger = std::get<TriggerTarget>(config);
    auto channel = std::make_unique<TriggerChannel>(trigger, options_.socket_path, seams_.make_runner(trigger));
    return std::make_unique<DeliveryWorker>(queue_settings(trigger), std::move(channel), options_.db_path, clock_,
                                            counts_, seed);
}

void DeliveryDispatcher::start_worker(const std::string& target, const AnyTarget& config) {
    auto worker = make_worker(config);
    worker->start();
    workers_[target] = std::move(worker);
}

void DeliveryDispatcher::start() {
    std::lock_guard lock(mutex_);
    if (started_ || stopped_) return;
    {
        cache::DeliveryStore store(options_.db_path);
        for (const auto& [target, pending] : store.pending_by_target()) {
            if (!targets_.contains(target)) {
                spdlog::warn("{} pending deliveries for {}, which is not configured: they stay pending until it is",
                             pending, target);
            }
        }
    }
    for (const auto& [target, config] : targets_) start_worker(target, config);
    started_ = true;
}

void DeliveryDispatcher::stop() {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    // Every target is asked first, so their aborts and grace periods overlap.
    for (auto& [target, worker] : workers_) worker->stop();
    for (auto& [target, worker] : workers_) worker->join();
    workers_.clear();
}

void DeliveryDispatcher::wake() {
    std::lock_guard lock(mutex_);
    for (auto& [target, worker] : workers_) worker->wake();
}

void DeliveryDispatcher::reconfigure(const DeliveryTargets& targets) {
    std::lock_guard lock(mutex_);
    auto next = by_target(targets);
    if (!started_ || stopped_) {
        targets_ = std::move(next);
        return;
    }
    std::vector<std::string> restart;
    for (const auto& [target, config] : targets_) {
        const auto it = next.find(target);
        if (it == next.end() || !(it->second == config)) restart.push_back(target);
    }
    for (const auto& target : restart) {
        if (const auto it = workers_.find(target); it != workers_.end()) it->second->stop();
    }
    for (const auto& target : restart) {
        if (const auto it = workers_.find(target); it != workers_.end()) {
            it->second->join();
            workers_.erase(it);
        }
    }
    for (const auto& [target, config] : next) {
        if (workers_.contains(target)) continue;
        try {
            start_worker(target, config);
        } catch (const std::exception& e) {
            spdlog::error("{}: cannot start delivering: {}; a reload or restart tries again", target, e.what());
        }
    }
    targets_ = std::move(next);
}

std::vector<std::string> DeliveryDispatcher::disabled_targets() const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& [target, worker] : workers_) {
        if (worker->disabled()) out.push_back(target);
    }
    return out;
}

DeliveryOutcomeCounts::ByTarget DeliveryDispatcher::outcome_counts() const { return counts_.snapshot(); }

}  // namespace extract::delivery
