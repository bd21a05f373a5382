// The sync's promise under a hostile upstream: extract-sim answers 500s, 429s, answers slower
// than request_timeout, malformed and truncated bodies while batches keep changing, and the
// daemon syncs through it with short intervals. Once the faults stop and the simulator is
// frozen, one full sync makes the mirror equal the simulator's truth exactly, and every
// batch's transitions form one chain: none recorded twice, none lost.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "tests/daemon/mirror_audit.hpp"
#include "tests/daemon/syncd_test_env.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/live_db.hpp"

using namespace extract::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// Changes batches through the control API until stopped, as users and the lifecycle would:
// new batches, status moves (unknown statuses too), field updates, deletions.
class UpstreamChurn {
public:
    UpstreamChurn(const SimProcess& sim, std::vector<std::string> ids, unsigned seed)
        : sim_(sim), ids_(std::move(ids)), rng_(seed), thread_([this] { run(); }) {}
    ~UpstreamChurn() { stop(); }

    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }
    int changes() const { return changes_; }
    const std::string& error() const { return error_; }

private:
    void run() {
        static const std::vector<std::string> statuses{"pending", "running",   "completed", "partially_failed",
                                                       "failed",  "cancelled", "on_hold"};
        try {
            while (!stop_) {
                const int action = pick(0, 9);
                if (action < 3) {
                    for (const auto& id : sim_.create(pick(1, 3))) ids_.push_back(id);
                } else if (action < 6) {
                    sim_.set_status(random_id(), statuses[static_cast<std::size_t>(pick(0, 6))]);
                } else if (action < 8) {
                    sim_.update(random_id(), {{"metadata", {{"churn", changes_.load()}}}});
                } else if (action == 8 && ids_.size() > 20) {
                    const auto it = ids_.begin() + pick(0, static_cast<int>(ids_.size()) - 1);
                    sim_.remove(*it);
                    ids_.erase(it);
                }
                ++changes_;
                std::this_thread::sleep_for(30ms);  // pacing the churn, not waiting for a condition
            }
        } catch (const std::exception& e) {
            error_ = e.what();
        }
    }
    int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
    const std::string& random_id() {
        return ids_[static_cast<std::size_t>(pick(0, static_cast<int>(ids_.size()) - 1))];
    }

    const SimProcess& sim_;
    std::vector<std::string> ids_;
    std::mt19937 rng_;
    std::atomic<bool> stop_{false};
    std::atomic<int> changes_{0};
    std::string error_;
    std::thread thread_;
};

std::vector<std::string> ids_of(const json& batches) {
    std::vector<std::string> ids;
    for (const auto& b : batches) ids.push_back(b.at("id").get<std::string>());
    return ids;
}

TEST(SyncdFaults, AfterFaultsStopOneFullSyncMakesTheMirrorEqualTheTruthWithEveryTransitionOnce) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "150", "--speed", "300", "--seed", "8", "--api-key", kSimKey});
    SyncdEnv env;
    env.upstream_settings = "request_timeout = 1s\npage_size = 25\n";
    env.write_config(sim.base_url(),
                     "poll_interval = 200ms\nidle_poll_interval = 200ms\nfull_sync_interval = 300ms\n"
                     "emit_on_bootstrap = true\n");
    sim.set_faults({{"error_rate", 0.20},
                    {"rate_limit_rate", 0.10},
                    {"retry_after", "1"},
                    {"slow_rate", 0.05},
                    {"slow_ms", 2500},
                    {"malformed_rate", 0.05},
                    {"truncated_rate", 0.02},
                    {"seed", 11}});
    auto syncd = env.start_syncd({});
    UpstreamChurn churn(sim, ids_of(sim.snapshot()), 5);

    // The faulty phase lasts until the daemon has completed a few full passes through the faults
    // (at least 40 s), so every fault met pages of every kind of change.
    const auto faulty_until = std::chrono::steady_clock::now() + 40s;
    ASSERT_TRUE(eventually(
        [&] {
            if (std::chrono::steady_clock::now() < faulty_until) return false;
            try {
                return env.count("SELECT count(*) FROM sync_runs WHERE error IS NULL AND finished_at IS NOT NULL") >= 3;
            } catch (const std::exception&) {
                return false;
            }
        },
        100s, 200ms))
        << syncd->stderr_text();
    churn.stop();
    ASSERT_EQ(churn.error(), "");
    sim.set_faults({});
    sim.freeze();  // the truth stops moving: the snapshot and the last pass see the same thing
    const json faulted = sim.stats().at("by_status");
    for (const char* code : {"500", "429"}) EXPECT_GE(faulted.value(code, 0), 3) << code << " in " << faulted.dump();
    EXPECT_GT(churn.changes(), 300);

    const ApiAnswer run = call_api(env.socket_path, "POST", "/v1/sync?full=true&wait=true", 120s);
    ASSERT_EQ(run.status, 200) << run.body.dump() << syncd->stderr_text();
    EXPECT_TRUE(run.body.at("error").is_null()) << run.body.dump();
    const json truth = sim.snapshot();

    auto db = open_live_db(env.db_path);
    EXPECT_EQ(integrity_check(db), "ok");
    const Problems differences = truth_problems(db, truth);
    EXPECT_TRUE(differences.empty()) << first_problems(differences);
    const Problems chains = transition_chain_problems(db);
    EXPECT_TRUE(chains.empty()) << first_problems(chains);
    EXPECT_GT(db.execAndGet("SELECT count(*) FROM transitions WHERE from_status IS NOT NULL").getInt(), 100)
        << "the churn moved statuses while the faults were on";
    EXPECT_GT(db.execAndGet("SELECT count(*) FROM batches WHERE removed_at IS NOT NULL").getInt(), 0);
}

}  // namespace
