#include "cli/command_line.hpp"

#include <gtest/gtest.h>

namespace extract::cli {
namespace {

ParseResult parse(std::vector<std::string> args, std::optional<std::string> env_socket = std::nullopt) {
    return parse_command_line(args, env_socket);
}

Invocation parsed_ok(std::vector<std::string> args, std::optional<std::string> env_socket = std::nullopt) {
    auto result = parse(std::move(args), std::move(env_socket));
    if (const auto* error = std::get_if<UsageError>(&result)) {
        ADD_FAILURE() << "usage error: " << error->message;
        return {};
    }
    return std::get<Invocation>(result);
}

template <typename T>
T command_of(std::vector<std::string> args) {
    const Invocation invocation = parsed_ok(std::move(args));
    const T* command = std::get_if<T>(&invocation.command);
    if (!command) {
        ADD_FAILURE() << "parsed into another command (index " << invocation.command.index() << ")";
        return {};
    }
    return *command;
}

std::string usage_error(std::vector<std::string> args) {
    auto result = parse(std::move(args));
    const auto* error = std::get_if<UsageError>(&result);
    if (!error) {
        ADD_FAILURE() << "expected a usage error";
        return {};
    }
    return error->message;
}

TEST(CliCommandLine, SocketDefaultsToEnvironmentThenTheSystemPath) {
    EXPECT_EQ(parsed_ok({"stats"}).socket_path, "/run/extract-sync/api.sock");
    EXPECT_EQ(parsed_ok({"stats"}, "/tmp/env.sock").socket_path, "/tmp/env.sock");
    EXPECT_EQ(parsed_ok({"stats"}, "").socket_path, "/run/extract-sync/api.sock");
    EXPECT_EQ(parsed_ok({"--socket", "/tmp/flag.sock", "stats"}, "/tmp/env.sock").socket_path, "/tmp/flag.sock");
    EXPECT_EQ(parsed_ok({"--socket=/tmp/eq.sock", "stats"}).socket_path, "/tmp/eq.sock");
}

TEST(CliCommandLine, GlobalFlagsMayComeBeforeOrAfterTheCommand) {
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"--json", "--socket", "/tmp/a.sock", "ls", "--status", "running"},
             {"ls", "--status", "running", "--json", "--socket", "/tmp/a.sock"},
             {"ls", "--json", "--status", "running", "--socket=/tmp/a.sock"},
         }) {
        const Invocation invocation = parsed_ok(args);
        EXPECT_TRUE(invocation.json);
        EXPECT_EQ(invocation.socket_path, "/tmp/a.sock");
        ASSERT_TRUE(std::holds_alternative<ListBatches>(invocation.command));
        EXPECT_EQ(std::get<ListBatches>(invocation.command).status, "running");
    }
    EXPECT_FALSE(parsed_ok({"ls"}).json);
}

TEST(CliCommandLine, LsFlags) {
    const auto defaults = command_of<ListBatches>({"ls"});
    EXPECT_EQ(defaults.limit, 50);
    EXPECT_FALSE(defaults.all);
    EXPECT_FALSE(defaults.status);
    EXPECT_FALSE(defaults.created_after);

    const auto full = command_of<ListBatches>(
        {"ls", "--status=failed", "--since", "2026-11-30T04:05:06+02:00", "--limit", "7", "--all"});
    EXPECT_EQ(full.status, "failed");
    EXPECT_EQ(full.created_after, "2026-11-30T02:05:06.000Z");  // normalised to UTC
    EXPECT_EQ(full.limit, 7);
    EXPECT_TRUE(full.all);

    EXPECT_EQ(command_of<ListBatches>({"ls", "--all"}).limit, 200);  // the whole history in the fewest pages
    EXPECT_EQ(command_of<ListBatches>({"ls", "--since", "2026-11-30"}).created_after, "2026-11-30T00:00:00.000Z");
}

