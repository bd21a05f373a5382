#include "daemon/page_pipeline.hpp"

#include <algorithm>
#include <future>
#include <unordered_set>

#include "core/untrusted_text.hpp"

namespace extract::daemon {

std::int64_t listing_page_bound(std::int64_t mirrored_batches, int page_size) {
    const std::int64_t size = std::max(page_size, 1);
    return 2 * ((std::max<std::int64_t>(mirrored_batches, 0) + size - 1) / size) + 10000;
}

ListingOutcome page_listing(upstream::UpstreamClient& client, const std::optional<std::string>& status,
                            const StopSignal& stop, const std::function<void(const upstream::BatchPage&)>& apply,
                            std::int64_t max_pages) {
    using Fetch = upstream::Fetched<upstream::BatchPage>;
    auto fetch = [&client, &status](std::optional<std::string> cursor) {
        return std::async(std::launch::async, [&client, &status, cursor = std::move(cursor)] {
            return client.list_batches(status, cursor);
        });
    };
    ListingOutcome outcome;
    if (stop.stop_requested()) return {upstream::FetchStatus::stopped, "stopped before the listing started", 0};
    // Every cursor this listing followed: one seen again is a loop that would never end.
    std::unordered_set<std::string> cursors_followed;
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
        if (!last) {
            const std::string& cursor = *page.value->next_cursor;
            std::string problem;
            if (!cursors_followed.insert(cursor).second) {
                problem = "upstream repeated next_cursor \"" + escape_untrusted(cursor, 80) + "\" after " +
                          std::to_string(outcome.pages + 1) + " pages: a loop of cursors that would never end";
            } else if (max_pages > 0 && outcome.pages + 1 >= max_pages) {
                problem = "upstream still gave a next_cursor after " + std::to_string(outcome.pages + 1) +
                          " pages, more than the mirror's size justifies (" + std::to_string(max_pages) +
                          "): a cursor that never ends";
            }
            if (!problem.empty()) {
                // This page is applied like any other; the listing stops before following the cursor.
                apply(*page.value);
                ++outcome.pages;
                outcome.status = upstream::FetchStatus::bad_response;
                outcome.message = problem + "; the pass stops and is tried again after the usual backoff";
                return outcome;
            }
        }
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
