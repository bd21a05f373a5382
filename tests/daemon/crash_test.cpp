// Crash safety of the real daemon: extract-syncd is killed with SIGKILL fifty times at random
// moments (mid-page, mid-delivery, mid-migration of a v3 file to layout v4) while batches keep changing
// upstream and a webhook receiver takes every event. After each kill the file passes
// PRAGMA integrity_check and every batch's transitions form one chain (none lost, none
// twice); at the end the mirror equals the simulator's truth and every event was received.
// (A second test kills a grouped first sync: every page stays whole, issue 14.)
// The randomness is seeded: EXTRACT_CRASH_SEED=N repeats a run, and a failure names its seed.
//
// The moments the test must cover are made, not hoped for: every other kill waits until the
// daemon has opened a full pass against a slowed simulator (so the pass outlasts the wait), and
// half of the migration kills wait until the migration has committed. What each kill hit is
// then read from the file, and the counts are asserted against what was read.

#include <SQLiteCpp/Transaction.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <set>
#include <thread>

#include "cache/schema.hpp"
#include "core/percent_encode.hpp"
#include "tests/daemon/mirror_audit.hpp"
#include "tests/daemon/syncd_test_env.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/live_db.hpp"
#include "tests/support/webhook_receiver.hpp"

using namespace extract::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const std::string kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr int kKills = 50;
constexpr int kMigrationEvery = 10;  // every tenth start opens a v3 file and is killed within its first 200 ms

unsigned crash_seed() {
    if (const char* given = std::getenv("EXTRACT_CRASH_SEED")) return static_cast<unsigned>(std::stoul(given));
    return std::random_device{}();
}

// The schema objects of a file at `version`, as the migrations build them on an empty file.
std::set<std::string> schema_objects(SQLite::Database& db) {
    SQLite::Statement q(db,
                        "SELECT name FROM sqlite_master WHERE type IN ('table', 'index', 'view') "
                        "AND name NOT LIKE 'sqlite_%'");
    std::set<std::string> names;
    while (q.executeStep()) names.insert(q.getColumn(0).getString());
    return names;
}

// The v3 layout (user_version 4, before layout v4 of issue 14): its schema, as the migrations
// build it on an empty file (they are append-only, so this is what v3 extract-sync wrote).
constexpr int kV3 = 4;
struct V3Schema {
    std::set<std::string> objects;
    std::vector<std::string> tables, indexes;  // CREATE statements of what layout v4 replaced
};
V3Schema v3_schema() {
    TempDir scratch;
    SQLite::Database db((scratch / "v3.db").string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    extract::cache::migrate_to(db, kV3);
    V3Schema schema{schema_objects(db), {}, {}};
    SQLite::Statement q(db,
                        "SELECT type, sql FROM sqlite_master WHERE tbl_name IN "
                        "('batches', 'transitions', 'events', 'deliveries') AND sql IS NOT NULL");
    while (q.executeStep()) {
        (q.getColumn(0).getString() == "table" ? schema.tables : schema.indexes).push_back(q.getColumn(1).getString());
    }
    return schema;
}

// Turns the mirror back into a v3 file with every row, as v3 extract-sync would have left it,
// so that the next start migrates it to layout v4 (the longest migration: every row is copied).
void downgrade_to_v3(const std::string& db_path, const V3Schema& v3) {
    SQLite::Database db(db_path, SQLite::OPEN_READWRITE);
    db.exec("PRAGMA foreign_keys = OFF");
    SQLite::Transaction tx(db);
    db.exec(
        "DROP VIEW batches; DROP VIEW transitions; DROP VIEW events; "
        "ALTER TABLE deliveries RENAME TO deliveries_v4;");
    for (const auto& sql : v3.tables) db.exec(sql);
    db.exec(R"sql(
INSERT INTO batches (rowid, id, status, total_items, count_pending, count_running, count_succeeded, count_failed,
                     count_cancelled, engine, options, metadata, created_at, started_at, completed_at, expires_at,
                     raw, first_seen_at, last_seen_at, last_changed_at, removed_at)
SELECT key, id, status, total_items, count_pending, count_running, count_succeeded, count_failed, count_cancelled,
       engine, json_extract(raw, '$.options'), metadata, created_at, started_at,
       completed_at, expires_at, raw, first_seen_at, coalesce(last_seen_at, last_changed_at), last_changed_at,
       removed_at
FROM batch_rows;
INSERT INTO transitions (seq, batch_id, from_status, to_status, observed_at)
SELECT t.seq, b.id, t.from_status, t.to_status, t.observed_at FROM transition_rows t JOIN batch_rows b ON b.key = t.batch_key;
INSERT INTO events (seq, id, type, batch_id, created_at, payload)
SELECT e.seq, e.id, e.type, b.id, e.created_at, e.payload FROM event_rows e JOIN batch_rows b ON b.key = e.batch_key;
INSERT INTO deliveries SELECT * FROM deliveries_v4;
UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'event_rows') WHERE name = 'events';
DROP TABLE deliveries_v4; DROP TABLE event_rows; DROP TABLE transition_rows; DROP TABLE batch_rows;
DELETE FROM sqlite_sequence WHERE name NOT IN ('events', 'deliveries');
)sql");
    for (const auto& sql : v3.indexes) db.exec(sql);
    db.exec("PRAGMA user_version = " + std::to_string(kV3));
    tx.commit();
}

