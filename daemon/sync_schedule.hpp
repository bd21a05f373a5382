#pragma once
// When the sync loop's next cycle runs and whether it is a full pass: poll_interval or
// idle_poll_interval after a good cycle (stretched by 429s), full_sync_interval, the backoff
// after failures, the 5-minute pause after a 401/403, and a sync asked for. Pure: the caller
// passes the time (from its Clock) and the [sync] intervals in force; the loop only waits.

#include <chrono>
#include <optional>

#include "core/clock.hpp"
#include "sync/sync_outcome.hpp"
#include "sync/sync_planner.hpp"

namespace extract::daemon {

// After a 401/403 the next try comes this much later (or at once after a reload).
inline constexpr Millis kAuthPause{5 * 60 * 1000};
inline constexpr Millis kMaxFailureDelay{5 * 60 * 1000};

// After `consecutive_failures` failed cycles (>= 1): 1 s, 2 s, 4 s ... at most 5 minutes, never
// more than `cap` (full_sync_interval; --once's patience).
Millis failure_delay(int consecutive_failures, Millis cap);

class SyncSchedule {
public:
    using Intervals = sync::PollPacing::Intervals;

    // Why the next cycle comes when it does.
    enum class Reason {
        start,       // no cycle has run yet: at once
        requested,   // POST /v1/sync, or a reload that ended an auth pause: at once
        poll,        // poll_interval after a good cycle (any mirrored batch not terminal), stretched by 429s
        idle_poll,   // idle_poll_interval after a good cycle (every batch terminal), stretched by 429s
        full_sync,   // full_sync_interval after the last complete full pass, sooner than the poll
        backoff,     // after a failed cycle (failure_delay)
        auth_pause,  // after a 401/403 (kAuthPause)
    };

    // What the loop knows between cycles, read under its lock.
    struct Input {
        Intervals intervals;          // [sync] in force now (a reload wakes the wait)
        bool any_nonterminal = true;  // after the last cycle (SyncEngine::any_nonterminal)
        bool sync_requested = false;  // a request not yet served by a cycle
    };

    struct NextCycle {
        SteadyTime at;  // at or before now: at once
        Reason reason = Reason::start;
    };

    // What the last cycle that ran (not stopped) did.
    struct Ended {
        SteadyTime at;
        sync::SyncResult result = sync::SyncResult::ok;
        SyncKind kind = SyncKind::full;
        bool rate_limited = false;  // it met a 429
    };

    NextCycle next_cycle(const Input& input) const;
    // Whether the cycle starting at `now` is a full pass: asked for (`requested`), none complete
    // since start, or full_sync_interval passed since the last one ended. A failed full pass
    // is retried as a full pass: it stays due.
    bool full_pass_due(SteadyTime now, Millis full_sync_interval, bool requested) const;
    void observe(const Ended& cycle);

    int consecutive_failures() const { return failures_; }  // since the last good cycle
    const sync::PollPacing& pacing() const { return pacing_; }

private:
    std::optional<SteadyTime> cycle_ended_;      // nullopt: the first cycle runs at once
    std::optional<SteadyTime> full_pass_ended_;  // nullopt: a full pass is due
    sync::SyncResult last_result_ = sync::SyncResult::ok;
    int failures_ = 0;
    sync::PollPacing pacing_;
};

}  // namespace extract::daemon
