#include "sync/page_pipeline.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <stop_token>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/untrusted_text.hpp"

namespace extract::sync {

std::int64_t listing_page_bound(std::int64_t mirrored_batches, int page_size) {
    const std::int64_t size = std::max(page_size, 1);
    return 2 * ((std::max<std::int64_t>(mirrored_batches, 0) + size - 1) / size) + 10000;
}

GroupCommitPolicy::GroupCommitPolicy(const Clock& clock, Limits limits) : clock_(clock), limits_(limits) {}

void GroupCommitPolicy::add(SteadyTime arrived) {
    if (pages_++ == 0) first_arrived_ = arrived;
}

bool GroupCommitPolicy::should_close(bool page_waiting) const {
    if (pages_ == 0) return false;
    return !page_waiting || pages_ >= limits_.max_pages || clock_.steady_now() - first_arrived_ >= limits_.budget;
}

namespace {

// What the fetcher hands over: a page (or why there is none), when it arrived, and whether the
// listing ends with it.
struct Fetched {
    upstream::Fetched<upstream::BatchPage> page;
    SteadyTime arrived;
    std::string problem;       // a cursor that loops or never ends: the listing stops after this page
    std::exception_ptr error;  // the fetch threw
};

// The pages between the fetcher thread and the writer, at most `capacity` of them, counting the
// one being fetched: the fetcher takes a place before it fetches.
class PageQueue {
public:
    explicit PageQueue(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

    // Fetcher: waits for a free place; false once the writer has gone.
    bool reserve(const std::stop_token& token) {
        std::unique_lock lock(mutex_);
        return changed_.wait(lock, token, [this] { return pages_.size() + 1 <= capacity_; });
    }
    void push(Fetched fetched) {
        {
            std::lock_guard lock(mutex_);
            pages_.push_back(std::move(fetched));
        }
        changed_.notify_all();
    }
    // Writer: waits for the next page (the fetcher always ends with one that ends the listing).
    Fetched pop() {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [this] { return !pages_.empty(); });
        Fetched next = std::move(pages_.front());
        pages_.pop_front();
        lock.unlock();
        changed_.notify_all();
        return next;
    }
    bool waiting() const {
        std::lock_guard lock(mutex_);
        return !pages_.empty();
    }
    // Writer: pages it is done with go back to the fetcher, which parsed them, to be freed there.
    // glibc frees memory of another thread's arena slowly (a lock and a consolidation per free):
    // freed on the writer, they made an idle full pass of 100k batches 1.52 s instead of 1.26 s
    // (docs/BENCHMARKS.md, issue 14).
    void give_back(std::deque<Fetched>& spent) {
        std::lock_guard lock(mutex_);
        for (Fetched& page : spent) spent_.push_back(std::move(page));
        spent.clear();
    }
    // Fetcher: what the writer gave back, to destroy outside the lock.
    std::vector<Fetched> take_spent() {
        std::lock_guard lock(mutex_);
        return std::exchange(spent_, {});
    }

private:
    const std::size_t capacity_;
    mutable std::mutex mutex_;
    std::condition_variable_any changed_;
    std::deque<Fetched> pages_;
    std::vector<Fetched> spent_;  // left with the queue when the fetcher has ended
};

// The fetcher thread's loop: follows the cursors until a page ends the listing, a place in the
// queue is refused (the writer has gone) or `stop` is requested.
void fetch_listing(const std::stop_token& token, upstream::UpstreamClient& client,
                   const std::optional<std::string>& status, const StopSignal& stop, const Clock& clock,
                   std::int64_t max_pages, PageQueue& queue) {
    std::optional<std::string> cursor;
    // Every cursor this listing followed: one seen again is a loop that would never end.
    std::unordered_set<std::string> cursors_followed;
    for (std::int64_t fetched = 1;; ++fetched) {
        queue.take_spent();  // destroyed here, on the thread that allocated them
        if (!queue.reserve(token)) return;
        Fetched next;
        if (stop.stop_requested()) {
            next.page.status = upstream::FetchStatus::stopped;
            next.page.message = "stopped before the listing completed";
            next.arrived = clock.steady_now();
            return queue.push(std::move(next));
        }
        try {
            next.page = client.list_batches(status, cursor);
        } catch (...) {
            next.error = std::current_exception();
            return queue.push(std::move(next));
        }
        next.arrived = clock.steady_now();
        if (next.page.status != upstream::FetchStatus::ok || !next.page.value->next_cursor) {
            return queue.push(std::move(next));
        }
        cursor = next.page.value->next_cursor;
        if (!cursors_followed.insert(*cursor).second) {
            next.problem = "upstream repeated next_cursor \"" + escape_untrusted(*cursor, 80) + "\" after " +
                           std::to_string(fetched) + " pages: a loop of cursors that would never end";
        } else if (max_pages > 0 && fetched >= max_pages) {
            next.problem = "upstream still gave a next_cursor after " + std::to_string(fetched) +
                           " pages, more than the mirror's size justifies (" + std::to_string(max_pages) +
                           "): a cursor that never ends";
        }
        const bool ends = !next.problem.empty();
        queue.push(std::move(next));
        if (ends) return;
    }
}

}  // namespace

ListingOutcome page_listing(upstream::UpstreamClient& client, const std::optional<std::string>& status,
                            const StopSignal& stop, const Clock& clock, PageWriter& writer, std::int64_t max_pages,
                            const PipelineSettings& settings) {
    if (stop.stop_requested()) return {upstream::FetchStatus::stopped, "stopped before the listing started", 0};
    PageQueue queue(settings.runahead);
    GroupCommitPolicy group(clock, settings.group);
    // Declared after the queue, so destroyed first: an exception from the writer stops the
    // fetcher and joins it before the queue goes, and before the exception leaves this call.
    std::jthread fetcher(fetch_listing, std::ref(client), std::cref(status), std::cref(stop), std::cref(clock),
                         max_pages, std::ref(queue));
    // The open group's pages, alive until its commit (a writer may apply them again then).
    // A deque: adding a page moves none of the others.
    std::deque<Fetched> grouped;
    auto close_group = [&] {
        if (group.pages() == 0) return;
        writer.commit();
        group.reset();
        queue.give_back(grouped);
    };
    ListingOutcome outcome;
    while (true) {
        if (group.should_close(queue.waiting())) close_group();
        Fetched& next = grouped.emplace_back(queue.pop());
        if (next.error) std::rethrow_exception(next.error);
        if (next.page.status != upstream::FetchStatus::ok) {
            outcome.status = next.page.status;
            outcome.message = std::move(next.page.message);
            close_group();
            return outcome;
        }
        writer.apply(*next.page.value);
        group.add(next.arrived);
        ++outcome.pages;
        if (!next.problem.empty()) {
            outcome.status = upstream::FetchStatus::bad_response;
            outcome.message = next.problem + "; the pass stops and is tried again after the usual backoff";
            close_group();
            return outcome;
        }
        if (!next.page.value->next_cursor) {
            close_group();
            return outcome;
        }
        if (stop.stop_requested()) {
            close_group();
            outcome.status = upstream::FetchStatus::stopped;
            outcome.message = "stopped before the listing completed";
            return outcome;
        }
    }
}

namespace {

// A PageWriter that applies each page on its own, when it is handed over.
class ApplyEachPage final : public PageWriter {
public:
    explicit ApplyEachPage(const std::function<void(const upstream::BatchPage&)>& apply) : apply_(apply) {}
    void apply(const upstream::BatchPage& page) override { apply_(page); }
    void commit() override {}

private:
    const std::function<void(const upstream::BatchPage&)>& apply_;
};

}  // namespace

ListingOutcome page_listing(upstream::UpstreamClient& client, const std::optional<std::string>& status,
                            const StopSignal& stop, const std::function<void(const upstream::BatchPage&)>& apply,
                            std::int64_t max_pages) {
    static const SystemClock clock;
    ApplyEachPage writer(apply);
    return page_listing(client, status, stop, clock, writer, max_pages,
                        {.runahead = 1, .group = {.max_pages = 1, .budget = Millis{0}}});
}

MirrorPageWriter::MirrorPageWriter(cache::Mirror& mirror, const cache::ApplyOptions& options,
                                   std::function<void(const cache::ApplyResult&)> on_committed)
    : mirror_(mirror), options_(options), on_committed_(std::move(on_committed)) {}

void MirrorPageWriter::apply(const upstream::BatchPage& page) {
    if (!group_) group_.emplace(mirror_);
    applied_.push_back(group_->apply(page.batches, options_));
}

void MirrorPageWriter::commit() {
    if (!group_) return;
    group_->commit();
    group_.reset();
    std::vector<cache::ApplyResult> committed = std::move(applied_);
    applied_.clear();
    for (const cache::ApplyResult& page : committed) on_committed_(page);
}

}  // namespace extract::sync
