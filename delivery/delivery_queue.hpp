#pragma once
// One target's outbox: which of its pending deliveries go next (event order, at most
// max_in_flight at once, none while a Retry-After holds the target or a 410 disabled it) and
// what each attempt's result does to its delivery. Single-threaded: DeliveryWorker drives it.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cache/delivery_store.hpp"
#include "core/clock.hpp"
#include "core/delivery_outcome.hpp"
#include "delivery/delivery_channel.hpp"
#include "delivery/delivery_retry.hpp"

namespace extract::delivery {

// Attempts per target and outcome since start, for metrics.
// Thread-safe: every worker adds, the metrics scrape reads.
class DeliveryOutcomeCounts {
public:
    using ByTarget = std::map<std::string, std::map<DeliveryOutcome, std::int64_t>>;
    void add(const std::string& target, DeliveryOutcome outcome);
    ByTarget snapshot() const;

private:
    mutable std::mutex mutex_;
    ByTarget counts_;
};

struct QueueSettings {
    std::string target;  // "webhook.NAME" / "trigger.NAME"
    std::string url;     // a webhook's url: a 410 disables the target for this url; empty for triggers
    int max_in_flight = 1;
    // true: a delivery starts only once every earlier one of the target is delivered, failed or
    // disabled (triggers run strictly in event order). false: due deliveries start in event
    // order, each retried on its own schedule, so one failing event does not hold up the rest.
    bool strict_order = false;
    std::vector<Millis> retry_schedule;
    bool operator==(const QueueSettings&) const = default;
};

class DeliveryQueue {
public:
    // Opens its own connection to the mirror at `db_path` (throws SQLite::Exception).
    DeliveryQueue(QueueSettings settings, const std::string& db_path, const Clock& clock, DeliveryOutcomeCounts& counts,
                  std::uint64_t jitter_seed);

    // Re-reads what others change: whether the target is still disabled (an operator's retry of
    // the delivery that got the 410, or a new url, lifts it).
    void refresh();
    // The deliveries to start at `now`, in event order; they are in flight until finish().
    std::vector<OutboxDelivery> take_due(WallTime now);
    // Records an attempt started at `started_at` that took `duration` (nothing for `aborted`) and
    // ends its flight.
    void finish(const OutboxDelivery& delivery, const AttemptResult& result, WallTime started_at, Millis duration);
    // After take_due(now): when it may next find something without a wake() or a finish();
    // nullopt: not before one of those.
    std::optional<WallTime> next_due(WallTime now);

    bool disabled() const { return disabled_; }
    int in_flight() const { return static_cast<int>(in_flight_.size()); }
    const QueueSettings& settings() const { return settings_; }

private:
    void disable(const OutboxDelivery& delivery, const cache::AttemptRecord& record);

    QueueSettings settings_;
    const Clock& clock_;
    DeliveryOutcomeCounts& counts_;
    cache::DeliveryStore store_;
    RetrySchedule schedule_;
    std::set<std::int64_t> in_flight_;    // deliveries.id
    std::optional<WallTime> held_until_;  // a Retry-After
    bool disabled_ = false;
};

}  // namespace extract::delivery
