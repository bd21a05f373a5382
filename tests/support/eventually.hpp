#pragma once
// Waiting on another process's state: polls `condition` until it holds or `timeout` passes.
// For conditions no notification reaches the test (a file another process writes, a counter
// behind HTTP); prefer a blocking wait wherever one exists.

#include <chrono>
#include <cstdlib>
#include <thread>

namespace extract::testing {

// $EXTRACT_TEST_TIME_SCALE (a number, default 1) stretches every bounded wait: sanitizer
// builds run several times slower (scripts/test --sanitize sets it), and a bound is a guard
// against a hang, not a performance claim.
inline double test_time_scale() {
    static const double scale = [] {
        const char* text = std::getenv("EXTRACT_TEST_TIME_SCALE");
        const double value = text ? std::atof(text) : 1.0;
        return value >= 1.0 ? value : 1.0;
    }();
    return scale;
}

inline std::chrono::milliseconds scaled(std::chrono::milliseconds timeout) {
    return std::chrono::milliseconds(
        static_cast<std::chrono::milliseconds::rep>(static_cast<double>(timeout.count()) * test_time_scale()));
}

template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = std::chrono::milliseconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(interval);
    }
    return true;
}

}  // namespace extract::testing
