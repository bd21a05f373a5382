#include "delivery/trigger_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <string_view>
#include <system_error>

#include "core/sigpipe_blocked.hpp"
#include "core/untrusted_text.hpp"

extern char** environ;

namespace extract::delivery {
namespace {

using Steady = std::chrono::steady_clock;

// A line longer than this is logged in pieces.
constexpr std::size_t kMaxLogLine = 4096;
// Without a pidfd (kernels before 5.3) an exit is noticed by looking this often.
constexpr int kExitCheckMs = 50;

class Descriptor {
public:
    explicit Descriptor(int fd = -1) : fd_(fd) {}
    ~Descriptor() { reset(); }
    Descriptor(const Descriptor&) = delete;
    Descriptor& operator=(const Descriptor&) = delete;
    int get() const { return fd_; }
    bool open() const { return fd_ >= 0; }
    void reset(int fd = -1) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_;
};

// One output stream of a command, cut into lines for the log.
class OutputLines {
public:
    explicit OutputLines(std::string prefix) : prefix_(std::move(prefix)) {}

    void append(std::string_view data) {
        for (const char c : data) {
            if (c == '\n') {
                emit();
            } else {
                if (line_.size() >= kMaxLogLine) emit();
                line_ += c;
            }
        }
    }
    void flush() {
        if (!line_.empty()) emit();
    }
    const std::string& last() const { return last_; }

private:
    void emit() {
        if (!line_.empty() && line_.back() == '\r') line_.pop_back();
        if (!line_.empty()) {
            // The command may echo anything (an id, a payload): escaped, it cannot forge log lines.
            spdlog::info("{}{}", prefix_, escape_untrusted(line_, line_.size()));
            last_ = line_;
        }
        line_.clear();
    }

    std::string prefix_;
    std::string line_;
    std::string last_;
};

// Reads what is there now; closes `fd` at end of file or on an error.
void read_available(Descriptor& fd, OutputLines& lines) {
    std::array<char, 16384> buffer{};
    while (fd.open()) {
        const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
        if (n > 0) {
            lines.append(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        fd.reset();
    }
}

// The daemon's environment minus where its credentials are (a trigger is the user's command:
// it must not receive the API key, nor the directory of every webhook secret) and minus
// `withheld`, plus `additions`.
std::vector<std::string> merged_environment(const std::vector<std::pair<std::string, std::string>>& additions,
                                            const std::vector<std::string>& withheld_too) {
    constexpr std::array<std::string_view, 2> kWithheld{"EXTRACT_API_KEY", "CREDENTIALS_DIRECTORY"};
    std::vector<std::string> env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        const std::string_view entry(*e);
        const std::string_view name = entry.substr(0, entry.find('='));
        const bool replaced =
            std::any_of(additions.begin(), additions.end(), [&](const auto& added) { return added.first == name; });
        const bool withheld = std::find(kWithheld.begin(), kWithheld.end(), name) != kWithheld.end() ||
                              std::find(withheld_too.begin(), withheld_too.end(), name) != withheld_too.end();
        if (!replaced && !withheld) env.emplace_back(entry);
    }
    for (const auto& [name, value] : additions) env.push_back(name + "=" + value);
    return env;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
    std::vector<char*> out;
    out.reserve(strings.size() + 1);
    for (auto& s : strings) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

ProcessOutcome failed_to_start(std::string message) {
    ProcessOutcome outcome;
    outcome.ending = ProcessOutcome::Ending::failed_to_start;
    outcome.message = std::move(message);
    return outcome;
}

int milliseconds_until(Steady::time_point at, Steady::time_point now) {
    if (at <= now) return 0;
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(at - now).count();
    return static_cast<int>(std::min<std::int64_t>(ms, 60'000));
}

}  // namespace

PosixProcessRunner::PosixProcessRunner(Millis kill_grace)
    : kill_grace_(kill_grace), abort_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (abort_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd for the trigger runner");
}

PosixProcessRunner::~PosixProcessRunner() { ::close(abort_fd_); }

void PosixProcessRunner::abort() {
    aborted_ = true;
    const std::uint64_t one = 1;
    (void)!::write(abort_fd_, &one, sizeof one);
}

ProcessOutcome PosixProcessRunner::run(const ProcessRequest& request) {
    if (aborted_) {
        ProcessOutcome outcome;
        outcome.ending = ProcessOutcome::Ending::aborted;
        outcome.message = "not started: shutting down";
        return outcome;
    }
    if (request.argv.empty()) return failed_to_start("the command is empty");

    std::vector<std::string> env_strings = merged_environment(request.environment, request.withheld);
    std::vector<std::string> arg_strings = request.argv;
    std::vector<char*> envp = pointers(env_strings);
    std::vector<char*> argv = pointers(arg_strings);

    std::array<int, 2> in{-1, -1}, out{-1, -1}, err{-1, -1};
    if (::pipe2(in.data(), O_CLOEXEC) != 0 || ::pipe2(out.data(), O_CLOEXEC) != 0 ||
        ::pipe2(err.data(), O_CLOEXEC) != 0) {
        const int error = errno;
        for (const int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) {
            if (fd >= 0) ::close(fd);
        }
        return failed_to_start(std::string("cannot create pipes: ") + std::strerror(error));
    }
    Descriptor stdin_read(in[0]), stdin_write(in[1]);
    Descriptor stdout_read(out[0]), stdout_write(out[1]);
    Descriptor stderr_read(err[0]), stderr_write(err[1]);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, stdin_read.get(), STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, stdout_write.get(), STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, stderr_write.get(), STDERR_FILENO);
    // The daemon's sockets and database files are none of the command's business.
    posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);

    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attributes, 0);  // a group of its own, so a timeout kills all it started
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attributes, &none);  // the daemon blocks the signals it sigwaits for
    sigset_t all;
    sigfillset(&all);
    posix_spawnattr_setsigdefault(&attributes, &all);  // nothing the daemon ignores stays ignored

