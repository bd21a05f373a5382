// Issue 15: the mirror is private by default, whatever umask the daemon was started with;
// [cache] file_mode = 0640 lets its group read it.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <iterator>

#include "tests/daemon/syncd_test_env.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/scripted_upstream.hpp"

using namespace extract;
using namespace extract::testing;
using namespace std::chrono_literals;

namespace {

const std::string kPage =
    R"({"object":"list","data":[{"id":"bat_a","status":"completed","counts":{},"total_items":0,"engine":null,)"
    R"("options":{},"created_at":"2026-12-01T00:00:00Z","expires_at":"2026-12-04T00:00:00Z"}],"next_cursor":null})";

unsigned mode_of(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return 07777;  // missing: fails any comparison below
    return st.st_mode & 07777;
}

// Sets the umask for the processes this test starts, and puts it back.
class Umask {
public:
    explicit Umask(mode_t mask) : previous_(::umask(mask)) {}
    ~Umask() { ::umask(previous_); }

private:
    mode_t previous_;
};

// The daemon started under a login shell's umask (022), once its API answers: the mirror,
// its WAL and its shared-memory file then exist.
std::unique_ptr<ChildProcess> start_under_login_umask(SyncdEnv& env) {
    std::unique_ptr<ChildProcess> daemon;
    {
        const Umask login_shell(022);
        daemon = env.start_syncd({});
    }
    EXPECT_TRUE(eventually([&] { return read_health(env.socket_path).has_value(); }, 30s)) << daemon->stderr_text();
    return daemon;
}

void expect_mirror_files_mode(const SyncdEnv& env, unsigned mode) {
    for (const auto& file : {env.db_path, env.db_path + "-wal", env.db_path + "-shm"}) {
        EXPECT_EQ(mode_of(file), mode) << file;
    }
}

}  // namespace

TEST(SyncdPrivateFiles, MirrorAndItsWalAndShmAre0600UnderALoginShellsUmask) {
    ScriptedUpstream upstream;
    upstream.set_page("", kPage);
    SyncdEnv env;
    env.write_config(upstream.base_url());
    const auto daemon = start_under_login_umask(env);
    expect_mirror_files_mode(env, 0600);
    EXPECT_EQ(daemon->stderr_text().find("readable by other users"), std::string::npos) << daemon->stderr_text();
}

TEST(SyncdPrivateFiles, AnExistingMirrorReadableByOthersIsWarnedAbout) {
    ScriptedUpstream upstream;
    upstream.set_page("", kPage);
    SyncdEnv env;
    env.write_config(upstream.base_url());
    ASSERT_EQ(env.start_syncd({"--once"})->wait(scaled(30s)), 0);
    ASSERT_EQ(::chmod(env.db_path.c_str(), 0644), 0);
    auto again = env.start_syncd({"--once"});
    ASSERT_EQ(again->wait(scaled(30s)), 0) << again->stderr_text();
    EXPECT_NE(again->stderr_text().find(env.db_path + " is readable by other users (mode 0644)"), std::string::npos)
        << again->stderr_text();
}

TEST(SyncdPrivateFiles, FileMode0640LetsTheGroupReadTheMirrorAndItsWalAndShm) {
    ScriptedUpstream upstream;
    upstream.set_page("", kPage);
    SyncdEnv env;
    env.write_config(upstream.base_url());
    {
        // [cache] file_mode beside the path write_config put there.
        std::ifstream in(env.config_path);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const std::string path_line = "path = " + env.db_path + "\n";
        ASSERT_NE(text.find(path_line), std::string::npos) << text;
        text.replace(text.find(path_line), path_line.size(), path_line + "file_mode = 0640\n");
        std::ofstream(env.config_path, std::ios::trunc) << text;
    }
    const auto daemon = start_under_login_umask(env);
    expect_mirror_files_mode(env, 0640);
    EXPECT_EQ(daemon->stderr_text().find("readable by other users"), std::string::npos) << daemon->stderr_text();
    daemon->signal(SIGTERM);
    ASSERT_EQ(daemon->wait(scaled(15s)), 0) << daemon->stderr_text();

    // Back to the default 0600: the group-readable files are warned about, not narrowed.
    env.write_config(upstream.base_url());
    auto again = env.start_syncd({"--once"});
    ASSERT_EQ(again->wait(scaled(30s)), 0) << again->stderr_text();
    EXPECT_NE(again->stderr_text().find(env.db_path + " is readable by other users (mode 0640)"), std::string::npos)
        << again->stderr_text();
    EXPECT_EQ(mode_of(env.db_path), 0640u);
}
