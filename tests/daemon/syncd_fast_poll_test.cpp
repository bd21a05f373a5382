// The real daemon's fast polls against extract-sim in each listing order: requests per poll
// counted at the simulator, changes of non-terminal batches found between full passes, a
// vanished batch refreshed (and a 404 removing one), and a batch created and finished between
// two polls recorded by the next full pass.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "cli/unix_http_client.hpp"
#include "tests/daemon/syncd_test_env.hpp"
#include "tests/support/eventually.hpp"

using namespace extract::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr int kBatches = 2000;
constexpr int kPageSize = 50;  // a full pass is 40 pages

bool is_terminal(const std::string& status) {
    static const std::set<std::string> terminal{"completed", "partially_failed", "failed", "cancelled"};
    return terminal.contains(status);
}

class SyncdFastPoll : public ::testing::TestWithParam<std::string> {
protected:
    // Leaves 5 pending and 5 running batches, every other one completed.
    void keep_ten_nonterminal() {
        for (const auto& b : sim.snapshot()) {
            const std::string id = b.at("id").get<std::string>();
            const std::string status = b.at("status").get<std::string>();
            if (is_terminal(status)) continue;
            auto* kept = status == "pending" ? &pending : status == "running" ? &running : nullptr;
            if (kept != nullptr && kept->size() < 5) {
                kept->push_back(id);
            } else {
                sim.set_status(id, "completed");
            }
        }
        ASSERT_EQ(pending.size(), 5u);
        ASSERT_EQ(running.size(), 5u);
    }

    std::int64_t runs(const std::string& where) const {
        try {
            return env.count("SELECT count(*) FROM sync_runs WHERE finished_at IS NOT NULL AND " + where);
        } catch (const std::exception&) {
            return 0;  // the file or its tables are not there yet
        }
    }

    SimProcess sim{EXTRACT_SIM_BIN,
                   {"--batches", std::to_string(kBatches), "--frozen", "--order", GetParam(), "--api-key", kSimKey}};
    SyncdEnv env;
    std::vector<std::string> pending, running;
};

TEST_P(SyncdFastPoll, PollsCostAFewRequestsAndFindEveryChangeInAnyListingOrder) {
    keep_ten_nonterminal();
    env.upstream_settings = "request_timeout = 2s\npage_size = " + std::to_string(kPageSize) + "\n";
    env.write_config(sim.base_url(), "poll_interval = 200ms\nidle_poll_interval = 200ms\nfull_sync_interval = 1h\n");
    auto syncd = env.start_syncd({});
    ASSERT_TRUE(eventually([&] { return runs("kind = 'full' AND error IS NULL") == 1; }, 30s)) << syncd->stderr_text();
    const std::int64_t full_requests = env.count("SELECT requests FROM sync_runs WHERE kind = 'full'");
    EXPECT_EQ(full_requests, kBatches / kPageSize);

    // Fast polls: pending and running, one page each; never the unfiltered list.
    sim.reset_stats();
    const std::int64_t fast_before = runs("kind = 'fast'");
    ASSERT_TRUE(eventually([&] { return runs("kind = 'fast'") >= fast_before + 3; }, 20s)) << syncd->stderr_text();
    EXPECT_EQ(env.count("SELECT max(requests) FROM sync_runs WHERE kind = 'fast'"), 2);
    EXPECT_EQ(env.count("SELECT count(*) FROM sync_runs WHERE kind = 'fast' AND error IS NOT NULL"), 0);
    const json stats = sim.stats();
    EXPECT_FALSE(stats.at("by_filter").contains("<none>")) << stats.dump();
    EXPECT_GE(stats.at("by_filter").value("pending", 0), 3) << stats.dump();
    // One running list per pending list (a poll may straddle the reset).
    EXPECT_NEAR(stats.at("by_filter").value("pending", 0), stats.at("by_filter").value("running", 0), 1)
        << stats.dump();

    // Changes between two polls: a running batch finishes (no longer in any listed status: it
    // is refreshed on its own), a pending one starts, a running one vanishes (404), and a new
    // batch is created and finished before any poll could list it.
    const std::string finished = running[0], started = pending[0], vanished = running[1];
    sim.set_status(finished, "completed");
    sim.set_status(started, "running");
    sim.remove(vanished);
    const std::string unseen = sim.create(1, "completed").at(0);
    const auto changes_found = [&] {
        return env.count("SELECT count(*) FROM transitions WHERE batch_id = '" + finished +
                         "' AND from_status = 'running' AND to_status = 'completed'") == 1 &&
               env.count("SELECT count(*) FROM transitions WHERE batch_id = '" + started +
                         "' AND from_status = 'pending' AND to_status = 'running'") == 1 &&
               env.count("SELECT count(*) FROM batches WHERE id = '" + vanished + "' AND removed_at IS NOT NULL") == 1;
    };
    ASSERT_TRUE(eventually(changes_found, 10s)) << syncd->stderr_text();
    EXPECT_EQ(runs("kind = 'full'"), 1) << "fast polls found them";
    EXPECT_EQ(env.count("SELECT count(*) FROM events WHERE type = 'batch.removed' AND batch_id = '" + vanished + "'"),
              1);
    // Fast polls list non-terminal statuses only: the created-and-finished batch waits for a full pass.
    const std::int64_t fast_after_changes = runs("kind = 'fast'");
    ASSERT_TRUE(eventually([&] { return runs("kind = 'fast'") >= fast_after_changes + 2; }, 10s));
    EXPECT_EQ(env.count("SELECT count(*) FROM batches WHERE id = '" + unseen + "'"), 0);

    const auto reply =
        extract::cli::UnixHttpClient(env.socket_path, 30s).request("POST", "/v1/sync?full=true&wait=true");
    ASSERT_EQ(reply.status, 200) << reply.body;
    EXPECT_EQ(json::parse(reply.body).at("kind"), "full") << reply.body;
    EXPECT_EQ(env.count("SELECT count(*) FROM batches WHERE id = '" + unseen + "' AND status = 'completed'"), 1);
    EXPECT_EQ(env.mirror_batches(), canonical_by_id(sim.snapshot()));
    EXPECT_EQ(env.count("SELECT count(*) FROM batches WHERE removed_at IS NOT NULL"), 1);
}

INSTANTIATE_TEST_SUITE_P(ListingOrders, SyncdFastPoll, ::testing::Values("newest", "oldest", "shuffled"));

}  // namespace
