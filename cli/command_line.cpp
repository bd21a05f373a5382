#include "cli/command_line.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <sstream>

#include "core/closed_sets.hpp"
#include "core/duration.hpp"
#include "core/timefmt.hpp"

namespace extract::cli {
namespace {

struct OptionSpec {
    std::string_view name;        // "--status"
    std::string_view value_name;  // empty: a switch
    std::string_view help;
    bool repeatable = false;  // may be given several times (--metadata)
};

// Everything help, usage and the parser know about one command.
struct CommandSpec {
    std::string_view name;
    std::string_view synopsis;  // after "extractctl "
    std::string_view summary;
    std::string_view details;
    std::vector<OptionSpec> options;
    std::size_t min_positionals = 0;
    std::size_t max_positionals = 0;
    std::string_view example;
};

const std::vector<CommandSpec>& command_specs() {
    static const std::vector<CommandSpec> specs{
        {"ls",
         "ls [--status S] [--engine E] [--since ISO] [--until ISO] [--metadata KEY=VALUE]... [--removed] [--limit N] "
         "[--all]",
         "List mirrored batches, newest first.",
         "Without --all, one page of at most --limit batches that are not removed.\n"
         "--all follows every page and includes batches the upstream has forgotten.\n"
         "Every filter given must hold; --metadata may be given several times.",
         {{"--status", "S", "only batches whose status is S"},
          {"--engine", "E", "only batches of engine E"},
          {"--since", "ISO", "only batches created after this time (2026-11-30 or 2026-11-30T03:04:05Z)"},
          {"--until", "ISO", "only batches created before this time"},
          {"--metadata", "KEY=VALUE", "only batches whose metadata KEY is the string VALUE (repeatable)", true},
          {"--removed", "", "include batches the upstream has forgotten"},
          {"--limit", "N", "at most N batches, 1..200 (default 50); with --all the page size"},
          {"--all", "", "every batch on every page, removed ones included"}},
         0,
         0,
         "extractctl ls --metadata project=atlas --since 2026-11-01 --all"},
        {"show",
         "show ID",
         "Show one batch with every status transition the mirror recorded.",
         "Batches the upstream has forgotten are still shown, with their removed_at.",
         {},
         1,
         1,
         "extractctl show bat_4f2a9c01d7e84b3a9f10"},
        {"wait",
         "wait ID [--timeout DUR]",
         "Block until the batch reaches a terminal status.",
         "Exits 0 when it ends completed or partially_failed, 1 when it ends failed or\n"
         "cancelled or is removed upstream before it ends, 4 when neither the mirror nor\n"
         "the upstream knows the id, 124 when --timeout passes first, 3 when the daemon\n"
         "stays unreachable past it. An id the mirror has not seen yet (the batch just\n"
         "submitted) is fetched from upstream first. It waits on the daemon's event feed\n"
         "(a long poll), not by polling, and reconnects through a daemon restart. On a\n"
         "terminal, stderr shows the batch's progress on one line.",
         {{"--timeout", "DUR", "give up after DUR (250ms, 30s, 5m, 2h, 3d); default: never"}},
         1,
         1,
         "extractctl wait \"$id\" --timeout 30m && ./next-step"},
        {"events",
         "events [--after SEQ] [--type T] [--batch ID] [--limit N] [--follow]",
         "Print the event log, oldest first.",
         "Without --after, every event still kept; with --follow and no --after, only\n"
         "events from now on. --follow keeps printing new events as they arrive (like\n"
         "tail -f) until interrupted; with --json it prints one JSON event per line.",
         {{"--after", "SEQ", "only events whose seq is greater than SEQ"},
          {"--type", "T",
           "only events of type T (batch.created, batch.status_changed, batch.updated or batch.removed)"},
          {"--batch", "ID", "only events of batch ID"},
          {"--limit", "N", "at most N events (not with --follow)"},
          {"--follow", "", "keep waiting for new events"}},
         0,
         0,
         "extractctl events --type batch.status_changed --follow"},
        {"stats",
         "stats",
         "Summarise the mirror: batches by status, events, deliveries.",
         "",
         {},
         0,
         0,
         "extractctl stats"},
        {"health",
         "health",
         "Show the daemon's health.",
         "Exits 0 only when the status is ok (1 when starting or degraded).",
         {},
         0,
         0,
         "extractctl health || systemctl status extract-syncd"},
        {"sync",
         "sync [--full] [--confirm-removals] [--timeout DUR]",
         "Run a sync now, wait for it to end, and print its result.",
         "Exits 1 when the sync ended with an error, 124 when --timeout passes first (the\n"
         "sync goes on in the daemon; extractctl health shows how it ends).\n"
         "--confirm-removals applies a mass removal that the daemon holds (extractctl health\n"
         "shows held_removals): that full pass marks removed every batch it does not list.",
         {{"--full", "", "a complete pass over every batch instead of a fast poll"},
          {"--confirm-removals", "",
           "with --full: remove what the pass does not list, however many (a held mass removal)"},
          {"--timeout", "DUR", "stop waiting after DUR (30s, 5m); default 30m"}},
         0,
         0,
         "extractctl sync --full"},
        {"deliveries",
         "deliveries [--state S] [--target T] [--all]",
         "Show the webhook and trigger delivery log, newest first.",
         "Without --all, the newest 100 (it says so when there are more); --all follows\n"
         "every page.",
         {{"--state", "S", "only deliveries in state S (pending, delivered, failed or disabled)"},
          {"--target", "T", "only deliveries to T (webhook.NAME or trigger.NAME)"},
          {"--all", "", "every delivery on every page"}},
         0,
         0,
         "extractctl deliveries --state failed"},
        {"redeliver",
         "redeliver ID | redeliver --failed [--target T]",
         "Send a delivery again now, whatever its state; or every failed one.",
         "",
         {{"--failed", "", "every failed delivery"}, {"--target", "T", "with --failed: only those to T"}},
         0,
         1,
         "extractctl redeliver --failed --target webhook.billing"},
        {"export",
         "export batches|transitions|events [--format jsonl|csv] [--since ISO] [-o FILE]",
         "Write every row of a table, page by page, for a spreadsheet or another database.",
         "jsonl: one JSON object a line, as the API answers it. csv: a header row, then one row\n"
         "each (RFC 4180 quoting; metadata, options and event data as JSON text). Batches\n"
         "include removed ones. Memory stays constant whatever the size; on a terminal,\n"
         "progress goes to stderr. -o writes FILE whole or not at all.",
         {{"--format", "F", "jsonl (default) or csv"},
          {"--since", "ISO", "only batches created, transitions observed or events created after this time"},
          {"-o", "FILE", "write to FILE (a temporary file renamed at the end) instead of stdout"}},
         1,
         1,
         "extractctl export batches --format csv --since 2026-11-01 -o november.csv"},
        {"report",
         "report [--since DUR|ISO] [--by day|engine|status|metadata.KEY]",
         "Count batches per day, engine, status or metadata value, with how long they took.",
         "Per group: batches, how many ended in each status, items, failed items, and the\n"
         "median (p50) and p95 time from created_at to completed_at. Batches created after\n"
         "--since count, removed ones too.",
         {{"--since", "DUR|ISO", "a duration back from now (7d, 12h) or a time (default 7d)"},
          {"--by", "G", "day (default), engine, status or metadata.KEY"}},
         0,
         0,
         "extractctl report --since 30d --by metadata.project"},
        {"backup",
         "backup FILE",
         "Write a consistent snapshot of the mirror (a SQLite file) to FILE.",
         "The daemon keeps syncing meanwhile. FILE is written whole or not at all (a\n"
         "temporary file beside it is renamed at the end).",
         {},
         1,
         1,
         "extractctl backup /var/backups/extract-sync/mirror-$(date +%F).db"},
        {"help",
         "help [COMMAND]",
         "Show help for extractctl or one of its commands.",
         "",
         {},
         0,
         1,
         "extractctl help wait"},
    };
    return specs;
}

const CommandSpec* find_spec(std::string_view name) {
    const auto& specs = command_specs();
    const auto it = std::find_if(specs.begin(), specs.end(), [&](const CommandSpec& s) { return s.name == name; });
    return it == specs.end() ? nullptr : &*it;
}

// A command's own arguments, checked against its spec but not yet typed.
struct RawArguments {
    std::map<std::string, std::string, std::less<>> values;  // switches map to ""; the last of a repeatable
    std::map<std::string, std::vector<std::string>, std::less<>> repeated;  // every value of a repeatable
    std::vector<std::string> positionals;

