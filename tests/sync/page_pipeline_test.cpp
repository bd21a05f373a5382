// Paging one listing with the next page fetched while the current one is applied: page order,
// the overlap itself, and how a failure, a stop or an exception ends it.

#include "sync/page_pipeline.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <stdexcept>

#include "tests/support/eventually.hpp"
#include "tests/sync/sync_fixture.hpp"

using namespace extract;
using namespace extract::sync;
using extract::testing::batch_json;
using extract::testing::eventually;
using extract::testing::page_json;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

class PagePipelineTest : public extract::testing::SyncFixture {
protected:
    upstream::UpstreamClient client{transport, clock, clock, client_options()};

    // Holds the apply of the first page until `n` requests went out: the fetcher ran ahead, and
    // every page fetched before the last of them is waiting.
    void hold_first_page_until_requests(const upstream::BatchPage& page, std::size_t n) {
        if (page.batches.at(0).id == "p0" && !eventually([&] { return transport.requests().size() >= n; }, 5s, 1ms)) {
            ADD_FAILURE() << "the fetcher did not run ahead to request " << n;
        }
    }

    // Pages p0..p{n-1}, one batch each.
    void script_pages(int n) {
        for (int i = 0; i < n; ++i) {
            transport.respond(200, page_json({batch_json("p" + std::to_string(i))},
                                             i + 1 < n ? json("c" + std::to_string(i)) : json()));
        }
    }
};

TEST_F(PagePipelineTest, AppliesPagesInListingOrderWhileTheNextOneIsFetched) {
    script_pages(4);
    std::vector<std::string> applied;
    bool overlapped = true;
    const ListingOutcome outcome = page_listing(client, std::nullopt, stop, [&](const upstream::BatchPage& page) {
        applied.push_back(page.batches.at(0).id);
        // The request for the following page goes out before this page's apply returns.
        if (page.next_cursor) {
            overlapped =
                overlapped && eventually([&] { return transport.requests().size() >= applied.size() + 1; }, 5s, 1ms);
        }
    });
    ASSERT_EQ(outcome.status, upstream::FetchStatus::ok) << outcome.message;
    EXPECT_EQ(outcome.pages, 4);
    EXPECT_EQ(applied, (std::vector<std::string>{"p0", "p1", "p2", "p3"}));
    EXPECT_TRUE(overlapped);
    const auto requests = transport.requests();
    ASSERT_EQ(requests.size(), 4u);
    EXPECT_EQ(requests[0].target.find("cursor="), std::string::npos);
    EXPECT_NE(requests[3].target.find("cursor=c2"), std::string::npos);
}

TEST_F(PagePipelineTest, TheStatusFilterIsSentOnEveryPage) {
    transport.respond(200, page_json({batch_json("a", "pending")}, "c0"))
        .respond(200, page_json({batch_json("b", "pending")}));
    const ListingOutcome outcome = page_listing(client, "pending", stop, [](const upstream::BatchPage&) {});
    ASSERT_EQ(outcome.status, upstream::FetchStatus::ok);
    for (const auto& request : transport.requests())
        EXPECT_NE(request.target.find("status=pending"), std::string::npos);
}

TEST_F(PagePipelineTest, ANextPageFailingWhileOneIsAppliedEndsTheListingAfterThatPage) {
    transport.respond(200, page_json({batch_json("p0")}, "c0")).respond(500, "{}").respond(500, "{}");
    int applied = 0;
    const ListingOutcome outcome =
        page_listing(client, std::nullopt, stop, [&](const upstream::BatchPage&) { ++applied; });
    EXPECT_EQ(outcome.status, upstream::FetchStatus::unavailable);
    EXPECT_FALSE(outcome.message.empty());
    EXPECT_EQ(outcome.pages, 1);
    EXPECT_EQ(applied, 1);
}

