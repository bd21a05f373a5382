#pragma once
// A Clock and Sleeper that tests drive by hand: sleeping advances time at once and is
// recorded, so backoff and Retry-After are checked without waiting.

#include <mutex>
#include <vector>

#include "core/clock.hpp"

namespace extract::testing {

class FakeClock final : public Clock, public Sleeper {
public:
    explicit FakeClock(WallTime start = WallTime{std::chrono::seconds{1'790'000'000}}) : wall_(start) {}

    WallTime now() const override {
        std::lock_guard lock(mutex_);
        return wall_;
    }
    SteadyTime steady_now() const override {
        std::lock_guard lock(mutex_);
        return SteadyTime{} + (wall_.time_since_epoch() - start_offset_);
    }
    bool sleep_for(Millis d) override {
        std::lock_guard lock(mutex_);
        sleeps_.push_back(d);
        wall_ += d;
        return true;
    }
    void advance(Millis d) {
        std::lock_guard lock(mutex_);
        wall_ += d;
    }
    std::vector<Millis> sleeps() const {
        std::lock_guard lock(mutex_);
        return sleeps_;
    }

private:
    mutable std::mutex mutex_;
    WallTime wall_;
    std::chrono::system_clock::duration start_offset_{};
    std::vector<Millis> sleeps_;
};

}  // namespace extract::testing