    bool has(std::string_view flag) const { return values.find(flag) != values.end(); }
    std::optional<std::string> get(std::string_view flag) const {
        const auto it = values.find(flag);
        return it == values.end() ? std::nullopt : std::optional<std::string>(it->second);
    }
};

std::variant<RawArguments, UsageError> split_arguments(const CommandSpec& spec, const std::vector<std::string>& args) {
    const std::string command(spec.name);
    RawArguments raw;
    bool only_positionals = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (only_positionals || arg.empty() || arg[0] != '-' || arg == "-") {
            raw.positionals.push_back(arg);
            continue;
        }
        if (arg == "--") {
            only_positionals = true;
            continue;
        }
        const auto eq = arg.find('=');
        const std::string name = arg.substr(0, eq);
        const auto option =
            std::find_if(spec.options.begin(), spec.options.end(), [&](const OptionSpec& o) { return o.name == name; });
        if (option == spec.options.end()) return UsageError{"unknown option " + name + " for " + command, command};
        if (raw.has(name) && !option->repeatable) return UsageError{name + " given more than once", command};
        if (option->value_name.empty()) {
            if (eq != std::string::npos) return UsageError{name + " takes no value", command};
            raw.values[name] = "";
        } else if (eq != std::string::npos) {
            raw.values[name] = arg.substr(eq + 1);
        } else if (i + 1 < args.size()) {
            raw.values[name] = args[++i];
        } else {
            return UsageError{name + " needs a value (" + std::string(option->value_name) + ")", command};
        }
        if (!option->value_name.empty() && raw.values[name].empty()) {
            return UsageError{name + " needs a non-empty value", command};
        }
        if (option->repeatable) raw.repeated[name].push_back(raw.values[name]);
    }
    if (raw.positionals.size() > spec.max_positionals) {
        return UsageError{"unexpected argument '" + raw.positionals[spec.max_positionals] + "'", command};
    }
    if (raw.positionals.size() < spec.min_positionals) return UsageError{"missing argument", command};
    return raw;
}

std::optional<std::int64_t> parse_integer(const std::string& text) {
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return value;
}

// Typing of each command's arguments. A UsageError names the flag and what it accepts.
using Built = std::variant<Command, UsageError>;

// A closed-set flag (SPEC §6): absent, or one of `allowed`; anything else is a usage error
// that lists the allowed values (the daemon would answer 422 with the same list).
template <std::size_t N>
std::optional<UsageError> check_closed_set(const RawArguments& raw, std::string_view flag,
                                           const std::array<std::string_view, N>& allowed, std::string_view command) {
    const auto value = raw.get(flag);
    if (!value || in_closed_set(allowed, *value)) return std::nullopt;
    return UsageError{std::string(flag) + " must be " + allowed_values(allowed) + ", not '" + *value + "'",
                      std::string(command)};
}

// An ISO-8601 flag, normalised to UTC: absent, the time, or the usage error naming it.
std::variant<std::optional<std::string>, UsageError> time_flag(const RawArguments& raw, std::string_view flag,
                                                               std::string_view command) {
    const auto text = raw.get(flag);
    if (!text) return std::optional<std::string>();
    const auto at = parse_timestamp(*text);
    if (!at) {
        return UsageError{std::string(flag) + " needs an ISO-8601 time such as 2026-11-30T03:04:05Z, not '" + *text +
                              "'",
                          std::string(command)};
    }
    return std::optional<std::string>(format_timestamp(*at));
}

Built build_ls(const RawArguments& raw) {
    ListBatches ls;
    ls.status = raw.get("--status");
    ls.engine = raw.get("--engine");
    ls.removed = raw.has("--removed");
    ls.all = raw.has("--all");
    for (const auto& [flag, into] :
         {std::pair{"--since", &ls.created_after}, std::pair{"--until", &ls.created_before}}) {
        auto at = time_flag(raw, flag, "ls");
        if (auto* error = std::get_if<UsageError>(&at)) return *error;
        *into = std::get<std::optional<std::string>>(std::move(at));
    }
    if (const auto it = raw.repeated.find("--metadata"); it != raw.repeated.end()) {
        for (const auto& pair : it->second) {
            const auto eq = pair.find('=');
            if (eq == std::string::npos || eq == 0) {
                return UsageError{"--metadata needs KEY=VALUE (e.g. project=atlas), not '" + pair + "'", "ls"};
            }
            ls.metadata.emplace_back(pair.substr(0, eq), pair.substr(eq + 1));
        }
    }
    if (const auto limit = raw.get("--limit")) {
        const auto n = parse_integer(*limit);
        if (!n || *n < 1 || *n > kMaxListLimit)
            return UsageError{"--limit needs a number from 1 to 200, not '" + *limit + "'", "ls"};
        ls.limit = static_cast<int>(*n);
    } else if (ls.all) {
        ls.limit = kMaxListLimit;  // fewest round trips for the whole history
    }
    return ls;
}

// --timeout DUR of `command`: nullopt when absent; a usage error when it is not a duration above zero.
std::variant<std::optional<Millis>, UsageError> timeout_flag(const RawArguments& raw, const char* command) {
    const auto timeout = raw.get("--timeout");
    if (!timeout) return std::optional<Millis>{};
    const auto parsed = parse_duration(*timeout);
    if (!parsed || parsed->count() <= 0)
        return UsageError{"--timeout needs a duration such as 30s, 5m or 2h, not '" + *timeout + "'", command};
    return parsed;
}

Built build_wait(const RawArguments& raw) {
    auto timeout = timeout_flag(raw, "wait");
    if (auto* error = std::get_if<UsageError>(&timeout)) return std::move(*error);
    return WaitForBatch{raw.positionals[0], std::get<std::optional<Millis>>(timeout)};
}

Built build_sync(const RawArguments& raw) {
    auto timeout = timeout_flag(raw, "sync");
    if (auto* error = std::get_if<UsageError>(&timeout)) return std::move(*error);
    const bool confirm_removals = raw.has("--confirm-removals");
    if (confirm_removals && !raw.has("--full")) {
        return UsageError{"--confirm-removals needs --full: only a complete full pass removes batches", "sync"};
    }
    return RunSync{raw.has("--full"), std::get<std::optional<Millis>>(timeout), confirm_removals};
}

Built build_events(const RawArguments& raw) {
    if (auto error = check_closed_set(raw, "--type", kEventTypes, "events")) return *error;
    ListEvents events;
    events.type = raw.get("--type");
    events.batch_id = raw.get("--batch");
    events.follow = raw.has("--follow");
    if (const auto limit = raw.get("--limit")) {
        events.limit = parse_integer(*limit);
        if (!events.limit || *events.limit < 1)
            return UsageError{"--limit needs a number of events (1 or more), not '" + *limit + "'", "events"};
        if (events.follow) return UsageError{"--limit does not go with --follow", "events"};
    }
    if (const auto after = raw.get("--after")) {
        events.after = parse_integer(*after);
        if (!events.after || *events.after < 0)
            return UsageError{"--after needs an event seq (0 or more), not '" + *after + "'", "events"};
    }
    return events;
}

Built build_deliveries(const RawArguments& raw) {
    if (auto error = check_closed_set(raw, "--state", kDeliveryStates, "deliveries")) return *error;
    return ListDeliveries{raw.get("--state"), raw.get("--target"), raw.has("--all")};
}

constexpr std::array<std::string_view, 3> kExportTables{"batches", "transitions", "events"};  // as ExportTable
constexpr std::array<std::string_view, 2> kExportFormats{"jsonl", "csv"};

Built build_export(const RawArguments& raw) {
    const std::string& table = raw.positionals[0];
    if (!in_closed_set(kExportTables, table)) {
        return UsageError{"export needs " + allowed_values(kExportTables) + ", not '" + table + "'", "export"};
    }
    if (auto error = check_closed_set(raw, "--format", kExportFormats, "export")) return *error;
    ExportRows rows;
    rows.table =
        static_cast<ExportTable>(std::find(kExportTables.begin(), kExportTables.end(), table) - kExportTables.begin());
    rows.format = raw.get("--format") == "csv" ? ExportFormat::csv : ExportFormat::jsonl;
    auto since = time_flag(raw, "--since", "export");
    if (auto* error = std::get_if<UsageError>(&since)) return *error;
    rows.since = std::get<std::optional<std::string>>(std::move(since));
    rows.output = raw.get("-o");
    return rows;
}

Built build_report(const RawArguments& raw) {
    ShowReport report;
    if (const auto since = raw.get("--since")) {
        if (parse_duration(*since)) {
            report.since = *since;
        } else if (const auto at = parse_timestamp(*since)) {
            report.since = format_timestamp(*at);
        } else {
            return UsageError{"--since needs a duration such as 7d or 12h, or an ISO-8601 time, not '" + *since + "'",
                              "report"};
        }
    }
    if (const auto by = raw.get("--by")) {
        if (!is_report_grouping(*by)) {
            return UsageError{"--by must be " + allowed_values(kReportGroupingSpellings) + ", not '" + *by + "'",
                              "report"};
        }
        report.by = *by;
    }
    return report;
}

Built build_redeliver(const RawArguments& raw) {
    Redeliver redeliver;
    redeliver.target = raw.get("--target");
    const bool failed = raw.has("--failed");
    if (failed == !raw.positionals.empty()) return UsageError{"give either a delivery ID or --failed", "redeliver"};
    if (redeliver.target && !failed) return UsageError{"--target only goes with --failed", "redeliver"};
    if (!failed) {
        redeliver.delivery_id = parse_integer(raw.positionals[0]);
        if (!redeliver.delivery_id || *redeliver.delivery_id < 1) {
            return UsageError{"a delivery ID is a number (see extractctl deliveries), not '" + raw.positionals[0] + "'",
                              "redeliver"};
        }
    }
    return redeliver;
}

Built build_command(const CommandSpec& spec, const RawArguments& raw) {
    const std::string_view name = spec.name;
    if (name == "ls") return build_ls(raw);
    if (name == "show") return ShowBatch{raw.positionals[0]};
    if (name == "wait") return build_wait(raw);
    if (name == "events") return build_events(raw);
    if (name == "stats") return ShowStats{};
    if (name == "health") return ShowHealth{};
    if (name == "sync") return build_sync(raw);
    if (name == "deliveries") return build_deliveries(raw);
    if (name == "redeliver") return build_redeliver(raw);
    if (name == "export") return build_export(raw);
    if (name == "report") return build_report(raw);
    if (name == "backup") return TakeBackup{raw.positionals[0]};
    // help
    if (raw.positionals.empty()) return ShowHelp{};
    if (!find_spec(raw.positionals[0])) return UsageError{"unknown command '" + raw.positionals[0] + "'", std::nullopt};
    return ShowHelp{raw.positionals[0]};
}

std::string pad_right(std::string_view text, std::size_t width) {
    std::string out(text);
    if (out.size() < width) out.append(width - out.size(), ' ');
    return out;
}

}  // namespace

