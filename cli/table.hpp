#pragma once
// Aligned plain-text tables, with status words coloured (ANSI) only when asked: the one
// place that decides how extractctl's human output is laid out.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace extract::cli {

struct OutputStyle {
    bool color = false;  // stdout is a terminal and NO_COLOR is not set
};

enum class Align { left, right };

struct Column {
    std::string header;
    Align align = Align::left;
    bool colored = false;       // the cells are status words (see status_color)
    std::size_t min_width = 0;  // for rows printed as they arrive (events --follow)
};

struct Table {
    std::vector<Column> columns;
    std::vector<std::vector<std::string>> rows;
};

// The ANSI SGR code for a status, delivery state or health word ("" for none).
std::string_view status_color(std::string_view word);
// `word` wrapped in its colour when style.color is on and it has one.
std::string colorize(std::string_view word, const OutputStyle& style);

// Columns separated by two spaces, each as wide as its widest cell (or its min_width); no
// trailing spaces. Without `header`, only the rows (later batches of a followed stream).
std::string render_table(const Table& table, const OutputStyle& style, bool header = true);

// "key  value" lines with the keys aligned; values of `colored_keys` are coloured.
std::string render_fields(const std::vector<std::pair<std::string, std::string>>& fields, const OutputStyle& style,
                          const std::vector<std::string_view>& colored_keys = {});

}  // namespace extract::cli
