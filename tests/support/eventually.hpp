#pragma once
// Waiting on another process's state: polls `condition` until it holds or `timeout` passes.
// For conditions no notification reaches the test (a file another process writes, a counter
// behind HTTP); prefer a blocking wait wherever one exists.

#include <chrono>
#include <thread>

namespace extract::testing {

template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = std::chrono::milliseconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(interval);
    }
    return true;
}

}  // namespace extract::testing
