#pragma once
// Pages one listing of GET /v1/batches (optionally filtered by status) to its end: a fetcher
// thread runs ahead of the caller, who applies the pages, several to a transaction while
// fetched pages wait (group commit, SPEC §3).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cache/mirror.hpp"
#include "core/clock.hpp"
#include "upstream/client.hpp"

namespace extract::sync {

struct ListingOutcome {
    upstream::FetchStatus status = upstream::FetchStatus::ok;  // ok: every page was fetched and applied
    std::string message;                                       // why not, for operators
    int pages = 0;                                             // pages handed to `apply`
};

// When the writer closes a group of pages applied in one transaction. Pure: it is told when
// pages arrived and reads the time from the Clock it was given.
//
// The visibility bound (SPEC §3: a change visible within 250 ms of its page arriving): pages
// arrive in order, so a page arrived no earlier than the first page of its group. Another page
// joins a group only while less than `budget` has passed since that first page arrived, and a
// page that arrives while a group is being closed waits for at most one page apply A and one
// commit C before its own group starts; so a page is visible at most max(budget, A + C) + A + C
// after it arrived. With budget 100 ms, a 200-batch page applied in about 5 ms and committed in
// about 1 ms (WAL, synchronous = NORMAL: no fsync), that is about 110 ms, and a group of at most
// max_pages pages usually closes sooner; a slow moment (a 32 MiB WAL checkpoint inside a commit,
// a loaded machine) has 140 ms of margin before 250 ms.
class GroupCommitPolicy {
public:
    struct Limits {
        // A group's dirty database pages should fit SQLite's 8 MiB page cache (2,048 pages; a
        // 200-batch page dirties a few hundred on a 1M mirror). Past it SQLite spills to the WAL
        // mid-transaction. 1M first sync, one run each on a loaded machine: one page a
        // transaction 102 s; groups of 4: 86 s, of 8: 84 s, of 32: 148 s.
        int max_pages = 8;
        Millis budget{100};  // since the group's first page arrived
    };
    GroupCommitPolicy(const Clock& clock, Limits limits);

    // A page was applied in the current group (the first one opens it); `arrived` is when it
    // was fetched.
    void add(SteadyTime arrived);
    // Whether the open group ends now: no page is waiting, it holds max_pages, or its budget is
    // spent. False while no group is open.
    bool should_close(bool page_waiting) const;
    // After the group's commit.
    void reset() { pages_ = 0; }
    int pages() const { return pages_; }

private:
    const Clock& clock_;
    Limits limits_;
    int pages_ = 0;
    SteadyTime first_arrived_{};
};

// What page_listing hands its pages to, on the calling thread.
class PageWriter {
public:
    virtual ~PageWriter() = default;
    // Applies one page inside the current group; the first page after a commit opens a group.
    // The page stays alive until the commit() that closes its group.
    virtual void apply(const upstream::BatchPage& page) = 0;
    // Makes the group's pages visible together. page_listing calls it after the last page of
    // every group, before it returns without an exception.
    virtual void commit() = 0;
};

struct PipelineSettings {
    // Pages fetched and waiting at most (a page is about 200 parsed batches); a fetch starts only
    // when a place is free, so the fetcher holds no page beyond these. The open group's pages
    // are held too, until its commit: at most runahead + group.max_pages pages in memory.
    std::size_t runahead = 16;
    GroupCommitPolicy::Limits group;
};

// Applies every page in listing order, on the calling thread, while a fetcher thread fetches the
// following ones: at most `runahead` pages wait, and pages that are waiting when one has been
// applied join its group (GroupCommitPolicy), so the database writes one transaction for many
// pages and hides behind the fetches. Stops at the first page that fails, or before the next
// page once `stop` is requested (status `stopped`); the open group is committed first, so every
// page handed to `apply` is kept. An exception from the writer propagates once the fetcher has
// ended (the pages waiting are dropped, and the writer's uncommitted group is its own to roll
// back); the client's stop signal and retry budget bound that wait. No thread outlives the call.
//
// A listing is bounded (issue 15): a `next_cursor` already seen in this listing (a loop such as
// A -> B -> A), or more than `max_pages` pages (0: no bound), stops it with `bad_response` and a message that
// says `cursor`, after the page that gave it is applied; the caller's backoff decides when the
// next attempt comes.
ListingOutcome page_listing(upstream::UpstreamClient& client, const std::optional<std::string>& status,
                            const StopSignal& stop, const Clock& clock, PageWriter& writer, std::int64_t max_pages,
                            const PipelineSettings& settings = {});

// One page at a time: the next page is fetched while `apply` runs on the current one, and
// nothing is grouped (runahead 1, groups of one page).
ListingOutcome page_listing(upstream::UpstreamClient& client, const std::optional<std::string>& status,
                            const StopSignal& stop, const std::function<void(const upstream::BatchPage&)>& apply,
                            std::int64_t max_pages = 0);

// Writes pages to the mirror in PageGroups: a group's pages become visible at its commit, and
// only then is `on_committed` called with each page's result, in order (counts, progress logs,
// liveness). Destroyed with a group open (an exception), it rolls that group back.
class MirrorPageWriter final : public PageWriter {
public:
    MirrorPageWriter(cache::Mirror& mirror, const cache::ApplyOptions& options,
                     std::function<void(const cache::ApplyResult&)> on_committed);
    void apply(const upstream::BatchPage& page) override;
    void commit() override;

private:
    cache::Mirror& mirror_;
    const cache::ApplyOptions& options_;
    std::function<void(const cache::ApplyResult&)> on_committed_;
    std::optional<cache::Mirror::PageGroup> group_;
    std::vector<cache::ApplyResult> applied_;  // the open group's pages
};

// How many pages one listing may take before it counts as endless: twice what the mirror's
// `mirrored_batches` need at `page_size`, plus 10,000 pages (2 million batches at 200) for an
// account that grew or a mirror still being filled. A first sync stopped by it has stored its
// pages, so the next attempt's bound is larger.
std::int64_t listing_page_bound(std::int64_t mirrored_batches, int page_size);

}  // namespace extract::sync
