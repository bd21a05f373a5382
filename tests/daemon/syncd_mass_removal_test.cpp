// The mass-removal guard in the real daemon against the real extract-sim (SPEC §3): a complete
// pass that no longer lists most of the mirror removes nothing, health says so with
// held_removals, and the removals apply on request (extractctl sync --full --confirm-removals)
// or once complete passes have agreed for mass_removal_confirm. An empty account (a key for
// another account) holds too, and listing the batches again clears the hold.

#include <gtest/gtest.h>

#include <csignal>
#include <string>
#include <vector>

#include "tests/daemon/mirror_audit.hpp"
#include "tests/daemon/syncd_test_env.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/live_db.hpp"

using namespace extract::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr int kBatches = 40;
constexpr int kGone = 30;  // 75% of the mirror, and more than 20: a mass removal
// No cycle of the daemon's own after its first (removing batches from the sim one by one must not
// race a pass that would see some of them gone): the test asks for each pass.
const std::string kQuiet = "poll_interval = 1h\nidle_poll_interval = 1h\nfull_sync_interval = 1h\n";

class SyncdMassRemoval : public ::testing::Test {
protected:
    // A daemon mirroring `sim`, started and waited for until its first full pass is recorded.
    void start(SimProcess& sim, const std::string& sync_section) {
        env.write_config(sim.base_url(), sync_section);
        const std::int64_t passes_before = full_passes();
        syncd = env.start_syncd({});
        ASSERT_TRUE(eventually([&] { return full_passes() > passes_before; }, 30s)) << syncd->stderr_text();
    }
    void stop() {
        syncd->signal(SIGTERM);
        ASSERT_EQ(syncd->wait(30s), 0) << syncd->stderr_text();
    }
    std::int64_t full_passes() const {
        try {
            return env.count(
                "SELECT count(*) FROM sync_runs WHERE kind = 'full' AND finished_at IS NOT NULL "
                "AND error IS NULL");
        } catch (const std::exception&) {
            return 0;  // the daemon has not created the file yet
        }
    }
    json health() const { return read_health(env.socket_path).value_or(json::object()); }
    // The hold's start as kept in the mirror's meta; empty when nothing is held.
    std::string held_since() const {
        auto db = open_live_db(env.db_path);
        SQLite::Statement query(db, "SELECT value FROM meta WHERE key = 'held_removals'");
        return query.executeStep() ? json::parse(query.getColumn(0).getString()).at("since").get<std::string>() : "";
    }
    std::int64_t removed_events() const {
        return env.count("SELECT count(*) FROM events WHERE type = 'batch.removed'");
    }
    std::int64_t removed_rows() const { return env.count("SELECT count(*) FROM batches WHERE removed_at IS NOT NULL"); }
    std::vector<std::string> remove_from(SimProcess& sim, int n) const {
        std::vector<std::string> gone;
        for (const auto& b : sim.snapshot()) {
            if (static_cast<int>(gone.size()) == n) break;
            gone.push_back(b.at("id").get<std::string>());
            sim.remove(gone.back());
        }
        return gone;
    }
    // A full pass now, waited for: its sync_runs row.
    json full_pass(const std::string& extra = "") const {
        const ApiAnswer run = call_api(env.socket_path, "POST", "/v1/sync?full=true&wait=true" + extra, 60s);
        EXPECT_EQ(run.status, 200) << run.body.dump();
        return run.body;
    }
    // The health of a held mass removal of `held` batches.
    void expect_held(std::int64_t held) const {
        const ApiAnswer answer = call_api(env.socket_path, "GET", "/v1/health");
        EXPECT_EQ(answer.status, 503) << answer.body.dump();
        EXPECT_EQ(answer.body.value("status", ""), "degraded") << answer.body.dump();
        EXPECT_EQ(answer.body.value("held_removals", -1), held) << answer.body.dump();
        const std::string error = answer.body.value("last_error", "");
        EXPECT_NE(error.find("mass removal held"), std::string::npos) << error;
        EXPECT_NE(error.find("extractctl sync --full --confirm-removals"), std::string::npos) << error;
    }

    SyncdEnv env;
    std::unique_ptr<ChildProcess> syncd;
};

