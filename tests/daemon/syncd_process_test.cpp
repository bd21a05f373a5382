// The long-running extract-syncd as a process: configuration errors, signals, reload.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <thread>

#include "tests/daemon/syncd_test_env.hpp"
#include "tests/support/eventually.hpp"

using namespace extract::testing;
using namespace std::chrono_literals;

namespace {

TEST(SyncdConfig, CheckConfigAcceptsAValidFile) {
    SyncdEnv env;
    env.write_config("http://127.0.0.1:9");
    auto p = env.start_syncd({"--check-config"});
    EXPECT_EQ(p->wait(10s), 0) << p->stderr_text();
    EXPECT_NE(p->stdout_text().find("valid"), std::string::npos);
}

TEST(SyncdConfig, CheckConfigNamesFileLineAndKeyAndExits78) {
    SyncdEnv env;
    env.write_config("http://127.0.0.1:9", "pol_interval = 10s\n");
    auto p = env.start_syncd({"--check-config"});
    EXPECT_EQ(p->wait(10s), 78);
    const std::string err = p->stderr_text();
    EXPECT_NE(err.find(env.config_path + ":"), std::string::npos) << err;
    EXPECT_NE(err.find("pol_interval"), std::string::npos) << err;
}

TEST(SyncdConfig, StartUpWithABadValueExits78) {
    SyncdEnv env;
    env.write_config("http://127.0.0.1:9", "poll_interval = soon\n");
    auto p = env.start_syncd({});
    EXPECT_EQ(p->wait(10s), 78);
    EXPECT_NE(p->stderr_text().find("poll_interval"), std::string::npos) << p->stderr_text();
}

TEST(SyncdConfig, MissingApiKeyExits78) {
    SyncdEnv env;
    env.write_config("http://127.0.0.1:9");
    auto p = std::make_unique<ChildProcess>(
        std::vector<std::string>{EXTRACT_SYNCD_BIN, "--config", env.config_path, "--check-config"},
        std::map<std::string, std::string>{{"EXTRACT_API_KEY", ""},
                                           {"CREDENTIALS_DIRECTORY", env.dir.path().string()}});
    EXPECT_EQ(p->wait(10s), 78);
    EXPECT_NE(p->stderr_text().find("api_key_file"), std::string::npos) << p->stderr_text();
}

TEST(SyncdConfig, UnknownFlagIsAUsageError) {
    auto p = std::make_unique<ChildProcess>(std::vector<std::string>{EXTRACT_SYNCD_BIN, "--frobnicate"});
    EXPECT_EQ(p->wait(10s), 64);
    auto v = std::make_unique<ChildProcess>(std::vector<std::string>{EXTRACT_SYNCD_BIN, "--version"});
    EXPECT_EQ(v->wait(10s), 0);
    EXPECT_NE(v->stdout_text().find("extract-syncd "), std::string::npos);
}

TEST(SyncdSignals, SigtermMidSyncStopsWithinTwoSecondsWithoutAHalfPage) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "20000", "--frozen", "--api-key", kSimKey});
    sim.set_faults({{"slow_rate", 1.0}, {"slow_ms", 150}});
    SyncdEnv env;
    env.write_config(sim.base_url());
    auto syncd = env.start_syncd({});
    ASSERT_TRUE(eventually(
        [&] {
            try {
                return env.count("SELECT count(*) FROM batches") >= 600;
            } catch (const std::exception&) {
                return false;  // the file or its tables are not there yet
            }
        },
        30s))
        << syncd->stderr_text();
    syncd->signal(SIGTERM);
    const auto sent = std::chrono::steady_clock::now();
    ASSERT_EQ(syncd->wait(5s), 0) << syncd->stderr_text();
    EXPECT_LT(std::chrono::steady_clock::now() - sent, scaled(2s));
    const auto mirrored = env.count("SELECT count(*) FROM batches");
    EXPECT_LT(mirrored, 20000);
    EXPECT_EQ(mirrored % 200, 0) << "pages are applied whole";
    EXPECT_EQ(env.count("SELECT count(*) FROM transitions"), mirrored);
    EXPECT_EQ(env.count("SELECT count(*) FROM sync_runs WHERE finished_at IS NULL"), 0);
}

