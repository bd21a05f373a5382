#pragma once
// A program a benchmark starts (extract-syncd, extract-sim): its stdout and stderr go to a
// log file the benchmark can search; SIGTERM and a bounded wait when the object goes away.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace extract::bench {

class ChildProgram {
public:
    // Throws std::runtime_error when the program cannot be started.
    ChildProgram(std::vector<std::string> argv, std::filesystem::path log_path);
    ~ChildProgram();
    ChildProgram(const ChildProgram&) = delete;
    ChildProgram& operator=(const ChildProgram&) = delete;

    pid_t pid() const { return pid_; }
    const std::filesystem::path& log_path() const { return log_path_; }
    // The first log line containing `needle`, waiting up to `timeout`; nullopt when it does
    // not appear in time or the program exits first.
    std::optional<std::string> wait_for_line(const std::string& needle, std::chrono::milliseconds timeout);
    bool running();
    // SIGTERM, then SIGKILL if it has not exited within `grace`. Returns the exit status.
    int stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

private:
    pid_t pid_ = -1;
    std::optional<int> status_;
    std::filesystem::path log_path_;
};

// The directory of the running program (bench programs find extract-syncd beside them).
std::filesystem::path own_directory();
// A new directory $TMPDIR/<prefix>-XXXXXX (TMPDIR defaults to /tmp).
std::filesystem::path make_work_directory(const std::string& prefix);
// "1.00 2.00 3.00": the 1, 5 and 15 minute load averages, for the record of a run.
std::string load_average();

}  // namespace extract::bench
