#pragma once
// Pages one listing of GET /v1/batches (optionally filtered by status) to its end, fetching the
// next page on another thread while the caller applies the current one.

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
ListingOutcome page_listing(upstream::UpstreamClient& client, const std::optional<std::string>& status,
                            const StopSignal& stop, const std::function<void(const upstream::BatchPage&)>& apply);

}  // namespace extract::daemon