TEST(SyncdSignals, SigtermDuringASlowRequestDoesNotWaitForTheTimeout) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "100", "--frozen", "--api-key", kSimKey});
    sim.set_faults({{"slow_rate", 1.0}, {"slow_ms", 60000}});
    SyncdEnv env;
    env.write_config(sim.base_url());
    // request_timeout 2s from write_config: stopping must not even wait for that.
    auto syncd = env.start_syncd({});
    ASSERT_TRUE(eventually([&] { return sim.stats().at("received").get<int>() >= 1; }, 10s));
    syncd->signal(SIGTERM);
    const auto sent = std::chrono::steady_clock::now();
    ASSERT_EQ(syncd->wait(5s), 0) << syncd->stderr_text();
    EXPECT_LT(std::chrono::steady_clock::now() - sent, scaled(1500ms));
}

TEST(SyncdSignals, SighupReloadsAndAnInvalidReloadKeepsRunning) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "50", "--frozen", "--api-key", kSimKey});
    SyncdEnv env;
    env.write_config(sim.base_url());
    auto syncd = env.start_syncd({});
    ASSERT_TRUE(syncd->wait_for_stderr("full sync: 1 pages", 20s)) << syncd->stderr_text();

    env.write_config(sim.base_url(), "full_sync_interval = 1h\n");
    syncd->signal(SIGHUP);
    ASSERT_TRUE(syncd->wait_for_stderr("configuration reloaded", 10s)) << syncd->stderr_text();

    env.write_config(sim.base_url(), "full_sync_interval = never\n");
    syncd->signal(SIGHUP);
    ASSERT_TRUE(syncd->wait_for_stderr("keeping the running configuration", 10s)) << syncd->stderr_text();
    EXPECT_TRUE(syncd->running());

    env.write_config("http://127.0.0.1:1");
    syncd->signal(SIGHUP);
    ASSERT_TRUE(syncd->wait_for_stderr("need a restart", 10s)) << syncd->stderr_text();

    syncd->signal(SIGTERM);
    EXPECT_EQ(syncd->wait(5s), 0);
}

TEST(SyncdSignals, UnauthorizedPausesAndASighupWithTheRightKeyResumes) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "50", "--frozen", "--api-key", kSimKey});
    SyncdEnv env;
    const auto key_file = env.dir.write("api_key", "not-the-key\n");
    env.write_config(sim.base_url());
    // Point the config at a key file so that a reload can change the key.
    const auto with_key =
        env.dir.write("with-key.ini", "[upstream]\nbase_url = " + sim.base_url() +
                                          "\napi_key_file = " + key_file.string() +
                                          "\nmax_requests_per_second = 0\n[cache]\npath = " + env.db_path +
                                          "\n[api]\nsocket = " + env.socket_path + "\n");
    env.config_path = with_key.string();
    auto syncd = env.start_syncd({}, "");
    ASSERT_TRUE(syncd->wait_for_stderr("syncing is paused", 20s)) << syncd->stderr_text();
    EXPECT_EQ(sim.stats().at("requests").get<int>(), 1);

    env.dir.write("api_key", kSimKey + "\n");
    syncd->signal(SIGHUP);
    ASSERT_TRUE(syncd->wait_for_stderr("full sync: 1 pages", 20s)) << syncd->stderr_text();
    EXPECT_EQ(syncd->stderr_text().find(kSimKey), std::string::npos) << "the key is never logged";
    syncd->signal(SIGTERM);
    EXPECT_EQ(syncd->wait(5s), 0);
}

}  // namespace
