#pragma once
// Where the daemon's log lines go and how they read: stderr with UTC timestamps, or, when
// systemd connected stderr to the journal, lines carrying their syslog priority.

#include <unistd.h>

#include <memory>
#include <string>
#include <string_view>

#include <spdlog/formatter.h>

#include "daemon/config.hpp"

namespace extract::daemon {

enum class LogDestination {
    stderr_text,  // "2026-11-30T03:04:05.123Z info message"
    journal,      // "<6>info message": the journal reads the priority and adds its own time
};

// The journal when $JOURNAL_STREAM names the device:inode of `fd` (see sd-daemon(3) and
// systemd.exec(5)); stderr_text otherwise, also when stderr was redirected elsewhere.
LogDestination log_destination(const Environment& env, int fd = STDERR_FILENO);

std::unique_ptr<spdlog::formatter> make_log_formatter(LogDestination destination);

// Whether `level` is one that [log] level accepts: trace, debug, info, warn, error.
bool is_log_level(std::string_view level);

// Makes a stderr logger spdlog's default, formatted for log_destination(env), at `level`
// unless $SPDLOG_LEVEL is set (it wins, in spdlog's syntax). On an unknown `level` the
// logger is installed at info and false is returned with `error` saying why.
bool init_logging(const std::string& level, std::string& error);
bool init_logging(const std::string& level, const Environment& env, std::string& error);

// Changes the level of every logger (SIGHUP); $SPDLOG_LEVEL still wins.
bool set_log_level(const std::string& level, std::string& error);
bool set_log_level(const std::string& level, const Environment& env, std::string& error);

}  // namespace extract::daemon