// The file may not exist yet, or be mid-creation: "not yet" rather than an error.
template <class Query>
bool file_shows(const std::string& db_path, Query query) {
    try {
        if (!std::filesystem::exists(db_path)) return false;
        auto db = open_live_db(db_path);
        return query(db);
    } catch (const std::exception&) {
        return false;
    }
}

// A full pass left open, begun after run `after` (a kill leaves its run open until the next start).
bool full_pass_open(SQLite::Database& db, std::int64_t after = 0) {
    SQLite::Statement q(db, "SELECT count(*) FROM sync_runs WHERE kind = 'full' AND finished_at IS NULL AND id > ?1");
    q.bind(1, static_cast<int64_t>(after));
    return q.executeStep() && q.getColumn(0).getInt() > 0;
}

std::int64_t last_run(SQLite::Database& db) {
    return db.execAndGet("SELECT coalesce(max(id), 0) FROM sync_runs").getInt64();
}

std::set<std::string> event_ids(const std::string& db_path) {
    auto db = open_live_db(db_path);
    SQLite::Statement q(db, "SELECT id FROM events");
    std::set<std::string> ids;
    while (q.executeStep()) ids.insert(q.getColumn(0).getString());
    return ids;
}

TEST(SyncdCrashes, FiftyKillsAtRandomMomentsLoseNoTransitionAndDeliverEveryEvent) {
    const unsigned seed = crash_seed();
    SCOPED_TRACE("EXTRACT_CRASH_SEED=" + std::to_string(seed));
    std::mt19937 rng(seed);
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };

    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "300", "--speed", "1000", "--seed", std::to_string(seed % 1000 + 1),
                                     "--api-key", kSimKey});
    SyncdEnv env;
    Receiver receiver(env.dir, "receiver", {"--secret", kSecret, "--respond", "200;delay=2"});
    const auto secret_file = env.dir.write("hook.whsec", kSecret + "\n");
    env.upstream_settings = "request_timeout = 2s\npage_size = 20\n";
    env.write_config(sim.base_url(),
                     "poll_interval = 100ms\nidle_poll_interval = 100ms\nfull_sync_interval = 100ms\n"
                     "emit_on_bootstrap = true\n",
                     "\n[webhook.receiver]\nurl = " + receiver.url() + "\nsecret_file = " + secret_file.string() +
                         "\nevents = batch.created, batch.status_changed, batch.updated, batch.removed\n"
                         "retry_schedule = 100ms, 200ms, 500ms, 1s, 1s, 1s, 1s, 1s\n");

    const V3Schema v3 = v3_schema();
    std::vector<std::string> live;
    for (const auto& b : sim.snapshot()) live.push_back(b.at("id").get<std::string>());
    int migrated = 0, untouched = 0, aimed_after_migration = 0, mid_pass = 0, aimed_mid_pass = 0;
    for (int kill = 0; kill < kKills; ++kill) {
        SCOPED_TRACE("kill " + std::to_string(kill + 1));
        // Upstream keeps moving: new batches that run their lifecycle, status moves, deletions.
        for (const auto& id : sim.create(pick(1, 5))) live.push_back(id);
        sim.set_status(live[static_cast<std::size_t>(pick(0, static_cast<int>(live.size()) - 1))],
                       pick(0, 1) ? "completed" : "running");
        if (pick(0, 4) == 0) {
            const auto gone = live.begin() + pick(0, static_cast<int>(live.size()) - 1);
            sim.remove(*gone);
            live.erase(gone);
        }

        const bool migration = kill % kMigrationEvery == kMigrationEvery - 1;
        // Every other ordinary kill aims mid-pass: each page answers 30 ms late, so a full pass
        // of 15+ pages lasts far longer than the wait below once the pass is seen open.
        const bool aim_mid_pass = !migration && kill % 2 == 0;
        const bool aim_after_migration = migration && (kill / kMigrationEvery) % 2 == 0;
        sim.set_faults(aim_mid_pass ? json{{"slow_rate", 1.0}, {"slow_ms", 30}} : json::object());
        if (migration && std::filesystem::exists(env.db_path)) downgrade_to_v3(env.db_path, v3);
        std::int64_t runs_before = 0;
        file_shows(env.db_path, [&](SQLite::Database& db) { return (runs_before = last_run(db)) > 0; });
        auto syncd = env.start_syncd({});
        if (aim_mid_pass) {
            ++aimed_mid_pass;
            ASSERT_TRUE(eventually(
                [&] {
                    return file_shows(env.db_path,
                                      [&](SQLite::Database& db) { return full_pass_open(db, runs_before); });
                },
                20s, 5ms))
                << syncd->stderr_text();
        } else if (aim_after_migration) {
            ++aimed_after_migration;
            ASSERT_TRUE(eventually(
                [&] {
                    return file_shows(env.db_path, [](SQLite::Database& db) {
                        return db.execAndGet("PRAGMA user_version").getInt() > kV3;
                    });
                },
                20s, 5ms))
                << syncd->stderr_text();
        }
        const int moment = aim_mid_pass || aim_after_migration ? pick(0, 100)
                           : migration                         ? pick(10, 200)
                                                               : pick(50, 600);
        std::this_thread::sleep_for(std::chrono::milliseconds(moment));  // the random moment
        syncd->signal(SIGKILL);
        ASSERT_EQ(syncd->wait(10s), 128 + SIGKILL) << syncd->stderr_text();
        if (!std::filesystem::exists(env.db_path)) continue;  // killed before it created the file

        auto db = open_live_db(env.db_path);
        ASSERT_EQ(integrity_check(db), "ok");
        if (full_pass_open(db, runs_before)) ++mid_pass;
        const Problems chains = transition_chain_problems(db);
        ASSERT_TRUE(chains.empty()) << first_problems(chains);
        if (migration) {
            // Each migration step is one transaction: a file still at v3 is untouched, one past
            // it has the v4 layout, with every row (the chains above and the truth at the end).
            const int version = db.execAndGet("PRAGMA user_version").getInt();
            const std::set<std::string> objects = schema_objects(db);
            if (version == kV3) {
                ASSERT_EQ(objects, v3.objects);
            } else {
                ASSERT_TRUE(objects.count("batch_rows")) << "user_version " << version;
            }
            ++(version == kV3 ? untouched : migrated);
        }
    }
    std::cout << "migration kills: " << migrated << " after the migration, " << untouched << " before it; " << mid_pass
              << " kills mid full pass (" << aimed_mid_pass << " aimed there)\n";
    EXPECT_GE(migrated, aimed_after_migration) << "the kills that waited for the migration landed after it";
    EXPECT_GE(mid_pass, aimed_mid_pass) << "every kill aimed mid-pass found its full pass open";

    // The last start runs until the truth is mirrored and every event is delivered.
    sim.set_faults(json::object());
    sim.freeze();
    auto syncd = env.start_syncd({});
    ASSERT_TRUE(eventually([&] { return call_api(env.socket_path, "GET", "/v1/health").status != 0; }, 20s))
        << syncd->stderr_text();
    const ApiAnswer run = call_api(env.socket_path, "POST", "/v1/sync?full=true&wait=true", 60s);
    ASSERT_EQ(run.status, 200) << run.body.dump() << syncd->stderr_text();
    {
        auto db = open_live_db(env.db_path);
        EXPECT_EQ(integrity_check(db), "ok");
        const Problems differences = truth_problems(db, sim.snapshot());
        EXPECT_TRUE(differences.empty()) << first_problems(differences);
        const Problems chains = transition_chain_problems(db);
        EXPECT_TRUE(chains.empty()) << first_problems(chains);
        EXPECT_GT(db.execAndGet("SELECT count(*) FROM transitions WHERE from_status IS NOT NULL").getInt(), 10)
            << "statuses moved while the kills went on";
        // Every pass a kill left open was closed as interrupted by the next start (fast polls too).
        EXPECT_GE(
            db.execAndGet("SELECT count(*) FROM sync_runs WHERE kind = 'full' AND error = 'interrupted'").getInt(),
            mid_pass)
            << "kills landed mid-pass";
    }

    const std::set<std::string> expected = event_ids(env.db_path);
    ASSERT_TRUE(receiver.wait_for_ids(expected, 90s))
        << "received " << receiver.received_ids().size() << " distinct of " << expected.size() << " events\n"
        << syncd->stderr_text();
    EXPECT_GT(expected.size(), 300u);
    EXPECT_TRUE(
        eventually([&] { return env.count("SELECT count(*) FROM deliveries WHERE state != 'delivered'") == 0; }, 30s));
}

