#include "sync/sync_planner.hpp"

#include <algorithm>
#include <cmath>

namespace extract::sync {

std::int64_t listing_requests(std::int64_t batches, int page_size) {
    const std::int64_t size = std::max(page_size, 1);
    return std::max<std::int64_t>(1, (batches + size - 1) / size);
}

SyncPlan plan_sync(const PlannerInput& input) {
    SyncPlan plan;
    std::set<std::string, std::less<>> statuses = input.always_listed;
    for (const auto& [status, n] : input.nonterminal_by_status) statuses.insert(status);
    for (const auto& status : statuses) {
        const auto found = input.nonterminal_by_status.find(status);
        plan.fast_requests +=
            listing_requests(found == input.nonterminal_by_status.end() ? 0 : found->second, input.page_size);
    }
    plan.fast_requests += std::max<std::int64_t>(input.expected_refreshes, 0);
    plan.statuses.assign(statuses.begin(), statuses.end());
    plan.full_requests = input.last_full_pass_pages ? std::max<std::int64_t>(*input.last_full_pass_pages, 1)
                                                    : listing_requests(input.mirrored_batches, input.page_size);
    plan.kind = !input.full_pass_due && plan.fast_requests <= plan.full_requests ? SyncKind::fast : SyncKind::full;
    return plan;
}

std::int64_t nonterminal_total(const PlannerInput& input) {
    std::int64_t total = 0;
    for (const auto& [status, n] : input.nonterminal_by_status) total += std::max<std::int64_t>(n, 0);
    return total;
}

void RefreshEstimate::observe(std::int64_t nonterminal_before, std::int64_t refreshed) {
    sample_nonterminal_ = std::max<std::int64_t>(nonterminal_before, 0);
    sample_refreshed_ = std::clamp<std::int64_t>(refreshed, 0, sample_nonterminal_);
}

std::int64_t RefreshEstimate::expected(std::int64_t nonterminal_now) const {
    if (sample_nonterminal_ == 0 || nonterminal_now <= 0) return 0;
    // ceil(refreshed * now / before) without overflow: the share is at most 1, so the result at most `now`.
    const long double share =
        static_cast<long double>(sample_refreshed_) / static_cast<long double>(sample_nonterminal_);
    const auto estimate = static_cast<std::int64_t>(std::ceil(share * static_cast<long double>(nonterminal_now)));
    return std::clamp<std::int64_t>(estimate, 0, nonterminal_now);
}

}  // namespace extract::sync