ParseResult parse_command_line(const std::vector<std::string>& args,
                               const std::optional<std::string>& socket_from_env) {
    std::optional<std::string> socket;
    bool json = false;
    bool help = false;
    bool version = false;
    std::optional<std::string> command_name;
    std::vector<std::string> command_args;

    // The global flags may come before or after the command; everything else after the
    // command belongs to it. After `--` nothing is a flag (an ID may start with '-').
    bool only_positionals = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (!only_positionals) {
            if (arg == "--json") {
                json = true;
                continue;
            }
            if (arg == "--socket" || arg.starts_with("--socket=")) {
                if (arg == "--socket") {
                    if (i + 1 >= args.size()) return UsageError{"--socket needs a value (PATH)", command_name};
                    socket = args[++i];
                } else {
                    socket = arg.substr(std::string_view("--socket=").size());
                }
                if (socket->empty()) return UsageError{"--socket needs a non-empty PATH", command_name};
                continue;
            }
            if (arg == "--help" || arg == "-h") {
                help = true;
                continue;
            }
            if (!command_name && arg == "--version") {
                version = true;
                continue;
            }
            if (arg == "--") only_positionals = true;
        }
        if (!command_name) {
            if (arg.starts_with("-")) return UsageError{"unknown option " + arg, std::nullopt};
            command_name = arg;
            continue;
        }
        command_args.push_back(arg);
    }

    Invocation invocation;
    invocation.json = json;
    invocation.socket_path = socket                                         ? *socket
                             : socket_from_env && !socket_from_env->empty() ? *socket_from_env
                                                                            : std::string(kDefaultSocketPath);
    const CommandSpec* spec = command_name ? find_spec(*command_name) : nullptr;
    if (command_name && !spec) return UsageError{"unknown command '" + *command_name + "'", std::nullopt};
    if (help) {
        invocation.command = ShowHelp{command_name && *command_name != "help" ? command_name : std::nullopt};
        return invocation;
    }
    if (!command_name) {
        if (!version) return UsageError{"no command given", std::nullopt};
        invocation.command = ShowVersion{};
        return invocation;
    }

    auto raw = split_arguments(*spec, command_args);
    if (auto* error = std::get_if<UsageError>(&raw)) return *error;
    auto built = build_command(*spec, std::get<RawArguments>(raw));
    if (auto* error = std::get_if<UsageError>(&built)) return *error;
    invocation.command = std::get<Command>(std::move(built));
    return invocation;
}