// Issue 14's group commit: a first sync writes many pages per transaction while the fetcher runs
// ahead (the writer is the slower side, so pages wait and groups form). A SIGKILL at any moment
// of it leaves every page whole, all in or all out, and the next pass restores everything.

// The ids of each page of the listing, in listing order, as the daemon pages it (`page_size`).
std::vector<std::vector<std::string>> listing_pages(const SimProcess& sim, int page_size) {
    std::vector<std::vector<std::string>> pages;
    std::string cursor;
    do {
        std::string target = "/v1/batches?limit=" + std::to_string(page_size);
        if (!cursor.empty()) target += "&cursor=" + extract::percent_encode(cursor);
        const HttpReply reply = sim.request("GET", target, "", {{"X-API-KEY", kSimKey}});
        if (reply.status != 200)
            throw std::runtime_error("listing the simulator: HTTP " + std::to_string(reply.status));
        const json page = json::parse(reply.body);
        auto& ids = pages.emplace_back();
        for (const auto& batch : page.at("data")) ids.push_back(batch.at("id").get<std::string>());
        cursor = page.at("next_cursor").is_null() ? "" : page.at("next_cursor").get<std::string>();
    } while (!cursor.empty());
    return pages;
}

// Pages of which the mirror holds some batches but not all: each a problem.
Problems torn_pages(SQLite::Database& db, const std::vector<std::vector<std::string>>& pages, int& whole) {
    Problems problems;
    whole = 0;
    SQLite::Statement stored(db, "SELECT count(*) FROM batches WHERE id IN (SELECT value FROM json_each(?1))");
    for (std::size_t i = 0; i < pages.size(); ++i) {
        stored.reset();
        stored.bind(1, json(pages[i]).dump());
        stored.executeStep();
        const auto count = static_cast<std::size_t>(stored.getColumn(0).getInt64());
        if (count == pages[i].size()) ++whole;
        if (count != 0 && count != pages[i].size()) {
            problems.push_back("page " + std::to_string(i) + ": " + std::to_string(count) + " of " +
                               std::to_string(pages[i].size()) + " batches stored");
        }
    }
    return problems;
}

