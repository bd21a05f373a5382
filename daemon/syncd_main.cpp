#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

#include "daemon/daemon.hpp"
#include "daemon/logging.hpp"

namespace extract::daemon {

void block_handled_signals();  // daemon.cpp

namespace {

constexpr const char* kDefaultConfig = "/etc/extract-sync/extract-sync.ini";

constexpr const char* kUsage = R"(usage: extract-syncd [--config FILE] [--check-config | --once]

Keeps a durable local mirror of every batch of an extract API account, records every
status transition, serves it on a Unix socket and fires webhooks and commands.

  --config FILE    configuration file (default /etc/extract-sync/extract-sync.ini)
  --check-config   validate the configuration, print what is wrong; exit 0 or 78
  --once           one full sync, deliver nothing; exit 0 on success, 1 on failure
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
};

// Returns an exit code when the flags already decide the outcome.
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
        } else if (arg == "--config" && i + 1 < argc) {
            flags.config = argv[++i];
        } else if (arg.starts_with("--config=")) {
            flags.config = std::string(arg.substr(9));
        } else {
            std::cerr << "extract-syncd: unknown or incomplete argument '" << arg << "'\n"
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

    try {
        Daemon daemon(std::move(*loaded.config), std::move(*loaded.api_key));
        return flags.once ? daemon.run_once() : daemon.run();
    } catch (const std::exception& e) {
        spdlog::critical("extract-syncd cannot start: {}", e.what());
        return kExitFailure;
    }
}

}  // namespace extract::daemon
