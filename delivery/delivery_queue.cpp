#include "delivery/delivery_queue.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/timefmt.hpp"

namespace extract::delivery {

void DeliveryOutcomeCounts::add(const std::string& target, DeliveryOutcome outcome) {
    std::lock_guard lock(mutex_);
    ++counts_[target][outcome];
}

DeliveryOutcomeCounts::ByTarget DeliveryOutcomeCounts::snapshot() const {
    std::lock_guard lock(mutex_);
    return counts_;
}

DeliveryQueue::DeliveryQueue(QueueSettings settings, const std::string& db_path, const Clock& clock,
                             DeliveryOutcomeCounts& counts, std::uint64_t jitter_seed)
    : settings_(std::move(settings)),
      clock_(clock),
      counts_(counts),
      store_(db_path),
      schedule_(settings_.retry_schedule, RetrySchedule::kDefaultJitter, jitter_seed) {
    settings_.max_in_flight = std::max(settings_.max_in_flight, 1);
}

void DeliveryQueue::refresh() {
    const auto mark = store_.disabled_mark(settings_.target);
    if (!mark) {
        disabled_ = false;
        return;
    }
    std::string lifted_because;
    if (!mark->url.empty() && mark->url != settings_.url) {
        lifted_because = "its url changed";
    } else if (const auto state = store_.delivery_state(mark->delivery_id); state && *state != "disabled") {
        lifted_because = "delivery " + std::to_string(mark->delivery_id) + " was queued again";
    }
    if (!lifted_because.empty()) {
        store_.clear_disabled_mark(settings_.target);
        spdlog::info("{}: enabled again ({}); its pending deliveries are sent now", settings_.target, lifted_because);
        disabled_ = false;
        return;
    }
    if (!disabled_) {
        spdlog::error(
            "{}: disabled since {}: it answered 410 Gone to delivery {}; its deliveries wait until that "
            "delivery is retried (extractctl redeliver {}) or its url changes",
            settings_.target, mark->at, mark->delivery_id, mark->delivery_id);
    }
    disabled_ = true;
}

std::vector<OutboxDelivery> DeliveryQueue::take_due(WallTime now) {
    if (disabled_) return {};
    if (held_until_ && now < *held_until_) return {};
    const int free = settings_.max_in_flight - in_flight();
    if (free <= 0) return {};

    std::vector<OutboxDelivery> start;
    if (settings_.strict_order) {
        if (!in_flight_.empty()) return {};
        auto head = store_.head(settings_.target, 1);
        if (head.empty() || (head.front().next_attempt_at && *head.front().next_attempt_at > now)) return {};
        start.push_back(std::move(head.front().delivery));
    } else {
        // The deliveries in flight are due too and come back from the query: ask for enough.
        for (auto& d : store_.due(settings_.target, now, in_flight() + free)) {
            if (in_flight_.contains(d.id) || static_cast<int>(start.size()) >= free) continue;
            start.push_back(std::move(d));
        }
    }
    for (const auto& d : start) in_flight_.insert(d.id);
    return start;
}

std::optional<WallTime> DeliveryQueue::next_due(WallTime now) {
    if (disabled_) return std::nullopt;
    if (held_until_ && now < *held_until_) return held_until_;
    if (settings_.strict_order) {
        if (!in_flight_.empty()) return std::nullopt;  // its finish() is the next thing to happen
        const auto head = store_.head(settings_.target, 1);
        if (head.empty()) return std::nullopt;
        return head.front().next_attempt_at.value_or(now);
    }
    if (in_flight() >= settings_.max_in_flight) return std::nullopt;
    return store_.next_attempt_after(settings_.target, now);
}

void DeliveryQueue::finish(const OutboxDelivery& delivery, const AttemptResult& result, WallTime started_at,
                           Millis duration) {
    in_flight_.erase(delivery.id);
    if (result.verdict == AttemptResult::Verdict::aborted) return;

    cache::AttemptRecord record;
    record.attempt = delivery.attempts + 1;
    record.started_at = started_at;
    record.duration = duration;
    record.status = result.status;
    record.error = error_snippet(result.error);
    const std::string& target = settings_.target;

    switch (result.verdict) {
        case AttemptResult::Verdict::delivered:
            record.state = cache::DeliveryState::delivered;
            store_.record_attempt(delivery, record);
            counts_.add(target, DeliveryOutcome::delivered);
            spdlog::debug("{}: delivered {} ({} {}) on attempt {} in {} ms", target, delivery.id, delivery.event_type,
                          delivery.event_id, record.attempt, duration.count());
            return;
        case AttemptResult::Verdict::gone: disable(delivery, record); return;
        case AttemptResult::Verdict::retry:
        case AttemptResult::Verdict::aborted: break;
    }

    const WallTime now = clock_.now();
    if (result.not_before && (!held_until_ || *held_until_ < *result.not_before)) held_until_ = result.not_before;
    const auto next = schedule_.next_attempt(record.attempt, now, result.not_before);
    if (next) {
        record.state = cache::DeliveryState::pending;
        record.next_attempt_at = next;
        store_.record_attempt(delivery, record);
        counts_.add(target, DeliveryOutcome::retried);
        spdlog::warn("{}: attempt {}/{} of delivery {} ({}) failed: {}; next attempt at {}", target, record.attempt,
                     schedule_.max_attempts(), delivery.id, delivery.event_id, record.error, format_timestamp(*next));
    } else {
        record.state = cache::DeliveryState::failed;
        store_.record_attempt(delivery, record);
        counts_.add(target, DeliveryOutcome::failed);
        spdlog::error(
            "{}: delivery {} ({}) failed after {} attempt{}, the last: {}; extractctl redeliver {} sends it "
            "again",
            target, delivery.id, delivery.event_id, record.attempt, record.attempt == 1 ? "" : "s", record.error,
            delivery.id);
    }
}

void DeliveryQueue::disable(const OutboxDelivery& delivery, const cache::AttemptRecord& attempt) {
    cache::AttemptRecord record = attempt;
    record.state = cache::DeliveryState::disabled;
    std::optional<cache::DisabledMark> mark;
    // The first 410 names the delivery whose retry lifts the mark; later ones in flight only
    // record their own state.
    if (!disabled_) mark = cache::DisabledMark{delivery.id, settings_.url, format_timestamp(clock_.now())};
    store_.record_attempt(delivery, record, mark);
    counts_.add(settings_.target, DeliveryOutcome::disabled);
    if (mark) {
        spdlog::error(
            "{}: answered 410 Gone to delivery {} ({}): the target is disabled and its deliveries wait; "
            "extractctl redeliver {} (or a new url) enables it again",
            settings_.target, delivery.id, delivery.event_id, delivery.id);
    }
    disabled_ = true;
}

}  // namespace extract::delivery
