// No secret leaves the daemon (SPEC §2, issue #8): a full life of extract-syncd — a sync with
// webhooks and a trigger, a status change, a delivery that fails with an error message, a
// reload, every GET route and /metrics — with a distinctive API key and webhook secret, then
// every log line, the database files (-wal and -shm included), every API answer and the
// trigger's environment and input are searched for the key, the secret, the secret's base64
// body and the HMAC key it decodes to. None may appear.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/unix_http_client.hpp"
#include "tests/daemon/syncd_test_env.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/webhook_receiver.hpp"

using namespace extract;
using namespace extract::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const std::string kApiKey = "xk_live_K3Y7f3a9c1e5bDoNotLog";
const std::string kSecretBody = "c2VjcmV0LW1hcmtlci1TM0NSM1QtN2YzYQ==";  // base64("secret-marker-S3CR3T-7f3a")
const std::string kSecret = "whsec_" + kSecretBody;
const std::string kHmacKey = "secret-marker-S3CR3T-7f3a";

std::string file_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// Which of the secrets `text` holds, for a failure message; empty when none.
std::string secrets_in(const std::string& text) {
    std::string found;
    for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{{"the API key", kApiKey},
                                                                                      {"the webhook secret", kSecret},
                                                                                      {"its base64 body", kSecretBody},
                                                                                      {"its HMAC key", kHmacKey}}) {
        if (text.find(value) != std::string::npos) found += (found.empty() ? "" : ", ") + name;
    }
    return found;
}

