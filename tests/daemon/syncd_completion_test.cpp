// "Run something when a batch completes", end to end (issue 13): a trigger and a webhook that
// take only `completed` fire exactly once for every batch that reaches it after the bootstrap,
// however the daemon saw it (appeared already completed, seen pending first, or created and
// finished while no poll could run), never for a failure, not again on a re-listing or a
// restart, and exactly once per transition across kill -9 (receivers dedupe by event id).

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

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

// One line per trigger run: the environment the daemon gave it.
struct TriggerRun {
    std::string event_id, batch_id, status, previous_status;
};

std::vector<TriggerRun> trigger_runs(const std::filesystem::path& file) {
    std::vector<TriggerRun> out;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
        std::istringstream fields(line);
        TriggerRun run;
        std::getline(fields, run.event_id, '|');
        std::getline(fields, run.batch_id, '|');
        std::getline(fields, run.status, '|');
        std::getline(fields, run.previous_status, '|');
        out.push_back(run);
    }
    return out;
}

std::string sql_list(const std::vector<std::string>& ids) {
    std::string out;
    for (const auto& id : ids) out += (out.empty() ? "'" : ",'") + id + "'";
    return out;
}

std::vector<std::string> joined(std::initializer_list<const std::vector<std::string>*> parts) {
    std::vector<std::string> out;
    for (const auto* part : parts) out.insert(out.end(), part->begin(), part->end());
    return out;
}

// A daemon with a completed-only webhook and trigger, against a frozen extract-sim.
class CompletionTargets {
public:
    // `respond`: how the receiver answers (receiver.js --respond), e.g. slowly.
    explicit CompletionTargets(const std::string& respond = "200")
        : receiver(env.dir, "receiver", {"--secret", kSecret, "--respond", respond}),
          trigger_log(env.dir / "trigger.log"),
          secret_file(env.dir.write("hook.whsec", kSecret + "\n")) {}

    // [sync] keys (the intervals) plus both completion targets.
    void write_config(const std::string& sync_section) {
        env.write_config(
            sim.base_url(), sync_section,
            "\n[webhook.done]\nurl = " + receiver.url() + "\nsecret_file = " + secret_file.string() +
                "\nstatuses = completed\nretry_schedule = 200ms, 200ms, 500ms, 1s, 1s, 2s\n"
                "\n[trigger.done]\ncommand = /bin/sh -c 'printf \"%s|%s|%s|%s\\n\" \"$EXTRACT_EVENT_ID\" "
                "\"$EXTRACT_BATCH_ID\" \"$EXTRACT_BATCH_STATUS\" \"$EXTRACT_PREVIOUS_STATUS\" >> \"$0\"' " +
                trigger_log.string() + "\nstatuses = completed\nretry_schedule = 200ms, 200ms, 500ms, 1s\n");
    }

    std::int64_t count(const std::string& sql) const {
        try {
            return env.count(sql);
        } catch (const std::exception&) {
            return -1;  // the file or its tables are not there yet
        }
    }
    json api(const std::string& method, const std::string& target) const {
        try {
            const auto reply = extract::cli::UnixHttpClient(env.socket_path, scaled(60s)).request(method, target);
            return reply.status == 200 ? json::parse(reply.body) : json::object();
        } catch (const extract::cli::ConnectError&) {
            return json::object();  // not listening yet
        }
    }
    std::int64_t reloads(ChildProcess& syncd) const {
        const std::string text = syncd.stderr_text();
        std::int64_t n = 0;
        for (auto at = text.find("configuration reloaded"); at != std::string::npos;
             at = text.find("configuration reloaded", at + 1)) {
            ++n;
        }
        return n;
    }
    // Rewrites the [sync] section and waits until the daemon has applied it.
    bool reload(ChildProcess& syncd, const std::string& sync_section) {
        const std::int64_t before = reloads(syncd);
        write_config(sync_section);
        syncd.signal(SIGHUP);
        return eventually([&] { return reloads(syncd) > before; }, 10s);
    }
    // The completion of each batch, as the events table holds it: batch id -> events.
    std::map<std::string, std::int64_t> completion_events() const {
        auto db = open_live_db(env.db_path);
        SQLite::Statement q(db,
                            "SELECT batch_id, count(*) FROM events WHERE type = 'batch.status_changed' AND "
                            "json_extract(payload, '$.data.batch.status') = 'completed' GROUP BY batch_id");
        std::map<std::string, std::int64_t> out;
        while (q.executeStep()) out[q.getColumn(0).getString()] = q.getColumn(1).getInt64();
        return out;
    }
    std::set<std::string> completion_event_ids() const {
        auto db = open_live_db(env.db_path);
        SQLite::Statement q(db,
                            "SELECT id FROM events WHERE type = 'batch.status_changed' AND "
                            "json_extract(payload, '$.data.batch.status') = 'completed'");
        std::set<std::string> out;
        while (q.executeStep()) out.insert(q.getColumn(0).getString());
        return out;
    }
    std::int64_t delivered(const std::string& target) const {
        return count("SELECT count(*) FROM deliveries WHERE state = 'delivered' AND target = '" + target + "'");
    }

