// Who reaches the API: the socket file's mode and directory, and [api] allowed_uids /
// allowed_gids checked with SO_PEERCRED. Connecting as another user needs root (setresuid in a
// forked child); those tests skip, saying so, when the suite does not run as root.

#include <grp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "tests/api/api_fixture.hpp"

namespace extract::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

struct Identity {
    uid_t uid = kNobody;
    gid_t gid = kNogroup;
    std::vector<gid_t> supplementary;
};

// What a client running as `who` gets from GET /v1/health: the reply's bytes, or the errno of
// a connect the kernel refused (a file mode or directory that keeps it out), as "connect: N".
std::string answer_as(const Identity& who, const std::string& socket_path) {
    int pipe_fds[2];
    if (::pipe(pipe_fds) != 0) return "pipe failed";
    const pid_t child = ::fork();
    if (child == 0) {
        // Only system calls from here on: the parent has threads, the child has one.
        ::close(pipe_fds[0]);
        const int out = pipe_fds[1];
        if (::setgroups(who.supplementary.size(), who.supplementary.data()) != 0 ||
            ::setresgid(who.gid, who.gid, who.gid) != 0 || ::setresuid(who.uid, who.uid, who.uid) != 0) {
            ::_exit(2);
        }
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            char text[32];
            const int n = std::snprintf(text, sizeof text, "connect: %d", errno);
            (void)!::write(out, text, static_cast<std::size_t>(n));
            ::_exit(0);
        }
        const char request[] = "GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        (void)!::write(fd, request, sizeof request - 1);
        char buffer[4096];
        ssize_t n = 0;
        while ((n = ::read(fd, buffer, sizeof buffer)) > 0) (void)!::write(out, buffer, static_cast<std::size_t>(n));
        ::_exit(0);
    }
    ::close(pipe_fds[1]);
    std::string answer;
    char buffer[4096];
    ssize_t n = 0;
    while ((n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0) answer.append(buffer, static_cast<std::size_t>(n));
    ::close(pipe_fds[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return "the child could not become uid " + std::to_string(who.uid);
    return answer;
}

int status_of(const std::string& answer) {
    if (answer.rfind("HTTP/1.1 ", 0) != 0) return 0;
    return std::atoi(answer.c_str() + 9);
}

json body_of(const std::string& answer) {
    const auto blank = answer.find("\r\n\r\n");
    return blank == std::string::npos ? json() : json::parse(answer.substr(blank + 4), nullptr, false);
}

class ApiAccess : public ApiTest {
protected:
    void SetUp() override {
        // The test's directory is private to root; other users must be able to reach the socket.
        std::filesystem::permissions(dir.path(), std::filesystem::perms(0755));
        options.socket_mode = 0666;  // the file lets everyone in: only the allow lists decide
    }
    void require_root() {
        if (::geteuid() != 0) GTEST_SKIP() << "connecting as another user needs root (setresuid); not running as root";
    }
    // Why the server refused to start on options.socket_path; "" (and a failure) when it started.
    std::string start_refusal() {
        server = std::make_unique<api::ApiServer>(options, link, notifier, metrics);
        try {
            server->start();
        } catch (const std::runtime_error& e) {
            return e.what();
        }
        ADD_FAILURE() << "served from " << options.socket_path;
        return {};
    }
};

TEST_F(ApiAccess, TheSocketIsCreated0660ByDefault) {
    options.socket_mode = api::ApiOptions{}.socket_mode;
    start_server();
    struct stat st {};
    ASSERT_EQ(::stat(socket_path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0660u);
}

TEST_F(ApiAccess, AMissingSocketDirectoryIsCreated0755) {
    options.socket_path = (dir / "run" / "api.sock").string();
    start_server();
    struct stat st {};
    ASSERT_EQ(::stat((dir / "run").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0755u);
    EXPECT_EQ(cli::UnixHttpClient(options.socket_path, 5s).request("GET", "/v1/health").status, 200);
}

TEST_F(ApiAccess, RefusesADirectoryEveryoneMayWriteToWithoutTheStickyBit) {
    const auto open_dir = dir / "open";
    std::filesystem::create_directory(open_dir);
    ASSERT_EQ(::chmod(open_dir.c_str(), 0777), 0);
    options.socket_path = (open_dir / "api.sock").string();
    server = std::make_unique<api::ApiServer>(options, link, notifier, metrics);
    try {
        server->start();
        FAIL() << "served from a directory anyone can write to";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(open_dir.string()), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("writable by every user"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(std::filesystem::exists(options.socket_path));
    // With the sticky bit (as /tmp has), nobody else can remove or rename the socket file.
    ASSERT_EQ(::chmod(open_dir.c_str(), 01777), 0);
    start_server();
    EXPECT_EQ(cli::UnixHttpClient(options.socket_path, 5s).request("GET", "/v1/health").status, 200);
}

// Issue 15: a group-writable directory, or one another user owns, lets someone else replace the socket.
TEST_F(ApiAccess, RefusesAGroupWritableDirectoryWithoutTheStickyBit) {
    const auto group_dir = dir / "group";
    std::filesystem::create_directory(group_dir);
    ASSERT_EQ(::chmod(group_dir.c_str(), 0775), 0);
    options.socket_path = (group_dir / "api.sock").string();
    const std::string refusal = start_refusal();
    EXPECT_NE(refusal.find("writable by its group (mode 0775"), std::string::npos) << refusal;
    EXPECT_FALSE(std::filesystem::exists(options.socket_path));
}

TEST_F(ApiAccess, RefusesADirectoryAnotherUserOwns) {
    require_root();
    const auto their_dir = dir / "theirs";
    std::filesystem::create_directory(their_dir);
    ASSERT_EQ(::chmod(their_dir.c_str(), 0755), 0);
    ASSERT_EQ(::chown(their_dir.c_str(), 65534, 65534), 0);
    options.socket_path = (their_dir / "api.sock").string();
    const std::string refusal = start_refusal();
    EXPECT_NE(refusal.find("belongs to another user (uid 65534)"), std::string::npos) << refusal;
    EXPECT_FALSE(std::filesystem::exists(options.socket_path));
}

TEST_F(ApiAccess, TheSocketModeKeepsOtherUsersOut) {
    require_root();
    options.socket_mode = 0660;
    start_server();
    EXPECT_EQ(answer_as({}, socket_path), "connect: " + std::to_string(EACCES));
}

TEST_F(ApiAccess, WithoutAllowListsTheModeAloneDecides) {
    require_root();
    start_server();
    EXPECT_EQ(status_of(answer_as({}, socket_path)), 200);
}

TEST_F(ApiAccess, AnAllowedUidIsServed) {
    require_root();
    options.allowed_uids = {kNobody};
    start_server();
    EXPECT_EQ(status_of(answer_as({}, socket_path)), 200);
}

TEST_F(ApiAccess, AUidNotAllowedGets403AndAClosedConnection) {
    require_root();
    options.allowed_uids = {4242};
    start_server();
    const auto answer = answer_as({}, socket_path);  // returns once the server closed its side
    ASSERT_EQ(status_of(answer), 403) << answer;
    const auto detail = body_of(answer).value("detail", "");
    EXPECT_NE(detail.find("uid 65534"), std::string::npos) << detail;
    EXPECT_NE(detail.find("allowed_uids"), std::string::npos) << detail;
    // Root and the daemon's own user (here both root) are always allowed.
    EXPECT_EQ(get("/v1/health").status, 200);
    EXPECT_EQ(status_of(answer_as({0, 0, {}}, socket_path)), 200);
}

TEST_F(ApiAccess, AnAllowedPrimaryOrSupplementaryGroupIsServed) {
    require_root();
    options.allowed_gids = {kNogroup};
    start_server();
    EXPECT_EQ(status_of(answer_as({kNobody, kNogroup, {}}, socket_path)), 200);
    EXPECT_EQ(status_of(answer_as({kNobody, 4243, {4244, kNogroup}}, socket_path)), 200);
    EXPECT_EQ(status_of(answer_as({kNobody, 4243, {4244}}, socket_path)), 403);
}

TEST_F(ApiAccess, ARefusedPeerDoesNotDisturbOthers) {
    require_root();
    options.allowed_uids = {4242};
    start_server();
    RawConnection kept(socket_path);  // root, mid-request
    ASSERT_TRUE(kept.send("GET /v1/health HTTP/1.1\r\nHost: x\r\n"));
    for (int i = 0; i < 20; ++i) ASSERT_EQ(status_of(answer_as({}, socket_path)), 403);
    ASSERT_TRUE(kept.send("\r\n"));
    const auto reply = kept.read_reply(5s);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 200);
}

}  // namespace
}  // namespace extract::testing
