#pragma once
// Chooses each cycle's plan (a fast poll of the non-terminal statuses, or a full pass when one
// is due or would cost fewer requests) and when the next cycle runs. Pure: plain numbers in.

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.hpp"
#include "core/sync_kind.hpp"

namespace extract::sync {

struct PlannerInput {
    // Mirrored, not removed batches of each non-terminal status.
    std::map<std::string, std::int64_t, std::less<>> nonterminal_by_status;
    // Statuses listed even when no mirrored batch has them: `pending` (where new batches
    // appear) and non-terminal statuses seen earlier (a new batch may have moved on to one).
    std::set<std::string, std::less<>> always_listed;
    std::int64_t mirrored_batches = 0;                 // not removed; needed only without last_full_pass_pages
    std::optional<std::int64_t> last_full_pass_pages;  // of the latest complete full pass
    std::int64_t expected_refreshes = 0;               // single-batch GETs the fast poll will likely need
                                                       // (RefreshEstimate::expected, from the counts above)
    int page_size = 200;
    bool full_pass_due = false;  // none complete yet, full_sync_interval elapsed, or asked for
};

struct SyncPlan {
    SyncKind kind = SyncKind::full;
    std::vector<std::string> statuses;  // a fast poll's listings, sorted
    std::int64_t fast_requests = 0;     // estimated cost of the fast poll
    std::int64_t full_requests = 0;     // estimated cost of a full pass
    std::int64_t planned_requests() const { return kind == SyncKind::fast ? fast_requests : full_requests; }
    std::int64_t alternative_requests() const { return kind == SyncKind::fast ? full_requests : fast_requests; }
};

// A listing of n batches costs ceil(n / page_size) pages and never less than one request.
std::int64_t listing_requests(std::int64_t batches, int page_size);

// The fast poll when it costs no more and no full pass is due; a full pass otherwise. At equal
// cost the fast poll wins: full passes come every full_sync_interval anyway, and a tie at the
// small end (a one-page account) must not turn every cycle into a full listing.
SyncPlan plan_sync(const PlannerInput& input);

// How many single-batch refreshes the next fast poll will need: the share of non-terminal
// batches the last fast poll had to refresh, applied to the mirror's non-terminal count now.
// Recomputed every cycle, so an early busy fast poll cannot price every later one out of the
// plan once the batches it refreshed have finished; never more than the batches a fast poll
// could refresh (the non-terminal ones).
class RefreshEstimate {
public:
    // After each successful fast poll: the non-terminal batches it started with, and how many it refreshed.
    void observe(std::int64_t nonterminal_before, std::int64_t refreshed);
    std::int64_t expected(std::int64_t nonterminal_now) const;

private:
    std::int64_t sample_nonterminal_ = 0;
    std::int64_t sample_refreshed_ = 0;
};

// The mirrored, not removed batches of all non-terminal statuses together.
std::int64_t nonterminal_total(const PlannerInput& input);

// When the next cycle runs after a successful one: poll_interval while any mirrored batch is
// not terminal, idle_poll_interval otherwise; doubled after every cycle that met a 429 (at most
// kMaxStretch times, never longer than full_sync_interval), back to normal after the first
// cycle without one. The account's rate limit is shared with the programs that submit batches.
class PollPacing {
public:
    static constexpr int kMaxStretch = 16;
    struct Intervals {
        Millis poll{10000}, idle_poll{60000}, full_sync{900000};
    };

    // After each cycle, ok or not: whether it met a 429.
    void observe(bool rate_limited) { stretch_ = rate_limited ? std::min(stretch_ * 2, kMaxStretch) : 1; }
    int stretch() const { return stretch_; }
    Millis wait(bool any_nonterminal, const Intervals& intervals) const {
        const Millis base = any_nonterminal ? intervals.poll : intervals.idle_poll;
        return std::min(base * stretch_, std::max(base, intervals.full_sync));
    }

private:
    int stretch_ = 1;
};

}  // namespace extract::sync
