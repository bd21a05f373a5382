#pragma once
// What the user asked extractctl to do: argv parsed into one command with its options,
// without any I/O, so every flag and usage error is unit-testable.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/clock.hpp"

namespace extract::cli {

// SPEC §9: the exit codes scripts rely on.
enum ExitCode : int {
    kExitSuccess = 0,
    kExitNegative = 1,  // the answer was negative (not found, failed batch, unhealthy, API error)
    kExitUsage = 2,
    kExitUnreachable = 3,
    kExitNoSuchBatch = 4,  // wait: neither the mirror nor the upstream knows the id
    kExitTimeout = 124,
};

inline constexpr std::string_view kDefaultSocketPath = "/run/extract-sync/api.sock";
inline constexpr int kDefaultListLimit = 50;
inline constexpr int kMaxListLimit = 200;

struct ListBatches {
    std::optional<std::string> status;
    std::optional<std::string> engine;
    std::optional<std::string> created_after;                   // --since, normalised to UTC ISO-8601
    std::optional<std::string> created_before;                  // --until, likewise
    std::vector<std::pair<std::string, std::string>> metadata;  // --metadata KEY=VALUE, all must hold
    bool removed = false;                                       // include batches the upstream has forgotten
    int limit = kDefaultListLimit;                              // with --all: the page size
    bool all = false;                                           // every page, removed batches included
};
struct ShowBatch {
    std::string id;
};
struct WaitForBatch {
    std::string id;
    std::optional<Millis> timeout;  // none: wait as long as it takes
};
struct ListEvents {
    std::optional<std::int64_t> after;  // none: from the oldest kept (or, with --follow, from now)
    std::optional<std::string> type;
    std::optional<std::string> batch_id;
    std::optional<std::int64_t> limit;  // at most this many (not with --follow)
    bool follow = false;
};
struct ShowStats {};
struct ShowHealth {};
struct RunSync {
    bool full = false;
    std::optional<Millis> timeout;  // none: the default wait (kSyncWait)
    bool confirm_removals = false;  // with full: apply a held mass removal
};
struct ListDeliveries {
    std::optional<std::string> state;
    std::optional<std::string> target;
    bool all = false;  // every page, not only the newest
};
struct Redeliver {
    std::optional<std::int64_t> delivery_id;  // set: that one delivery; else every failed one
    std::optional<std::string> target;        // only with --failed
};
// export batches|transitions|events (issue 17): every row, page by page.
enum class ExportTable { batches, transitions, events };  // in the order of their names in command_line.cpp
enum class ExportFormat { jsonl, csv };
struct ExportRows {
    ExportTable table = ExportTable::batches;
    ExportFormat format = ExportFormat::jsonl;
    std::optional<std::string> since;   // UTC ISO-8601: batches created, transitions observed, events created after
    std::optional<std::string> output;  // -o FILE; none: stdout
};
// report [--since DUR|ISO] [--by G]
struct ShowReport {
    std::string since = "7d";  // as the API takes it: a duration or an ISO-8601 time
    std::string by = "day";
};
// backup FILE
struct TakeBackup {
    std::string file;
};
struct ShowVersion {};
// `extractctl help [CMD]`, `extractctl CMD --help`, `extractctl --help`.
struct ShowHelp {
    std::optional<std::string> command;  // none: the overview
};

using Command = std::variant<ListBatches, ShowBatch, WaitForBatch, ListEvents, ShowStats, ShowHealth, RunSync,
                             ListDeliveries, Redeliver, ExportRows, ShowReport, TakeBackup, ShowVersion, ShowHelp>;

struct Invocation {
    std::string socket_path;
    bool json = false;
    Command command;
};

struct UsageError {
    std::string message;
    std::optional<std::string> command;  // the command whose usage applies, when known
};

using ParseResult = std::variant<Invocation, UsageError>;

// `args` excludes the program name. `socket_from_env` is $EXTRACT_SOCKET (unset or empty: none).
ParseResult parse_command_line(const std::vector<std::string>& args, const std::optional<std::string>& socket_from_env);

// The help page of one command (with an example), or the overview for nullopt / an unknown name.
std::string help_text(const std::optional<std::string>& command);
// The usage lines printed with a usage error.
std::string usage_text(const std::optional<std::string>& command);

}  // namespace extract::cli