TEST(SyncdSecrets, NoKeyOrSecretInLogsDatabaseAnswersOrTriggerEnvironment) {
    SimProcess sim(EXTRACT_SIM_BIN, {"--batches", "20", "--frozen", "--api-key", kApiKey});
    SyncdEnv env;
    Receiver receiver(env.dir, "receiver", {"--secret", kSecret, "--respond", "200"});
    const auto secret_file = env.dir.write("hook.whsec", kSecret + "\n");
    const auto key_file = env.dir.write("api_key", kApiKey + "\n");
    std::filesystem::permissions(key_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    std::filesystem::permissions(secret_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    const auto trigger_dir = env.dir / "trigger";
    std::filesystem::create_directory(trigger_dir);
    env.db_path = (env.dir / "mirror.db").string();
    env.socket_path = (env.dir / "api.sock").string();
    const std::string hooks =
        "events = batch.created, batch.status_changed\nretry_schedule = 100ms\nsecret_file = " + secret_file.string() +
        "\n";
    const std::string config =
        "[upstream]\nbase_url = " + sim.base_url() + "\napi_key_file = " + key_file.string() +
        "\nmax_requests_per_second = 0\nrequest_timeout = 2s\n"
        "[sync]\nfull_sync_interval = 500ms\nemit_on_bootstrap = true\n"
        "[cache]\npath = " +
        env.db_path + "\n[api]\nsocket = " + env.socket_path + "\n[log]\nlevel = debug\n" +
        "[webhook.receiver]\nurl = " + receiver.url() + "\n" + hooks +
        // Nothing listens on port 1: every attempt fails with an error message, then `failed`.
        "[webhook.down]\nurl = http://127.0.0.1:1/hooks\n" + hooks +
        // Written whole or not at all: a run the daemon's stop interrupts leaves only a .part.
        "[trigger.record]\ncommand = /bin/sh -c 'env; env > \"$0/$EXTRACT_EVENT_ID.part\" && "
        "mv \"$0/$EXTRACT_EVENT_ID.part\" \"$0/env-$EXTRACT_EVENT_ID\"; cat > \"$0/in-$EXTRACT_EVENT_ID\"' " +
        trigger_dir.string() + "\nevents = batch.created, batch.status_changed\nretry_schedule = 100ms\n";
    env.config_path = env.dir.write("extract-sync.ini", config).string();
    // The key also sits in the daemon's environment: a trigger must not inherit it.
    auto syncd =
        std::make_unique<ChildProcess>(std::vector<std::string>{EXTRACT_SYNCD_BIN, "--config", env.config_path},
                                       std::map<std::string, std::string>{{"EXTRACT_API_KEY", kApiKey},
                                                                          {"CREDENTIALS_DIRECTORY",
                                                                           env.dir.path().string()}});

    std::vector<std::string> answers;
    auto api = [&](const std::string& method, const std::string& target) {
        try {
            auto reply = cli::UnixHttpClient(env.socket_path, 15s).request(method, target);
            answers.push_back(target + " -> " + std::to_string(reply.status) + " " + reply.body);
            return reply;
        } catch (const cli::ConnectError&) {
            return cli::HttpReply{};
        }
    };
    auto count = [&](const std::string& sql) {
        try {
            return env.count(sql);
        } catch (const std::exception&) {
            return std::int64_t{-1};
        }
    };
    ASSERT_TRUE(eventually([&] { return api("GET", "/v1/health").status == 200; }, 30s)) << syncd->stderr_text();

    // A status change upstream, a full sync that sees it, deliveries to every target.
    const std::string changed = sim.snapshot().at(0).at("id");
    sim.set_status(changed, "completed");
    ASSERT_EQ(api("POST", "/v1/sync?full=true&wait=true").status, 200);
    ASSERT_TRUE(
        eventually([&] { return count("SELECT count(*) FROM events WHERE type = 'batch.status_changed'") >= 1; }, 30s));
    ASSERT_TRUE(eventually(
        [&] {
            return count(
                       "SELECT count(*) FROM deliveries WHERE target = 'webhook.down' AND state = 'failed' "
                       "AND last_error IS NOT NULL") >= 1 &&
                   count(
                       "SELECT count(*) FROM deliveries WHERE target IN ('webhook.receiver', 'trigger.record') "
                       "AND state = 'delivered'") >= 2;
        },
        60s))
        << syncd->stderr_text();

    // A reload reads the key and the secrets again.
    syncd->signal(SIGHUP);
    ASSERT_TRUE(syncd->wait_for_stderr("reloaded", 10s)) << syncd->stderr_text();

    const json first = json::parse(api("GET", "/v1/batches?limit=200").body);
    for (const auto& target :
         {std::string("/v1/batches?limit=1"), "/v1/batches/" + changed, "/v1/batches/" + changed + "/transitions",
          std::string("/v1/events?limit=1000"), std::string("/v1/stats"), std::string("/v1/health"),
          std::string("/v1/deliveries?limit=1000"), std::string("/v1/deliveries?target=webhook.down"),
          std::string("/metrics"), std::string("/openapi.json"), std::string("/v1/nothing")}) {
        EXPECT_NE(api("GET", target).status, 0) << target;
    }
    EXPECT_EQ(first.at("data").size(), 20u);
    // The failed delivery says why (an error message exists to be searched).
    EXPECT_FALSE(
        json::parse(api("GET", "/v1/deliveries?target=webhook.down").body).at("data").at(0).at("last_error").is_null());
    api("POST", "/v1/deliveries/retry?state=failed&target=webhook.down");

    // Stopped, so that every log line is written; the -wal and -shm are read before and after.
    std::string database_files;
    for (const auto* suffix : {"", "-wal", "-shm"}) database_files += file_bytes(env.db_path + suffix);
    syncd->signal(SIGTERM);
    ASSERT_TRUE(syncd->wait(10s).has_value());
    for (const auto* suffix : {"", "-wal", "-shm"}) database_files += file_bytes(env.db_path + suffix);

    const std::string log = syncd->stderr_text() + syncd->stdout_text();
    EXPECT_NE(log.find("reloaded"), std::string::npos);  // the log was captured
    EXPECT_EQ(secrets_in(log), "") << "in the daemon's log";
    EXPECT_GT(database_files.size(), 4096u);
    EXPECT_EQ(secrets_in(database_files), "") << "in the database files";
    for (const auto& answer : answers) EXPECT_EQ(secrets_in(answer), "") << answer.substr(0, 200);

    std::size_t trigger_files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(trigger_dir)) {
        ++trigger_files;
        const std::string text = file_bytes(entry.path());
        EXPECT_EQ(secrets_in(text), "") << entry.path();
        if (entry.path().filename().string().rfind("env-", 0) == 0) {
            EXPECT_NE(text.find("EXTRACT_EVENT_ID="), std::string::npos);
            EXPECT_EQ(text.find("CREDENTIALS_DIRECTORY="), std::string::npos) << "the trigger can find every secret";
        }
    }
    EXPECT_GE(trigger_files, 2u);
}

}  // namespace
