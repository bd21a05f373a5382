// extract-syncd against a hostile upstream (tests/support/scripted_upstream): issue 15's
// findings, each a batch or an answer that used to crash the daemon or stall the mirror.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "tests/daemon/syncd_test_env.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/scripted_upstream.hpp"

using namespace extract;
using namespace extract::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

json batch(const std::string& id, const std::string& status = "completed") {
    return {{"object", "batch"},
            {"id", id},
            {"status", status},
            {"counts", {{"pending", 0}, {"running", 0}, {"succeeded", 2}, {"failed", 0}, {"cancelled", 0}}},
            {"total_items", 2},
            {"engine", "standard"},
            {"options", json::object()},
            {"metadata", {{"team", "a"}}},
            {"created_at", "2026-12-01T00:00:00Z"},
            {"started_at", nullptr},
            {"completed_at", nullptr},
            {"expires_at", "2026-12-04T00:00:00Z"}};
}

// `id`'s batch whose metadata holds arrays nested `depth` deep: written as text, since building
// it as a json value and dumping it is the very recursion that overflowed the stack.
std::string deep_batch(const std::string& id, std::size_t depth) {
    std::string text = batch(id).dump();
    const std::string metadata = R"("metadata":{"team":"a"})";
    text.replace(text.find(metadata), metadata.size(),
                 R"("metadata":{"k":)" + std::string(depth, '[') + std::string(depth, ']') + "}");
    return text;
}

std::string page(const std::vector<std::string>& batches, const std::optional<std::string>& next = std::nullopt) {
    std::string body = R"({"object":"list","data":[)";
    for (std::size_t i = 0; i < batches.size(); ++i) body += (i ? "," : "") + batches[i];
    return body + R"(],"next_cursor":)" + (next ? json(*next).dump() : "null") + "}";
}

std::size_t occurrences(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
}

// The answer after a hostile one: the whole body with its length.
void send_whole(Poco::Net::HTTPServerResponse& response, const std::string& body) {
    response.setContentLength(static_cast<std::streamsize>(body.size()));
    response.send() << body;
}

const std::string kNulId("bat_x\0y", 7);
const std::string kLongId(300, 'L');

}  // namespace

TEST(SyncdHostileUpstream, UnstorableBatchesAreSetAsideAndEverythingElseSyncsAndIsRemoved) {
    ScriptedUpstream upstream;
    // 75,000 levels crashed the daemon (stack overflow in a recursive dump); 2,100 failed every
    // page on json_valid(); a NUL id failed every later pass on UNIQUE; an id of 128 KiB broke
    // every trigger.
    upstream.set_page("", page({batch("bat_a").dump(), deep_batch("bat_deep", 75000), batch(kNulId).dump(),
                                deep_batch("bat_2100", 2100), batch("bat_b").dump()},
                               "p2"));
    upstream.set_page("p2", page({batch(kLongId).dump(), batch("bat_c").dump()}));

    SyncdEnv env;
    env.write_config(upstream.base_url());
    auto first = env.start_syncd({"--once"});
    ASSERT_EQ(first->wait(scaled(30s)), 0) << first->stderr_text();
    EXPECT_EQ(env.count("SELECT count(*) FROM batches WHERE removed_at IS NULL"), 3);  // a, b, c
    EXPECT_EQ(env.count("SELECT count(*) FROM batches WHERE id IN ('bat_a', 'bat_b', 'bat_c')"), 3);
    EXPECT_EQ(env.count("SELECT count(*) FROM set_aside_batches"), 4);
    EXPECT_EQ(env.count("SELECT count(*) FROM set_aside_batches WHERE batch_id = 'bat_x\\x00y' AND "
                        "reason = 'its id contains a NUL or control byte'"),
              1);
    EXPECT_EQ(env.count("SELECT count(*) FROM set_aside_batches WHERE reason = 'it nests deeper than 64 levels'"), 2);
    EXPECT_EQ(env.count("SELECT count(*) FROM sync_runs WHERE kind = 'full' AND error IS NULL"), 1);
    const std::string log = first->stderr_text();
    EXPECT_EQ(occurrences(log, " set aside: "), 4u) << log;
    EXPECT_NE(log.find("batch bat_x\\x00y set aside"), std::string::npos) << log;

    // Next pass: bat_b is gone upstream, bat_deep fixed. The pass completes, so the removal is
    // mirrored; the fixed batch is stored; what is still unstorable is not logged again.
    upstream.set_page("", page({batch("bat_a").dump(), batch("bat_deep").dump(), batch(kNulId).dump(),
                                deep_batch("bat_2100", 2100)},
                               "p2"));
    auto second = env.start_syncd({"--once"});
    ASSERT_EQ(second->wait(scaled(30s)), 0) << second->stderr_text();
    EXPECT_EQ(env.count("SELECT count(*) FROM batches WHERE id = 'bat_b' AND removed_at IS NOT NULL"), 1);
    EXPECT_EQ(env.count("SELECT count(*) FROM batches WHERE id = 'bat_deep' AND removed_at IS NULL"), 1);
    EXPECT_EQ(env.count("SELECT count(*) FROM set_aside_batches"), 3);
    EXPECT_EQ(occurrences(second->stderr_text(), " set aside: "), 0u) << second->stderr_text();

    // The running daemon shows them in /v1/health and extractctl health.
    auto daemon = env.start_syncd({});
    json health;
    ASSERT_TRUE(eventually(
        [&] {
            health = read_health(env.socket_path).value_or(json());
            return health.contains("set_aside");
        },
        30s))
        << daemon->stderr_text();
    EXPECT_EQ(health["set_aside"]["count"], 3);
    ASSERT_EQ(health["set_aside"]["batches"].size(), 3u);
    ChildProcess ctl({EXTRACTCTL_BIN, "--socket", env.socket_path, "health"});
    ctl.wait(scaled(15s));
    EXPECT_NE(ctl.stdout_text().find("bat_x\\x00y"), std::string::npos) << ctl.stdout_text();
    EXPECT_NE(ctl.stdout_text().find("SET ASIDE BATCH"), std::string::npos) << ctl.stdout_text();
}