TEST_F(PagePipelineTest, AStopWhileAPageIsAppliedEndsTheListingAfterIt) {
    script_pages(5);
    int applied = 0;
    const ListingOutcome outcome = page_listing(client, std::nullopt, stop, [&](const upstream::BatchPage&) {
        ++applied;
        stop.request_stop();
    });
    EXPECT_EQ(outcome.status, upstream::FetchStatus::stopped);
    EXPECT_EQ(applied, 1);
    EXPECT_LE(transport.requests().size(), 2u);  // at most the one page fetched ahead
}

TEST_F(PagePipelineTest, AnExceptionFromApplyPropagatesOnlyOnceTheFetchAheadHasEnded) {
    script_pages(3);
    EXPECT_THROW(page_listing(client, std::nullopt, stop,
                              [&](const upstream::BatchPage& page) {
                                  hold_first_page_until_requests(page, 2);  // the fetch of page 2 went out
                                  throw std::runtime_error("disk full");
                              }),
                 std::runtime_error);
    // The fetch of page 2 had started; it ended before the exception left page_listing, and the
    // fetcher started no other.
    EXPECT_EQ(transport.requests().size(), 2u);
    EXPECT_EQ(transport.remaining(), 1u);
}

TEST_F(PagePipelineTest, AnUnauthorizedFirstPageAppliesNothing) {
    transport.respond(401, R"({"detail":"bad key"})");
    int applied = 0;
    const ListingOutcome outcome =
        page_listing(client, std::nullopt, stop, [&](const upstream::BatchPage&) { ++applied; });
    EXPECT_EQ(outcome.status, upstream::FetchStatus::unauthorized);
    EXPECT_EQ(applied, 0);
}

}  // namespace