TEST(SyncdCrashes, KillsDuringAGroupedFirstSyncLeaveEveryPageWholeAndTheNextPassRestoresEverything) {
    constexpr int kBatches = 20000, kPageSize = 200, kGroupKills = 5;
    SimProcess sim(EXTRACT_SIM_BIN,
                   {"--batches", std::to_string(kBatches), "--frozen", "--seed", "11", "--api-key", kSimKey});
    const auto pages = listing_pages(sim, kPageSize);
    ASSERT_EQ(pages.size(), static_cast<std::size_t>(kBatches / kPageSize));
    SyncdEnv env;
    env.upstream_settings = "request_timeout = 5s\npage_size = " + std::to_string(kPageSize) + "\n";
    env.write_config(sim.base_url());

    int partial = 0;
    for (int kill = 0; kill < kGroupKills; ++kill) {
        SCOPED_TRACE("kill " + std::to_string(kill + 1));
        // Each start lists from the first page again; the kill comes once more of the listing is
        // stored than before, somewhere in the middle of the pass.
        const std::int64_t target = (kill + 1) * (kBatches / (kGroupKills + 1)) + 1;
        auto syncd = env.start_syncd({});
        ASSERT_TRUE(eventually(
            [&] {
                return file_shows(env.db_path, [&](SQLite::Database& db) {
                    return db.execAndGet("SELECT count(*) FROM batches").getInt64() >= target;
                });
            },
            60s, 1ms))
            << syncd->stderr_text();
        syncd->signal(SIGKILL);
        ASSERT_EQ(syncd->wait(10s), 128 + SIGKILL) << syncd->stderr_text();

        auto db = open_live_db(env.db_path);
        ASSERT_EQ(integrity_check(db), "ok");
        int whole = 0;
        const Problems torn = torn_pages(db, pages, whole);
        ASSERT_TRUE(torn.empty()) << first_problems(torn);
        if (whole < static_cast<int>(pages.size())) ++partial;
    }
    EXPECT_GT(partial, 0) << "no kill landed before the first sync completed";

    ASSERT_EQ(env.start_syncd({"--once"})->wait(120s), 0);
    auto db = open_live_db(env.db_path);
    EXPECT_EQ(integrity_check(db), "ok");
    const Problems differences = truth_problems(db, sim.snapshot());
    EXPECT_TRUE(differences.empty()) << first_problems(differences);
    EXPECT_EQ(db.execAndGet("SELECT count(*) FROM batches").getInt64(), kBatches);
}

}  // namespace
