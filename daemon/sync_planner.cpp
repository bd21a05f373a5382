#include "daemon/sync_planner.hpp"

#include <algorithm>

namespace extract::daemon {

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
        plan.fast_requests += listing_requests(found == input.nonterminal_by_status.end() ? 0 : found->second,
                                               input.page_size);
    }
    plan.fast_requests += std::max<std::int64_t>(input.expected_refreshes, 0);
    plan.statuses.assign(statuses.begin(), statuses.end());
    plan.full_requests = input.last_full_pass_pages ? std::max<std::int64_t>(*input.last_full_pass_pages, 1)
                                                    : listing_requests(input.mirrored_batches, input.page_size);
    plan.kind = !input.full_pass_due && plan.fast_requests < plan.full_requests ? SyncKind::fast : SyncKind::full;
    return plan;
}

}  // namespace extract::daemon
