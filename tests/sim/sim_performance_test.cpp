// What the sim costs, so that benchmarks measure the daemon and not the sim: CPU per 200-batch
// page, memory per batch, and pages per second over loopback. Prints the figures
// (sim/README.md quotes them); the bounds are loose enough for a loaded machine.

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>
#include <malloc.h>

#include <chrono>
#include <ctime>
#include <iostream>

#include "sim/batch_store.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/sim_process.hpp"

namespace extract::sim {
namespace {

using Stopwatch = std::chrono::steady_clock;
using extract::testing::FakeClock;

StoreSettings frozen() {
    StoreSettings s;
    s.frozen = true;
    return s;
}

// The next_cursor of a page, found without parsing the page (parsing would dwarf serving it).
std::optional<ListingPosition> next_cursor(const std::string& page) {
    const auto at = page.rfind(R"("next_cursor":")");
    if (at == std::string::npos) return std::nullopt;
    const auto start = at + 15;
    return decode_cursor(std::string_view(page).substr(start, page.find('"', start) - start));
}

// CPU time of this thread: the machine running the tests is shared, wall time would measure the neighbours.
double cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

struct PageCost {
    double cpu_ns;
    double wall_ns;
};

PageCost cost_per_page(BatchStore& store, const std::string& status, int pages) {
    ListQuery query{status, std::nullopt, 200};
    std::size_t bytes = 0;
    const double cpu_start = cpu_ns();
    const auto wall_start = Stopwatch::now();
    for (int i = 0; i < pages; ++i) {
        const std::string page = store.list_page(query);
        bytes += page.size();
        query.after = next_cursor(page);  // back to the start after the last page
    }
    const auto wall = std::chrono::duration<double, std::nano>(Stopwatch::now() - wall_start).count();
    EXPECT_GT(bytes, static_cast<std::size_t>(pages) * 1000);
    return {(cpu_ns() - cpu_start) / pages, wall / pages};
}

TEST(SimPerformance, A200BatchPageCostsWellUnderAMillisecond) {
    FakeClock clock;
    BatchStore store(clock, frozen());
    const auto generate_start = Stopwatch::now();
    store.generate(100'000);
    const auto generate_ms = std::chrono::duration<double, std::milli>(Stopwatch::now() - generate_start).count();
    cost_per_page(store, "", 50);  // warm-up

    const auto unfiltered = cost_per_page(store, "", 2000);
    const auto completed = cost_per_page(store, "completed", 2000);
    const auto running = cost_per_page(store, "running", 2000);
    const double snapshot_cpu_start = cpu_ns();
    const auto snapshot_bytes = store.snapshot().size();
    const double snapshot_cpu_ms = (cpu_ns() - snapshot_cpu_start) / 1e6;

    std::cout << "[ figures  ] 100k batches generated in " << generate_ms << " ms (wall)\n"
              << "[ figures  ] 200-batch page, CPU (wall): " << unfiltered.cpu_ns << " ns (" << unfiltered.wall_ns
              << ") unfiltered, " << completed.cpu_ns << " ns (" << completed.wall_ns << ") status=completed, "
              << running.cpu_ns << " ns (" << running.wall_ns << ") status=running\n"
              << "[ figures  ] snapshot of 100k batches: " << snapshot_cpu_ms << " ms CPU, "
              << snapshot_bytes / 1'000'000 << " MB\n";
    ::testing::Test::RecordProperty("cpu_ns_per_page", static_cast<int>(unfiltered.cpu_ns));
    EXPECT_LT(unfiltered.cpu_ns, 1'000'000);
    EXPECT_LT(completed.cpu_ns, 1'000'000);
    EXPECT_LT(running.cpu_ns, 1'000'000);
}

TEST(SimPerformance, ABatchTakesUnderOneKilobyteIncludingItsJson) {
    constexpr std::size_t kBatches = 200'000;
    FakeClock clock;
    const auto before = mallinfo2();
    auto store = std::make_unique<BatchStore>(clock, frozen());
    store->generate(kBatches);
    const auto after = mallinfo2();
    const auto bytes = (after.uordblks + after.hblkhd) - (before.uordblks + before.hblkhd);
    const double per_batch = static_cast<double>(bytes) / kBatches;
    std::cout << "[ figures  ] " << per_batch << " bytes of heap per batch (" << kBatches << " batches)\n";
    ::testing::Test::RecordProperty("bytes_per_batch", static_cast<int>(per_batch));
    EXPECT_LT(per_batch, 1024);
}

TEST(SimPerformance, PagesPerSecondOverLoopback) {
    extract::testing::SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "20000", "--frozen", "--api-key", "k"});
    Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(sim.port()));
    session.setKeepAlive(true);
    std::string cursor;
    std::size_t pages = 0, bytes = 0;
    const auto start = Stopwatch::now();
    while (Stopwatch::now() - start < std::chrono::milliseconds(1500)) {
        Poco::Net::HTTPRequest request("GET", "/v1/batches?limit=200" + (cursor.empty() ? "" : "&cursor=" + cursor),
                                       Poco::Net::HTTPMessage::HTTP_1_1);
        request.set("X-API-KEY", "k");
        request.setKeepAlive(true);
        session.sendRequest(request);
        Poco::Net::HTTPResponse response;
        std::string body;
        Poco::StreamCopier::copyToString(session.receiveResponse(response), body);
        ASSERT_EQ(response.getStatus(), Poco::Net::HTTPResponse::HTTP_OK);
        ++pages;
        bytes += body.size();
        const auto at = body.rfind(R"("next_cursor":")");
        cursor = at == std::string::npos ? "" : body.substr(at + 15, body.find('"', at + 15) - at - 15);
    }
    const double seconds = std::chrono::duration<double>(Stopwatch::now() - start).count();
    const double pages_per_second = static_cast<double>(pages) / seconds;
    std::cout << "[ figures  ] loopback, one keep-alive connection: " << pages_per_second << " pages/s of 200 batches, "
              << static_cast<double>(bytes) / seconds / 1e6 << " MB/s\n";
    EXPECT_EQ(sim.stats().at("requests").get<std::size_t>(), pages) << "one connection carried every request";
    EXPECT_GT(pages_per_second, 100);
}

}  // namespace
}  // namespace extract::sim
