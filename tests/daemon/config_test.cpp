// The configuration (SPEC §2) and the logging set-up: every error names file, line and key and
// never a credential; defaults; credential lookup order; what a SIGHUP cannot apply.

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/details/log_msg.h>
#include <spdlog/spdlog.h>

#include "daemon/config.hpp"
#include "daemon/logging.hpp"
#include "tests/support/temp_dir.hpp"

namespace extract::daemon {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr const char* kFile = "/etc/extract-sync/test.ini";
constexpr const char* kApiKey = "xk_live_SECRET_key_0123";
// "whsec_" + base64("extract-sync test signing key")
constexpr const char* kSecret = "whsec_ZXh0cmFjdC1zeW5jIHRlc3Qgc2lnbmluZyBrZXk=";
constexpr const char* kSecret2 = "whsec_c2Vjb25kIGtleQ==";  // base64("second key")

Environment env_of(std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
        const auto it = vars.find(name);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

const Environment& key_in_env() {
    static const Environment env = env_of({{"EXTRACT_API_KEY", kApiKey}});
    return env;
}

// Every error and warning, one per line, as an operator would read them.
std::string report(const LoadedConfig& loaded) {
    std::string out;
    for (const auto& e : loaded.errors) out += e.to_string() + "\n";
    for (const auto& w : loaded.warnings) out += "warning: " + w + "\n";
    return out;
}

LoadedConfig parse(const std::string& text, const Environment& env = key_in_env()) {
    return parse_config(text, kFile, env);
}

// A text with exactly one error, located at `line` (0: none) and `key` as to_string shows them
// ("[section] key"), that says `says`.
void expect_one_error(const std::string& text, int line, const std::string& key, const std::string& says,
                      const Environment& env = key_in_env()) {
    const auto loaded = parse(text, env);
    ASSERT_EQ(loaded.errors.size(), 1u) << report(loaded);
    EXPECT_FALSE(loaded.ok());
    EXPECT_FALSE(loaded.config.has_value());
    EXPECT_FALSE(loaded.api_key.has_value());
    const std::string location =
        std::string(kFile) + (line > 0 ? ":" + std::to_string(line) : "") + ": " + (key.empty() ? "" : key + ": ");
    const std::string shown = loaded.errors[0].to_string();
    EXPECT_EQ(shown.rfind(location, 0), 0u) << shown << "\ndoes not start with " << location;
    EXPECT_THAT(shown, HasSubstr(says));
    EXPECT_THAT(shown, Not(HasSubstr(kApiKey)));
}

std::filesystem::path write_private(const testing::TempDir& dir, const std::string& name, const std::string& content) {
    const auto path = dir.write(name, content);
    std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    return path;
}

// ---- defaults and complete files ----------------------------------------------------------

TEST(Config, EmptyFileGivesTheDefaults) {
    const auto loaded = parse("");
    ASSERT_TRUE(loaded.ok()) << report(loaded);
    Config expected;
    expected.file = kFile;
    EXPECT_EQ(*loaded.config, expected);
    EXPECT_EQ(loaded.config->upstream.base_url, "https://api.extract.page");
    EXPECT_EQ(loaded.config->upstream.page_size, 200);
    EXPECT_EQ(loaded.config->sync.poll_interval, seconds{10});
    EXPECT_EQ(loaded.config->sync.full_sync_interval, minutes{15});
    EXPECT_THAT(loaded.config->sync.terminal_statuses,
                ElementsAre("completed", "partially_failed", "failed", "cancelled"));
    EXPECT_EQ(loaded.config->sync.mass_removal_threshold, 50.0);
    EXPECT_EQ(loaded.config->sync.mass_removal_confirm, hours{1});
    EXPECT_EQ(loaded.config->cache.event_retention, hours{24 * 30});
    EXPECT_EQ(loaded.config->api.socket_mode, 0660u);
    EXPECT_EQ(loaded.config->cache.file_mode, 0600u);
    EXPECT_EQ(loaded.config->log.level, "info");
    EXPECT_THAT(loaded.warnings, IsEmpty());
}

TEST(Config, WebhookAndTriggerDefaults) {
    testing::TempDir dir;
    const auto secret = write_private(dir, "hook.whsec", kSecret);
    const auto loaded = parse("[webhook.hook]\nurl = https://hooks.example.com/x\nsecret_file = " + secret.string() +
                              "\n[trigger.run]\ncommand = /bin/true\n");
    ASSERT_TRUE(loaded.ok()) << report(loaded);
    ASSERT_EQ(loaded.config->webhooks.size(), 1u);
    const auto& hook = loaded.config->webhooks[0];
    EXPECT_EQ(hook.name, "hook");
    EXPECT_THAT(hook.events, ElementsAre("batch.status_changed"));
    EXPECT_THAT(hook.statuses, IsEmpty());
    EXPECT_EQ(hook.timeout, seconds{15});
    EXPECT_THAT(hook.retry_schedule,
                ElementsAre(seconds{5}, minutes{5}, minutes{30}, hours{2}, hours{5}, hours{10}, hours{10}));
    EXPECT_EQ(hook.max_in_flight, 4);
    EXPECT_THAT(hook.secrets, ElementsAre(kSecret));
    EXPECT_EQ(hook.secret_source, "secret_file " + secret.string());
    ASSERT_EQ(loaded.config->triggers.size(), 1u);
    const auto& trigger = loaded.config->triggers[0];
    EXPECT_EQ(trigger.name, "run");
    EXPECT_THAT(trigger.argv, ElementsAre("/bin/true"));
    EXPECT_THAT(trigger.events, ElementsAre("batch.status_changed"));
    EXPECT_EQ(trigger.timeout, minutes{5});
    EXPECT_THAT(trigger.retry_schedule, ElementsAre(seconds{10}, minutes{1}, minutes{10}));
}

// SPEC §2 verbatim, its /etc/extract-sync/ files placed in a temporary directory.
TEST(Config, TheSpecExampleParses) {
    std::string text = R"ini([upstream]
base_url = https://api.extract.page
api_key_file = /etc/extract-sync/api_key   ; or env EXTRACT_API_KEY, or $CREDENTIALS_DIRECTORY/api_key
page_size = 200                            ; 1..200
request_timeout = 30s
max_requests_per_second = 5                ; client-side rate limit, all requests together
verify_tls = true
ca_file =                                  ; empty: the system's trust store

[sync]
poll_interval = 10s                        ; how often changes are looked for while any batch is not terminal
idle_poll_interval = 60s                   ; ... while every batch is terminal
full_sync_interval = 15m                   ; a complete pass over every batch
terminal_statuses = completed, partially_failed, failed, cancelled
emit_on_bootstrap = false                  ; whether the very first sync into an empty mirror emits batch.created events

[cache]
path = /var/lib/extract-sync/mirror.db
event_retention = 30d                      ; events and delivered/failed deliveries older than this are pruned; batches and transitions are kept forever

[api]
socket = /run/extract-sync/api.sock
socket_mode = 0660

[log]
level = info                               ; trace, debug, info, warn, error

[webhook.NAME]                             ; any number of endpoints
url = https://hooks.example.com/extract    ; http, https
secret_file = /etc/extract-sync/NAME.whsec ; file holding whsec_<base64>; or $CREDENTIALS_DIRECTORY/webhook.NAME
events = batch.status_changed              ; event types to send (default: batch.status_changed)
statuses = completed, partially_failed     ; only events whose new status is listed (default: all)
timeout = 15s
retry_schedule = 5s, 5m, 30m, 2h, 5h, 10h, 10h   ; waits before attempts 2..N; attempts = 1 + its length

[trigger.NAME]                             ; any number of local commands
command = /usr/local/bin/on-batch-done --verbose ; split like a shell would, run without a shell
events = batch.status_changed
statuses = completed
timeout = 5m
retry_schedule = 10s, 1m, 10m
)ini";
    testing::TempDir dir;
    write_private(dir, "api_key", std::string(kApiKey) + "\n");
    write_private(dir, "NAME.whsec", std::string(kSecret) + "\n");
    for (auto at = text.find("/etc/extract-sync/"); at != std::string::npos; at = text.find("/etc/extract-sync/")) {
        text.replace(at, 18, dir.path().string() + "/");
    }
    const auto loaded = parse(text, env_of({{"EXTRACT_API_KEY", "not-this-one"}}));
    ASSERT_TRUE(loaded.ok()) << report(loaded);
    EXPECT_THAT(loaded.warnings, IsEmpty());
    ASSERT_TRUE(loaded.api_key.has_value());
    EXPECT_EQ(loaded.api_key->value, kApiKey);
    EXPECT_EQ(loaded.api_key->source, "api_key_file " + (dir / "api_key").string());

    const Config& c = *loaded.config;
    Config defaults;
    EXPECT_EQ(c.sync, defaults.sync);
    EXPECT_EQ(c.cache, defaults.cache);
    EXPECT_EQ(c.api, defaults.api);
    EXPECT_EQ(c.log, defaults.log);
    EXPECT_EQ(c.upstream.ca_file, "");
    EXPECT_EQ(c.upstream.max_requests_per_second, 5.0);
    ASSERT_EQ(c.webhooks.size(), 1u);
    EXPECT_EQ(c.webhooks[0].name, "NAME");
    EXPECT_EQ(c.webhooks[0].url, "https://hooks.example.com/extract");
    EXPECT_THAT(c.webhooks[0].statuses, ElementsAre("completed", "partially_failed"));
    EXPECT_THAT(c.webhooks[0].secrets, ElementsAre(kSecret));
    ASSERT_EQ(c.triggers.size(), 1u);
    EXPECT_THAT(c.triggers[0].argv, ElementsAre("/usr/local/bin/on-batch-done", "--verbose"));
    EXPECT_THAT(c.triggers[0].statuses, ElementsAre("completed"));
    EXPECT_EQ(c.triggers[0].timeout, minutes{5});
}

// The example shipped in config/ sets every key to its default, so it must equal Config{}.
TEST(Config, TheShippedExampleIsValidAndHoldsTheDefaults) {
    const std::string path = std::string(EXTRACT_SOURCE_DIR) + "/config/extract-sync.ini";
    const auto loaded = load_config(path, key_in_env());
    ASSERT_TRUE(loaded.ok()) << report(loaded);
    Config expected;
    expected.file = path;
    EXPECT_EQ(*loaded.config, expected);
}

TEST(Config, ReadsValuesOfEveryKind) {
    const auto loaded = parse(R"ini(
[upstream]
base_url = http://127.0.0.1:8080/
page_size = 50
request_timeout = 250ms
max_response_size = 8 MiB
max_requests_per_second = 0.5
verify_tls = Off
[sync]
terminal_statuses = done ,  gone
emit_on_bootstrap = yes
mass_removal_threshold = 12.5%
mass_removal_confirm = 1s
[cache]
file_mode = 640
[api]
socket_mode = 600
[log]
level = debug
)ini");
    ASSERT_TRUE(loaded.ok()) << report(loaded);
    const Config& c = *loaded.config;
    EXPECT_EQ(c.upstream.base_url, "http://127.0.0.1:8080");
    EXPECT_EQ(c.upstream.page_size, 50);
    EXPECT_EQ(c.upstream.request_timeout, Millis{250});
    EXPECT_EQ(c.upstream.max_response_size, 8u << 20);
    EXPECT_EQ(c.upstream.max_requests_per_second, 0.5);
    EXPECT_FALSE(c.upstream.verify_tls);
    EXPECT_THAT(c.sync.terminal_statuses, ElementsAre("done", "gone"));
    EXPECT_TRUE(c.sync.emit_on_bootstrap);
    EXPECT_EQ(c.sync.mass_removal_threshold, 12.5);
    EXPECT_EQ(c.sync.mass_removal_confirm, seconds{1});
    EXPECT_EQ(c.api.socket_mode, 0600u);
    EXPECT_EQ(c.cache.file_mode, 0640u);
    EXPECT_EQ(c.log.level, "debug");
}

TEST(Config, EmptyStatusesMeanAllAndAnEmptyRetryScheduleMeansOneAttempt) {
    const auto loaded = parse("[trigger.t]\ncommand = /bin/true\nstatuses =\nretry_schedule =\n");
    ASSERT_TRUE(loaded.ok()) << report(loaded);
    EXPECT_THAT(loaded.config->triggers[0].statuses, IsEmpty());
    EXPECT_THAT(loaded.config->triggers[0].retry_schedule, IsEmpty());
}

TEST(Config, CommentsWholeLineAndTrailing) {
    const auto loaded = parse(R"ini(
; a comment
# another
[log]   # trailing after a header
level = debug ; trailing
[upstream]
base_url = https://example.com/a#frag   # a '#' inside a value stays
[trigger.t]
command = /bin/echo "a ; b" 'c # d' # but this goes
)ini");
    ASSERT_TRUE(loaded.ok()) << report(loaded);
    EXPECT_EQ(loaded.config->log.level, "debug");
    EXPECT_EQ(loaded.config->upstream.base_url, "https://example.com/a#frag");
    EXPECT_THAT(loaded.config->triggers[0].argv, ElementsAre("/bin/echo", "a ; b", "c # d"));
}

TEST(Config, WhitespaceAroundKeysValuesAndHeadersIsTrimmed) {
    const auto loaded = parse("  [ sync ]  \r\n\tpoll_interval\t=\t5s  \r\n");
    ASSERT_TRUE(loaded.ok()) << report(loaded);
    EXPECT_EQ(loaded.config->sync.poll_interval, seconds{5});
}

// ---- every error names file, line and key --------------------------------------------------

TEST(ConfigErrors, UnknownSection) {
    expect_one_error("[sync]\n[nope]\nkey = 1\n", 2, "[nope]", "unknown section");
    expect_one_error("[webhook]\nurl = https://x\n", 1, "[webhook]", "[webhook.NAME]");
    expect_one_error("[webhook.a b]\n", 1, "[webhook.a b]", "unknown section");
}

TEST(ConfigErrors, UnknownKeyNeverEchoesItsValue) {
    expect_one_error(std::string("[upstream]\napi_key = ") + kApiKey + "\n", 2, "[upstream] api_key",
                     "unknown key; [upstream] takes base_url, api_key_file");
    expect_one_error(std::string("[sync]\ntoken = ") + kApiKey + "\n", 2, "[sync] token", "unknown key");
}

TEST(ConfigErrors, DuplicateKeyAndSection) {
    expect_one_error("[sync]\npoll_interval = 5s\npoll_interval = 6s\n", 3, "[sync] poll_interval",
                     "duplicate key, first set at line 2");
    expect_one_error("[log]\n[sync]\n[log]\n", 3, "[log]", "duplicate section, first at line 1");
}

TEST(ConfigErrors, KeyOutsideAnySection) {
    expect_one_error("level = info\n[log]\n", 1, "level", "outside any section");
}

TEST(ConfigErrors, LineThatIsNotKeyValue) {
    expect_one_error(std::string("[log]\n") + kApiKey + "\n", 2, "", "expected `key = value`");
    expect_one_error("[log\n", 1, "", "must end with ']'");
}

TEST(ConfigErrors, BadDuration) {
    expect_one_error("[sync]\npoll_interval = 10 seconds\n", 2, "[sync] poll_interval",
                     "must be a duration like 250ms, 10s, 5m, 2h or 3d, got \"10 seconds\"");
    expect_one_error("[upstream]\nrequest_timeout = 0s\n", 2, "[upstream] request_timeout", "longer than 0");
    expect_one_error("[cache]\nevent_retention = 99999d\n", 2, "[cache] event_retention", "at most 36500d");
    expect_one_error("[trigger.t]\ncommand = x\nretry_schedule = 10s, soon\n", 3, "[trigger.t] retry_schedule",
                     "item 2: must be a duration");
}

TEST(ConfigErrors, BadSize) {
    expect_one_error("[upstream]\nmax_response_size = 64 megabytes\n", 2, "[upstream] max_response_size",
                     "must be a size such as 64MiB (units B, KiB, MiB, GiB), got \"64 megabytes\"");
    expect_one_error("[upstream]\nmax_response_size = 1KiB\n", 2, "[upstream] max_response_size",
                     "must be between 64 KiB and 1024 MiB, got 1KiB");
    expect_one_error("[upstream]\nmax_response_size = 99999999999GiB\n", 2, "[upstream] max_response_size",
                     "must be between 64 KiB and 1024 MiB");
}

TEST(ConfigErrors, BadBool) {
    expect_one_error("[upstream]\nverify_tls = maybe\n", 2, "[upstream] verify_tls", "must be true or false");
}

TEST(ConfigErrors, BadInt) {
    expect_one_error("[upstream]\npage_size = many\n", 2, "[upstream] page_size", "must be a whole number");
    expect_one_error("[upstream]\npage_size = 12.5\n", 2, "[upstream] page_size", "must be a whole number");
    testing::TempDir dir;
    const auto secret = write_private(dir, "s", kSecret);
    expect_one_error("[webhook.h]\nurl = https://x\nsecret_file = " + secret.string() + "\nmax_in_flight = 0\n", 4,
                     "[webhook.h] max_in_flight", "between 1 and 64");
}

TEST(ConfigErrors, PageSizeOutOfRangeReadsAsSpecified) {
    const auto loaded = parse("[upstream]\npage_size = 500\n");
    ASSERT_EQ(loaded.errors.size(), 1u);
    EXPECT_EQ(loaded.errors[0].to_string(),
              std::string(kFile) + ":2: [upstream] page_size: must be between 1 and 200, got 500");
    expect_one_error("[upstream]\npage_size = 0\n", 2, "[upstream] page_size", "between 1 and 200, got 0");
    expect_one_error("[upstream]\npage_size = 99999999999999\n", 2, "[upstream] page_size", "between 1 and 200");
}

TEST(ConfigErrors, BadPercentage) {
    for (const std::string bad : {"50", "150%", "-1%", "%", "half%", "nan%", "50 %"}) {
        expect_one_error("[sync]\nmass_removal_threshold = " + bad + "\n", 2, "[sync] mass_removal_threshold",
                         "must be a percentage from 0% to 100% such as 50%");
    }
    expect_one_error("[sync]\n\nmass_removal_confirm = 0s\n", 3, "[sync] mass_removal_confirm", "longer than 0");
    expect_one_error("[sync]\nmass_removal_confirm = an hour\n", 2, "[sync] mass_removal_confirm",
                     "must be a duration");
    // The ends of the range are allowed: 0% holds any removal of more than 20; 100% never holds.
    for (const std::string good : {"0%", "100%", "33.3%"}) {
        EXPECT_TRUE(parse("[sync]\nmass_removal_threshold = " + good + "\n").ok()) << good;
    }
}

TEST(ConfigErrors, BadSocketMode) {
    expect_one_error("[api]\nsocket_mode = 0888\n", 2, "[api] socket_mode", "octal file mode like 0660");
    expect_one_error("[api]\nsocket_mode = 01777\n", 2, "[api] socket_mode", "at most 0777");
    expect_one_error("[api]\nsocket_mode = rw\n", 2, "[api] socket_mode", "octal");
}

TEST(ConfigErrors, MirrorFileModeIsOneOfTwo) {
    expect_one_error("[cache]\nfile_mode = 0644\n", 2, "[cache] file_mode", "must be 0600 (only the daemon's user");
    expect_one_error("[cache]\nfile_mode = 0660\n", 2, "[cache] file_mode", "or 0640 (its group may read it too)");
    expect_one_error("[cache]\nfile_mode = 0988\n", 2, "[cache] file_mode", "got \"0988\"");
}

TEST(ConfigErrors, SocketPathTooLongForAUnixSocket) {
    expect_one_error("[api]\nsocket = /" + std::string(200, 's') + "\n", 2, "[api] socket", "at most 107 bytes");
}

TEST(ConfigErrors, BadRate) {
    expect_one_error("[upstream]\nmax_requests_per_second = -1\n", 2, "[upstream] max_requests_per_second",
                     "0 or more");
    expect_one_error("[upstream]\nmax_requests_per_second = inf\n", 2, "[upstream] max_requests_per_second",
                     "0 or more");
}

TEST(ConfigErrors, BadUrl) {
    expect_one_error("[upstream]\nbase_url = ftp://api.extract.page\n", 2, "[upstream] base_url",
                     "must be an http:// or https:// URL");
    expect_one_error("[upstream]\nbase_url = api.extract.page\n", 2, "[upstream] base_url", "no scheme");
    expect_one_error("[upstream]\nbase_url = https:///v1\n", 2, "[upstream] base_url", "no host");
    expect_one_error("[upstream]\nbase_url = http://localhost:99999\n", 2, "[upstream] base_url", "bad port");
    expect_one_error("[upstream]\nbase_url = http://user:pw@localhost\n", 2, "[upstream] base_url", "user info");
}

TEST(ConfigErrors, UrlsThatAreFine) {
    for (const char* url : {"HTTPS://Example.com", "http://[::1]:8080/x", "http://127.0.0.1:1/", "https://h/p?q=1"}) {
        const auto loaded = parse(std::string("[upstream]\nbase_url = ") + url + "\n");
        EXPECT_TRUE(loaded.ok()) << url << "\n" << report(loaded);
    }
}

TEST(ConfigErrors, UnknownEventType) {
    expect_one_error("[trigger.t]\ncommand = x\nevents = batch.created, batch.finished\n", 3, "[trigger.t] events",
                     "unknown event type \"batch.finished\"; known: batch.created, batch.status_changed, "
                     "batch.updated, batch.removed");
    expect_one_error("[trigger.t]\ncommand = x\nevents =\n", 3, "[trigger.t] events", "at least one");
}

TEST(ConfigErrors, EmptyListItem) {
    expect_one_error("[sync]\nterminal_statuses = completed,,failed\n", 2, "[sync] terminal_statuses", "empty item");
    expect_one_error("[sync]\nterminal_statuses = completed,\n", 2, "[sync] terminal_statuses", "empty item");
    expect_one_error("[sync]\nterminal_statuses =\n", 2, "[sync] terminal_statuses", "at least one");
}

TEST(ConfigErrors, BadLogLevel) {
    expect_one_error("[log]\nlevel = loud\n", 2, "[log] level", "trace, debug, info, warn, error");
}

TEST(ConfigErrors, CaFileMustBeReadable) {
    testing::TempDir dir;
    expect_one_error("[upstream]\nca_file = " + (dir / "missing.pem").string() + "\n", 2, "[upstream] ca_file",
                     "cannot read " + (dir / "missing.pem").string());
    expect_one_error("[upstream]\nca_file = " + dir.path().string() + "\n", 2, "[upstream] ca_file",
                     "not a regular file");
}

TEST(ConfigErrors, MissingWebhookUrlAndTriggerCommand) {
    testing::TempDir dir;
    const auto secret = write_private(dir, "s", kSecret);
    expect_one_error("[log]\n[webhook.h]\nsecret_file = " + secret.string() + "\n", 2, "[webhook.h] url",
                     "is required");
    expect_one_error("[trigger.t]\nevents = batch.created\n", 1, "[trigger.t] command", "is required");
}

TEST(ConfigErrors, TriggerCommandThatDoesNotSplit) {
    expect_one_error("[trigger.t]\ncommand = /bin/echo \"oops\n", 2, "[trigger.t] command", "unterminated \" quote");
    expect_one_error("[trigger.t]\ncommand = /bin/echo 'oops\n", 2, "[trigger.t] command", "unterminated ' quote");
    expect_one_error("[trigger.t]\ncommand =\n", 2, "[trigger.t] command", "must name a program");
}

TEST(ConfigErrors, AllErrorsAreCollected) {
    const auto loaded =
        parse("[sync]\npoll_interval = x\n[upstream]\npage_size = 0\nverify_tls = x\n[bogus]\n", env_of({}));
    ASSERT_EQ(loaded.errors.size(), 5u) << report(loaded);
    EXPECT_EQ(loaded.errors[0].line, 2);  // in file order, whichever check found them
    EXPECT_EQ(loaded.errors[1].line, 4);
    EXPECT_EQ(loaded.errors[2].line, 5);
    EXPECT_EQ(loaded.errors[3].line, 6);
    EXPECT_EQ(loaded.errors[4].line, 0);  // the missing API key
}

TEST(ConfigErrors, ToStringWithoutLineOrKey) {
    EXPECT_EQ((ConfigError{"f.ini", 0, "", "cannot read"}).to_string(), "f.ini: cannot read");
    EXPECT_EQ((ConfigError{"f.ini", 3, "[x]", "m"}).to_string(), "f.ini:3: [x]: m");
    EXPECT_EQ((ConfigError{"f.ini", 3, "webhook.a-b.url", "m"}).to_string(), "f.ini:3: [webhook.a-b] url: m");
}

TEST(ConfigErrors, UnreadableConfigFile) {
    testing::TempDir dir;
    const auto loaded = load_config((dir / "none.ini").string(), key_in_env());
    ASSERT_EQ(loaded.errors.size(), 1u);
    EXPECT_EQ(loaded.errors[0].to_string(),
              (dir / "none.ini").string() + ": cannot read the configuration file: No such file or directory");
}

// ---- the API key ----------------------------------------------------------------------------

TEST(ApiKey, MissingNamesTheKeyAndTheThreePlaces) {
    const Environment nothing = env_of({});
    expect_one_error("[log]\n", 0, "[upstream] api_key_file", "no API key", nothing);  // no line to point at
    const auto loaded = parse("[log]\n", nothing);
    const std::string line = loaded.errors.at(0).to_string();
    EXPECT_EQ(line, std::string(kFile) +
                        ": [upstream] api_key_file: no API key: api_key_file is not set, $EXTRACT_API_KEY is not set, "
                        "and $CREDENTIALS_DIRECTORY is not set; provide one of the three (under systemd: "
                        "LoadCredential=api_key:/etc/extract-sync/api_key)");

    expect_one_error("[upstream]\npage_size = 10\napi_key_file =\n", 3, "[upstream] api_key_file", "no API key",
                     nothing);
    testing::TempDir dir;
    expect_one_error("", 0, "[upstream] api_key_file", (dir / "api_key").string() + " does not exist",
                     env_of({{"CREDENTIALS_DIRECTORY", dir.path().string()}}));
}

// Issue 15: a FIFO (or a device) is refused without waiting for a writer.
TEST(ApiKey, AFifoAsKeyFileIsRefusedWithoutBlocking) {
    testing::TempDir dir;
    const auto fifo = (dir / "api_key").string();
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    expect_one_error("[upstream]\napi_key_file = " + fifo + "\n", 2, "[upstream] api_key_file", "not a regular file");
}

TEST(ApiKey, UnreadableKeyFileNamesThePath) {
    testing::TempDir dir;
    const auto missing = (dir / "absent").string();
    expect_one_error("[upstream]\napi_key_file = " + missing + "\n", 2, "[upstream] api_key_file",
                     "cannot read the API key from " + missing + ": No such file or directory");
    expect_one_error("[upstream]\napi_key_file = " + dir.path().string() + "\n", 2, "[upstream] api_key_file",
                     "not a regular file");
}

TEST(ApiKey, EmptyOrMalformedKeyIsAnErrorThatDoesNotShowIt) {
    testing::TempDir dir;
    const auto empty = write_private(dir, "empty", " \n\n");
    expect_one_error("[upstream]\napi_key_file = " + empty.string() + "\n", 2, "[upstream] api_key_file", "is empty");
    const auto two = write_private(dir, "two", std::string(kApiKey) + "\nsecond-line\n");
    expect_one_error("[upstream]\napi_key_file = " + two.string() + "\n", 2, "[upstream] api_key_file",
                     "white space or control characters");
    expect_one_error("", 0, "[upstream] api_key_file", "$EXTRACT_API_KEY is empty", env_of({{"EXTRACT_API_KEY", " "}}));
}

TEST(ApiKey, LookupOrderFileThenEnvironmentThenCredentials) {
    testing::TempDir dir;
    const auto file = write_private(dir, "key-file", "from-file\n");
    write_private(dir, "api_key", "from-credentials\n");
    const std::string config = "[upstream]\napi_key_file = " + file.string() + "\n";
    const auto all = env_of({{"EXTRACT_API_KEY", "from-env"}, {"CREDENTIALS_DIRECTORY", dir.path().string()}});
    const auto no_env = env_of({{"CREDENTIALS_DIRECTORY", dir.path().string()}});

    auto loaded = parse(config, all);
    ASSERT_TRUE(loaded.ok()) << report(loaded);
    EXPECT_EQ(loaded.api_key->value, "from-file");
    EXPECT_EQ(loaded.api_key->source, "api_key_file " + file.string());

    loaded = parse("", all);
    ASSERT_TRUE(loaded.ok()) << report(loaded);
    EXPECT_EQ(loaded.api_key->value, "from-env");
    EXPECT_EQ(loaded.api_key->source, "$EXTRACT_API_KEY");

    loaded = parse("", no_env);
    ASSERT_TRUE(loaded.ok()) << report(loaded);
    EXPECT_EQ(loaded.api_key->value, "from-credentials");
    EXPECT_EQ(loaded.api_key->source, "$CREDENTIALS_DIRECTORY/api_key");
}

TEST(ApiKey, SurroundingWhitespaceIsTrimmed) {
    testing::TempDir dir;
    const auto file = write_private(dir, "key", "\t  key-abc \r\n\n");
    auto loaded = parse("[upstream]\napi_key_file = " + file.string() + "\n");
    ASSERT_TRUE(loaded.ok()) << report(loaded);
    EXPECT_EQ(loaded.api_key->value, "key-abc");
    loaded = parse("", env_of({{"EXTRACT_API_KEY", " key-env\n"}}));
    ASSERT_TRUE(loaded.ok()) << report(loaded);
    EXPECT_EQ(loaded.api_key->value, "key-env");
}

TEST(ApiKey, FileReadableByOthersIsAWarningNotAnError) {
    testing::TempDir dir;
    const auto file = dir.write("key", kApiKey);
    std::filesystem::permissions(file, std::filesystem::perms(0644));
    const auto loaded = parse("[upstream]\napi_key_file = " + file.string() + "\n");
    ASSERT_TRUE(loaded.ok()) << report(loaded);
    ASSERT_EQ(loaded.warnings.size(), 1u);
    EXPECT_EQ(loaded.warnings[0], std::string(kFile) + ":2: [upstream] api_key_file: " + file.string() +
                                      " is readable by group or others (mode 0644); chmod 600 it");
}

// ---- webhook secrets ------------------------------------------------------------------------

std::string webhook_with_secret_file(const std::filesystem::path& secret) {
    return "[webhook.h]\nurl = https://hooks.example.com/x\nsecret_file = " + secret.string() + "\n";
}

TEST(WebhookSecret, BadSecretNamesTheFileAndNeverTheValue) {
    testing::TempDir dir;
    const auto plain = write_private(dir, "plain", "s3cr3t-value\n");
    expect_one_error(webhook_with_secret_file(plain), 3, "[webhook.h] secret_file",
                     "the secret in " + plain.string() + " does not start with whsec_");
    EXPECT_THAT(report(parse(webhook_with_secret_file(plain))), Not(HasSubstr("s3cr3t-value")));

    const auto not_base64 = write_private(dir, "b64", "whsec_%%not*base64%%\n");
    expect_one_error(webhook_with_secret_file(not_base64), 3, "[webhook.h] secret_file",
                     "is not valid base64 after whsec_");
    EXPECT_THAT(report(parse(webhook_with_secret_file(not_base64))), Not(HasSubstr("not*base64")));

    const auto empty = write_private(dir, "empty", "\n");
    expect_one_error(webhook_with_secret_file(empty), 3, "[webhook.h] secret_file", "holds no secret");

    expect_one_error(webhook_with_secret_file(dir / "absent"), 3, "[webhook.h] secret_file",
                     "cannot read the webhook secret from " + (dir / "absent").string());
}

TEST(WebhookSecret, SeveralSecretsForRotation) {
    testing::TempDir dir;
    const auto both = write_private(dir, "both", std::string(kSecret) + "\n  " + kSecret2 + "\n");
    auto loaded = parse(webhook_with_secret_file(both));
    ASSERT_TRUE(loaded.ok()) << report(loaded);
    EXPECT_THAT(loaded.config->webhooks[0].secrets, ElementsAre(kSecret, kSecret2));

    const auto spaced = write_private(dir, "spaced", std::string(kSecret2) + " " + kSecret);
    loaded = parse(webhook_with_secret_file(spaced));
    ASSERT_TRUE(loaded.ok()) << report(loaded);
    EXPECT_THAT(loaded.config->webhooks[0].secrets, ElementsAre(kSecret2, kSecret));

    const auto one_bad = write_private(dir, "one-bad", std::string(kSecret) + "\nwhsec_?\n");
    expect_one_error(webhook_with_secret_file(one_bad), 3, "[webhook.h] secret_file",
                     "secret 2 of 2 in " + one_bad.string() + " is not valid base64");
}

TEST(WebhookSecret, FromTheCredentialsDirectory) {
    testing::TempDir dir;
    write_private(dir, "webhook.h", std::string(kSecret) + "\n");
    const auto env = env_of({{"EXTRACT_API_KEY", kApiKey}, {"CREDENTIALS_DIRECTORY", dir.path().string()}});
    const auto loaded = parse("[webhook.h]\nurl = https://hooks.example.com/x\n", env);
    ASSERT_TRUE(loaded.ok()) << report(loaded);
    EXPECT_THAT(loaded.config->webhooks[0].secrets, ElementsAre(kSecret));
    EXPECT_EQ(loaded.config->webhooks[0].secret_source, "$CREDENTIALS_DIRECTORY/webhook.h");

    expect_one_error("[webhook.other]\nurl = https://hooks.example.com/x\n", 1, "[webhook.other] secret_file",
                     "no secret: set secret_file, or provide the credential webhook.other", env);
}

TEST(WebhookSecret, FileReadableByOthersIsAWarning) {
    testing::TempDir dir;
    const auto file = dir.write("s", kSecret);
    std::filesystem::permissions(file, std::filesystem::perms(0640));
    const auto loaded = parse(webhook_with_secret_file(file));
    ASSERT_TRUE(loaded.ok()) << report(loaded);
    ASSERT_EQ(loaded.warnings.size(), 1u);
    EXPECT_THAT(loaded.warnings[0], HasSubstr(":3: [webhook.h] secret_file: " + file.string() + " is readable"));
    EXPECT_THAT(loaded.warnings[0], Not(HasSubstr(kSecret)));
}

// No error or warning of a broken configuration shows the key or a secret.
TEST(Credentials, NeverAppearInAnyMessage) {
    testing::TempDir dir;
    const auto key = dir.write("key", std::string(kApiKey) + " trailing-word");
    const auto secrets = dir.write("s", std::string(kSecret) + " not-a-secret");
    const auto loaded = parse("[upstream]\napi_key_file = " + key.string() + "\n" + webhook_with_secret_file(secrets) +
                              "[bogus]\n" + kApiKey + "\nkey = " + kSecret + "\n");
    EXPECT_FALSE(loaded.ok());
    const std::string text = report(loaded);
    EXPECT_GE(loaded.errors.size(), 3u) << text;
    EXPECT_THAT(text, Not(HasSubstr(kApiKey)));
    EXPECT_THAT(text, Not(HasSubstr("trailing-word")));
    EXPECT_THAT(text, Not(HasSubstr(kSecret)));
    EXPECT_THAT(text, Not(HasSubstr("not-a-secret")));
}

// ---- reload ---------------------------------------------------------------------------------

TEST(SectionsNeedingRestart, OnlyUpstreamCacheAndApi) {
    const Config running;
    EXPECT_THAT(sections_needing_restart(running, running), IsEmpty());

    Config reloaded = running;
    reloaded.sync.poll_interval = seconds{1};
    reloaded.log.level = "debug";
    reloaded.webhooks.push_back(WebhookConfig{});
    reloaded.triggers.push_back(TriggerConfig{});
    reloaded.upstream.api_key_file = "/elsewhere";  // the key is read again on SIGHUP
    reloaded.file = "/other.ini";
    EXPECT_THAT(sections_needing_restart(running, reloaded), IsEmpty());

    reloaded.upstream.page_size = 10;
    EXPECT_THAT(sections_needing_restart(running, reloaded), ElementsAre("upstream"));
    reloaded.cache.path = "/tmp/other.db";
    reloaded.api.socket_mode = 0600;
    EXPECT_THAT(sections_needing_restart(running, reloaded), ElementsAre("upstream", "cache", "api"));

    Config tls = running;
    tls.upstream.verify_tls = false;
    EXPECT_THAT(sections_needing_restart(running, tls), ElementsAre("upstream"));
    Config retention = running;
    retention.cache.event_retention = hours{1};
    EXPECT_THAT(sections_needing_restart(running, retention), ElementsAre("cache"));
}

// ---- split_command --------------------------------------------------------------------------

std::vector<std::string> split(std::string_view command) {
    std::string error = "stale";
    auto words = split_command(command, error);
    EXPECT_EQ(error, "") << command;
    return words;
}

std::string split_error(std::string_view command) {
    std::string error;
    EXPECT_THAT(split_command(command, error), IsEmpty()) << command;
    return error;
}

TEST(SplitCommand, WordsAndBlanks) {
    EXPECT_THAT(split("/bin/prog --flag value"), ElementsAre("/bin/prog", "--flag", "value"));
    EXPECT_THAT(split("  a \t b  "), ElementsAre("a", "b"));
    EXPECT_THAT(split(""), IsEmpty());
    EXPECT_THAT(split("   "), IsEmpty());
}

TEST(SplitCommand, Quotes) {
    EXPECT_THAT(split("echo 'a b' \"c d\""), ElementsAre("echo", "a b", "c d"));
    EXPECT_THAT(split("echo 'it\"s' \"it's\""), ElementsAre("echo", "it\"s", "it's"));
    EXPECT_THAT(split("x a'b c'\"d e\"f"), ElementsAre("x", "ab cd ef"));
    EXPECT_THAT(split("x '' \"\""), ElementsAre("x", "", ""));
    EXPECT_THAT(split(R"(x 'a\b')"), ElementsAre("x", R"(a\b)"));
    EXPECT_THAT(split(R"(x "q\"q" "b\\s" "d\$" "keep\n")"), ElementsAre("x", "q\"q", "b\\s", "d$", R"(keep\n)"));
}