// Issue 15: a listing whose cursors loop or never end stops, saying `cursor`.
TEST_F(PagePipelineTest, ARepeatedCursorStopsTheListingAfterApplyingWhatItGot) {
    transport.respond(200, page_json({batch_json("a")}, "A"))
        .respond(200, page_json({batch_json("b")}, "B"))
        .respond(200, page_json({batch_json("c")}, "A"));
    std::vector<std::string> applied;
    const ListingOutcome outcome = page_listing(client, std::nullopt, stop, [&](const upstream::BatchPage& page) {
        applied.push_back(page.batches.at(0).id);
    });
    EXPECT_EQ(outcome.status, upstream::FetchStatus::bad_response);
    EXPECT_EQ(outcome.message,
              "upstream repeated next_cursor \"A\" after 3 pages: a loop of cursors that would never end; the pass "
              "stops and is tried again after the usual backoff");
    EXPECT_EQ(applied, (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(transport.requests().size(), 3u);  // "A" is not fetched again
}

TEST_F(PagePipelineTest, AListingLongerThanItsBoundStops) {
    for (int i = 0; i < 5; ++i)
        transport.respond(200, page_json({batch_json("p" + std::to_string(i))}, "c" + std::to_string(i)));
    const ListingOutcome outcome = page_listing(
        client, std::nullopt, stop, [](const upstream::BatchPage&) {}, 3);
    EXPECT_EQ(outcome.status, upstream::FetchStatus::bad_response);
    EXPECT_EQ(outcome.pages, 3);
    EXPECT_NE(outcome.message.find("a cursor that never ends"), std::string::npos) << outcome.message;
    EXPECT_EQ(transport.requests().size(), 3u);
}

TEST(ListingPageBound, TwiceTheMirrorsPagesPlusRoomToGrow) {
    EXPECT_EQ(listing_page_bound(0, 200), 10000);
    EXPECT_EQ(listing_page_bound(1'000'000, 200), 20000);
    EXPECT_EQ(listing_page_bound(201, 200), 10004);
}

// Group commit (issue 14, SPEC §3): when the writer closes a group of pages, decided by a pure
// policy on an injected clock.
TEST(GroupCommitPolicy, AGroupEndsWhenNoPageWaits) {
    extract::testing::FakeClock clock;
    GroupCommitPolicy policy(clock, {.max_pages = 32, .budget = 100ms});
    EXPECT_FALSE(policy.should_close(false)) << "no group is open yet";
    policy.add(clock.steady_now());
    EXPECT_FALSE(policy.should_close(true));
    EXPECT_TRUE(policy.should_close(false)) << "a group never waits for a page";
}

TEST(GroupCommitPolicy, AGroupEndsAtItsPageCap) {
    extract::testing::FakeClock clock;
    GroupCommitPolicy policy(clock, {.max_pages = 3, .budget = 100ms});
    policy.add(clock.steady_now());
    policy.add(clock.steady_now());
    EXPECT_FALSE(policy.should_close(true));
    policy.add(clock.steady_now());
    EXPECT_EQ(policy.pages(), 3);
    EXPECT_TRUE(policy.should_close(true));
    policy.reset();
    EXPECT_EQ(policy.pages(), 0);
    EXPECT_FALSE(policy.should_close(true));
}

TEST(GroupCommitPolicy, TheBudgetRunsFromTheArrivalOfTheGroupsFirstPage) {
    extract::testing::FakeClock clock;
    GroupCommitPolicy policy(clock, {.max_pages = 32, .budget = 100ms});
    const SteadyTime first = clock.steady_now();
    clock.advance(30ms);  // the first page waited before the group began
    policy.add(first);
    clock.advance(60ms);
    policy.add(clock.steady_now());  // a later arrival does not restart the budget
    EXPECT_FALSE(policy.should_close(true)) << "90 ms since the first page arrived";
    clock.advance(10ms);
    EXPECT_TRUE(policy.should_close(true)) << "100 ms since the first page arrived";

    // The next group's budget starts from its own first page.
    policy.reset();
    policy.add(clock.steady_now());
    EXPECT_FALSE(policy.should_close(true));
}

namespace {

// Records what page_listing asks of a writer: "p3" for an applied page, "commit".
class RecordingWriter final : public PageWriter {
public:
    std::function<void(const upstream::BatchPage&)> on_apply;
    std::vector<std::string> calls;
    void apply(const upstream::BatchPage& page) override {
        calls.push_back(page.batches.at(0).id);
        if (on_apply) on_apply(page);
    }
    void commit() override { calls.emplace_back("commit"); }

    std::vector<std::string> applied() const {
        std::vector<std::string> out;
        for (const auto& call : calls) {
            if (call != "commit") out.push_back(call);
        }
        return out;
    }
    // The applied pages, one vector per committed group; pages after the last commit last.
    std::vector<std::vector<std::string>> groups() const {
        std::vector<std::vector<std::string>> out(1);
        for (const auto& call : calls) {
            if (call == "commit") {
                out.emplace_back();
            } else {
                out.back().push_back(call);
            }
        }
        if (out.back().empty()) out.pop_back();
        return out;
    }
};

}  // namespace

TEST_F(PagePipelineTest, PagesWaitingWhenOneIsAppliedJoinItsGroupUpToTheCap) {
    script_pages(10);
    RecordingWriter writer;
    // While p0 is applied, the fetcher fills the queue: p1..p4 wait (runahead 4).
    writer.on_apply = [&](const upstream::BatchPage& page) { hold_first_page_until_requests(page, 5); };
    const ListingOutcome outcome = page_listing(client, std::nullopt, stop, clock, writer, 0,
                                                {.runahead = 4, .group = {.max_pages = 3, .budget = 100ms}});
    ASSERT_EQ(outcome.status, upstream::FetchStatus::ok) << outcome.message;
    EXPECT_EQ(outcome.pages, 10);
    const auto groups = writer.groups();
    ASSERT_FALSE(groups.empty());
    EXPECT_EQ(groups.front(), (std::vector<std::string>{"p0", "p1", "p2"}));
    for (const auto& group : groups) EXPECT_LE(group.size(), 3u);
    std::vector<std::string> in_order;
    for (int i = 0; i < 10; ++i) in_order.push_back("p" + std::to_string(i));
    EXPECT_EQ(writer.applied(), in_order);
    EXPECT_EQ(writer.calls.back(), "commit") << "the last group is committed before page_listing returns";
}

TEST_F(PagePipelineTest, AGroupClosesOnceItsBudgetSinceTheFirstPageArrivedIsSpent) {
    script_pages(6);
    RecordingWriter writer;
    // Every page takes 60 ms of the fake clock to apply; p1 and more wait from the start.
    writer.on_apply = [&](const upstream::BatchPage& page) {
        hold_first_page_until_requests(page, 4);
        clock.advance(60ms);
    };
    const ListingOutcome outcome = page_listing(client, std::nullopt, stop, clock, writer, 0,
                                                {.runahead = 8, .group = {.max_pages = 32, .budget = 100ms}});
    ASSERT_EQ(outcome.status, upstream::FetchStatus::ok) << outcome.message;
    // 60 ms after p0 arrived p1 joins; at 120 ms the budget is spent and the group commits.
    ASSERT_FALSE(writer.groups().empty());
    EXPECT_EQ(writer.groups().front(), (std::vector<std::string>{"p0", "p1"}));
    for (const auto& group : writer.groups()) EXPECT_LE(group.size(), 2u);
}

TEST_F(PagePipelineTest, AStopCommitsTheOpenGroupAndFetchesNoMoreThanTheRunahead) {
    script_pages(20);
    RecordingWriter writer;
    writer.on_apply = [&](const upstream::BatchPage&) { stop.request_stop(); };
    const ListingOutcome outcome = page_listing(client, std::nullopt, stop, clock, writer, 0,
                                                {.runahead = 4, .group = {.max_pages = 32, .budget = 100ms}});
    EXPECT_EQ(outcome.status, upstream::FetchStatus::stopped);
    EXPECT_EQ(writer.calls, (std::vector<std::string>{"p0", "commit"}));
    EXPECT_LE(transport.requests().size(), 5u);  // p0 and at most 4 fetched ahead
}

TEST_F(PagePipelineTest, AFailedPageCommitsThePagesBeforeIt) {
    transport.respond(200, page_json({batch_json("p0")}, "c0"))
        .respond(200, page_json({batch_json("p1")}, "c1"))
        .respond(500, "{}")
        .respond(500, "{}");
    RecordingWriter writer;
    const ListingOutcome outcome = page_listing(client, std::nullopt, stop, clock, writer, 0);
    EXPECT_EQ(outcome.status, upstream::FetchStatus::unavailable);
    EXPECT_EQ(outcome.pages, 2);
    EXPECT_EQ(writer.applied(), (std::vector<std::string>{"p0", "p1"}));
    ASSERT_FALSE(writer.calls.empty());
    EXPECT_EQ(writer.calls.back(), "commit");
}

TEST_F(PagePipelineTest, AnExceptionFromTheWriterLeavesItsGroupUncommitted) {
    script_pages(6);
    RecordingWriter writer;
    writer.on_apply = [&](const upstream::BatchPage& page) {
        hold_first_page_until_requests(page, 3);
        if (page.batches.at(0).id == "p1") throw std::runtime_error("disk full");
    };
    EXPECT_THROW(page_listing(client, std::nullopt, stop, clock, writer, 0,
                              {.runahead = 4, .group = {.max_pages = 32, .budget = 100ms}}),
                 std::runtime_error);
    // p1 waited when p0 was applied, so both were in one group, which was never committed.
    EXPECT_EQ(writer.calls, (std::vector<std::string>{"p0", "p1"}));
    const std::size_t fetched = transport.requests().size();
    EXPECT_LE(fetched, 6u);
    EXPECT_EQ(transport.remaining(), 6u - fetched) << "the fetcher ended before the exception left";
}
