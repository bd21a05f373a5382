#pragma once
// The time batches live by: it runs `speed` times as fast as the wall clock and stops while
// frozen. It maps lifecycle time back to the wall time written into served timestamps.

#include "sim/batch_record.hpp"

namespace extract::sim {

class LifecycleClock {
public:
    LifecycleClock(Micros wall_now, double speed, bool frozen);

    Micros at(Micros wall) const;            // lifecycle time at a wall time of the current run
    Micros wall_at(Micros lifecycle) const;  // the wall time at which the clock shows `lifecycle`
    // Lifecycle time spanned by a wall-clock duration while running.
    Micros span_of(Micros wall_duration) const;

    void freeze(Micros wall_now);
    void unfreeze(Micros wall_now);
    bool frozen() const { return frozen_; }
    double speed() const { return speed_; }

private:
    // The clock showed `anchor_lifecycle_` at `anchor_wall_`; re-anchored at every freeze and thaw.
    Micros anchor_wall_;
    Micros anchor_lifecycle_;
    double speed_;
    bool frozen_;
};

}  // namespace extract::sim