TEST(SplitCommand, BackslashOutsideQuotes) {
    EXPECT_THAT(split(R"(x a\ b \'c \\)"), ElementsAre("x", "a b", "'c", "\\"));
}

TEST(SplitCommand, NoExpansion) {
    EXPECT_THAT(split("echo $HOME ~ *.txt `id` $(id) a;b a|b"),
                ElementsAre("echo", "$HOME", "~", "*.txt", "`id`", "$(id)", "a;b", "a|b"));
}

TEST(SplitCommand, Errors) {
    EXPECT_EQ(split_error("echo 'open"), "has an unterminated ' quote");
    EXPECT_EQ(split_error("echo \"open"), "has an unterminated \" quote");
    EXPECT_EQ(split_error("echo \"open\\\""), "has an unterminated \" quote");
    EXPECT_EQ(split_error("echo x\\"), "ends with a backslash that escapes nothing");
}

// ---- logging --------------------------------------------------------------------------------

std::string format_line(LogDestination destination, spdlog::level::level_enum level, std::string_view text) {
    const auto at = spdlog::log_clock::time_point{std::chrono::milliseconds{1'795'923'845'123}};
    const spdlog::details::log_msg msg(at, spdlog::source_loc{}, "extract-sync", level, text);
    spdlog::memory_buf_t buf;
    make_log_formatter(destination)->format(msg, buf);
    return std::string(buf.data(), buf.size());
}

