#include "sim/batch_lifecycle.hpp"

#include <algorithm>

namespace extract::sim {
namespace {

constexpr Micros kSecond = 1'000'000;
constexpr Micros kMinute = 60 * kSecond;
constexpr Micros kHour = 60 * kMinute;
constexpr std::int32_t kParallelItems = 8;  // items a running batch works on at once

double uniform01(Rng& rng) { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); }

template <typename T>
T uniform(Rng& rng, T low, T high) {  // inclusive
    return std::uniform_int_distribution<T>(low, high)(rng);
}

Micros scaled(Micros d, double factor) { return static_cast<Micros>(static_cast<double>(d) * factor); }

// Counts while items are still being worked on: up to kParallelItems running, the rest pending.
ItemCounts in_progress(std::int32_t total, std::int32_t succeeded, std::int32_t failed) {
    ItemCounts c;
    c.succeeded = succeeded;
    c.failed = failed;
    c.running = std::min(total - succeeded - failed, kParallelItems);
    c.pending = total - succeeded - failed - c.running;
    return c;
}

// Counts while running, after `step` of the plan's progress steps.
ItemCounts running_counts(const BatchRecord& b, int step) {
    const std::int64_t parts = b.plan.progress_steps + 1;
    return in_progress(b.total_items, static_cast<std::int32_t>(std::int64_t{b.plan.final_succeeded} * step / parts),
                       static_cast<std::int32_t>(std::int64_t{b.plan.final_failed} * step / parts));
}

ItemCounts final_counts(const BatchRecord& b) {
    ItemCounts c;
    c.succeeded = b.plan.final_succeeded;
    c.failed = b.plan.final_failed;
    c.cancelled = b.total_items - c.succeeded - c.failed;
    return c;
}

Micros progress_step_at(const LifecyclePlan& plan, int step) {
    if (step > plan.progress_steps) return plan.end_at;
    return plan.start_at + (plan.end_at - plan.start_at) * step / (plan.progress_steps + 1);
}

// One change of the plan, the one due at `batch.next_change_at`, which happened at `wall`.
void apply_next_change(BatchRecord& batch, Micros wall) {
    const LifecyclePlan& plan = batch.plan;
    if (batch.status == status::pending && plan.cancelled_while_pending) {
        batch.status = status::cancelled;
        batch.completed_at = wall;
        batch.counts = final_counts(batch);
        batch.next_change_at = kNever;
    } else if (batch.status == status::pending) {
        batch.status = status::running;
        batch.started_at = wall;
        batch.progress_step = 0;
        batch.counts = running_counts(batch, 0);
        batch.next_change_at = progress_step_at(plan, 1);
    } else if (batch.status == status::running && batch.progress_step < plan.progress_steps) {
        ++batch.progress_step;
        batch.counts = running_counts(batch, batch.progress_step);
        batch.next_change_at = progress_step_at(plan, batch.progress_step + 1);
    } else {
        batch.status = plan.final_status;
        batch.completed_at = wall;
        batch.counts = final_counts(batch);
        batch.next_change_at = kNever;
    }
}

}  // namespace

std::int32_t random_total_items(Rng& rng) {
    const double u = uniform01(rng);
    if (u < 0.70) return uniform<std::int32_t>(rng, 1, 50);
    if (u < 0.95) return uniform<std::int32_t>(rng, 51, 500);
    return uniform<std::int32_t>(rng, 501, 5000);
}

