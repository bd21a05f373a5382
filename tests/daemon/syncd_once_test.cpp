// extract-syncd --once against the real extract-sim over loopback.

#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "tests/daemon/syncd_test_env.hpp"

using namespace extract::testing;
using namespace std::chrono_literals;

namespace {

class SyncdOnce : public ::testing::TestWithParam<std::string> {};

TEST_P(SyncdOnce, MirrorEqualsSimulatorInEveryListingOrder) {
    SimProcess sim(EXTRACT_SIM_BIN,
                   {"--batches", "5000", "--frozen", "--seed", "7", "--order", GetParam(), "--api-key", kSimKey});
    SyncdEnv env;
    env.write_config(sim.base_url());
    auto syncd = env.start_syncd({"--once"});
    ASSERT_EQ(syncd->wait(60s), 0) << syncd->stderr_text();

    const auto truth = canonical_by_id(sim.snapshot());
    ASSERT_EQ(truth.size(), 5000u);
    EXPECT_EQ(env.mirror_batches(), truth);
    // Every batch was sighted exactly once: one transition each, from NULL.
    EXPECT_EQ(env.count("SELECT count(*) FROM transitions"), 5000);
    EXPECT_EQ(env.count("SELECT count(*) FROM transitions WHERE from_status IS NOT NULL"), 0);
    // The bootstrap sync emits no batch.created by default (emit_on_bootstrap = false).
    EXPECT_EQ(env.count("SELECT count(*) FROM events"), 0);
    EXPECT_EQ(env.count("SELECT count(*) FROM sync_runs WHERE kind = 'full' AND error IS NULL AND pages = 25"), 1);
    EXPECT_NE(syncd->stderr_text().find("full sync: 25 pages"), std::string::npos) << syncd->stderr_text();
}

INSTANTIATE_TEST_SUITE_P(Orders, SyncdOnce, ::testing::Values("newest", "oldest", "shuffled"));

TEST(SyncdOnceFaults, MirrorConvergesDespiteInjectedFaults) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "5000", "--frozen", "--seed", "11", "--api-key", kSimKey});
    sim.set_faults(
        {{"error_rate", 0.2}, {"rate_limit_rate", 0.1}, {"retry_after", "1"}, {"malformed_rate", 0.05}, {"seed", 3}});
    SyncdEnv env;
    env.write_config(sim.base_url());
    auto syncd = env.start_syncd({"--once"});
    ASSERT_EQ(syncd->wait(120s), 0) << syncd->stderr_text();
    EXPECT_EQ(env.mirror_batches(), canonical_by_id(sim.snapshot()));
    EXPECT_EQ(env.count("SELECT count(*) FROM transitions"), 5000);
    const auto stats = sim.stats();
    EXPECT_GT(stats.at("requests").get<int>(), 25) << "faults must have caused retries: " << stats.dump();
}

TEST(SyncdOnceFaults, SecondPassAfterChangesRecordsEachTransitionOnce) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "500", "--frozen", "--seed", "5", "--api-key", kSimKey});
    SyncdEnv env;
    env.write_config(sim.base_url());
    ASSERT_EQ(env.start_syncd({"--once"})->wait(60s), 0);

    const auto created = sim.create(3, "pending");
    const std::set<std::string> new_ids(created.begin(), created.end());
    std::string changed_id;
    std::string removed_id;
    for (const auto& b : sim.snapshot()) {
        const auto id = b.at("id").get<std::string>();
        if (new_ids.count(id)) continue;
        if (changed_id.empty() && b.at("status") == "running") {
            changed_id = id;
        } else if (removed_id.empty()) {
            removed_id = id;
        }
    }
    ASSERT_FALSE(changed_id.empty());
    ASSERT_FALSE(removed_id.empty());
    sim.set_status(changed_id, "completed");
    sim.remove(removed_id);

    auto second = env.start_syncd({"--once"});
    ASSERT_EQ(second->wait(60s), 0) << second->stderr_text();
    EXPECT_EQ(env.mirror_batches(), canonical_by_id(sim.snapshot()));
    EXPECT_EQ(env.count("SELECT count(*) FROM events WHERE type = 'batch.created'"), 3);
    EXPECT_EQ(env.count("SELECT count(*) FROM events WHERE type = 'batch.status_changed' AND batch_id = '" +
                        changed_id + "'"),
              1);
    EXPECT_EQ(env.count("SELECT count(*) FROM transitions WHERE batch_id = '" + changed_id + "'"), 2);
    EXPECT_EQ(env.count("SELECT count(*) FROM events WHERE type = 'batch.removed' AND batch_id = '" + removed_id + "'"),
              1);
    EXPECT_EQ(env.count("SELECT count(*) FROM batches WHERE removed_at IS NOT NULL"), 1);

    // A third pass with nothing changed upstream records nothing new.
    const auto events_before = env.count("SELECT count(*) FROM events");
    ASSERT_EQ(env.start_syncd({"--once"})->wait(60s), 0);
    EXPECT_EQ(env.count("SELECT count(*) FROM events"), events_before);
    EXPECT_EQ(env.count("SELECT count(*) FROM transitions"), 500 + 3 + 1);
}

TEST(SyncdOnceAuth, WrongKeyExitsOneWithAClearMessageWithoutTheKey) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "10", "--api-key", kSimKey});
    SyncdEnv env;
    env.write_config(sim.base_url());
    const std::string wrong = "wrong-key-abcdef987654";
    auto syncd = env.start_syncd({"--once"}, wrong);
    ASSERT_EQ(syncd->wait(30s), 1);
    const std::string out = syncd->stdout_text() + syncd->stderr_text();
    EXPECT_NE(out.find("401"), std::string::npos) << out;
    EXPECT_NE(out.find("$EXTRACT_API_KEY"), std::string::npos) << "names where the key came from: " << out;
    EXPECT_EQ(out.find(wrong), std::string::npos) << out;
    EXPECT_EQ(sim.stats().at("requests").get<int>(), 1) << "no retry storm on 401";
}

}  // namespace