TEST(Logging, StderrLinesCarryAUtcTimestamp) {
    EXPECT_EQ(format_line(LogDestination::stderr_text, spdlog::level::info, "synced"),
              "2026-11-29T03:44:05.123Z info synced\n");
    EXPECT_EQ(format_line(LogDestination::stderr_text, spdlog::level::warn, "slow"),
              "2026-11-29T03:44:05.123Z warning slow\n");
}

TEST(Logging, JournalLinesCarryTheirSyslogPriority) {
    EXPECT_EQ(format_line(LogDestination::journal, spdlog::level::err, "boom"), "<3>error boom\n");
    EXPECT_EQ(format_line(LogDestination::journal, spdlog::level::warn, "hm"), "<4>warning hm\n");
    EXPECT_EQ(format_line(LogDestination::journal, spdlog::level::info, "ok"), "<6>info ok\n");
    EXPECT_EQ(format_line(LogDestination::journal, spdlog::level::debug, "d"), "<7>debug d\n");
    EXPECT_EQ(format_line(LogDestination::journal, spdlog::level::critical, "c"), "<2>critical c\n");
}

TEST(Logging, JournalOnlyWhenJournalStreamNamesThisDescriptor) {
    testing::TempDir dir;
    const auto path = dir.write("stream", "");
    std::FILE* file = std::fopen(path.c_str(), "r");
    ASSERT_NE(file, nullptr);
    const int fd = fileno(file);
    struct stat st {};
    ASSERT_EQ(fstat(fd, &st), 0);
    const std::string device = std::to_string(st.st_dev);
    const std::string inode = std::to_string(st.st_ino);

    EXPECT_EQ(log_destination(env_of({{"JOURNAL_STREAM", device + ":" + inode}}), fd), LogDestination::journal);
    EXPECT_EQ(log_destination(env_of({{"JOURNAL_STREAM", device + ":" + inode + "1"}}), fd),
              LogDestination::stderr_text);
    EXPECT_EQ(log_destination(env_of({{"JOURNAL_STREAM", "garbage"}}), fd), LogDestination::stderr_text);
    EXPECT_EQ(log_destination(env_of({{"JOURNAL_STREAM", ":"}}), fd), LogDestination::stderr_text);
    EXPECT_EQ(log_destination(env_of({}), fd), LogDestination::stderr_text);
    std::fclose(file);
}

