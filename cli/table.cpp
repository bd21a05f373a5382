#include "cli/table.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace extract::cli {
namespace {

constexpr std::string_view kReset = "\x1b[0m";

// Green: it went well; yellow: it went partly well or is not there yet; red: it failed;
// cyan: work is under way; magenta: stopped on purpose.
constexpr std::array<std::pair<std::string_view, std::string_view>, 11> kColors{{
    {"completed", "\x1b[32m"},
    {"delivered", "\x1b[32m"},
    {"ok", "\x1b[32m"},
    {"partially_failed", "\x1b[33m"},
    {"starting", "\x1b[33m"},
    {"pending", "\x1b[33m"},
    {"running", "\x1b[36m"},
    {"failed", "\x1b[31m"},
    {"degraded", "\x1b[31m"},
    {"cancelled", "\x1b[35m"},
    {"disabled", "\x1b[35m"},
}};

// Cells are ASCII except what the upstream sends (ids, metadata); count UTF-8 code points so
// such text still lines up in a terminal.
std::size_t display_width(std::string_view text) {
    return static_cast<std::size_t>(
        std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

void append_padded(std::string& line, std::string_view cell, std::string_view shown, std::size_t width, Align align) {
    const std::size_t pad = width > display_width(cell) ? width - display_width(cell) : 0;
    if (align == Align::right) line.append(pad, ' ');
    line += shown;
    if (align == Align::left) line.append(pad, ' ');
}

void trim_trailing_spaces(std::string& line) {
    const auto end = line.find_last_not_of(' ');
    line.erase(end == std::string::npos ? 0 : end + 1);
}

}  // namespace

std::string_view status_color(std::string_view word) {
    for (const auto& [name, code] : kColors) {
        if (name == word) return code;
    }
    return {};
}

std::string colorize(std::string_view word, const OutputStyle& style) {
    const std::string_view code = style.color ? status_color(word) : std::string_view{};
    if (code.empty()) return std::string(word);
    return std::string(code) + std::string(word) + std::string(kReset);
}

std::string render_table(const Table& table, const OutputStyle& style, bool header) {
    std::vector<std::size_t> widths;
    for (const auto& column : table.columns) widths.push_back(std::max(column.min_width, display_width(column.header)));
    for (const auto& row : table.rows) {
        for (std::size_t c = 0; c < row.size() && c < widths.size(); ++c)
            widths[c] = std::max(widths[c], display_width(row[c]));
    }

    std::string out;
    const auto append_row = [&](const std::vector<std::string>& cells, bool is_header) {
        std::string line;
        for (std::size_t c = 0; c < table.columns.size(); ++c) {
            const std::string cell = c < cells.size() ? cells[c] : std::string();
            const Column& column = table.columns[c];
            const std::string shown = column.colored && !is_header ? colorize(cell, style) : cell;
            if (c > 0) line += "  ";
            append_padded(line, cell, shown, widths[c], column.align);
        }
        trim_trailing_spaces(line);
        out += line + "\n";
    };
    if (header) {
        std::vector<std::string> headers;
        for (const auto& column : table.columns) headers.push_back(column.header);
        append_row(headers, true);
    }
    for (const auto& row : table.rows) append_row(row, false);
    return out;
}

std::string render_fields(const std::vector<std::pair<std::string, std::string>>& fields, const OutputStyle& style,
                          const std::vector<std::string_view>& colored_keys) {
    std::size_t width = 0;
    for (const auto& [key, value] : fields) width = std::max(width, display_width(key));
    std::string out;
    for (const auto& [key, value] : fields) {
        const bool colored = std::find(colored_keys.begin(), colored_keys.end(), key) != colored_keys.end();
        std::string line;
        append_padded(line, key, key, width, Align::left);
        line += "  " + (colored ? colorize(value, style) : value);
        trim_trailing_spaces(line);
        out += line + "\n";
    }
    return out;
}

}  // namespace extract::cli
