#include "tests/support/child_process.hpp"

#include "tests/support/eventually.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace extract::testing {
namespace {

std::condition_variable& output_cv() {
    static std::condition_variable cv;
    return cv;
}

}  // namespace

ChildProcess::ChildProcess(std::vector<std::string> argv, std::map<std::string, std::string> env, int listen_fd) {
    if (argv.empty()) throw std::invalid_argument("ChildProcess: empty argv");
    int out[2];
    int err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");

    // Build everything the child needs before fork: only async-signal-safe calls after it.
    std::map<std::string, std::string> merged;
    for (char** e = environ; *e; ++e) {
        const std::string kv = *e;
        const auto eq = kv.find('=');
        if (eq != std::string::npos) merged[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (auto& [k, v] : env) merged[k] = v;
    if (listen_fd >= 0) {
        merged.insert_or_assign("LISTEN_FDS", std::string(1, '1'));
        merged.insert_or_assign("LISTEN_PID", std::string(20, ' '));  // the child writes its pid here: only it knows it
    }
    std::vector<std::string> env_strings;
    for (auto& [k, v] : merged) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    char* listen_pid = nullptr;
    for (auto& s : env_strings) {
        if (listen_fd >= 0 && s.starts_with("LISTEN_PID=")) listen_pid = s.data() + 11;
    }
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);

    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        setpgid(0, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        dup2(out[1], STDOUT_FILENO);
        dup2(err[1], STDERR_FILENO);
        const int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, STDIN_FILENO);
        if (listen_fd >= 0) {
            // dup2 clears FD_CLOEXEC on the copy; a listen_fd that already is 3 keeps its flags.
            if (listen_fd == 3) {
                fcntl(3, F_SETFD, 0);
            } else {
                dup2(listen_fd, 3);
            }
            // The pid in decimal, by hand: only async-signal-safe work after fork.
            char digits[20];
            int n = 0;
            for (auto pid = static_cast<unsigned long>(getpid()); pid > 0 || n == 0; pid /= 10) {
                digits[n++] = static_cast<char>('0' + pid % 10);
            }
            for (int i = 0; i < n; ++i) listen_pid[i] = digits[n - 1 - i];
            listen_pid[n] = '\0';
        }
        execve(args[0], args.data(), envp.data());
        const char msg[] = "ChildProcess: execve failed\n";
        (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
        _exit(127);
    }
    setpgid(pid_, pid_);
    close(out[1]);
    close(err[1]);
    out_fd_ = out[0];
    err_fd_ = err[0];
    reader_ = std::thread([this] { pump(); });
}

ChildProcess::~ChildProcess() {
    if (running()) {
        kill(-pid_, SIGKILL);
        kill(pid_, SIGKILL);
        wait(std::chrono::seconds(10));
    } else {
        kill(-pid_, SIGKILL);  // anything the program left behind in its group
    }
    if (reader_.joinable()) reader_.join();
    if (out_fd_ >= 0) close(out_fd_);
    if (err_fd_ >= 0) close(err_fd_);
}

void ChildProcess::pump() {
    pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
    int open_fds = 2;
    char buf[65536];
    while (open_fds > 0) {
        if (poll(fds, 2, 200) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (auto& f : fds) {
            if (f.fd < 0 || !(f.revents & (POLLIN | POLLHUP | POLLERR))) continue;
            const ssize_t n = read(f.fd, buf, sizeof buf);
            if (n <= 0) {
                f.fd = -1;
                --open_fds;
                continue;
            }
            std::lock_guard lock(mutex_);
            (f.fd == out_fd_ ? out_ : err_).append(buf, static_cast<std::size_t>(n));
        }
        output_cv().notify_all();
    }
    {
        std::lock_guard lock(mutex_);
        eof_ = true;
    }
    output_cv().notify_all();
}

std::optional<std::string> ChildProcess::wait_for_stdout(const std::string& needle, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
    std::unique_lock lock(mutex_);
    while (true) {
        const auto at = out_.find(needle);
        if (at != std::string::npos) {
            const auto begin = out_.rfind('\n', at);
            const auto start = begin == std::string::npos ? 0 : begin + 1;
            const auto end = out_.find('\n', at);
            return out_.substr(start, end == std::string::npos ? std::string::npos : end - start);
        }
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        if (eof_) return std::nullopt;  // the program closed its output: it will never print it
        output_cv().wait_for(lock, std::chrono::milliseconds(50));
    }
}

bool ChildProcess::wait_for_stderr(const std::string& needle, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
    std::unique_lock lock(mutex_);
    while (err_.find(needle) == std::string::npos) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        output_cv().wait_for(lock, std::chrono::milliseconds(50));
    }
    return true;
}

void ChildProcess::signal(int sig) {
    if (pid_ > 0) kill(pid_, sig);
}

std::optional<int> ChildProcess::wait(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
    while (!exit_code_) {
        int status = 0;
        const pid_t r = waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            break;
        }
        if (r < 0) {
            exit_code_ = -1;
            break;
        }
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // waitpid has no timeout of its own
    }
    // What the program wrote before it exited is read before its exit is reported (unless a
    // child it left behind still holds the pipes open).
    std::unique_lock lock(mutex_);
    output_cv().wait_until(lock, std::max(deadline, std::chrono::steady_clock::now() + std::chrono::seconds(1)),
                           [this] { return eof_; });
    return exit_code_;
}

bool ChildProcess::running() { return !exit_code_ && !wait(std::chrono::milliseconds(0)); }

std::string ChildProcess::stdout_text() const {
    std::lock_guard lock(mutex_);
    return out_;
}

std::string ChildProcess::stderr_text() const {
    std::lock_guard lock(mutex_);
    return err_;
}

}  // namespace extract::testing
