// Triggers against real /bin/sh scripts: what the command receives, how it is stopped, and how
// the dispatcher runs it (one at a time, in order, retried).
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "delivery/delivery_dispatcher.hpp"
#include "delivery/trigger_channel.hpp"
#include "delivery/trigger_runner.hpp"
#include "tests/delivery/delivery_fixture_test.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/temp_dir.hpp"

namespace extract::delivery {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Steady = std::chrono::steady_clock;

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::filesystem::path script(const extract::testing::TempDir& dir, const std::string& name, const std::string& body) {
    const auto path = dir.write(name, "#!/bin/sh\n" + body);
    ::chmod(path.c_str(), 0755);
    return path;
}

// Gone: no such process, or a zombie nobody reaped yet (it runs no more).
bool process_gone(pid_t pid) {
    if (::kill(pid, 0) != 0) return true;
    const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    const auto close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
}

pid_t pid_in(const std::filesystem::path& file) {
    pid_t pid = 0;
    EXPECT_TRUE(testing::eventually([&] { return std::filesystem::exists(file) && !read_file(file).empty(); })) << file;
    std::istringstream(read_file(file)) >> pid;
    return pid;
}

OutboxDelivery delivery_for(const testing::AddedEvent& event, const std::string& type) {
    OutboxDelivery d;
    d.id = event.deliveries.empty() ? 0 : event.deliveries.front();
    d.event_seq = event.seq;
    d.target = "trigger.notify";
    d.event_id = event.id;
    d.event_type = type;
    d.batch_id = "bat_1";
    d.payload = event.payload;
    return d;
}

class DeliveryTriggerTest : public ::testing::Test {
protected:
    extract::testing::TempDir dir;
    testing::Outbox outbox{dir.path()};
};

TEST_F(DeliveryTriggerTest, TheCommandGetsTheEventOnStdinAndItsEnvironment) {
    ::setenv("EXTRACT_TEST_INHERITED", "from the daemon", 1);
    const auto hook = script(dir, "hook.sh",
                             "cat > \"$1/stdin.json\"\n"
                             "env | grep -E '^EXTRACT_' | grep -v '^EXTRACT_TEST_TIME_SCALE=' | sort > \"$1/env.txt\"\n"
                             "echo \"hello from the trigger\"\n"
                             "echo 'a warning' >&2\n");
    TriggerChannel channel(testing::trigger_config("notify", {hook.string(), dir.path().string()}),
                           "/run/test/api.sock", std::make_unique<PosixProcessRunner>());
    const auto event = outbox.add_event("bat_1", "completed", "running", {});
    testing::LogCapture log;

    const auto result = channel.deliver(delivery_for(event, "batch.status_changed"));
    ::unsetenv("EXTRACT_TEST_INHERITED");

    EXPECT_EQ(result.verdict, AttemptResult::Verdict::delivered) << result.error;
    EXPECT_EQ(result.status, 0);
    EXPECT_EQ(read_file(dir / "stdin.json"), event.payload);
    const std::vector<std::string> expected_env{
        "EXTRACT_BATCH_ID=bat_1",
        "EXTRACT_BATCH_STATUS=completed",
        "EXTRACT_EVENT_ID=" + event.id,
        "EXTRACT_EVENT_TYPE=batch.status_changed",
        "EXTRACT_PREVIOUS_STATUS=running",
        "EXTRACT_SOCKET=/run/test/api.sock",
        "EXTRACT_TEST_INHERITED=from the daemon",  // the daemon's own environment too
    };
    std::string expected;
    for (const auto& line : expected_env) expected += line + "\n";
    EXPECT_EQ(read_file(dir / "env.txt"), expected);
    EXPECT_TRUE(log.contains("trigger.notify: hello from the trigger"));
    EXPECT_TRUE(log.contains("trigger.notify stderr: a warning"));
}

// Issue 15: what the environment cannot carry whole is left out, never cut; the command's output
// cannot forge log lines.
TEST_F(DeliveryTriggerTest, ValuesTheEnvironmentCannotCarryAreLeftOutAndStdinStaysWhole) {
    const auto hook = script(dir, "hook.sh",
                             "cat > \"$1/stdin.json\"\n"
                             "env | grep -E '^EXTRACT_(BATCH|EVENT_TYPE)' | sort > \"$1/env.txt\"\n"
                             "printf 'forged\\n[info] line \\033[2J\\n'\n");
    TriggerChannel channel(testing::trigger_config("notify", {hook.string(), dir.path().string()}), "",
                           std::make_unique<PosixProcessRunner>());
    const std::string long_status(5000, 's');
    const auto event = outbox.add_event("bat_1", long_status, "running", {});
    OutboxDelivery delivery = delivery_for(event, "batch.status_changed");
    delivery.batch_id = std::string("bat\0x", 5);
    testing::LogCapture log;

    // Nor does the daemon's own environment fill the gap.
    ::setenv("EXTRACT_BATCH_ID", "inherited", 1);
    const auto result = channel.deliver(delivery);
    ::unsetenv("EXTRACT_BATCH_ID");
    std::string logged;
    for (const auto& line : log.lines()) logged += line + "\n";
    EXPECT_EQ(result.verdict, AttemptResult::Verdict::delivered) << result.error;
    EXPECT_EQ(read_file(dir / "env.txt"),
              "EXTRACT_EVENT_TYPE=batch.status_changed\n");  // neither cut nor empty: absent
    EXPECT_EQ(read_file(dir / "stdin.json"), event.payload);
    EXPECT_TRUE(log.contains("EXTRACT_BATCH_ID is left out of the trigger's environment (it contains a NUL byte)"))
        << logged;
    EXPECT_TRUE(
        log.contains("EXTRACT_BATCH_STATUS is left out of the trigger's environment (5000 bytes, more than 4096)"))
        << logged;
    EXPECT_TRUE(log.contains("trigger.notify: [info] line \\x1b[2J")) << logged;
    EXPECT_EQ(logged.find('\x1b'), std::string::npos) << "a raw ESC reached the log";
}

TEST_F(DeliveryTriggerTest, PreviousStatusIsEmptyForACreatedBatch) {
    const auto hook =
        script(dir, "hook.sh",
               "printf '%s|%s' \"${EXTRACT_PREVIOUS_STATUS-unset}\" \"$EXTRACT_EVENT_TYPE\" > \"$1/prev\"\n");
    TriggerChannel channel(testing::trigger_config("notify", {hook.string(), dir.path().string()}), "",
                           std::make_unique<PosixProcessRunner>());
    const auto event = outbox.add_event("bat_1", "pending", "", {});
    EXPECT_EQ(channel.deliver(delivery_for(event, "batch.created")).verdict, AttemptResult::Verdict::delivered);
    EXPECT_EQ(read_file(dir / "prev"), "|batch.created") << "set, and empty";
}

TEST_F(DeliveryTriggerTest, ANonZeroExitIsRetriedWithItsLastLine) {
    const auto hook = script(dir, "hook.sh", "echo 'working'\necho 'cannot reach the warehouse' >&2\nexit 3\n");
    TriggerChannel channel(testing::trigger_config("notify", {hook.string()}), "",
                           std::make_unique<PosixProcessRunner>());
    const auto result =
        channel.deliver(delivery_for(outbox.add_event("bat_1", "completed", "running", {}), "batch.status_changed"));
    EXPECT_EQ(result.verdict, AttemptResult::Verdict::retry);
    EXPECT_EQ(result.status, 3);
    EXPECT_EQ(result.error, "exit code 3: cannot reach the warehouse");
}

TEST_F(DeliveryTriggerTest, ACommandThatCannotStartIsRetried) {
    TriggerChannel channel(testing::trigger_config("notify", {(dir / "missing").string()}), "",
                           std::make_unique<PosixProcessRunner>());
    const auto result =
        channel.deliver(delivery_for(outbox.add_event("bat_1", "completed", "running", {}), "batch.status_changed"));
    EXPECT_EQ(result.verdict, AttemptResult::Verdict::retry);
    EXPECT_FALSE(result.status);
    EXPECT_NE(result.error.find("No such file"), std::string::npos) << result.error;
}

TEST_F(DeliveryTriggerTest, ATimeoutKillsTheWholeProcessGroup) {
    const auto hook =
        script(dir, "hook.sh", "sleep 1000 &\necho $! > \"$1/child.pid\"\necho $$ > \"$1/main.pid\"\nwait\n");
    PosixProcessRunner runner;
    ProcessRequest request;
    request.argv = {hook.string(), dir.path().string()};
    request.timeout = milliseconds{300};
    request.log_name = "trigger.slow";

    const auto started = Steady::now();
    const auto outcome = runner.run(request);
    EXPECT_EQ(outcome.ending, ProcessOutcome::Ending::timed_out);
    EXPECT_LT(Steady::now() - started, extract::testing::scaled(seconds{2}))
        << "SIGTERM ends a command that does not ignore it at once";
    const pid_t child = pid_in(dir / "child.pid");
    const pid_t main = pid_in(dir / "main.pid");
    EXPECT_TRUE(testing::eventually([&] { return process_gone(main); })) << "the command itself";
    EXPECT_TRUE(testing::eventually([&] { return process_gone(child); })) << "the sleep it started";
    EXPECT_EQ(classify_process(outcome).verdict, AttemptResult::Verdict::retry);
}

TEST_F(DeliveryTriggerTest, SigkillFollowsWhenSigtermIsIgnored) {
    const auto hook =
        script(dir, "hook.sh", "trap '' TERM\nsleep 1000 &\necho $! > \"$1/child.pid\"\nwhile :; do wait; done\n");
    PosixProcessRunner runner(milliseconds{300});
    ProcessRequest request;
    request.argv = {hook.string(), dir.path().string()};
    request.timeout = milliseconds{200};

    const auto started = Steady::now();
    const auto outcome = runner.run(request);
    const auto took = Steady::now() - started;
    EXPECT_EQ(outcome.ending, ProcessOutcome::Ending::timed_out);
    EXPECT_GE(took, milliseconds{500}) << "the grace period was given";
    EXPECT_LT(took, extract::testing::scaled(seconds{3}));
    const pid_t child = pid_in(dir / "child.pid");
    EXPECT_TRUE(testing::eventually([&] { return process_gone(child); }));
}

TEST_F(DeliveryTriggerTest, InputTheCommandDoesNotReadDoesNotHurtTheDaemon) {
    PosixProcessRunner runner;
    ProcessRequest request;
    request.argv = {"/bin/sh", "-c", "exit 0"};
    request.input = std::string(4 << 20, 'x');  // far more than a pipe holds
    const auto outcome = runner.run(request);
    EXPECT_EQ(outcome.ending, ProcessOutcome::Ending::exited);
    EXPECT_EQ(outcome.code, 0);
}

TEST_F(DeliveryTriggerTest, AbortKillsARunningCommandPromptly) {
    const auto hook = script(dir, "hook.sh", "echo $$ > \"$1/main.pid\"\nexec sleep 1000\n");
    PosixProcessRunner runner;
    ProcessRequest request;
    request.argv = {hook.string(), dir.path().string()};
    request.timeout = seconds{60};
    auto running = std::async(std::launch::async, [&] { return runner.run(request); });
    const pid_t main = pid_in(dir / "main.pid");

    const auto asked = Steady::now();
    runner.abort();
    ASSERT_EQ(running.wait_for(extract::testing::scaled(seconds{5})), std::future_status::ready);
    EXPECT_LT(Steady::now() - asked, extract::testing::scaled(seconds{2}));
    EXPECT_EQ(running.get().ending, ProcessOutcome::Ending::aborted);
    EXPECT_TRUE(testing::eventually([&] { return process_gone(main); }));
    EXPECT_EQ(runner.run(request).ending, ProcessOutcome::Ending::aborted) << "abort is for good";
}

TEST_F(DeliveryTriggerTest, TheDispatcherRunsATriggerOneAtATimeInEventOrderAndRetriesAFailure) {
    // Fails the first run for the first event only; notes overlaps and the order of runs.
    const auto hook = script(dir, "hook.sh",
                             "d=$1\n"
                             "mkdir \"$d/running\" 2>/dev/null || echo overlap >> \"$d/overlaps\"\n"
                             "echo \"$EXTRACT_EVENT_ID\" >> \"$d/order\"\n"
                             "sleep 0.1\n"
                             "rmdir \"$d/running\"\n"
                             "if [ \"$EXTRACT_EVENT_ID\" = \"$2\" ] && [ ! -e \"$d/failed.once\" ]; then\n"
                             "  touch \"$d/failed.once\"; echo 'first run fails' >&2; exit 1\n"
                             "fi\n");
    std::vector<testing::AddedEvent> events;
    for (int i = 1; i <= 3; ++i) {
        events.push_back(outbox.add_event("bat_" + std::to_string(i), "completed", "running", {"trigger.notify"}));
    }
    const auto trigger =
        testing::trigger_config("notify", {hook.string(), dir.path().string(), events[0].id}, {milliseconds{200}});
    SystemClock clock;
    DeliveryDispatcher dispatcher({outbox.path(), "/run/test/api.sock", "extract-sync/test"}, {{}, {trigger}}, clock);
    dispatcher.start();

    ASSERT_TRUE(testing::eventually([&] {
        return std::all_of(events.begin(), events.end(),
                           [&](const auto& e) { return outbox.delivery(e.deliveries.front()).state == "delivered"; });
    }));
    dispatcher.stop();

    EXPECT_FALSE(std::filesystem::exists(dir / "overlaps")) << read_file(dir / "overlaps");
    EXPECT_EQ(read_file(dir / "order"),
              events[0].id + "\n" + events[0].id + "\n" + events[1].id + "\n" + events[2].id + "\n")
        << "the second event waited for the first to be delivered";
    const auto first = outbox.attempts(events[0].deliveries.front());
    ASSERT_EQ(first.size(), 2u);
    EXPECT_EQ(first[0].status, 1);
    EXPECT_EQ(first[0].error, "exit code 1: first run fails");
    EXPECT_EQ(first[1].status, 0);
    EXPECT_EQ(outbox.delivery(events[0].deliveries.front()).attempts, 2);
    EXPECT_EQ(dispatcher.outcome_counts()["trigger.notify"][DeliveryOutcome::retried], 1);
    EXPECT_EQ(dispatcher.outcome_counts()["trigger.notify"][DeliveryOutcome::delivered], 3);
}

}  // namespace
}  // namespace extract::delivery