    SimProcess sim{EXTRACT_SIM_BIN, {"--batches", "10", "--frozen", "--api-key", kSimKey}};
    SyncdEnv env;
    Receiver receiver;
    std::filesystem::path trigger_log;
    std::filesystem::path secret_file;
};

std::set<std::string> as_set(const std::vector<std::string>& ids) { return {ids.begin(), ids.end()}; }

class SyncdCompletion : public ::testing::TestWithParam<std::string>, protected CompletionTargets {
protected:
    std::string sync_section() const {
        // A full pass every 2 s finds what no fast poll lists: a batch born and finished unseen.
        return "poll_interval = 200ms\nidle_poll_interval = " + GetParam() + "\nfull_sync_interval = 2s\n";
    }
};

TEST_P(SyncdCompletion, EveryBatchThatCompletesFiresEachCompletionTargetExactlyOnce) {
    // The bootstrap: every batch already there is terminal (so idle_poll_interval is what paces
    // the daemon afterwards), and announces nothing.
    for (const auto& b : sim.snapshot()) {
        const std::string status = b.at("status").get<std::string>();
        if (status != "completed" && status != "partially_failed" && status != "failed" && status != "cancelled") {
            sim.set_status(b.at("id").get<std::string>(), "completed");
        }
    }
    write_config(sync_section());
    auto syncd = env.start_syncd({});
    ASSERT_TRUE(eventually([&] { return api("GET", "/v1/health").value("status", "") == "ok"; }, 30s))
        << syncd->stderr_text();
    EXPECT_EQ(count("SELECT count(*) FROM events"), 0) << "the bootstrap stays silent";

    // 1. Five appear already completed.
    const auto appeared = sim.create(5, "completed");

    // 2. Five are seen pending first, then complete.
    const auto seen_pending = sim.create(5, "pending");
    ASSERT_TRUE(eventually(
        [&] {
            return count("SELECT count(*) FROM batches WHERE status = 'pending' AND id IN (" + sql_list(seen_pending) +
                         ")") == 5;
        },
        30s))
        << syncd->stderr_text();
    for (const auto& id : seen_pending) sim.set_status(id, "completed");

    // 3. Five are created and finish while no poll can run: the daemon is held between two
    // cycles (every interval 1 h, then one sync it answers only once it ended), so nothing
    // lists them while they are pending.
    ASSERT_TRUE(reload(*syncd, "poll_interval = 1h\nidle_poll_interval = 1h\nfull_sync_interval = 1h\n"))
        << syncd->stderr_text();
    ASSERT_FALSE(api("POST", "/v1/sync?wait=true").empty()) << syncd->stderr_text();
    const std::int64_t runs_held = count("SELECT count(*) FROM sync_runs");
    const auto unseen = sim.create(5, "pending");
    for (const auto& id : unseen) sim.set_status(id, "completed");
    ASSERT_EQ(count("SELECT count(*) FROM sync_runs"), runs_held) << "no cycle ran while the batches were pending";
    ASSERT_TRUE(reload(*syncd, sync_section())) << syncd->stderr_text();

    // 4. Three fail.
    const auto failing = sim.create(3, "pending");
    for (const auto& id : failing) sim.set_status(id, "failed");

    const auto completed = joined({&appeared, &seen_pending, &unseen});
    const auto all = joined({&completed, &failing});
    ASSERT_TRUE(eventually(
        [&] {
            return count("SELECT count(*) FROM batches WHERE status IN ('completed', 'failed') AND id IN (" +
                         sql_list(all) + ")") == 18;
        },
        30s))
        << syncd->stderr_text();
    ASSERT_TRUE(eventually([&] { return delivered("webhook.done") == 15 && delivered("trigger.done") == 15; }, 30s))
        << "webhook " << delivered("webhook.done") << ", trigger " << delivered("trigger.done") << "\n"
        << syncd->stderr_text();

    // A re-listing of every batch and a restart find nothing new to announce.
    ASSERT_EQ(api("POST", "/v1/sync?full=true&wait=true").value("kind", ""), "full") << syncd->stderr_text();
    syncd->signal(SIGTERM);
    ASSERT_EQ(syncd->wait(scaled(20s)), 0) << syncd->stderr_text();
    syncd = env.start_syncd({});
    ASSERT_TRUE(eventually([&] { return api("GET", "/v1/health").value("status", "") == "ok"; }, 30s))
        << syncd->stderr_text();
    ASSERT_EQ(api("POST", "/v1/sync?full=true&wait=true").value("kind", ""), "full") << syncd->stderr_text();

    // Exactly 15 firings of each target, one per completed batch, none for the failures.
    EXPECT_EQ(count("SELECT count(*) FROM deliveries WHERE target = 'webhook.done'"), 15);
    EXPECT_EQ(count("SELECT count(*) FROM deliveries WHERE target = 'trigger.done'"), 15);
    EXPECT_EQ(count("SELECT count(*) FROM events e JOIN deliveries d ON d.event_seq = e.seq WHERE e.batch_id IN (" +
                    sql_list(failing) + ")"),
              0);
    std::map<std::string, std::int64_t> once;
    for (const auto& id : completed) once[id] = 1;
    EXPECT_EQ(completion_events(), once) << "one completion event per batch";

    const auto requests = receiver.requests();
    ASSERT_EQ(requests.size(), 15u);
    std::set<std::string> hook_batches;
    for (const auto& r : requests) {
        EXPECT_EQ(r.at("verified"), json::array({true})) << r.dump();
        hook_batches.insert(
            json::parse(r.at("body").get<std::string>()).at("data").at("batch").at("id").get<std::string>());
    }
    EXPECT_EQ(receiver.received_ids(), completion_event_ids()) << "no duplicate webhook-id";
    EXPECT_EQ(hook_batches, as_set(completed));

    const auto runs = trigger_runs(trigger_log);
    ASSERT_EQ(runs.size(), 15u);
    std::set<std::string> trigger_ids, trigger_batches;
    for (const auto& run : runs) {
        trigger_ids.insert(run.event_id);
        trigger_batches.insert(run.batch_id);
        EXPECT_EQ(run.status, "completed");
        // A first sighting has no previous status; a batch seen pending came from there.
        const bool was_seen = as_set(seen_pending).contains(run.batch_id);
        EXPECT_EQ(run.previous_status, was_seen ? "pending" : "") << run.batch_id;
    }
    EXPECT_EQ(trigger_ids, completion_event_ids()) << "no duplicate EXTRACT_EVENT_ID";
    EXPECT_EQ(trigger_batches, as_set(completed));

    // How each group was seen, as the transitions record it.
    EXPECT_EQ(count("SELECT count(*) FROM transitions WHERE from_status IS NULL AND to_status = 'completed' AND "
                    "batch_id IN (" +
                    sql_list(joined({&appeared, &unseen})) + ")"),
              10);
    EXPECT_EQ(count("SELECT count(*) FROM transitions WHERE batch_id IN (" + sql_list(joined({&appeared, &unseen})) +
                    ")"),
              10);
    EXPECT_EQ(count("SELECT count(*) FROM transitions WHERE from_status = 'pending' AND to_status = 'completed' AND "
                    "batch_id IN (" +
                    sql_list(seen_pending) + ")"),
              5);
}