LifecyclePlan random_plan(Rng& rng, std::int32_t total_items, Micros created_at) {
    LifecyclePlan plan;
    const Micros pending_for =
        uniform01(rng) < 0.1 ? uniform<Micros>(rng, kMinute, 20 * kMinute) : uniform<Micros>(rng, kSecond, kMinute);
    const Micros per_item = uniform<Micros>(rng, kSecond / 2, 6 * kSecond);
    Micros running_for = std::clamp<Micros>(total_items * per_item / 4, 10 * kSecond, 4 * kHour);
    plan.progress_steps = static_cast<std::uint8_t>(std::clamp<std::int32_t>(total_items, 0, 4));

    const double outcome = uniform01(rng);
    if (outcome < 0.70 || (outcome < 0.82 && total_items < 2)) {
        plan.final_status = status::completed;
        plan.final_succeeded = total_items;
    } else if (outcome < 0.82) {
        plan.final_status = status::partially_failed;
        plan.final_failed = uniform<std::int32_t>(rng, 1, std::max(1, total_items / 3));
        plan.final_succeeded = total_items - plan.final_failed;
    } else if (outcome < 0.90) {
        plan.final_status = status::failed;
        plan.final_failed = total_items;
    } else {
        plan.final_status = status::cancelled;
        if (uniform01(rng) < 0.4) {
            plan.cancelled_while_pending = true;
            running_for = 0;
        } else {
            const double reached = 0.1 + 0.8 * uniform01(rng);
            running_for = scaled(running_for, reached);
            const auto done = static_cast<std::int32_t>(total_items * reached);
            plan.final_failed = done / 10;
            plan.final_succeeded = done - plan.final_failed;
        }
    }
    plan.start_at = created_at + pending_for;
    plan.end_at = plan.start_at + running_for;
    return plan;
}

Micros random_age(Rng& rng, LifecyclePlan& plan, Micros max_age) {
    // Generated plans must end well inside the window, or nothing generated could be terminal.
    const Micros half_age = max_age / 2;  // whole microseconds, as every generated time is
    if (plan.end_at > half_age) {
        const double factor = static_cast<double>(half_age) / static_cast<double>(plan.end_at);
        plan.start_at = scaled(plan.start_at, factor);
        plan.end_at = scaled(plan.end_at, factor);
    }
    const double phase = uniform01(rng);
    if (phase < 0.05 && plan.start_at > 0) return uniform<Micros>(rng, 0, plan.start_at - 1);
    if (phase < 0.13 && plan.end_at > plan.start_at) return uniform<Micros>(rng, plan.start_at, plan.end_at - 1);
    return uniform<Micros>(rng, plan.end_at, max_age);
}

void shift_plan(LifecyclePlan& plan, Micros created_at) {
    plan.start_at += created_at;
    plan.end_at += created_at;
}

void start_lifecycle(BatchRecord& batch, const LifecyclePlan& plan) {
    batch.plan = plan;
    batch.status = status::pending;
    batch.progress_step = 0;
    batch.counts = ItemCounts{.pending = batch.total_items};
    batch.started_at = kNull;
    batch.completed_at = kNull;
    batch.next_change_at = plan.start_at;
}

bool apply_due_changes(BatchRecord& batch, Micros lifecycle_now, const LifecycleClock& clock) {
    bool changed = false;
    while (!batch.pinned && batch.next_change_at <= lifecycle_now) {
        apply_next_change(batch, clock.wall_at(batch.next_change_at));
        changed = true;
    }
    return changed;
}

ItemCounts counts_for_status(StatusId status, std::int32_t total, const ItemCounts& current) {
    // Items that already finished, as far as they still fit in `total`.
    const std::int32_t succeeded = std::clamp(current.succeeded, 0, total);
    const std::int32_t failed = std::clamp(current.failed, 0, total - succeeded);
    ItemCounts c;
    switch (status) {
        case status::pending: c.pending = total; break;
        case status::running: c = in_progress(total, succeeded, failed); break;
        case status::completed: c.succeeded = total; break;
        case status::partially_failed:
            if (total < 2) {
                c.succeeded = total;
                break;
            }
            c.failed = std::clamp(current.failed > 0 ? current.failed : total / 4, 1, total - 1);
            c.succeeded = total - c.failed;
            break;
        case status::failed: c.failed = total; break;
        case status::cancelled:
            c.succeeded = succeeded;
            c.failed = failed;
            c.cancelled = total - succeeded - failed;
            break;
        default:
            c = current;
            c.pending = std::max(0, total - c.running - c.succeeded - c.failed - c.cancelled);
            break;
    }
    return c;
}

}  // namespace extract::sim
