#include "daemon/page_pipeline.hpp"

#include <future>

namespace extract::daemon {

ListingOutcome page_listing(upstream::UpstreamClient& client, const std::optional<std::string>& status,
                            const StopSignal& stop, const std::function<void(const upstream::BatchPage&)>& apply) {
    using Fetch = upstream::Fetched<upstream::BatchPage>;
    auto fetch = [&client, &status](std::optional<std::string> cursor) {
        return std::async(std::launch::async, [&client, &status, cursor = std::move(cursor)] {
            return client.list_batches(status, cursor);
        });
    };
    ListingOutcome outcome;
    if (stop.stop_requested()) return {upstream::FetchStatus::stopped, "stopped before the listing started", 0};
    std::future<Fetch> ahead = fetch(std::nullopt);
    while (true) {
        Fetch page = ahead.get();
        if (page.status != upstream::FetchStatus::ok) {
            outcome.status = page.status;
            outcome.message = std::move(page.message);
            return outcome;
        }
        // The next fetch starts before this page is applied: the two overlap. A future from
        // std::async joins its thread when destroyed, so an exception from `apply` cannot leave
        // the fetch running behind the caller's back.
        const bool last = !page.value->next_cursor.has_value();
        if (!last && !stop.stop_requested()) ahead = fetch(page.value->next_cursor);
        apply(*page.value);
        ++outcome.pages;
        if (last) return outcome;
        if (stop.stop_requested()) {
            outcome.status = upstream::FetchStatus::stopped;
            outcome.message = "stopped before the listing completed";
            return outcome;
        }
    }
}

}  // namespace extract::daemon
