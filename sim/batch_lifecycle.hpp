#pragma once
// How a simulated batch moves through its statuses by itself: random plans for new and
// generated batches, and the changes a plan makes as lifecycle time passes. Pure functions
// of their inputs, so tests drive them with numbers instead of waiting.

#include <random>

#include "sim/batch_record.hpp"
#include "sim/lifecycle_clock.hpp"

namespace extract::sim {

using Rng = std::mt19937_64;

std::int32_t random_total_items(Rng& rng);

// A plan for a batch created at lifecycle time `created_at`: mostly completed, some
// partially failed, failed or cancelled; durations grow with the number of items.
LifecyclePlan random_plan(Rng& rng, std::int32_t total_items, Micros created_at);

// For a batch generated in the past: how long ago (lifecycle time) it was created, so that
// the generated set shows a realistic mix (a few pending and running, most terminal).
// Shortens `plan` (relative to a creation at 0) when it would not fit in `max_age`.
Micros random_age(Rng& rng, LifecyclePlan& plan, Micros max_age);

// Moves a plan made relative to a creation at 0 to a creation at `created_at`.
void shift_plan(LifecyclePlan& plan, Micros created_at);

// Puts `batch` at the start of `plan`: pending, every item pending, not started.
void start_lifecycle(BatchRecord& batch, const LifecyclePlan& plan);

// Applies every change of the plan due by `lifecycle_now`, stamping each with the wall time
// at which it happened. Returns whether anything changed. Pinned batches never change.
bool apply_due_changes(BatchRecord& batch, Micros lifecycle_now, const LifecycleClock& clock);

// Counts that fit `status` for `total` items, keeping what `current` says where it can
// (items already finished stay finished). Unknown statuses keep `current`, made to add up.
ItemCounts counts_for_status(StatusId status, std::int32_t total, const ItemCounts& current);

}  // namespace extract::sim
