#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

#include "core/duration.hpp"
#include "daemon/daemon.hpp"
#include "daemon/instance_lock.hpp"
#include "daemon/logging.hpp"

namespace extract::daemon {

void block_handled_signals();  // daemon.cpp

namespace {

constexpr const char* kDefaultConfig = "/etc/extract-sync/extract-sync.ini";

constexpr Millis kDefaultOncePatience{30000};

constexpr const char* kUsage = R"(usage: extract-syncd [--config FILE] [--check-config | --once [--once-timeout DUR]]

Keeps a durable local mirror of every batch of an extract API account, records every
status transition, serves it on a Unix socket and fires webhooks and commands.

  --config FILE    configuration file (default /etc/extract-sync/extract-sync.ini)
  --check-config   validate the configuration, print what is wrong; exit 0 or 78
  --once           one full sync, deliver nothing; exit 0 on success, 1 on failure
  --once-timeout DUR
                   with --once: give up when no page arrived for DUR (default 30s);
                   a failed pass is tried again after 1s, 2s, 4s ... until then
                   (an upstream host that does not resolve ends it at once)
  --version        print the version
  --help           this text

Runs in the foreground (systemd: Type=notify). Signals: SIGTERM/SIGINT stop,
SIGHUP reloads [sync], [log], [webhook.*], [trigger.*] and the API key.
Exit codes: 0 ok, 1 failure, 64 usage error, 78 configuration error.
)";

struct Flags {
    std::string config = kDefaultConfig;
    bool check_config = false;
    bool once = false;
    Millis once_patience = kDefaultOncePatience;
};

// --config FILE, --once-timeout DUR; false (after saying why) when the value is unusable.
bool take_value(std::string_view flag, std::string_view value, Flags& flags) {
    if (flag == "--config") {
        if (value.empty()) {
            std::cerr << "extract-syncd: --config needs a file name\n";
            return false;
        }
        flags.config = std::string(value);
        return true;
    }
    const auto parsed = parse_duration(value);
    if (!parsed || parsed->count() <= 0) {
        std::cerr << "extract-syncd: --once-timeout '" << value << "' is not a duration such as 30s or 2m\n";
        return false;
    }
    flags.once_patience = *parsed;
    return true;
}

// Returns an exit code when the flags already decide the outcome. Hand-written, not CLI11: the
// usage text is the source of extract-syncd.8, the flags are SPEC §1's, exit 64 is documented in it
// and tests/daemon/syncd_process_test.cpp checks it; CLI11 has its own help layout, texts and codes.
std::optional<int> parse_flags(int argc, char** argv, Flags& flags) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::cout << kUsage;
            return kExitOk;
        }
        if (arg == "--version") {
            std::cout << "extract-syncd " << EXTRACT_VERSION << "\n";
            return kExitOk;
        }
        if (arg == "--check-config") {
            flags.check_config = true;
        } else if (arg == "--once") {
            flags.once = true;
        } else if (arg == "--config" || arg == "--once-timeout") {
            if (i + 1 >= argc) {
                std::cerr << "extract-syncd: " << arg << " needs a value (" << (arg == "--config" ? "FILE" : "DUR")
                          << ")\ntry 'extract-syncd --help'\n";
                return kExitUsage;
            }
            if (!take_value(arg, argv[++i], flags)) return kExitUsage;
        } else if (arg.starts_with("--config=") || arg.starts_with("--once-timeout=")) {
            const auto eq = arg.find('=');
            if (!take_value(arg.substr(0, eq), arg.substr(eq + 1), flags)) return kExitUsage;
        } else {
            std::cerr << "extract-syncd: unknown argument '" << arg << "'\n"
                      << "try 'extract-syncd --help'\n";
            return kExitUsage;
        }
    }
    if (flags.check_config && flags.once) {
        std::cerr << "extract-syncd: --check-config and --once exclude each other\n";
        return kExitUsage;
    }
    return std::nullopt;
}

}  // namespace

int run_syncd(int argc, char** argv) {
    Flags flags;
    if (auto code = parse_flags(argc, argv, flags)) return *code;

    // Private by default: the mirror (and its -wal/-shm, which SQLite creates with the file's
    // mode) holds every batch. Started by hand with a login shell's 0022 it was 0644, readable
    // by users that [api] allowed_uids keeps off the socket. Triggers inherit this umask.
    ::umask(0077);
    // SQLite counts every allocation it makes under a global mutex unless told not to; nothing
    // here reads the counts, and on a first sync the mutex was 4% of the CPU. Only possible
    // before SQLite initializes, i.e. before the first connection.
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    // Before any thread exists, so that only the signal thread ever receives these.
    block_handled_signals();
    // A peer that hangs up (a webhook receiver, an API client) must cost one request, not the
    // process: OpenSSL writes without MSG_NOSIGNAL.
    std::signal(SIGPIPE, SIG_IGN);

    std::string log_error;
    if (!init_logging("info", log_error)) {
        std::cerr << "extract-syncd: " << log_error << "\n";
        return kExitConfig;
    }

    LoadedConfig loaded = load_config(flags.config);
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) std::cerr << e.to_string() << "\n";
        std::cerr << "extract-syncd: " << loaded.errors.size() << " configuration error(s) in " << flags.config << "\n";
        return kExitConfig;
    }
    for (const auto& w : loaded.warnings) spdlog::warn("{}", w);
    if (flags.check_config) {
        std::cout << flags.config << ": configuration is valid\n";
        return kExitOk;
    }
    if (!set_log_level(loaded.config->log.level, log_error)) {
        std::cerr << "extract-syncd: " << log_error << "\n";
        return kExitConfig;
    }
    spdlog::info("API key from {}", loaded.api_key->source);

    // Before the mirror is opened: a second daemon must not migrate, write or sync it.
    auto lock = InstanceLock::acquire(loaded.config->cache.path, flags.once ? "" : loaded.config->api.socket);
    if (auto* error = std::get_if<std::string>(&lock)) {
        spdlog::critical("{}", *error);
        return kExitFailure;
    }
    try {
        Daemon daemon(std::move(*loaded.config), std::move(*loaded.api_key));
        return flags.once ? daemon.run_once(flags.once_patience) : daemon.run();
    } catch (const std::exception& e) {
        spdlog::critical("extract-syncd cannot start: {}", e.what());
        return kExitFailure;
    }
}

}  // namespace extract::daemon
