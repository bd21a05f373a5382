// Paging one listing with the next page fetched while the current one is applied: page order,
// the overlap itself, and how a failure, a stop or an exception ends it.

#include "daemon/page_pipeline.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "tests/daemon/sync_fixture.hpp"
#include "tests/support/eventually.hpp"

using namespace extract;
using namespace extract::daemon;
using extract::testing::batch_json;
using extract::testing::eventually;
using extract::testing::page_json;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

class PagePipelineTest : public extract::testing::SyncFixture {
protected:
    upstream::UpstreamClient client{transport, clock, clock, client_options()};

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
            overlapped = overlapped && eventually([&] { return transport.requests().size() >= applied.size() + 1; }, 5s, 1ms);
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
    for (const auto& request : transport.requests()) EXPECT_NE(request.target.find("status=pending"), std::string::npos);
}

TEST_F(PagePipelineTest, ANextPageFailingWhileOneIsAppliedEndsTheListingAfterThatPage) {
    transport.respond(200, page_json({batch_json("p0")}, "c0")).respond(500, "{}").respond(500, "{}");
    int applied = 0;
    const ListingOutcome outcome = page_listing(client, std::nullopt, stop, [&](const upstream::BatchPage&) { ++applied; });
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
                              [](const upstream::BatchPage&) { throw std::runtime_error("disk full"); }),
                 std::runtime_error);
    // The fetch of page 2 had started; it ended before the exception left page_listing.
    EXPECT_EQ(transport.requests().size(), 2u);
    EXPECT_EQ(transport.remaining(), 1u);
}

TEST_F(PagePipelineTest, AnUnauthorizedFirstPageAppliesNothing) {
    transport.respond(401, R"({"detail":"bad key"})");
    int applied = 0;
    const ListingOutcome outcome = page_listing(client, std::nullopt, stop, [&](const upstream::BatchPage&) { ++applied; });
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
    for (int i = 0; i < 5; ++i) transport.respond(200, page_json({batch_json("p" + std::to_string(i))}, "c" + std::to_string(i)));
    const ListingOutcome outcome = page_listing(client, std::nullopt, stop, [](const upstream::BatchPage&) {}, 3);
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