TEST_F(SyncdMassRemoval, HeldUntilConfirmedByRequestAndKeptAcrossARestart) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", std::to_string(kBatches), "--frozen", "--api-key", kSimKey});
    ASSERT_NO_FATAL_FAILURE(start(sim, kQuiet + "mass_removal_confirm = 1h\n"));
    ASSERT_EQ(env.count("SELECT count(*) FROM batches WHERE removed_at IS NULL"), kBatches);

    remove_from(sim, kGone);
    const json held_run = full_pass();
    EXPECT_TRUE(held_run.at("error").is_null()) << held_run.dump();
    EXPECT_EQ(held_run.at("removed"), 0) << held_run.dump();
    expect_held(kGone);
    EXPECT_EQ(removed_rows(), 0);
    EXPECT_EQ(removed_events(), 0) << "no batch.removed while the removal is held";
    EXPECT_NE(syncd->stderr_text().find("mass removal held"), std::string::npos) << syncd->stderr_text();

    // extractctl health shows it and exits 1.
    ChildProcess health_ctl({EXTRACTCTL_BIN, "--socket", env.socket_path, "health"});
    EXPECT_EQ(health_ctl.wait(15s), 1) << health_ctl.stderr_text();
    EXPECT_NE(health_ctl.stdout_text().find("held_removals"), std::string::npos) << health_ctl.stdout_text();

    // A restart neither forgets the hold nor starts its time over.
    const std::string since = held_since();
    ASSERT_FALSE(since.empty());
    ASSERT_NO_FATAL_FAILURE(stop());
    ASSERT_NO_FATAL_FAILURE(start(sim, kQuiet + "mass_removal_confirm = 1h\n"));
    ASSERT_TRUE(eventually([&] { return health().value("held_removals", 0) == kGone; }, 10s)) << health().dump();
    expect_held(kGone);
    EXPECT_EQ(held_since(), since);
    EXPECT_EQ(removed_events(), 0);

    // Confirmed: that full pass removes them, each with its batch.removed.
    ChildProcess confirm({EXTRACTCTL_BIN, "--socket", env.socket_path, "sync", "--full", "--confirm-removals"});
    EXPECT_EQ(confirm.wait(60s), 0) << confirm.stderr_text();
    EXPECT_NE(confirm.stdout_text().find("removed      30"), std::string::npos) << confirm.stdout_text();
    EXPECT_EQ(removed_rows(), kGone);
    EXPECT_EQ(removed_events(), kGone);
    const ApiAnswer ok = call_api(env.socket_path, "GET", "/v1/health");
    EXPECT_EQ(ok.status, 200) << ok.body.dump();
    EXPECT_EQ(ok.body.value("held_removals", -1), 0) << ok.body.dump();
    EXPECT_EQ(held_since(), "");

    // confirm_removals without full=true is refused, naming why.
    const ApiAnswer refused = call_api(env.socket_path, "POST", "/v1/sync?confirm_removals=true");
    EXPECT_EQ(refused.status, 422) << refused.body.dump();
    EXPECT_NE(refused.body.dump().find("needs full=true"), std::string::npos) << refused.body.dump();
}

TEST_F(SyncdMassRemoval, AppliedOnceCompletePassesAgreeForMassRemovalConfirm) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", std::to_string(kBatches), "--frozen", "--api-key", kSimKey});
    ASSERT_NO_FATAL_FAILURE(start(sim, kQuiet + "mass_removal_confirm = 1s\n"));
    const auto gone = remove_from(sim, kGone);
    // The pass that first misses them holds: confirmation needs agreement over time.
    const json held_run = full_pass();
    EXPECT_EQ(held_run.at("removed"), 0) << held_run.dump();
    EXPECT_EQ(removed_events(), 0);
    expect_held(kGone);
    // Reloaded (SIGHUP) with a full pass every second: no request, the daemon's own passes agree
    // and, a second or more after the hold began, apply the removals.
    env.write_config(sim.base_url(),
                     "mass_removal_confirm = 1s\nfull_sync_interval = 1s\npoll_interval = 250ms\n"
                     "idle_poll_interval = 250ms\n");
    syncd->signal(SIGHUP);
    ASSERT_TRUE(eventually([&] { return removed_events() == kGone; }, 30s)) << syncd->stderr_text();
    EXPECT_EQ(removed_rows(), kGone);
    for (const auto& id : gone) {
        EXPECT_EQ(env.count("SELECT count(*) FROM batches WHERE removed_at IS NOT NULL AND id = '" + id + "'"), 1)
            << id;
    }
    EXPECT_NE(syncd->stderr_text().find("held mass removal applied"), std::string::npos) << syncd->stderr_text();
    ASSERT_TRUE(eventually([&] { return health().value("status", "") == "ok"; }, 10s)) << health().dump();
    EXPECT_EQ(health().value("held_removals", -1), 0);
}

TEST_F(SyncdMassRemoval, AnEmptyAccountHoldsAndListingTheBatchesAgainClearsTheHold) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", std::to_string(kBatches), "--frozen", "--api-key", kSimKey});
    SimProcess empty(EXTRACT_SIM_BIN, {"--batches", "0", "--frozen", "--api-key", kSimKey});
    ASSERT_NO_FATAL_FAILURE(start(sim, kQuiet + "mass_removal_confirm = 1h\n"));
    ASSERT_NO_FATAL_FAILURE(stop());

    // The key of another, empty account: every pass lists nothing.
    ASSERT_NO_FATAL_FAILURE(start(empty, kQuiet + "mass_removal_confirm = 1h\n"));
    ASSERT_TRUE(eventually([&] { return health().value("held_removals", 0) == kBatches; }, 10s)) << health().dump();
    expect_held(kBatches);
    full_pass();
    expect_held(kBatches);
    EXPECT_EQ(removed_rows(), 0);
    EXPECT_EQ(removed_events(), 0) << "no batch.removed storm";
    ASSERT_NO_FATAL_FAILURE(stop());

    // The right account again: its first complete pass lists every batch and clears the hold.
    ASSERT_NO_FATAL_FAILURE(start(sim, kQuiet + "mass_removal_confirm = 1h\n"));
    ASSERT_TRUE(eventually([&] { return health().value("status", "") == "ok"; }, 10s)) << health().dump();
    EXPECT_EQ(health().value("held_removals", -1), 0);
    EXPECT_EQ(removed_rows(), 0);
    EXPECT_EQ(removed_events(), 0);
    EXPECT_EQ(held_since(), "");
    EXPECT_NE(syncd->stderr_text().find("mass removal no longer held"), std::string::npos) << syncd->stderr_text();
}

}  // namespace
