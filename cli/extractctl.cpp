#include "cli/extractctl.hpp"

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "cli/command_line.hpp"
#include "cli/commands.hpp"
#include "cli/daemon_api.hpp"
#include "cli/unix_http_client.hpp"

namespace extract::cli {
namespace {

std::optional<std::string> environment_variable(const char* name) {
    const char* value = std::getenv(name);
    return value && *value ? std::optional<std::string>(value) : std::nullopt;
}

// https://no-color.org: any non-empty NO_COLOR turns colour off; so does a pipe or a dumb terminal.
OutputStyle output_style() {
    const auto term = environment_variable("TERM");
    return OutputStyle{isatty(STDOUT_FILENO) == 1 && !environment_variable("NO_COLOR") && term != "dumb"};
}

// What to do about a socket that refused us: a missing permission is not a stopped daemon.
std::string connect_advice(int error_code, const std::string& socket_path) {
    if (error_code != EACCES && error_code != EPERM) {
        return "is extract-syncd running? Try: systemctl status extract-syncd";
    }
    std::string socket_is;
    struct stat st {};
    if (::stat(socket_path.c_str(), &st) == 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        const group* owner = ::getgrgid(st.st_gid);
        socket_is = std::string("; the socket is mode ") + mode + ", group " +
                    (owner ? std::string(owner->gr_name) : std::to_string(st.st_gid));
    }
    return "this user lacks write permission on the socket or its directory" + socket_is +
           ". Join the socket's group (set by SocketGroup= in extract-syncd.socket, or [api] socket_mode when "
           "extract-syncd binds the socket itself), log in again, and check [api] allowed_gids / allowed_uids; "
           "or run as root";
}

// Whether stdout is a terminal that takes UTF-8: the locale variables, as the C library reads
// them (LC_ALL, then LC_CTYPE, then LANG), name a UTF-8 charset.
bool utf8_terminal() {
    if (isatty(STDOUT_FILENO) != 1) return false;
    auto locale = environment_variable("LC_ALL");
    if (!locale) locale = environment_variable("LC_CTYPE");
    if (!locale) locale = environment_variable("LANG");
    if (!locale) return false;
    std::string lower = *locale;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    return lower.find("utf-8") != std::string::npos || lower.find("utf8") != std::string::npos;
}

}  // namespace

int run_extractctl(int argc, char** argv) {
    const std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
    const auto parsed = parse_command_line(args, environment_variable("EXTRACT_SOCKET"));
    if (const auto* error = std::get_if<UsageError>(&parsed)) {
        std::cerr << "extractctl: " << error->message << "\n" << usage_text(error->command);
        return kExitUsage;
    }
    const auto& invocation = std::get<Invocation>(parsed);
    const DaemonApi api(invocation.socket_path);
    const SystemClock clock;
    CommandEnvironment env{api, clock, std::cout, std::cerr, output_style(), invocation.json};
    env.progress = isatty(STDERR_FILENO) == 1;
    env.utf8 = utf8_terminal();
    try {
        return run_command(invocation.command, env);
    } catch (const ConnectError& e) {
        // One line that names the socket (the message does) and what to look at next.
        std::cerr << "extractctl: " << e.what() << " (" << connect_advice(e.error_code, invocation.socket_path)
                  << ")\n";
        return kExitUnreachable;
    } catch (const std::exception& e) {
        std::cerr << "extractctl: " << e.what() << "\n";
        return kExitNegative;
    }
}

}  // namespace extract::cli
