#include "cli/history.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>

#include "cli/output_file.hpp"
#include "cli/views.hpp"

namespace extract::cli {
namespace {

constexpr int kBatchPage = 200;  // the API's maxima
constexpr int kFeedPage = 1000;
constexpr int kReportBarWidth = 30;  // cells of the longest bar
// The daemon writes the whole snapshot before its first byte: minutes on a large mirror.
constexpr Millis kBackupWait{30 * 60'000};

// Each exportable table: its name and its CSV columns (the mirror's column names, SPEC §4),
// in the order of ExportTable.
struct TableShape {
    std::string name;
    std::vector<std::string> columns;
};

const TableShape& shape_of(ExportTable table) {
    static const std::array<TableShape, 3> shapes{{
        {"batches",
         {"id", "status", "engine", "total_items", "count_pending", "count_running", "count_succeeded", "count_failed",
          "count_cancelled", "created_at", "started_at", "completed_at", "expires_at", "metadata", "options"}},
        {"transitions", {"seq", "batch_id", "from_status", "to_status", "observed_at"}},
        {"events", {"seq", "id", "type", "batch_id", "created_at", "data"}},
    }};
    return shapes.at(static_cast<std::size_t>(table));
}

// Every row of one table, page by page: `sink` sees each row once, oldest page last for
// batches (newest first, as listed), oldest first for the feeds. Only one page is held.
std::optional<int> each_row(const ExportRows& request, const CommandEnvironment& env,
                            const std::function<void(const nlohmann::json&)>& sink,
                            const std::function<void()>& page_done) {
    const std::string what = "cannot export " + shape_of(request.table).name;
    if (request.table == ExportTable::batches) {
        std::optional<std::string> cursor;
        do {
            const auto answer = env.api.get(request_target("/v1/batches", {{"include_removed", "true"},
                                                                           {"created_after", request.since},
                                                                           {"limit", std::to_string(kBatchPage)},
                                                                           {"cursor", cursor}}));
            if (const auto code = rejected(env, answer, what)) return code;
            for (const auto& row : list_rows(answer.body)) sink(row);
            const auto& next = member(answer.body, "next_cursor");
            cursor = next.is_string() ? std::optional<std::string>(next.get<std::string>()) : std::nullopt;
            page_done();
        } while (cursor);
        return std::nullopt;
    }
    // The feeds: seq order from the start; --since compares our own UTC timestamps as text.
    const bool transitions = request.table == ExportTable::transitions;
    const std::string path = transitions ? "/v1/transitions" : "/v1/events";
    const std::string time_field = transitions ? "observed_at" : "created_at";
    std::int64_t after = 0;
    while (true) {
        const auto answer =
            env.api.get(request_target(path, {{"after", std::to_string(after)}, {"limit", std::to_string(kFeedPage)}}));
        if (const auto code = rejected(env, answer, what)) return code;
        const auto rows = list_rows(answer.body);
        for (const auto& row : rows) {
            const auto& at = member(row, time_field);
            if (!request.since || (at.is_string() && at.get<std::string>() > *request.since)) sink(row);
        }
        page_done();
        if (rows.size() < static_cast<std::size_t>(kFeedPage)) return std::nullopt;
        const auto& seq = member(rows.back(), "seq");
        if (!seq.is_number_integer() || seq.get<std::int64_t>() <= after) {
            env.err << "extractctl: " << what << ": the daemon's page did not move past seq " << after << "\n";
            return kExitNegative;
        }
        after = seq.get<std::int64_t>();
    }
}

}  // namespace

std::string csv_field(const nlohmann::json& value) {
    std::string text;
    if (value.is_null()) return text;
    if (value.is_string()) {
        text = value.get<std::string>();
    } else {
        text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
    std::string quoted = "\"";
    for (const char c : text) {
        if (c == '"') quoted += '"';
        quoted += c;
    }
    quoted += '"';
    return quoted;
}

std::string csv_line(const std::vector<std::string>& fields) {
    std::string line;
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (i > 0) line += ',';
        line += fields[i];
    }
    line += "\r\n";
    return line;
}

const std::vector<std::string>& csv_columns(ExportTable table) { return shape_of(table).columns; }

std::vector<std::string> csv_row(ExportTable table, const nlohmann::json& object) {
    std::vector<std::string> fields;
    for (const auto& column : csv_columns(table)) {
        if (table == ExportTable::batches && column.starts_with("count_")) {
            fields.push_back(csv_field(member(member(object, "counts"), column.substr(6))));
        } else {
            fields.push_back(csv_field(member(object, column)));
        }
    }
    return fields;
}

int export_rows(const ExportRows& request, const CommandEnvironment& env) {
    std::unique_ptr<AtomicFile> file;
    if (request.output && *request.output != "-") file = std::make_unique<AtomicFile>(*request.output);
    std::ostream& out = file ? file->stream() : env.out;

    std::int64_t rows = 0;
    const std::string name = shape_of(request.table).name;
    const bool csv = request.format == ExportFormat::csv;
    if (csv) out << csv_line(csv_columns(request.table));
    const auto failed = each_row(
        request, env,
        [&](const nlohmann::json& row) {
            if (csv) {
                out << csv_line(csv_row(request.table, row));
            } else {
                out << row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
            }
            ++rows;
        },
        [&] {
            out.flush();  // a reader at the other end of a pipe gets each page as it comes
            if (env.progress) env.err << "\rexported " << rows << " " << name << std::flush;
        });
    if (env.progress) env.err << "\n";
    if (failed) return *failed;
    if (!out) {
        env.err << "extractctl: cannot write the export (disk full, or the reader went away)\n";
        return kExitNegative;
    }
    if (file) {
        file->commit();
        if (env.progress) env.err << "wrote " << rows << " " << name << " to " << file->target().string() << "\n";
    }
    return kExitSuccess;
}

std::string report_bar(std::int64_t value, std::int64_t largest, bool unicode) {
    if (value <= 0 || largest <= 0) return "";
    const double cells =
        static_cast<double>(kReportBarWidth) * static_cast<double>(value) / static_cast<double>(largest);
    if (!unicode) return std::string(static_cast<std::size_t>(std::max(1.0, std::round(cells))), '#');
    // Eighths of a cell: full blocks, then one partial block (U+2588, U+258F..U+2589).
    static constexpr std::array<const char*, 8> kPartial{"",       "\u258f", "\u258e", "\u258d",
                                                         "\u258c", "\u258b", "\u258a", "\u2589"};
    const auto eighths = std::max<std::int64_t>(1, std::llround(cells * 8));
    std::string bar;
    for (std::int64_t i = 0; i < eighths / 8; ++i) bar += "\u2588";
    bar += kPartial[static_cast<std::size_t>(eighths % 8)];
    return bar;
}

std::string format_seconds(const nlohmann::json& value) {
    if (!value.is_number()) return "-";
    const double s = value.get<double>();
    char text[32];
    if (s < 60) {
        std::snprintf(text, sizeof text, "%.1fs", s);
    } else if (s < 3600) {
        std::snprintf(text, sizeof text, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
    } else {
        std::snprintf(text, sizeof text, "%dh%02dm", static_cast<int>(s) / 3600, static_cast<int>(s) / 60 % 60);
    }
    return text;
}

std::string render_report(const nlohmann::json& report, const OutputStyle& style, bool unicode) {
    const auto groups = list_rows(member(report, "groups"));
    std::string out = "batches created since " + cell_text(member(report, "since")) + ", by " +
                      cell_text(member(report, "by")) + "\n";
    if (groups.empty()) return out + "no batches\n";
    std::int64_t largest = 0;
    for (const auto& group : groups) {
        const auto& n = member(group, "batches");
        if (n.is_number_integer()) largest = std::max(largest, n.get<std::int64_t>());
    }
    Table table{{{"GROUP"},
                 {"BATCHES", Align::right},
                 {""},
                 {"ITEMS", Align::right},
                 {"FAILED_ITEMS", Align::right},
                 {"P50", Align::right},
                 {"P95", Align::right},
                 {"BY_STATUS"}},
                {}};
    for (const auto& group : groups) {
        const auto& batches = member(group, "batches");
        std::string statuses;
        const auto& by_status = member(group, "by_status");
        if (by_status.is_object()) {
            for (const auto& [status, count] : by_status.items()) {
                statuses += (statuses.empty() ? "" : ", ") + status + " " + cell_text(count);
            }
        }
        table.rows.push_back(
            {cell_text(member(group, "key")), cell_text(batches),
             report_bar(batches.is_number_integer() ? batches.get<std::int64_t>() : 0, largest, unicode),
             cell_text(member(group, "items")), cell_text(member(group, "failed_items")),
             format_seconds(member(member(group, "duration_s"), "p50")),
             format_seconds(member(member(group, "duration_s"), "p95")), statuses});
    }
    return out + render_table(table, style);
}

int show_report(const ShowReport& request, const CommandEnvironment& env) {
    const auto answer = env.api.get(request_target("/v1/report", {{"since", request.since}, {"by", request.by}}));
    if (const auto code = rejected(env, answer, "cannot read the report")) return *code;
    if (env.json) {
        env.out << answer.body.dump() << "\n";
    } else {
        env.out << render_report(answer.body, env.style, env.utf8);
    }
    return kExitSuccess;
}

int take_backup(const TakeBackup& request, const CommandEnvironment& env) {
    AtomicFile file(request.file);  // removed again unless the whole snapshot arrives
    const auto answer = env.api.download("/v1/backup", file.stream(), kBackupWait);
    if (answer.status != 200) return rejected(env, answer, "cannot take a backup").value_or(kExitNegative);
    const auto bytes = static_cast<std::int64_t>(file.stream().tellp());
    file.commit();
    if (env.json) {
        env.out << nlohmann::json{{"file", request.file}, {"bytes", bytes}}.dump() << "\n";
    } else {
        env.out << "wrote a snapshot of the mirror to " << request.file << " (" << bytes << " bytes)\n";
    }
    return kExitSuccess;
}

}  // namespace extract::cli
