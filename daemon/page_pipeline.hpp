#pragma once
// Pages one listing of GET /v1/batches (optionally filtered by status) to its end, fetching the
// next page on another thread while the caller applies the current one.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "core/clock.hpp"
#include "upstream/client.hpp"

namespace extract::daemon {

struct ListingOutcome {
    upstream::FetchStatus status = upstream::FetchStatus::ok;  // ok: every page was fetched and applied
    std::string message;                                       // why not, for operators
    int pages = 0;                                             // pages handed to `apply`
};

// Calls `apply` for every page in listing order, on the calling thread, while the following
// page is being fetched: at most two pages are in memory, and the database write of one page
// hides behind the fetch of the next. Stops at the first page that fails, or before the next
// page once `stop` is requested (status `stopped`). An exception from `apply` propagates
// once the fetch in flight has ended (its page is dropped); the client's stop signal and
// retry budget bound that wait.
//
// A listing is bounded (issue 15): a `next_cursor` already seen in this listing (a loop such as
// A -> B -> A), or more than `max_pages` pages (0: no bound), stops it with `bad_response` and a
// message that says `cursor`; the caller's backoff decides when the next attempt comes.
ListingOutcome page_listing(upstream::UpstreamClient& client, const std::optional<std::string>& status,
                            const StopSignal& stop, const std::function<void(const upstream::BatchPage&)>& apply,
                            std::int64_t max_pages = 0);

// How many pages one listing may take before it counts as endless: twice what the mirror's
// `mirrored_batches` need at `page_size`, plus 10,000 pages (2 million batches at 200) for an
// account that grew or a mirror still being filled. A first sync stopped by it has stored its
// pages, so the next attempt's bound is larger.
std::int64_t listing_page_bound(std::int64_t mirrored_batches, int page_size);

}  // namespace extract::daemon
