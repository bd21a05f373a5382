#pragma once
// Tells long polls that events were committed: the writer calls notify() after each commit
// that wrote events; waiters are woken at once instead of polling the database.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

#include "core/clock.hpp"

namespace extract::http {

class EventNotifier {
public:
    using ListenerId = std::uint64_t;
    using Listener = std::function<void()>;

    // After a commit that wrote events; `last_event_seq` is the highest seq it wrote.
    // Cheap and non-blocking for the writer: listeners only signal their own threads.
    void notify(std::int64_t last_event_seq);

    // Counts notify() calls. A reader that samples it before querying and finds it changed
    // afterwards knows a commit may have happened in between (no lost wake-ups).
    std::uint64_t generation() const;
    // The highest seq ever notified; 0 before the first.
    std::int64_t last_event_seq() const;

    // Blocks until generation() differs from `seen_generation` or `timeout` passes; true when
    // it changed. For callers that may hold a thread (tests, tools); the API server parks its
    // long polls without a thread through a listener instead.
    bool wait_for_change(std::uint64_t seen_generation, Millis timeout) const;

    // `listener` runs on the notifying thread after each notify(); it must not block or throw.
    // After remove_listener() returns, the listener is never called again.
    ListenerId add_listener(Listener listener);
    void remove_listener(ListenerId id);

private:
    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    std::uint64_t generation_ = 0;
    std::int64_t last_event_seq_ = 0;
    ListenerId next_listener_ = 1;
    std::map<ListenerId, Listener> listeners_;
};

}  // namespace extract::http
