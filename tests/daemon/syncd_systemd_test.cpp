// extract-syncd under systemd, without systemd: the test binds the $NOTIFY_SOCKET the daemon
// reports to (READY, STATUS, WATCHDOG, RELOADING, STOPPING), hands it a listening socket the
// way socket activation does, and gives it credentials in a $CREDENTIALS_DIRECTORY.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <fcntl.h>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>

#include "cli/unix_http_client.hpp"
#include "tests/daemon/syncd_test_env.hpp"
#include "tests/support/eventually.hpp"

using namespace extract::testing;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

sockaddr_un unix_address(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) throw std::runtime_error("socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

// The service manager's end of sd_notify: a datagram socket the test binds and reads.
class NotifySocket {
public:
    explicit NotifySocket(std::string path) : path_(std::move(path)) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        const sockaddr_un addr = unix_address(path_);
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
            throw std::runtime_error("cannot bind the notify socket " + path_ + ": " + std::strerror(errno));
        }
    }
    ~NotifySocket() { ::close(fd_); }
    NotifySocket(const NotifySocket&) = delete;
    NotifySocket& operator=(const NotifySocket&) = delete;

    const std::string& path() const { return path_; }

    // The next message that contains `needle` (earlier ones are dropped), or nullopt when none
    // arrives within `timeout`.
    std::optional<std::string> wait_for(const std::string& needle, std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
        while (auto message = next(deadline)) {
            if (message->find(needle) != std::string::npos) return message;
        }
        return std::nullopt;
    }

    // Every message already queued or arriving within `window`.
    std::vector<std::string> collect(std::chrono::milliseconds window) {
        const auto deadline = std::chrono::steady_clock::now() + window;
        std::vector<std::string> out;
        while (auto message = next(deadline)) out.push_back(*message);
        return out;
    }

private:
    std::optional<std::string> next(std::chrono::steady_clock::time_point deadline) {
        while (true) {
            // Past the deadline, what is already queued is still read (poll with no wait).
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            pollfd pfd{fd_, POLLIN, 0};
            const int ready = ::poll(&pfd, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
            if (ready < 0 && errno == EINTR) continue;
            if (ready <= 0) return std::nullopt;
            char buf[4096];
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n > 0) return std::string(buf, static_cast<std::size_t>(n));
        }
    }

    std::string path_;
    int fd_ = -1;
};

// A listening Unix stream socket, as extract-syncd.socket would create it.
class ListeningSocket {
public:
    explicit ListeningSocket(const std::string& path) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const sockaddr_un addr = unix_address(path);
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(fd_, 16) != 0) {
            throw std::runtime_error("cannot listen on " + path + ": " + std::strerror(errno));
        }
    }
    ~ListeningSocket() { ::close(fd_); }
    ListeningSocket(const ListeningSocket&) = delete;
    ListeningSocket& operator=(const ListeningSocket&) = delete;
    int fd() const { return fd_; }

private:
    int fd_ = -1;
};

bool api_answers(const std::string& socket_path) {
    try {
        return extract::cli::UnixHttpClient(socket_path, 5s).request("GET", "/v1/health").status != 0;
    } catch (const std::exception&) {
        return false;
    }
}

std::uint64_t monotonic_usec() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000ULL + static_cast<std::uint64_t>(ts.tv_nsec) / 1000;
}

struct SystemdSyncd {
    SimProcess sim{EXTRACT_SIM_BIN, {"--batches", "250", "--frozen", "--api-key", kSimKey}};
    SyncdEnv env;
    NotifySocket notify{(env.dir / "notify.sock").string()};
    std::map<std::string, std::string> vars{{"EXTRACT_API_KEY", kSimKey}, {"NOTIFY_SOCKET", notify.path()}};

    std::unique_ptr<ChildProcess> start(const std::map<std::string, std::string>& more_vars = {}, int listen_fd = -1) {
        auto all = vars;
        for (const auto& [k, v] : more_vars) all[k] = v;
        return std::make_unique<ChildProcess>(std::vector<std::string>{EXTRACT_SYNCD_BIN, "--config", env.config_path},
                                              std::move(all), listen_fd);
    }
};