TEST(Logging, LevelFromConfigUnlessSpdlogLevelIsSet) {
    std::string error;
    ASSERT_TRUE(init_logging("warn", env_of({}), error)) << error;
    EXPECT_EQ(error, "");
    EXPECT_EQ(spdlog::default_logger()->name(), "extract-sync");
    EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::warn);

    ASSERT_TRUE(set_log_level("debug", env_of({}), error));
    EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::debug);

    ASSERT_TRUE(set_log_level("error", env_of({{"SPDLOG_LEVEL", "trace"}}), error));
    EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::trace);

    ASSERT_TRUE(init_logging("info", env_of({{"SPDLOG_LEVEL", "debug"}}), error));
    EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::debug);
}

TEST(Logging, UnknownLevelIsRefused) {
    std::string error;
    EXPECT_FALSE(init_logging("loud", env_of({}), error));
    EXPECT_EQ(error, "unknown log level \"loud\"; use trace, debug, info, warn or error");
    EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::info);

    ASSERT_TRUE(set_log_level("debug", env_of({}), error));
    EXPECT_FALSE(set_log_level("verbose", env_of({}), error));
    EXPECT_THAT(error, HasSubstr("\"verbose\""));
    EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::debug);  // a bad reload changes nothing

    EXPECT_TRUE(is_log_level("trace"));
    EXPECT_FALSE(is_log_level("warning"));
    EXPECT_FALSE(is_log_level("INFO"));
}

}  // namespace
}  // namespace extract::daemon
