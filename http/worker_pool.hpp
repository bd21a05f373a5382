#pragma once
// The threads that run an HTTP server's handlers: a pool of workers, each with a context of
// its own, and a thread apiece for the few calls that block for long.

#include <algorithm>
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

namespace extract::http {

// A fixed set of threads running jobs in order, each thread with a context of its own (the API's:
// its read-only mirror connections), which a job gets to use without sharing it.
template <class Context>
class WorkerPool {
public:
    using Job = std::function<void(Context&)>;
    using MakeContext = std::function<std::unique_ptr<Context>()>;

    // Makes every context on the calling thread first (what it throws, the constructor throws,
    // with no thread started), then starts `threads` threads (at least one).
    WorkerPool(std::size_t threads, const MakeContext& make_context) {
        for (std::size_t i = 0; i < std::max<std::size_t>(threads, 1); ++i) contexts_.push_back(make_context());
        for (auto& context : contexts_) threads_.emplace_back([this, c = context.get()] { work(*c); });
    }
    ~WorkerPool() { stop(); }
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    void submit(Job job) {
        {
            std::lock_guard lock(mutex_);
            jobs_.push_back(std::move(job));
        }
        wake_.notify_one();
    }

    // Runs what is queued, then joins. Idempotent.
    void stop() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        for (auto& t : threads_) {
            if (t.joinable()) t.join();
        }
    }

private:
    void work(Context& context) {
        while (true) {
            Job job;
            {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
                if (jobs_.empty()) return;  // stopping, and nothing left to run
                job = std::move(jobs_.front());
                jobs_.pop_front();
            }
            job(context);
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Job> jobs_;
    bool stopping_ = false;
    std::vector<std::unique_ptr<Context>> contexts_;
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

}  // namespace extract::http