    pid_t pid = -1;
    const int spawned = ::posix_spawnp(&pid, argv[0], &actions, &attributes, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    if (spawned != 0) return failed_to_start("cannot run " + request.argv[0] + ": " + std::strerror(spawned));

    stdin_read.reset();
    stdout_write.reset();
    stderr_write.reset();
    set_nonblocking(stdin_write.get());
    set_nonblocking(stdout_read.get());
    set_nonblocking(stderr_read.get());
    // Readable once the command exits. Through syscall(): glibc 2.36's <sys/pidfd.h> lacks C linkage.
    const Descriptor exit_fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));

    const SigpipeBlocked sigpipe_blocked;
    OutputLines stdout_lines(request.log_name + ": ");
    OutputLines stderr_lines(request.log_name + " stderr: ");
    std::size_t written = 0;
    if (request.input.empty()) stdin_write.reset();

    const auto deadline = Steady::now() + request.timeout;
    std::optional<Steady::time_point> kill_at;  // set once the group got SIGTERM
    bool timed_out = false;
    bool aborting = false;

    while (true) {
        // Exited? Not reaped yet, so its process group cannot be reused while we may signal it.
        siginfo_t info{};
        if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid) {
            break;
        }
        const auto now = Steady::now();
        if (!kill_at) {
            aborting = aborted_;
            timed_out = !aborting && now >= deadline;
            if (aborting || timed_out) {
                ::kill(-pid, SIGTERM);
                kill_at = now + kill_grace_;
            }
        } else if (now >= *kill_at) {
            ::kill(-pid, SIGKILL);
            kill_at = Steady::time_point::max();
        }

        std::vector<pollfd> fds;
        const auto watch = [&fds](const Descriptor& fd, short events) {
            if (fd.open()) fds.push_back({fd.get(), events, 0});
        };
        watch(stdout_read, POLLIN);
        watch(stderr_read, POLLIN);
        watch(stdin_write, POLLOUT);
        watch(exit_fd, POLLIN);
        if (!kill_at) fds.push_back({abort_fd_, POLLIN, 0});
        int wait_ms = milliseconds_until(kill_at ? *kill_at : deadline, now);
        if (!exit_fd.open()) wait_ms = std::min(wait_ms, kExitCheckMs);
        if (::poll(fds.data(), fds.size(), wait_ms) < 0 && errno != EINTR) {
            ::kill(-pid, SIGKILL);  // cannot watch it any more (out of memory): it must not run unwatched
            break;
        }

        for (const auto& p : fds) {
            if (p.revents == 0) continue;
            if (p.fd == stdout_read.get()) read_available(stdout_read, stdout_lines);
            if (p.fd == stderr_read.get()) read_available(stderr_read, stderr_lines);
            if (p.fd == stdin_write.get()) {
                const ssize_t n =
                    ::write(stdin_write.get(), request.input.data() + written, request.input.size() - written);
                if (n > 0) written += static_cast<std::size_t>(n);
                // EPIPE: the command did not read all of it, which is its own business.
                if (written == request.input.size() || (n < 0 && errno != EAGAIN && errno != EINTR))
                    stdin_write.reset();
            }
        }
    }

    // Whatever of its group outlived it after a timeout or an abort goes with it.
    if (aborting || timed_out) ::kill(-pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    // What it printed last; a descendant that keeps the pipe open is not waited for.
    read_available(stdout_read, stdout_lines);
    read_available(stderr_read, stderr_lines);
    stdout_lines.flush();
    stderr_lines.flush();

    ProcessOutcome outcome;
    outcome.last_line = !stderr_lines.last().empty() ? stderr_lines.last() : stdout_lines.last();
    if (aborting) {
        outcome.ending = ProcessOutcome::Ending::aborted;
        outcome.message = "killed by shutdown";
    } else if (timed_out) {
        outcome.ending = ProcessOutcome::Ending::timed_out;
        outcome.message =
            "ran past its timeout of " + std::to_string(request.timeout.count()) + " ms; its process group was killed";
    } else if (WIFSIGNALED(status)) {
        outcome.ending = ProcessOutcome::Ending::killed_by_signal;
        outcome.code = WTERMSIG(status);
    } else {
        outcome.ending = ProcessOutcome::Ending::exited;
        outcome.code = WEXITSTATUS(status);
    }
    return outcome;
}

}  // namespace extract::delivery