std::string usage_text(const std::optional<std::string>& command) {
    std::ostringstream out;
    if (const CommandSpec* spec = command ? find_spec(*command) : nullptr) {
        out << "Usage: extractctl [--socket PATH] [--json] " << spec->synopsis << "\n";
        out << "Try 'extractctl help " << spec->name << "' for details.\n";
        return out.str();
    }
    out << "Usage: extractctl [--socket PATH] [--json] COMMAND [ARGS]\n";
    out << "Commands:";
    for (const auto& spec : command_specs()) out << ' ' << spec.name;
    out << "\nTry 'extractctl help' for details.\n";
    return out.str();
}

std::string help_text(const std::optional<std::string>& command) {
    std::ostringstream out;
    if (const CommandSpec* spec = command ? find_spec(*command) : nullptr) {
        out << "Usage: extractctl [--socket PATH] [--json] " << spec->synopsis << "\n\n" << spec->summary << "\n";
        if (!spec->details.empty()) out << spec->details << "\n";
        if (!spec->options.empty()) {
            out << "\nOptions:\n";
            std::size_t width = 0;
            for (const auto& o : spec->options) width = std::max(width, o.name.size() + 1 + o.value_name.size());
            for (const auto& o : spec->options) {
                std::string flag(o.name);
                if (!o.value_name.empty()) flag += " " + std::string(o.value_name);
                out << "  " << pad_right(flag, width) << "  " << o.help << "\n";
            }
        }
        out << "\nExample:\n  $ " << spec->example << "\n";
        return out.str();
    }
    out << "extractctl: the command-line client of extract-syncd, the local mirror of an extract API account.\n\n"
        << "Usage: extractctl [--socket PATH] [--json] COMMAND [ARGS]\n\n"
        << "Commands:\n";
    for (const auto& spec : command_specs())
        out << "  " << pad_right(spec.synopsis, 48) << "  " << spec.summary << "\n";
    out << "\nGlobal options (before or after the command):\n"
        << "  --socket PATH  the daemon's socket (default: $EXTRACT_SOCKET, then " << kDefaultSocketPath << ")\n"
        << "  --json         print the API's JSON instead of a table\n"
        << "  --help         help for extractctl or for the command\n"
        << "  --version      print the version\n\n"
        << "Exit codes: 0 success, 1 negative answer, 2 usage error, 3 daemon unreachable, 4 no such batch,\n"
        << "124 timeout.\n\n"
        << "Example:\n  $ extractctl wait \"$id\" && ./next-step\n";
    return out.str();
}

}  // namespace extract::cli
