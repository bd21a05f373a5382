#pragma once
// Which kind of cycle ran: sync_runs.kind, the metrics' kind label and the log lines (SPEC §4, §6).

#include <string_view>

namespace extract {

enum class SyncKind { full, fast };

constexpr std::string_view to_string(SyncKind kind) { return kind == SyncKind::fast ? "fast" : "full"; }

}  // namespace extract
