#pragma once
// Where time comes from. Logic takes a Clock (wall and monotonic time) and a Sleeper
// (waiting that a shutdown can cut short), so tests drive time instead of sleeping.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace extract {

using WallTime = std::chrono::system_clock::time_point;
using SteadyTime = std::chrono::steady_clock::time_point;
using Millis = std::chrono::milliseconds;

class Clock {
public:
    virtual ~Clock() = default;
    virtual WallTime now() const = 0;
    virtual SteadyTime steady_now() const = 0;
};

class SystemClock final : public Clock {
public:
    WallTime now() const override { return std::chrono::system_clock::now(); }
    SteadyTime steady_now() const override { return std::chrono::steady_clock::now(); }
};

class Sleeper {
public:
    virtual ~Sleeper() = default;
    // Waits for `d`; returns false when woken early because the work should stop.
    virtual bool sleep_for(Millis d) = 0;
};

// The process-wide "please stop" flag. Its sleeps wake as soon as a stop is requested.
class StopSignal final : public Sleeper {
public:
    void request_stop();
    bool stop_requested() const { return stopped_.load(std::memory_order_acquire); }
    bool sleep_for(Millis d) override;

private:
    std::atomic<bool> stopped_{false};
    mutable std::mutex mutex_;
    std::condition_variable cv_;
};

}  // namespace extract
