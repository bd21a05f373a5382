#include "daemon/sync_schedule.hpp"

#include <algorithm>

namespace extract::daemon {

using sync::SyncResult;

Millis failure_delay(int consecutive_failures, Millis cap) {
    const int shift = std::min(consecutive_failures - 1, 20);
    const Millis delay{1000LL << std::max(shift, 0)};
    return std::min({delay, kMaxFailureDelay, cap});
}

SyncSchedule::NextCycle SyncSchedule::next_cycle(const Input& input) const {
    if (input.sync_requested) return {SteadyTime::min(), Reason::requested};
    if (!cycle_ended_) return {SteadyTime::min(), Reason::start};
    switch (last_result_) {
        case SyncResult::ok: {
            const NextCycle poll{*cycle_ended_ + pacing_.wait(input.any_nonterminal, input.intervals),
                                 input.any_nonterminal ? Reason::poll : Reason::idle_poll};
            if (!full_pass_ended_) return poll;
            const SteadyTime full = *full_pass_ended_ + input.intervals.full_sync;
            return full < poll.at ? NextCycle{full, Reason::full_sync} : poll;
        }
        case SyncResult::unauthorized: return {*cycle_ended_ + kAuthPause, Reason::auth_pause};
        default: return {*cycle_ended_ + failure_delay(failures_, input.intervals.full_sync), Reason::backoff};
    }
}

bool SyncSchedule::full_pass_due(SteadyTime now, Millis full_sync_interval, bool requested) const {
    return requested || !full_pass_ended_ || now >= *full_pass_ended_ + full_sync_interval;
}

void SyncSchedule::observe(const Ended& cycle) {
    if (cycle.result == SyncResult::stopped) return;  // the loop ends; nothing to schedule
    pacing_.observe(cycle.rate_limited);
    cycle_ended_ = cycle.at;
    last_result_ = cycle.result;
    if (cycle.result == SyncResult::ok) {
        failures_ = 0;
        if (cycle.kind == SyncKind::full) full_pass_ended_ = cycle.at;
    } else {
        ++failures_;
    }
}

}  // namespace extract::daemon
