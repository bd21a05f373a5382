// Start-up time and idle memory of the running daemon (issue 7, targets 4 and 5).
//
//   bench_startup --syncd PATH --config FILE [--timeout-s 600] [--idle-ms 2000]
//
// Binds its own NOTIFY_SOCKET (AF_UNIX datagram) and starts `extract-syncd --config FILE` with it,
// then times exec -> READY=1 and exec -> the first HTTP answer on the API socket (any status:
// while the first sync runs, health answers 503 "starting"). A daemon that does not send READY=1
// within 2 s of its first answer is reported with the answer's time only. Then it waits until
// GET /v1/health answers 200 (the first sync is done), lets the daemon idle for --idle-ms, and
// reads VmRSS and VmHWM from /proc/PID/status. SIGTERM ends the daemon. The notify socket is
// read all along, as systemd reads it: a full queue would block the daemon's sd_notify.
//
// The API socket is read from the configuration's [api] socket line. The environment is
// passed on (EXTRACT_API_KEY). Prints one "key: value" line per figure; exits 1 when the daemon
// exits or does not answer in time.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

#include "bench/bench_main.hpp"
#include "cli/unix_http_client.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Arguments {
    std::string syncd;
    std::string config;
    std::chrono::seconds timeout{600};
    std::chrono::milliseconds idle{2000};
};

std::optional<Arguments> parse(int argc, char** argv) {
    Arguments out;
    long timeout_s = out.timeout.count();
    long idle_ms = out.idle.count();
    CLI::App app;
    app.add_option("--syncd", out.syncd)->required();
    app.add_option("--config", out.config)->required();
    app.add_option("--timeout-s", timeout_s)->check(CLI::NonNegativeNumber);
    app.add_option("--idle-ms", idle_ms)->check(CLI::NonNegativeNumber);
    if (!extract::bench::parses(app, argc, argv)) return std::nullopt;
    out.timeout = std::chrono::seconds(timeout_s);
    out.idle = std::chrono::milliseconds(idle_ms);
    return out;
}

// The value of `socket = ...` in the [api] section (comments after ; or # dropped).
std::string api_socket_of(const std::string& config_path) {
    std::ifstream in(config_path);
    std::string line;
    bool in_api = false;
    auto trim = [](std::string s) {
        const auto first = s.find_first_not_of(" \t\r");
        const auto last = s.find_last_not_of(" \t\r");
        return first == std::string::npos ? std::string() : s.substr(first, last - first + 1);
    };
    while (std::getline(in, line)) {
        line = trim(line.substr(0, line.find_first_of(";#")));
        if (line.starts_with('[')) {
            in_api = line == "[api]";
        } else if (in_api && line.starts_with("socket") && line.find('=') != std::string::npos) {
            const std::string key = trim(line.substr(0, line.find('=')));
            if (key == "socket") return trim(line.substr(line.find('=') + 1));
        }
    }
    return "/run/extract-sync/api.sock";
}

sockaddr_un unix_address(const std::string& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
    return address;
}

// The HTTP status of GET /v1/health, or 0 when the socket does not answer (yet).
int health_status(const std::string& socket_path) {
    try {
        return extract::cli::UnixHttpClient(socket_path, std::chrono::seconds(2)).request("GET", "/v1/health").status;
    } catch (const extract::cli::ConnectError&) {
        return 0;
    }
}

// Reads datagrams waiting on the notify socket; true once one of them held READY=1.
bool ready_received(int notify_fd) {
    char message[4096];
    while (true) {
        const ssize_t n = ::recv(notify_fd, message, sizeof(message) - 1, MSG_DONTWAIT);
        if (n <= 0) return false;
        message[n] = '\0';
        const std::string_view text(message, static_cast<std::size_t>(n));
        // Fields are newline-separated: READY=1 at the start or after a newline.
        if (text.starts_with("READY=1") || text.find("\nREADY=1") != std::string_view::npos) return true;
    }
}

