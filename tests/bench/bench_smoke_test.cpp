// Each benchmark program at a tiny size: it runs, completes and reports what it measured.

#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <string>

#include "tests/daemon/syncd_test_env.hpp"

using namespace extract::testing;
using namespace std::chrono_literals;

namespace {

TEST(BenchSmoke, ApplyPageRunsEveryBenchmarkOnASmallMirror) {
    ChildProcess bench({BENCH_APPLY_PAGE_BIN, "--benchmark_min_time=0.01"}, {{"EXTRACT_BENCH_ROWS", "5000"}});
    ASSERT_EQ(bench.wait(60s), 0) << bench.stderr_text();
    const std::string out = bench.stdout_text();
    EXPECT_NE(out.find("BM_ApplyUnchanged/scattered:0"), std::string::npos) << out;
    EXPECT_NE(out.find("BM_ApplyChanged/scattered:1/status:1"), std::string::npos) << out;
    EXPECT_EQ(out.find("ERROR OCCURRED"), std::string::npos) << out;
}

TEST(BenchSmoke, FetchOnlyPagesTheWholeList) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "1000", "--frozen", "--api-key", kSimKey});
    ChildProcess bench({BENCH_FETCH_ONLY_BIN, "--base-url", sim.base_url(), "--api-key", kSimKey});
    ASSERT_EQ(bench.wait(30s), 0) << bench.stderr_text();
    EXPECT_NE(bench.stdout_text().find("fetch-only: 5 pages, 1000 batches in "), std::string::npos)
        << bench.stdout_text();
}

TEST(BenchSmoke, FetchOnlyFailsOnAWrongKey) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "10", "--frozen", "--api-key", kSimKey});
    ChildProcess bench({BENCH_FETCH_ONLY_BIN, "--base-url", sim.base_url(), "--api-key", "wrong"});
    EXPECT_EQ(bench.wait(30s), 1) << bench.stdout_text();
}

TEST(BenchSmoke, ReferenceSyncMirrorsTheWholeList) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "1000", "--frozen", "--api-key", kSimKey});
    TempDir dir;
    const std::string db = (dir / "reference.db").string();
    const std::string script = std::string(EXTRACT_SOURCE_DIR) + "/bench/reference/sync.py";
    ChildProcess reference(
        {"/usr/bin/env", "python3", script, "--base-url", sim.base_url(), "--api-key", kSimKey, "--db", db});
    ASSERT_EQ(reference.wait(60s), 0) << reference.stderr_text();
    EXPECT_NE(reference.stdout_text().find("reference: 5 pages, 1000 batches in "), std::string::npos)
        << reference.stdout_text();
    SQLite::Database mirror(db, SQLite::OPEN_READONLY);
    EXPECT_EQ(mirror.execAndGet("SELECT count(*) FROM batches WHERE json_valid(raw)").getInt(), 1000);
}

TEST(BenchSmoke, StartupReportsReadinessAndIdleMemory) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "1000", "--frozen", "--api-key", kSimKey});
    SyncdEnv env;
    env.write_config(sim.base_url());
    ChildProcess bench({BENCH_STARTUP_BIN, "--syncd", EXTRACT_SYNCD_BIN, "--config", env.config_path, "--timeout-s",
                        "60", "--idle-ms", "100"},
                       {{"EXTRACT_API_KEY", kSimKey}});
    ASSERT_EQ(bench.wait(90s), 0) << bench.stdout_text() << bench.stderr_text();
    const std::string out = bench.stdout_text();
    EXPECT_TRUE(std::regex_search(out, std::regex(R"(first_api_answer_ms: [0-9.]+)"))) << out;
    EXPECT_TRUE(std::regex_search(out, std::regex(R"(idle VmRSS:\s+[0-9]+ kB)"))) << out;
    EXPECT_EQ(env.count("SELECT count(*) FROM batches"), 1000);
}

}  // namespace
