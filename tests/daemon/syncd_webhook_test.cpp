// The daemon's delivery promise end to end: a burst of transitions, extract-syncd killed
// with SIGKILL and restarted again and again, and a receiver that verifies every request
// with the independent `standardwebhooks` implementation.

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <set>
#include <thread>

#include "cli/unix_http_client.hpp"
#include "tests/daemon/syncd_test_env.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/live_db.hpp"
#include "tests/support/webhook_receiver.hpp"

using namespace extract::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const std::string kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

TEST(SyncdWebhooks, EveryEventArrivesAtLeastOnceAcrossFiveKillsAndEveryRequestVerifies) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "10", "--frozen", "--api-key", kSimKey});
    const auto ids = sim.create(200, "pending");
    SyncdEnv env;
    Receiver receiver(env.dir, "receiver", {"--secret", kSecret, "--respond", "200;delay=5"});
    const auto secret_file = env.dir.write("hook.whsec", kSecret + "\n");
    env.write_config(sim.base_url(), "full_sync_interval = 200ms\n",
                     "\n[webhook.receiver]\nurl = " + receiver.url() + "\nsecret_file = " + secret_file.string() +
                         "\nevents = batch.status_changed\nretry_schedule = 200ms, 200ms, 500ms, 1s, 1s, 2s\n");
    auto syncd = env.start_syncd({});
    auto count = [&](const std::string& sql) {
        try {
            return env.count(sql);
        } catch (const std::exception&) {
            return std::int64_t{-1};  // not created yet
        }
    };
    ASSERT_TRUE(eventually([&] { return count("SELECT count(*) FROM batches") == 210; }, 30s)) << syncd->stderr_text();

    // The burst: 200 batches complete upstream at once.
    for (const auto& id : ids) sim.set_status(id, "completed");

    std::mt19937 rng(42);
    for (int kill = 0; kill < 5; ++kill) {
        std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(100, 400)(rng)));
        syncd->signal(SIGKILL);  // a crash at a random moment: mid-sync, mid-delivery, or idle
        ASSERT_EQ(syncd->wait(10s), 128 + SIGKILL);
        syncd = env.start_syncd({});
    }

    ASSERT_TRUE(
        eventually([&] { return count("SELECT count(*) FROM events WHERE type = 'batch.status_changed'") == 200; },
                   60s))
        << syncd->stderr_text();
    std::set<std::string> expected;
    {
        auto db = open_live_db(env.db_path);
        SQLite::Statement q(db, "SELECT id FROM events WHERE type = 'batch.status_changed'");
        while (q.executeStep()) expected.insert(q.getColumn(0).getString());
    }
    std::set<std::string> received;
    ASSERT_TRUE(eventually(
        [&] {
            received.clear();
            for (const auto& r : receiver.requests())
                received.insert(r.at("headers").at("webhook-id").get<std::string>());
            return std::includes(received.begin(), received.end(), expected.begin(), expected.end());
        },
        60s))
        << "received " << received.size() << " of " << expected.size() << "\n"
        << syncd->stderr_text();
    for (const auto& r : receiver.requests()) {
        EXPECT_EQ(r.at("verified"), json::array({true})) << r.dump();
    }
    EXPECT_EQ(count("SELECT count(*) FROM transitions WHERE to_status = 'completed' AND from_status = 'pending'"), 200)
        << "each transition recorded exactly once across the crashes";
    EXPECT_TRUE(
        eventually([&] { return count("SELECT count(*) FROM deliveries WHERE state != 'delivered'") == 0; }, 30s));
    auto db = open_live_db(env.db_path);
    EXPECT_EQ(db.execAndGet("PRAGMA integrity_check").getString(), "ok");
}

TEST(SyncdWebhooks, EveryAttemptAndADisabledTargetShowThroughTheApi) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "5", "--frozen", "--api-key", kSimKey});
    const auto ids = sim.create(1, "pending");
    SyncdEnv env;
    Receiver flaky(env.dir, "flaky", {"--secret", kSecret, "--respond", "500", "--respond", "200"});
    Receiver gone(env.dir, "gone", {"--secret", kSecret, "--respond", "410"});
    const auto secret_file = env.dir.write("hook.whsec", kSecret + "\n");
    env.write_config(sim.base_url(), "full_sync_interval = 200ms\n",
                     "\n[webhook.flaky]\nurl = " + flaky.url() + "\nsecret_file = " + secret_file.string() +
                         "\nretry_schedule = 100ms\n\n[webhook.gone]\nurl = " + gone.url() +
                         "\nsecret_file = " + secret_file.string() + "\n");
    auto syncd = env.start_syncd({});
    auto api = [&](const std::string& target) {
        try {
            const auto reply = extract::cli::UnixHttpClient(env.socket_path, 10s).request("GET", target);
            return reply.status == 0 ? json::object() : json::parse(reply.body);
        } catch (const extract::cli::ConnectError&) {
            return json::object();  // not listening yet
        }
    };
    ASSERT_TRUE(eventually([&] { return api("/v1/health").value("status", "") == "ok"; }, 30s)) << syncd->stderr_text();
    sim.set_status(ids[0], "completed");

    ASSERT_TRUE(eventually(
        [&] {
            const json d = api("/v1/deliveries?target=webhook.flaky");
            return d.is_object() && !d.at("data").empty() && d.at("data").at(0).at("state") == "delivered";
        },
        30s))
        << syncd->stderr_text();
    const json log = api("/v1/deliveries?target=webhook.flaky").at("data").at(0).at("attempt_log");
    ASSERT_EQ(log.size(), 2u) << log.dump();
    EXPECT_EQ(log.at(0).at("status"), 500);
    EXPECT_EQ(log.at(1).at("status"), 200);
    EXPECT_EQ(log.at(1).at("attempt"), 2);

    ASSERT_TRUE(eventually(
        [&] { return api("/v1/health").value("disabled_targets", json::array()) == json::array({"webhook.gone"}); },
        30s))
        << api("/v1/health").dump();
    EXPECT_EQ(api("/v1/deliveries?target=webhook.gone").at("data").at(0).at("state"), "disabled");
}

}  // namespace
