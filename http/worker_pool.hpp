#pragma once
// The threads that run the API's routes.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/mirror_connections.hpp"
#include "core/clock.hpp"

namespace extract::api {

// A fixed set of threads, each with its own mirror connections, running jobs in order.
class WorkerPool {
public:
    using Job = std::function<void(MirrorConnections&)>;

    WorkerPool(std::size_t threads, const std::string& db_path, const Clock& clock);
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    void submit(Job job);
    // Runs what is queued, then joins. Idempotent.
    void stop();

private:
    void work(MirrorConnections& mirror);

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Job> jobs_;
    bool stopping_ = false;
    std::vector<std::unique_ptr<MirrorConnections>> connections_;
    std::vector<std::thread> threads_;
};

// Calls that block for long (waiting for a sync), each on a thread of its own so they never
// hold a worker; at most `max_threads` at once.
class BlockingCalls {
public:
    explicit BlockingCalls(std::size_t max_threads) : max_threads_(max_threads) {}
    ~BlockingCalls() { join(); }
    BlockingCalls(const BlockingCalls&) = delete;
    BlockingCalls& operator=(const BlockingCalls&) = delete;

    // False when `max_threads` calls are already running.
    bool try_run(std::function<void()> call);
    // Waits for every running call.
    void join();

private:
    struct Running {
        std::jthread thread;  // joined when its entry is erased
        std::shared_ptr<std::atomic<bool>> done;
    };
    std::size_t max_threads_;
    std::mutex mutex_;
    std::list<Running> running_;
};

}  // namespace extract::api
