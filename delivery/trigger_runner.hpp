#pragma once
// The seam where a trigger's command runs: one process, its input, its environment, its time
// limit, and how it ended as a value.

#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.hpp"

namespace extract::delivery {

struct ProcessRequest {
    std::vector<std::string> argv;  // argv[0] is looked up on $PATH when it has no '/'; no shell
    std::vector<std::pair<std::string, std::string>> environment;  // set on top of the daemon's own
    std::vector<std::string> withheld;  // names not passed on from the daemon's own environment
    std::string input;                  // written to stdin, which is then closed
    Millis timeout{300000};
    std::string log_name;  // prefixes each line it prints in the log: "trigger.NAME"
};

struct ProcessOutcome {
    enum class Ending {
        exited,            // `code` is its exit code
        killed_by_signal,  // `code` is the signal, sent by someone else
        timed_out,         // it ran past its timeout and its process group was killed
        failed_to_start,   // `message` says why
        aborted,           // a shutdown killed it: the outcome is unknown
    };
    Ending ending = Ending::exited;
    int code = 0;
    std::string message;
    std::string last_line;  // the last line it printed (stderr before stdout), for the attempt log
};

class ProcessRunner {
public:
    virtual ~ProcessRunner() = default;
    // Runs one process to its end; thread-safe.
    virtual ProcessOutcome run(const ProcessRequest& request) = 0;
    // From another thread at shutdown: running processes are killed and end as `aborted`, and
    // so does every later run.
    virtual void abort() = 0;
};

// posix_spawn in a process group of its own, with an empty signal mask, default signal
// actions and no descriptor of the daemon but stdin, stdout and stderr. Its output goes to the
// log at info, line by line. Past the timeout (or on abort()) the whole group gets SIGTERM, and
// SIGKILL after `kill_grace` or as soon as the command itself has exited.
class PosixProcessRunner final : public ProcessRunner {
public:
    explicit PosixProcessRunner(Millis kill_grace = Millis{2000});
    ~PosixProcessRunner() override;
    PosixProcessRunner(const PosixProcessRunner&) = delete;
    PosixProcessRunner& operator=(const PosixProcessRunner&) = delete;

    ProcessOutcome run(const ProcessRequest& request) override;
    void abort() override;

private:
    Millis kill_grace_;
    std::atomic<bool> aborted_{false};
    int abort_fd_ = -1;  // an eventfd every run polls; abort() makes it readable for good
};

}  // namespace extract::delivery
