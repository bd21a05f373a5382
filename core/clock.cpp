#include "core/clock.hpp"

namespace extract {

void StopSignal::request_stop() {
    {
        std::lock_guard lock(mutex_);
        stopped_.store(true, std::memory_order_release);
    }
    cv_.notify_all();
}

bool StopSignal::sleep_for(Millis d) {
    std::unique_lock lock(mutex_);
    return !cv_.wait_for(lock, d, [this] { return stopped_.load(std::memory_order_acquire); });
}

}  // namespace extract