TEST(CliCommandLine, ShowAndWait) {
    EXPECT_EQ(command_of<ShowBatch>({"show", "bat_1"}).id, "bat_1");
    EXPECT_EQ(command_of<ShowBatch>({"show", "--", "-odd-id"}).id, "-odd-id");

    const auto forever = command_of<WaitForBatch>({"wait", "bat_1"});
    EXPECT_EQ(forever.id, "bat_1");
    EXPECT_FALSE(forever.timeout);
    EXPECT_EQ(command_of<WaitForBatch>({"wait", "--timeout", "5m", "bat_1"}).timeout, Millis{300'000});
    EXPECT_EQ(command_of<WaitForBatch>({"wait", "bat_1", "--timeout=250ms"}).timeout, Millis{250});
}

TEST(CliCommandLine, EventsFlags) {
    const auto plain = command_of<ListEvents>({"events"});
    EXPECT_FALSE(plain.after);
    EXPECT_FALSE(plain.type);
    EXPECT_FALSE(plain.follow);
    const auto follow = command_of<ListEvents>({"events", "--after", "42", "--type", "batch.removed", "--follow"});
    EXPECT_EQ(follow.after, 42);
    EXPECT_EQ(follow.type, "batch.removed");
    EXPECT_TRUE(follow.follow);
}

TEST(CliCommandLine, DaemonCommands) {
    EXPECT_TRUE(std::holds_alternative<ShowStats>(parsed_ok({"stats"}).command));
    EXPECT_TRUE(std::holds_alternative<ShowHealth>(parsed_ok({"health"}).command));
    EXPECT_FALSE(command_of<RunSync>({"sync"}).full);
    EXPECT_TRUE(command_of<RunSync>({"sync", "--full"}).full);
    EXPECT_FALSE(command_of<RunSync>({"sync", "--full"}).confirm_removals);
    EXPECT_TRUE(command_of<RunSync>({"sync", "--full", "--confirm-removals"}).confirm_removals);
    EXPECT_TRUE(command_of<RunSync>({"sync", "--confirm-removals", "--full"}).confirm_removals);

    const auto deliveries = command_of<ListDeliveries>({"deliveries", "--state", "failed", "--target", "webhook.a"});
    EXPECT_EQ(deliveries.state, "failed");
    EXPECT_EQ(deliveries.target, "webhook.a");

    const auto one = command_of<Redeliver>({"redeliver", "12"});
    EXPECT_EQ(one.delivery_id, 12);
    EXPECT_FALSE(one.target);
    const auto failed = command_of<Redeliver>({"redeliver", "--failed", "--target", "trigger.x"});
    EXPECT_FALSE(failed.delivery_id);
    EXPECT_EQ(failed.target, "trigger.x");
}

TEST(CliCommandLine, HelpInEveryForm) {
    EXPECT_EQ(command_of<ShowHelp>({"help"}).command, std::nullopt);
    EXPECT_EQ(command_of<ShowHelp>({"--help"}).command, std::nullopt);
    EXPECT_EQ(command_of<ShowHelp>({"help", "wait"}).command, "wait");
    EXPECT_EQ(command_of<ShowHelp>({"wait", "--help"}).command, "wait");
    EXPECT_EQ(command_of<ShowHelp>({"ls", "-h", "--limit", "oops"}).command, "ls");  // help wins over bad flags
    EXPECT_TRUE(std::holds_alternative<ShowVersion>(parsed_ok({"--version"}).command));
}

TEST(CliCommandLine, EveryCommandHasHelpWithAnExample) {
    for (const char* name : {"ls", "show", "wait", "events", "stats", "health", "sync", "deliveries", "redeliver",
                             "export", "report", "backup", "help"}) {
        const std::string text = help_text(std::string(name));
        EXPECT_NE(text.find(std::string("Usage: extractctl [--socket PATH] [--json] ") + name), std::string::npos)
            << name;
        EXPECT_NE(text.find("Example:\n  $ extractctl "), std::string::npos) << name;
    }
    EXPECT_NE(help_text(std::nullopt).find("Exit codes:"), std::string::npos);
}

TEST(CliCommandLine, LsTakesEveryFilterAndRepeatsMetadata) {
    const auto ls = command_of<ListBatches>({"ls", "--engine", "fast", "--until", "2026-11-30T05:00:00+02:00",
                                             "--metadata", "project=atlas", "--metadata=team=a=b", "--removed"});
    EXPECT_EQ(ls.engine, "fast");
    EXPECT_EQ(ls.created_before, "2026-11-30T03:00:00.000Z");
    EXPECT_EQ(ls.metadata, (std::vector<std::pair<std::string, std::string>>{{"project", "atlas"}, {"team", "a=b"}}));
    EXPECT_TRUE(ls.removed);
    EXPECT_FALSE(ls.all);
    const auto events = command_of<ListEvents>({"events", "--batch", "bat_1", "--limit", "7"});
    EXPECT_EQ(events.batch_id, "bat_1");
    EXPECT_EQ(events.limit, 7);
    EXPECT_TRUE(command_of<ListDeliveries>({"deliveries", "--all"}).all);
}

TEST(CliCommandLine, UsageErrorsNameTheProblem) {
    EXPECT_EQ(usage_error({}), "no command given");
    EXPECT_EQ(usage_error({"frobnicate"}), "unknown command 'frobnicate'");
    EXPECT_EQ(usage_error({"help", "frobnicate"}), "unknown command 'frobnicate'");
    EXPECT_EQ(usage_error({"--verbose", "ls"}), "unknown option --verbose");
    EXPECT_EQ(usage_error({"ls", "--verbose"}), "unknown option --verbose for ls");
    EXPECT_EQ(usage_error({"ls", "--limit"}), "--limit needs a value (N)");
    EXPECT_EQ(usage_error({"ls", "--limit", "0"}), "--limit needs a number from 1 to 200, not '0'");
    EXPECT_EQ(usage_error({"ls", "--limit", "201"}), "--limit needs a number from 1 to 200, not '201'");
    EXPECT_EQ(usage_error({"ls", "--limit", "5x"}), "--limit needs a number from 1 to 200, not '5x'");
    EXPECT_EQ(usage_error({"ls", "--status", "a", "--status", "b"}), "--status given more than once");
    EXPECT_EQ(usage_error({"ls", "--status="}), "--status needs a non-empty value");
    EXPECT_EQ(usage_error({"ls", "--all=yes"}), "--all takes no value");
    EXPECT_EQ(usage_error({"ls", "extra"}), "unexpected argument 'extra'");
    EXPECT_NE(usage_error({"ls", "--since", "yesterday"}).find("--since needs an ISO-8601 time"), std::string::npos);
    EXPECT_EQ(usage_error({"show"}), "missing argument");
    EXPECT_EQ(usage_error({"show", "a", "b"}), "unexpected argument 'b'");
    EXPECT_EQ(usage_error({"wait"}), "missing argument");
    EXPECT_NE(usage_error({"wait", "bat_1", "--timeout", "30"}).find("--timeout needs a duration"), std::string::npos);
    EXPECT_NE(usage_error({"events", "--after", "-1"}).find("--after needs an event seq"), std::string::npos);
    EXPECT_EQ(usage_error({"stats", "now"}), "unexpected argument 'now'");
    EXPECT_EQ(usage_error({"sync", "--fast"}), "unknown option --fast for sync");
    EXPECT_EQ(usage_error({"sync", "--confirm-removals"}),
              "--confirm-removals needs --full: only a complete full pass removes batches");
    EXPECT_EQ(usage_error({"redeliver"}), "give either a delivery ID or --failed");
    EXPECT_EQ(usage_error({"redeliver", "3", "--failed"}), "give either a delivery ID or --failed");
    EXPECT_EQ(usage_error({"redeliver", "3", "--target", "webhook.a"}), "--target only goes with --failed");
    EXPECT_NE(usage_error({"redeliver", "abc"}).find("a delivery ID is a number"), std::string::npos);
    EXPECT_EQ(usage_error({"events", "--type", "bogus"}),
              "--type must be batch.created, batch.status_changed, batch.updated or batch.removed, not 'bogus'");
    EXPECT_EQ(usage_error({"deliveries", "--state", "bogus"}),
              "--state must be pending, delivered, failed or disabled, not 'bogus'");
    EXPECT_NE(usage_error({"ls", "--metadata", "=x"}).find("--metadata needs KEY=VALUE"), std::string::npos);
    EXPECT_NE(usage_error({"ls", "--until", "soon"}).find("--until needs an ISO-8601 time"), std::string::npos);
    EXPECT_EQ(usage_error({"events", "--limit", "5", "--follow"}), "--limit does not go with --follow");
    EXPECT_EQ(usage_error({"--socket"}), "--socket needs a value (PATH)");
    EXPECT_EQ(usage_error({"--socket=", "ls"}), "--socket needs a non-empty PATH");
}

TEST(CliCommandLine, UsageErrorPointsAtTheCommandsUsage) {
    const auto result = parse({"wait"});
    ASSERT_TRUE(std::holds_alternative<UsageError>(result));
    EXPECT_EQ(std::get<UsageError>(result).command, "wait");
    EXPECT_NE(usage_text(std::string("wait")).find("wait ID [--timeout DUR]"), std::string::npos);
    EXPECT_NE(usage_text(std::nullopt).find("Commands: ls show wait"), std::string::npos);
}

}  // namespace
}  // namespace extract::cli
