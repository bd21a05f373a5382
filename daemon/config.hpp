#pragma once
// The daemon's configuration: the INI file of SPEC §2 read, validated and turned into typed
// settings, together with the credentials it points at (the API key, webhook secrets).

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/batch.hpp"
#include "core/clock.hpp"

namespace extract::daemon {

struct UpstreamConfig {
    std::string base_url = "https://api.extract.page";  // http(s)://host[:port][/path], no trailing '/'
    std::string api_key_file;                           // empty: $EXTRACT_API_KEY, then $CREDENTIALS_DIRECTORY/api_key
    int page_size = 200;
    Millis request_timeout{30000};                     // the whole request: connect, headers and body
    std::size_t max_response_size = 64 * 1024 * 1024;  // bytes of one answer's body
    double max_requests_per_second = 5;                // 0: no client-side limit
    bool verify_tls = true;
    std::string ca_file;  // empty: the system's trust store
    bool operator==(const UpstreamConfig&) const = default;
};

struct SyncConfig {
    Millis poll_interval{10000};
    Millis idle_poll_interval{60000};
    Millis full_sync_interval{900000};
    std::vector<std::string> terminal_statuses{kDefaultTerminalStatuses.begin(), kDefaultTerminalStatuses.end()};
    bool emit_on_bootstrap = false;
    // The mass-removal guard (docs/sync.md): a complete pass that would remove more than this
    // percentage of the live batches (and more than 20) is held ...
    double mass_removal_threshold = 50;
    // ... until complete passes have agreed for this long.
    Millis mass_removal_confirm{3600000};
    bool operator==(const SyncConfig&) const = default;
};

struct CacheConfig {
    std::string path = "/var/lib/extract-sync/mirror.db";
    Millis event_retention{30LL * 86400000};
    // The mirror and its -wal/-shm: 0600 (the daemon's user only) or 0640 (its file's group may
    // read it too, with sqlite3 or Datasette).
    unsigned file_mode = 0600;
    bool operator==(const CacheConfig&) const = default;
};

struct ApiConfig {
    std::string socket = "/run/extract-sync/api.sock";
    unsigned socket_mode = 0660;
    // Who may connect besides root and the daemon's own user (names resolved at load); both
    // empty: the socket file's mode alone decides.
    std::vector<unsigned> allowed_uids;
    std::vector<unsigned> allowed_gids;
    bool operator==(const ApiConfig&) const = default;
};

struct LogConfig {
    std::string level = "info";
    bool operator==(const LogConfig&) const = default;
};

struct WebhookConfig {
    std::string name;
    std::string url;
    std::string secret_file;  // as written; empty when the secret came from $CREDENTIALS_DIRECTORY
    // The whsec_... values, read at load. Several mean rotation: each signs the request (one
    // `v1,…` per secret in webhook-signature), so a receiver holding any of them accepts it.
    // Never log them.
    std::vector<std::string> secrets;
    // Where `secrets` came from, for logs: "secret_file PATH" or "$CREDENTIALS_DIRECTORY/webhook.NAME".
    std::string secret_source;
    std::vector<std::string> events{"batch.status_changed"};
    std::vector<std::string> statuses;  // empty: every status
    Millis timeout{15000};
    // Waits before attempts 2..N: 5s, 5m, 30m, 2h, 5h, 10h, 10h.
    std::vector<Millis> retry_schedule{std::chrono::seconds{5}, std::chrono::minutes{5}, std::chrono::minutes{30},
                                       std::chrono::hours{2},   std::chrono::hours{5},   std::chrono::hours{10},
                                       std::chrono::hours{10}};
    int max_in_flight = 4;
    bool operator==(const WebhookConfig&) const = default;
};

struct TriggerConfig {
    std::string name;
    std::string command;            // as written
    std::vector<std::string> argv;  // `command` split like a shell would; run without a shell
    std::vector<std::string> events{"batch.status_changed"};
    std::vector<std::string> statuses;  // empty: every status
    Millis timeout{300000};
    std::vector<Millis> retry_schedule{std::chrono::seconds{10}, std::chrono::minutes{1}, std::chrono::minutes{10}};
    bool operator==(const TriggerConfig&) const = default;
};

struct Config {
    std::string file;  // the path it was read from
    UpstreamConfig upstream;
    SyncConfig sync;
    CacheConfig cache;
    ApiConfig api;
    LogConfig log;
    std::vector<WebhookConfig> webhooks;  // in file order
    std::vector<TriggerConfig> triggers;  // in file order
    bool operator==(const Config&) const = default;
};

// One thing wrong with a configuration, located for the operator.
struct ConfigError {
    std::string file;
    int line = 0;     // 0: not tied to a line
    std::string key;  // "section.key", "[section]", a bare key outside any section, or empty
    std::string message;
    // "FILE:LINE: [upstream] page_size: must be between 1 and 200, got 500"
    std::string to_string() const;
};

struct ApiKey {
    std::string value;  // never log it
    // Where it came from, for logs: "api_key_file /etc/extract-sync/api_key", "$EXTRACT_API_KEY"
    // or "$CREDENTIALS_DIRECTORY/api_key".
    std::string source;
};

// Looks up an environment variable; injected so tests do not touch the process environment.
using Environment = std::function<std::optional<std::string>(const std::string& name)>;
Environment process_environment();

struct LoadedConfig {
    std::optional<Config> config;   // set exactly when ok()
    std::optional<ApiKey> api_key;  // set exactly when ok()
    std::vector<ConfigError> errors;
    std::vector<std::string> warnings;  // e.g. a key file readable by others; log them, they do not stop start-up
    bool ok() const { return errors.empty(); }
};

// Reads and validates everything, including the API key (lookup order: api_key_file,
// $EXTRACT_API_KEY, $CREDENTIALS_DIRECTORY/api_key) and each webhook's secrets (secret_file,
// else $CREDENTIALS_DIRECTORY/webhook.NAME). Collects all errors, not just the first.
LoadedConfig load_config(const std::string& path, const Environment& env = process_environment());
// The same from text; `file_name` is what errors name.
LoadedConfig parse_config(std::string_view text, const std::string& file_name, const Environment& env);

// Which sections differ in a way SIGHUP cannot apply ("upstream" other than where the key
// comes from, "cache", "api"), for the "needs a restart" log line. Empty when none.
std::vector<std::string> sections_needing_restart(const Config& running, const Config& reloaded);

// Splits like a POSIX shell would: blanks separate words, '…' is literal, "…" honours \" \\ \$ \`,
// a backslash outside quotes escapes the next character. No expansion of any kind. On an
// unterminated quote or a trailing backslash returns {} and sets `error`; otherwise clears it.
std::vector<std::string> split_command(std::string_view command, std::string& error);

}  // namespace extract::daemon