TEST(SyncdSystemd, ReadyOnlyOnceTheSocketAnswersThenStatusAfterTheSync) {
    SystemdSyncd s;
    s.env.write_config(s.sim.base_url());
    auto syncd = s.start();
    ASSERT_TRUE(s.notify.wait_for("READY=1", 20s)) << syncd->stderr_text();
    EXPECT_TRUE(api_answers(s.env.socket_path)) << "READY=1 came before the API socket answered";
    const auto status = s.notify.wait_for("batches, last sync", 20s);
    ASSERT_TRUE(status) << syncd->stderr_text();
    EXPECT_THAT(*status, HasSubstr("STATUS=250 batches, last sync "));
    syncd->signal(SIGTERM);
    EXPECT_EQ(syncd->wait(10s), 0) << syncd->stderr_text();
}

// The count in STATUS= is taken once, then kept by each cycle's new and removed batches.
TEST(SyncdSystemd, StatusCountFollowsNewAndRemovedBatches) {
    SystemdSyncd s;
    s.env.write_config(s.sim.base_url());
    auto syncd = s.start();
    ASSERT_TRUE(s.notify.wait_for("STATUS=250 batches, last sync", 20s)) << syncd->stderr_text();
    auto full_sync = [&] {
        const auto reply =
            extract::cli::UnixHttpClient(s.env.socket_path, 30s).request("POST", "/v1/sync?full=true&wait=true");
        ASSERT_EQ(reply.status, 200) << reply.body;
    };

    s.sim.create(7);
    full_sync();
    EXPECT_TRUE(s.notify.wait_for("STATUS=257 batches, last sync", 10s)) << syncd->stderr_text();

    const auto listed = s.sim.snapshot();
    for (int i = 0; i < 3; ++i) s.sim.remove(listed.at(static_cast<std::size_t>(i)).at("id").get<std::string>());
    full_sync();
    EXPECT_TRUE(s.notify.wait_for("STATUS=254 batches, last sync", 10s)) << syncd->stderr_text();
    EXPECT_EQ(s.env.count("SELECT count(*) FROM batches WHERE removed_at IS NULL"), 254);

    full_sync();  // nothing changed: the count stays
    EXPECT_TRUE(s.notify.wait_for("STATUS=254 batches, last sync", 10s)) << syncd->stderr_text();
    syncd->signal(SIGTERM);
    EXPECT_EQ(syncd->wait(10s), 0) << syncd->stderr_text();
}

TEST(SyncdSystemd, StatusSaysWhenSyncingIsPausedByAWrongKey) {
    SystemdSyncd s;
    s.env.write_config(s.sim.base_url());
    auto syncd = s.start({{"EXTRACT_API_KEY", "not-the-sim-key"}});
    const auto status = s.notify.wait_for("paused: unauthorized", 20s);
    ASSERT_TRUE(status) << syncd->stderr_text();
    EXPECT_THAT(*status, HasSubstr("STATUS="));
    EXPECT_THAT(*status, Not(HasSubstr("not-the-sim-key")));
}

TEST(SyncdSystemd, WatchdogPingsWhileTheLoopIsAliveAndStopsWhenASyncHangs) {
    SystemdSyncd s;
    // A cycle every second, and a request that may hang far longer than WatchdogSec (1 s).
    s.env.write_config(s.sim.base_url(), "full_sync_interval = 1s\npoll_interval = 1s\nidle_poll_interval = 1s\n");
    {
        // SyncdEnv's request_timeout = 2s: here a hung request must outlast the watchdog by far.
        std::ifstream in(s.env.config_path);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const auto at = text.find("request_timeout = 2s");
        ASSERT_NE(at, std::string::npos);
        text.replace(at, 20, "request_timeout = 60s");
        std::ofstream(s.env.config_path) << text;
    }
    auto syncd = s.start({{"WATCHDOG_USEC", "1000000"}});
    ASSERT_TRUE(s.notify.wait_for("READY=1", 20s)) << syncd->stderr_text();
    ASSERT_TRUE(s.notify.wait_for("batches, last sync", 20s)) << syncd->stderr_text();
    // Alive: pings at half of WatchdogSec, over several cycles and the waits between them.
    const auto alive = s.notify.collect(2500ms);
    EXPECT_GE(std::count(alive.begin(), alive.end(), "WATCHDOG=1"), 3) << syncd->stderr_text();

    s.sim.set_faults({{"slow_rate", 1.0}, {"slow_ms", 60000}});
    ASSERT_TRUE(syncd->wait_for_stderr("no longer pinging the systemd watchdog", 15s)) << syncd->stderr_text();
    s.notify.collect(0ms);  // drop what was queued before the hang was noticed
    const auto after = s.notify.collect(2000ms);
    EXPECT_EQ(std::count(after.begin(), after.end(), "WATCHDOG=1"), 0) << "pinged while the sync hung\n"
                                                                       << syncd->stderr_text();
    EXPECT_TRUE(syncd->running());

    syncd->signal(SIGTERM);
    EXPECT_EQ(syncd->wait(10s), 0) << syncd->stderr_text();
}