INSTANTIATE_TEST_SUITE_P(IdlePollIntervals, SyncdCompletion, ::testing::Values("200ms", "1h"),
                         [](const auto& param_info) {
                             return param_info.param == "200ms" ? std::string("ShortIdle") : "LongIdle";
                         });

// Each POST takes 20 ms, so deliveries are still being sent when the daemon is killed.
class SyncdCompletionCrash : public ::testing::Test, protected CompletionTargets {
protected:
    SyncdCompletionCrash() : CompletionTargets("200;delay=20") {}
};

TEST_F(SyncdCompletionCrash, AKill9DuringABurstOfCompletionsFiresEachOncePerTargetAfterRestart) {
    const auto pending = sim.create(30, "pending");
    write_config("poll_interval = 100ms\nidle_poll_interval = 100ms\nfull_sync_interval = 300ms\n");
    auto syncd = env.start_syncd({});
    ASSERT_TRUE(eventually([&] { return api("GET", "/v1/health").value("status", "") == "ok"; }, 30s))
        << syncd->stderr_text();

    // The burst: 30 known batches complete, 20 new ones appear completed.
    for (const auto& id : pending) sim.set_status(id, "completed");
    const auto appeared = sim.create(20, "completed");
    const auto completed = joined({&pending, &appeared});

    auto kill_and_restart = [&] {
        syncd->signal(SIGKILL);
        ASSERT_EQ(syncd->wait(scaled(10s)), 128 + SIGKILL);
        syncd = env.start_syncd({});
    };
    // Killed once the burst is being recorded, once deliveries are under way, once at start-up.
    ASSERT_TRUE(eventually([&] { return count("SELECT count(*) FROM events") > 0; }, 30s)) << syncd->stderr_text();
    kill_and_restart();
    ASSERT_TRUE(eventually([&] { return delivered("webhook.done") + delivered("trigger.done") > 0; }, 30s))
        << syncd->stderr_text();
    kill_and_restart();
    kill_and_restart();

    ASSERT_TRUE(eventually([&] { return completion_events().size() == completed.size(); }, 60s))
        << completion_events().size() << " of " << completed.size() << "\n"
        << syncd->stderr_text();
    const std::set<std::string> expected = completion_event_ids();
    ASSERT_TRUE(receiver.wait_for_ids(expected, 60s)) << syncd->stderr_text();
    ASSERT_TRUE(eventually(
        [&] {
            std::set<std::string> ids;
            for (const auto& run : trigger_runs(trigger_log)) ids.insert(run.event_id);
            return ids == expected;
        },
        60s))
        << syncd->stderr_text();
    ASSERT_TRUE(
        eventually([&] { return count("SELECT count(*) FROM deliveries WHERE state != 'delivered'") == 0; }, 30s));

    // One event per transition: no second one after any restart, whatever was in flight.
    std::map<std::string, std::int64_t> once;
    for (const auto& id : completed) once[id] = 1;
    EXPECT_EQ(completion_events(), once);
    EXPECT_EQ(count("SELECT count(*) FROM transitions WHERE to_status = 'completed' AND batch_id IN (" +
                    sql_list(completed) + ")"),
              static_cast<std::int64_t>(completed.size()));
    // One delivery per event and target; a webhook-id or event id seen twice is a resend of it.
    EXPECT_EQ(count("SELECT count(*) FROM deliveries WHERE target = 'webhook.done'"), 50);
    EXPECT_EQ(count("SELECT count(*) FROM deliveries WHERE target = 'trigger.done'"), 50);
    EXPECT_EQ(receiver.received_ids(), expected);
    for (const auto& r : receiver.requests()) EXPECT_EQ(r.at("verified"), json::array({true})) << r.dump();
    auto db = open_live_db(env.db_path);
    EXPECT_EQ(db.execAndGet("PRAGMA integrity_check").getString(), "ok");
}

}  // namespace
