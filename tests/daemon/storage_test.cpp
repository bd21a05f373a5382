// Storage trouble under a running daemon: a full disk, a database that cannot be written,
// and a database another process holds locked. Each time the cycle fails with a log line
// naming the cause, health turns `degraded` with that cause as last_error, nothing of the
// failed page is written, the API keeps answering reads, and the daemon recovers on its own
// once the cause is gone.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <string>

#include "tests/daemon/mirror_audit.hpp"
#include "tests/daemon/syncd_test_env.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/live_db.hpp"
#include "tests/support/storage_trouble.hpp"

using namespace extract::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr int kMirrored = 20;  // batches before the trouble
constexpr int kAdded = 300;    // batches that arrive during it

// A daemon syncing every 300 ms that has mirrored kMirrored batches of a frozen simulator.
struct TroubleScene {
    SimProcess sim{EXTRACT_SIM_BIN, {"--batches", std::to_string(kMirrored), "--frozen", "--api-key", kSimKey}};
    SyncdEnv env;
    std::unique_ptr<ChildProcess> syncd;

    void start() {
        env.write_config(sim.base_url(), "full_sync_interval = 300ms\n");
        syncd = env.start_syncd({});
        ASSERT_TRUE(eventually([&] { return health().value("status", "") == "ok"; }, 30s)) << syncd->stderr_text();
    }
    json health() const {
        json body = call_api(env.socket_path, "GET", "/v1/health").body;
        return body.is_object() ? body : json::object();  // {} until the socket answers
    }
    std::int64_t mirrored() const { return env.count("SELECT count(*) FROM batches"); }

    // New batches upstream, with 4 KiB of metadata each: their first page needs far more room
    // than a few small commits. The daemon is held (SIGSTOP) while they are made, so that no
    // cycle sees a batch created but not yet given its metadata (small enough to fit).
    void add_batches() const {
        const json metadata{{"note", std::string(4096, 'n')}};
        syncd->signal(SIGSTOP);
        for (const auto& id : sim.create(kAdded)) sim.update(id, {{"metadata", metadata}});
        syncd->signal(SIGCONT);
    }

    // The trouble shows: a failed cycle naming `cause` in the log and in health, no row of
    // the new batches written, reads still served.
    void expect_degraded_by(const std::string& cause) {
        ASSERT_TRUE(syncd->wait_for_stderr(cause, 30s)) << syncd->stderr_text();
        json h;
        ASSERT_TRUE(eventually(
            [&] {
                h = health();
                return h.value("status", "") == "degraded" && h.value("last_error", json()).is_string();
            },
            30s))
            << h.dump();
        EXPECT_NE(h.at("last_error").get<std::string>().find(cause), std::string::npos) << h.dump();
        EXPECT_GE(h.at("consecutive_failures").get<int>(), 1);
        EXPECT_EQ(mirrored(), kMirrored) << "nothing of a failed page is written";
        const auto started = std::chrono::steady_clock::now();
        const ApiAnswer list = call_api(env.socket_path, "GET", "/v1/batches?limit=200");
        EXPECT_EQ(list.status, 200) << list.body.dump();
        EXPECT_EQ(list.body.at("data").size(), static_cast<std::size_t>(kMirrored));
        EXPECT_LT(std::chrono::steady_clock::now() - started, scaled(2s)) << "reads do not wait for the trouble";
        EXPECT_TRUE(syncd->running());
    }

    // The cause is gone: the next cycles succeed without a restart and write everything.
    void expect_recovered() {
        json h;
        ASSERT_TRUE(eventually(
            [&] {
                h = health();
                return h.value("status", "") == "ok" && mirrored() == kMirrored + kAdded;
            },
            30s))
            << h.dump() << "\n"
            << syncd->stderr_text();
        EXPECT_EQ(h.at("consecutive_failures"), 0);
        auto db = open_live_db(env.db_path);
        EXPECT_EQ(integrity_check(db), "ok");
        const Problems chains = transition_chain_problems(db);
        EXPECT_TRUE(chains.empty()) << first_problems(chains);
        const Problems differences = truth_problems(db, sim.snapshot());
        EXPECT_TRUE(differences.empty()) << first_problems(differences);
    }
};

TEST(SyncdStorage, AFullDiskFailsThePageWholeAndTheDaemonRecoversWhenSpaceReturns) {
    TroubleScene scene;
    // The whole test directory (config, socket, mirror) on a 24 MiB file system of its own.
    SizedTmpfs disk(scene.env.dir.path(), "24m");
    if (!disk.error().empty()) GTEST_SKIP() << "no small file system to fill: " << disk.error();
    scene.start();

    // Room for the small commits of a cycle, not for a page of the new batches. The WAL is
    // truncated first so that space it already holds does not hide the full disk.
    ASSERT_TRUE(eventually(
        [&] {
            SQLite::Database db(scene.env.db_path, SQLite::OPEN_READWRITE);
            return db.execAndGet("PRAGMA wal_checkpoint(TRUNCATE)").getInt() == 0;  // not busy
        },
        10s));
    scene.env.dir.write("reserve", std::string(256 * 1024, 'r'));
    ASSERT_GT(disk.fill("ballast"), 0u);
    std::filesystem::remove(scene.env.dir / "reserve");
    scene.add_batches();

    scene.expect_degraded_by("database or disk is full");
    EXPECT_TRUE(scene.syncd->wait_for_stderr("mirror write failed: database or disk is full", 1s))
        << "the page, not the start of the run, hit the full disk: " << scene.syncd->stderr_text();

    std::filesystem::remove(scene.env.dir / "ballast");
    scene.expect_recovered();
}

TEST(SyncdStorage, ADatabaseThatCannotBeWrittenFailsTheCycleAndTheDaemonRecoversWhenItCanAgain) {
    TroubleScene scene;
    scene.start();
    // Immutable, the files refuse writes even through the daemon's open descriptors (as a file
    // system remounted read-only after an error does); chmod would not stop a root daemon.
    ImmutableFiles read_only({scene.env.db_path, scene.env.db_path + "-wal"});
    if (!read_only.error().empty()) GTEST_SKIP() << "cannot make the database read-only: " << read_only.error();
    scene.add_batches();

    scene.expect_degraded_by("disk I/O error");

    read_only.release();
    scene.expect_recovered();
}

TEST(SyncdStorage, ADatabaseLockedByAnotherProcessFailsTheCycleWithinTheBusyTimeoutAndRecovers) {
    TroubleScene scene;
    scene.start();
    {
        // Another process (this test) holds the write lock, as `sqlite3 mirror.db 'BEGIN EXCLUSIVE'` would.
        SQLite::Database locker(scene.env.db_path, SQLite::OPEN_READWRITE, 10000);
        locker.exec("BEGIN EXCLUSIVE");
        scene.add_batches();
        scene.expect_degraded_by("database is locked");
        // A sync asked for now answers once its cycle has given up on the lock: bounded, not hung.
        const auto asked = std::chrono::steady_clock::now();
        const ApiAnswer run = call_api(scene.env.socket_path, "POST", "/v1/sync?full=true&wait=true", 30s);
        // Its cycle failed before a sync_runs row could be written: 503 with the cause, not a 500.
        EXPECT_EQ(run.status, 503) << run.body.dump();
        EXPECT_NE(run.body.value("detail", "").find("database is locked"), std::string::npos) << run.body.dump();
        EXPECT_LT(std::chrono::steady_clock::now() - asked, scaled(20s))
            << "at most two cycles of the 5 s busy timeout";
        locker.exec("ROLLBACK");
    }
    scene.expect_recovered();
}

}  // namespace