TEST(SyncdHostileUpstream, ABodyTrickledPastRequestTimeoutIsCutOffAndTheRetryRecovers) {
    ScriptedUpstream upstream;
    std::atomic<int> calls{0};
    const std::string good = page({batch("bat_a").dump()});
    upstream.set_handler([&](Poco::Net::HTTPServerRequest&, Poco::Net::HTTPServerResponse& response) {
        if (calls++ > 0) return send_whole(response, good);
        // The first answer: a byte every 100 ms, 60 s for the whole body.
        response.setContentLength(600);
        std::ostream& out = response.send();
        for (int i = 0; i < 600 && out; ++i) {
            out << ' ' << std::flush;
            std::this_thread::sleep_for(100ms);
        }
    });
    SyncdEnv env;
    env.upstream_settings = "request_timeout = 1s\n";
    env.write_config(upstream.base_url());
    const auto started = std::chrono::steady_clock::now();
    auto once = env.start_syncd({"--once"});
    ASSERT_EQ(once->wait(scaled(30s)), 0) << once->stderr_text();
    EXPECT_LT(std::chrono::steady_clock::now() - started, scaled(30s));
    EXPECT_EQ(env.count("SELECT count(*) FROM batches"), 1);
    EXPECT_EQ(calls.load(), 2);
}

TEST(SyncdHostileUpstream, AnAnswerOverMaxResponseSizeIsCutOffAndTheRetryRecovers) {
    ScriptedUpstream upstream;
    std::atomic<int> calls{0};
    std::atomic<std::int64_t> sent{0};
    const std::string good = page({batch("bat_a").dump()});
    upstream.set_handler([&](Poco::Net::HTTPServerRequest&, Poco::Net::HTTPServerResponse& response) {
        if (calls++ > 0) return send_whole(response, good);
        // The first answer: chunked, without end (up to 1 GiB); the daemon's cap is 1 MiB.
        response.setChunkedTransferEncoding(true);
        std::ostream& out = response.send();
        const std::string chunk(64 * 1024, '[');
        for (int i = 0; i < 16 * 1024 && out; ++i) {
            out << chunk << std::flush;
            sent += static_cast<std::int64_t>(chunk.size());
        }
    });
    SyncdEnv env;
    env.upstream_settings = "request_timeout = 10s\nmax_response_size = 1MiB\n";
    env.write_config(upstream.base_url());
    auto once = env.start_syncd({"--once"});
    ASSERT_EQ(once->wait(scaled(30s)), 0) << once->stderr_text();
    EXPECT_EQ(env.count("SELECT count(*) FROM batches"), 1);
    EXPECT_EQ(calls.load(), 2);
    // The daemon stopped reading near the cap (socket buffers hold a few MiB more), not at 1 GiB.
    EXPECT_LT(sent.load(), 64LL << 20);
}

TEST(SyncdHostileUpstream, LoopingCursorsStopThePassWithAnErrorThatSaysCursor) {
    ScriptedUpstream upstream;
    upstream.set_page("", page({batch("bat_a").dump()}, "A"));
    upstream.set_page("A", page({batch("bat_b").dump()}, "B"));
    upstream.set_page("B", page({batch("bat_c").dump()}, "A"));
    SyncdEnv env;
    env.write_config(upstream.base_url());
    // --once tries a failed pass again (1 s, 2 s ...) until no attempt has got further for its
    // --once-timeout: each attempt stops at the loop, none gets past page 3.
    auto once = env.start_syncd({"--once", "--once-timeout", "2s"});
    ASSERT_EQ(once->wait(scaled(30s)), 1) << once->stderr_text();
    EXPECT_NE(once->stderr_text().find("upstream repeated next_cursor \"A\""), std::string::npos)
        << once->stderr_text();
    const auto attempts = env.count("SELECT count(*) FROM sync_runs WHERE error LIKE '%cursor%'");
    EXPECT_GE(attempts, 1);
    EXPECT_LE(attempts, 4);
    EXPECT_EQ(upstream.requests(), 3 * attempts);             // 3 each, not 681 requests and the rate limit forever
    EXPECT_EQ(env.count("SELECT count(*) FROM batches"), 3);  // what was listed is stored

    // The running daemon reports it in /v1/health.
    auto daemon = env.start_syncd({});
    json health;
    ASSERT_TRUE(eventually(
        [&] {
            health = read_health(env.socket_path).value_or(json());
            return health.is_object() && health["last_error"].is_string();
        },
        30s))
        << daemon->stderr_text();
    EXPECT_NE(health["last_error"].get<std::string>().find("cursor"), std::string::npos) << health.dump();
    EXPECT_NE(health["status"], "ok") << health.dump();
}