TEST(SyncdSystemd, ReloadSaysReloadingWithMonotonicTimeThenReadyAndStopSaysStopping) {
    SystemdSyncd s;
    s.env.write_config(s.sim.base_url());
    auto syncd = s.start();
    ASSERT_TRUE(s.notify.wait_for("READY=1", 20s)) << syncd->stderr_text();

    const std::uint64_t before = monotonic_usec();
    syncd->signal(SIGHUP);
    const auto reloading = s.notify.wait_for("RELOADING=1", 10s);
    const std::uint64_t after = monotonic_usec();
    ASSERT_TRUE(reloading) << syncd->stderr_text();
    const auto at = reloading->find("MONOTONIC_USEC=");
    ASSERT_NE(at, std::string::npos) << *reloading;
    const std::uint64_t stamped = std::stoull(reloading->substr(at + 15));
    EXPECT_GE(stamped, before);
    EXPECT_LE(stamped, after);
    EXPECT_TRUE(s.notify.wait_for("READY=1", 10s)) << "no READY=1 after the reload";
    EXPECT_TRUE(syncd->wait_for_stderr("configuration reloaded", 10s)) << syncd->stderr_text();

    syncd->signal(SIGTERM);
    EXPECT_TRUE(s.notify.wait_for("STOPPING=1", 10s)) << syncd->stderr_text();
    EXPECT_EQ(syncd->wait(10s), 0) << syncd->stderr_text();
}

TEST(SyncdSystemd, ServesTheSocketSystemdPassesAndLeavesItsFileToSystemd) {
    SystemdSyncd s;
    s.env.write_config(s.sim.base_url());
    // Bound and listening before the daemon starts: binding it itself would find it live and fail.
    ListeningSocket activated(s.env.socket_path);
    auto syncd = s.start({}, activated.fd());
    ASSERT_TRUE(s.notify.wait_for("READY=1", 20s)) << syncd->stderr_text();
    EXPECT_TRUE(api_answers(s.env.socket_path)) << syncd->stderr_text();
    EXPECT_TRUE(syncd->wait_for_stderr("api: serving on an inherited socket", 5s)) << syncd->stderr_text();
    syncd->signal(SIGTERM);
    ASSERT_EQ(syncd->wait(10s), 0) << syncd->stderr_text();
    struct stat st {};
    EXPECT_EQ(::lstat(s.env.socket_path.c_str(), &st), 0) << "the daemon removed the socket systemd owns";
}

TEST(SyncdSystemd, ASocketActivationDescriptorThatIsNotAListeningSocketIsFatal) {
    SystemdSyncd s;
    s.env.write_config(s.sim.base_url());
    const auto file = s.env.dir.write("not-a-socket", "");
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    auto syncd = s.start({}, fd);
    EXPECT_EQ(syncd->wait(10s), 1);
    ::close(fd);
    EXPECT_THAT(syncd->stderr_text(), HasSubstr("is not a listening Unix stream socket"));
}

TEST(SyncdSystemd, ApiKeyFromTheCredentialsDirectoryWithAWarningWhenOthersMayReadIt) {
    SystemdSyncd s;
    s.env.write_config(s.sim.base_url());
    const auto credentials = s.env.dir / "credentials";
    std::filesystem::create_directory(credentials);
    const auto key_file = credentials / "api_key";
    std::ofstream(key_file) << kSimKey << "\n";
    ::chmod(key_file.c_str(), 0644);
    s.vars.erase("EXTRACT_API_KEY");  // the key comes from LoadCredential= alone
    auto syncd = s.start({{"CREDENTIALS_DIRECTORY", credentials.string()}});
    ASSERT_TRUE(s.notify.wait_for("STATUS=250 batches, last sync", 20s)) << syncd->stderr_text();
    const std::string log = syncd->stderr_text();
    EXPECT_THAT(log, HasSubstr("API key from $CREDENTIALS_DIRECTORY/api_key"));
    EXPECT_THAT(log, HasSubstr(key_file.string() + " is readable by group or others (mode 0644); chmod 600 it"));
    EXPECT_THAT(log, Not(HasSubstr(kSimKey)));
}

}  // namespace