// Waits for `duration` while reading what the daemon sends. Unread, its datagrams fill the
// socket's queue (net.unix.max_dgram_qlen, often 10) and the daemon's next sd_notify blocks,
// its SIGTERM handling included, as it never would under systemd, which always reads.
void pause_reading_notifications(int notify_fd, std::chrono::milliseconds duration) {
    const auto until = Clock::now() + duration;
    for (auto now = Clock::now(); now < until; now = Clock::now()) {
        pollfd waiting{notify_fd, POLLIN, 0};
        ::poll(&waiting, 1, static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(until - now).count()));
        ready_received(notify_fd);  // only drains here
    }
}

std::string proc_status_line(pid_t pid, std::string_view key) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.starts_with(key)) return line;
    }
    return std::string(key) + " unknown";
}

double millis_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Reaps the daemon if it has exited; `alive` stays false after that (the pid may be reused).
bool exited(pid_t pid, bool& alive) {
    int status = 0;
    if (alive && ::waitpid(pid, &status, WNOHANG) == pid) alive = false;
    return !alive;
}

}  // namespace

int main(int argc, char** argv) {
    const auto arguments = parse(argc, argv);
    if (!arguments) {
        std::fprintf(stderr, "usage: bench_startup --syncd PATH --config FILE [--timeout-s S] [--idle-ms MS]\n");
        return 2;
    }
    const std::string api_socket = api_socket_of(arguments->config);

    std::string directory_pattern = (std::filesystem::temp_directory_path() / "extract-notify-XXXXXX").string();
    const std::filesystem::path directory = ::mkdtemp(directory_pattern.data());
    const std::string notify_path = (directory / "notify.sock").string();
    const int notify_fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const sockaddr_un notify_address = unix_address(notify_path);
    if (notify_fd < 0 ||
        ::bind(notify_fd, reinterpret_cast<const sockaddr*>(&notify_address), sizeof(notify_address)) != 0) {
        std::perror("bench_startup: notify socket");
        return 1;
    }

    const auto started = Clock::now();
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::setenv("NOTIFY_SOCKET", notify_path.c_str(), 1);
        ::execl(arguments->syncd.c_str(), arguments->syncd.c_str(), "--config", arguments->config.c_str(),
                static_cast<char*>(nullptr));
        std::perror("bench_startup: exec");
        ::_exit(127);
    }

    int result = 0;
    bool alive = true;
    std::optional<double> ready_ms;
    std::optional<double> answer_ms;
    const auto deadline = started + arguments->timeout;
    // Start-up: until READY=1, or 2 s after the first answer without it.
    while (Clock::now() < deadline && !ready_ms && !(answer_ms && millis_since(started) > *answer_ms + 2000)) {
        pollfd waiting{notify_fd, POLLIN, 0};
        ::poll(&waiting, 1, 1);
        if (ready_received(notify_fd)) ready_ms = millis_since(started);
        if (!answer_ms && health_status(api_socket) != 0) answer_ms = millis_since(started);
        if (exited(pid, alive)) {
            std::fprintf(stderr, "bench_startup: extract-syncd exited during start-up\n");
            return 1;
        }
    }
    if (ready_ms) std::printf("ready_ms: %.1f\n", *ready_ms);
    if (!ready_ms) std::printf("ready_ms: none (no READY=1 received)\n");
    if (answer_ms) std::printf("first_api_answer_ms: %.1f\n", *answer_ms);

    // Idle memory: after the first sync, once nothing is left to do.
    bool synced = false;
    while (Clock::now() < deadline && !(synced = health_status(api_socket) == 200)) {
        if (exited(pid, alive)) break;
        pause_reading_notifications(notify_fd, std::chrono::milliseconds(100));
    }
    if (synced) {
        std::printf("first_sync_done_ms: %.0f\n", millis_since(started));
        pause_reading_notifications(notify_fd, arguments->idle);
        std::printf("idle %s\n", proc_status_line(pid, "VmRSS").c_str());
        std::printf("idle %s\n", proc_status_line(pid, "VmHWM").c_str());
    } else {
        std::fprintf(stderr, "bench_startup: health never answered 200 (first sync not done)\n");
        result = 1;
    }
    if (alive) {
        ::kill(pid, SIGTERM);  // STOPPING=1 and the last STATUS= still need reading
        while (!exited(pid, alive)) pause_reading_notifications(notify_fd, std::chrono::milliseconds(10));
    }
    ::close(notify_fd);
    std::filesystem::remove_all(directory);
    if (!answer_ms) result = 1;
    return result;
}
