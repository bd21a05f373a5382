#pragma once
// extractctl export, report and backup (issue 17): the commands that read the mirror's whole
// history through the API, page by page, and write it somewhere else.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/command_line.hpp"
#include "cli/commands.hpp"
#include "cli/table.hpp"

namespace extract::cli {

// One CSV field (RFC 4180): null is empty; strings as they are; objects and arrays as JSON
// text; quoted, with quotes doubled, when it holds a comma, a quote, CR or LF.
std::string csv_field(const nlohmann::json& value);
// Fields joined by commas, ended by CRLF.
std::string csv_line(const std::vector<std::string>& fields);

// The CSV columns of each table, in order (the mirror's column names, SPEC §4).
const std::vector<std::string>& csv_columns(ExportTable table);
// The row of `object` (as the API answers it) under csv_columns(table).
std::vector<std::string> csv_row(ExportTable table, const nlohmann::json& object);

// One group's bar, as long against `largest` as `value` is (30 cells for the largest; never
// empty for a value above 0): Unicode blocks to the eighth of a cell, or '#' when `unicode`
// is off (a pipe, a non-UTF-8 terminal).
std::string report_bar(std::int64_t value, std::int64_t largest, bool unicode);
// GET /v1/report as a table: a line saying what is counted, then one row per group.
std::string render_report(const nlohmann::json& report, const OutputStyle& style, bool unicode);

int export_rows(const ExportRows& request, const CommandEnvironment& env);
int show_report(const ShowReport& request, const CommandEnvironment& env);
int take_backup(const TakeBackup& request, const CommandEnvironment& env);

}  // namespace extract::cli
