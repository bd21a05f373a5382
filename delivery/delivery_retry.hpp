#pragma once
// When a failed delivery is tried again: its target's retry_schedule, spread by jitter so that
// deliveries that failed together do not return together, and never before a Retry-After.

#include <cstdint>
#include <optional>
#include <random>
#include <string_view>
#include <vector>

#include "core/clock.hpp"

namespace extract::delivery {

class RetrySchedule {
public:
    // `waits` is retry_schedule: the waits before attempts 2..N. Each wait is scaled by a
    // factor drawn uniformly from [1 - jitter, 1 + jitter]. Not thread-safe (one queue owns it).
    explicit RetrySchedule(std::vector<Millis> waits, double jitter = kDefaultJitter,
                           std::uint64_t seed = std::random_device{}());

    static constexpr double kDefaultJitter = 0.1;

    int max_attempts() const { return static_cast<int>(waits_.size()) + 1; }

    // After attempt number `attempt` (1-based) failed at `now`: when to make the next one, at
    // the earliest at `not_before`; nullopt when that was the last attempt.
    std::optional<WallTime> next_attempt(int attempt, WallTime now, std::optional<WallTime> not_before = {});

private:
    std::vector<Millis> waits_;
    double jitter_;
    std::mt19937_64 random_;
};

// A Retry-After value, delay-seconds ("120") or an HTTP date, as a point in time; nullopt when
// it is unreadable. A date in the past means now.
std::optional<WallTime> parse_retry_after(std::string_view value, WallTime now);

}  // namespace extract::delivery
