#include "http/worker_pool.hpp"

namespace extract::http {

bool BlockingCalls::try_run(std::function<void()> call) {
    std::lock_guard lock(mutex_);
    // Reap the calls that finished since last time.
    for (auto it = running_.begin(); it != running_.end();) {
        if (it->done->load()) {
            it = running_.erase(it);
        } else {
            ++it;
        }
    }
    if (running_.size() >= max_threads_) return false;
    auto done = std::make_shared<std::atomic<bool>>(false);
    running_.push_back({std::jthread([call = std::move(call), done] {
                            call();
                            done->store(true);
                        }),
                        done});
    return true;
}

void BlockingCalls::join() {
    std::list<Running> running;
    {
        std::lock_guard lock(mutex_);
        running.swap(running_);
    }
    running.clear();  // each thread is joined as its entry goes, outside the lock
}

}  // namespace extract::http
