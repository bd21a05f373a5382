#pragma once
// A real program started by a test: its own process group, stdout and stderr captured,
// bounded waits, and killed (with its group) when the object goes away.

#include <sys/types.h>

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace extract::testing {

class ChildProcess {
public:
    // `env` entries are added to (or override) the test's own environment. A `listen_fd` >= 0
    // is handed over the way systemd's socket activation does: as fd 3, with LISTEN_FDS=1 and
    // LISTEN_PID=<the child's pid> (the test keeps its own copy open, as systemd does).
    ChildProcess(std::vector<std::string> argv, std::map<std::string, std::string> env = {}, int listen_fd = -1);
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    pid_t pid() const { return pid_; }

    // Waits until a line of stdout contains `needle`; returns that line, or nullopt on timeout
    // or when the process exits first.
    std::optional<std::string> wait_for_stdout(const std::string& needle, std::chrono::milliseconds timeout);
    // Waits until stderr contains `needle` anywhere.
    bool wait_for_stderr(const std::string& needle, std::chrono::milliseconds timeout);

    // Sends `sig` to the process (not its group).
    void signal(int sig);
    // Waits for exit; returns the exit code (128+signal when killed), or nullopt on timeout.
    std::optional<int> wait(std::chrono::milliseconds timeout);
    bool running();

    std::string stdout_text() const;
    std::string stderr_text() const;

private:
    void pump();

    pid_t pid_ = -1;
    int out_fd_ = -1;
    int err_fd_ = -1;
    std::optional<int> exit_code_;
    mutable std::mutex mutex_;
    std::string out_;
    std::string err_;
    bool eof_ = false;
    std::thread reader_;
};

}  // namespace extract::testing
