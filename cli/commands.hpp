#pragma once
// Runs one parsed extractctl command against the daemon and turns the answer into output
// and an exit code (SPEC §9).

#include <optional>
#include <ostream>
#include <string_view>

#include "cli/command_line.hpp"
#include "cli/daemon_api.hpp"
#include "cli/table.hpp"
#include "core/clock.hpp"

namespace extract::cli {

// What a command talks to and where its output goes.
struct CommandEnvironment {
    const DaemonApi& api;
    const Clock& clock;  // the wait deadline
    std::ostream& out;
    std::ostream& err;
    OutputStyle style;
    bool json = false;
    bool progress = false;  // stderr is a terminal: `wait` and long commands (export) show progress there
    bool utf8 = false;      // stdout is a UTF-8 terminal: report bars may use block characters
};

// nullopt when `answer` is a usable JSON answer; otherwise the failure is reported on stderr
// and its exit code returned: 2 when the daemon rejected what the user typed (422), else 1.
// `not_found` is the message for a 404 (none: the daemon's own detail).
std::optional<int> rejected(const CommandEnvironment& env, const ApiAnswer& answer, std::string_view what,
                            std::string_view not_found = {});

// The statuses after which a batch never changes again, as the daemon's default
// [sync] terminal_statuses (the API does not expose the configured list).
bool is_terminal_status(std::string_view status);
// `wait`'s exit code for a status: 0 for completed / partially_failed, 1 for another
// terminal status, nullopt while it is not terminal.
std::optional<int> wait_exit_code(std::string_view status);

// Throws ConnectError when the daemon cannot be reached; everything else is an exit code.
int run_command(const Command& command, const CommandEnvironment& env);

}  // namespace extract::cli
