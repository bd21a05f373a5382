#include "http/worker_pool.hpp"

#include <algorithm>

namespace extract::api {

WorkerPool::WorkerPool(std::size_t threads, const std::string& db_path, const Clock& clock) {
    for (std::size_t i = 0; i < std::max<std::size_t>(threads, 1); ++i) {
        connections_.push_back(std::make_unique<MirrorConnections>(db_path, clock));
    }
    for (auto& mirror : connections_) threads_.emplace_back([this, m = mirror.get()] { work(*m); });
}

WorkerPool::~WorkerPool() { stop(); }

void WorkerPool::submit(Job job) {
    {
        std::lock_guard lock(mutex_);
        jobs_.push_back(std::move(job));
    }
    wake_.notify_one();
}

void WorkerPool::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) {
        if (t.joinable()) t.join();
    }
}

void WorkerPool::work(MirrorConnections& mirror) {
    while (true) {
        Job job;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
            if (jobs_.empty()) return;  // stopping, and nothing left to run
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        job(mirror);
    }
}

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

}  // namespace extract::api
