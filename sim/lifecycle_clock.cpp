#include "sim/lifecycle_clock.hpp"

#include <cmath>

namespace extract::sim {

LifecycleClock::LifecycleClock(Micros wall_now, double speed, bool frozen)
    : anchor_wall_(wall_now), anchor_lifecycle_(wall_now), speed_(speed), frozen_(frozen) {}

Micros LifecycleClock::at(Micros wall) const {
    if (frozen_) return anchor_lifecycle_;
    return anchor_lifecycle_ + span_of(wall - anchor_wall_);
}

Micros LifecycleClock::wall_at(Micros lifecycle) const {
    return anchor_wall_ +
           static_cast<Micros>(std::llround(static_cast<double>(lifecycle - anchor_lifecycle_) / speed_));
}

Micros LifecycleClock::span_of(Micros wall_duration) const {
    return static_cast<Micros>(std::llround(static_cast<double>(wall_duration) * speed_));
}

void LifecycleClock::freeze(Micros wall_now) {
    if (frozen_) return;
    anchor_lifecycle_ = at(wall_now);
    anchor_wall_ = wall_now;
    frozen_ = true;
}

void LifecycleClock::unfreeze(Micros wall_now) {
    if (!frozen_) return;
    anchor_wall_ = wall_now;
    frozen_ = false;
}

}  // namespace extract::sim
