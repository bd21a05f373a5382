#include "cli/table.hpp"

#include <gtest/gtest.h>

namespace extract::cli {
namespace {

const OutputStyle kPlain{false};
const OutputStyle kColor{true};

TEST(CliTable, AlignsColumnsToTheWidestCell) {
    const Table table{{{"ID"}, {"STATUS", Align::left, true}, {"TOTAL", Align::right}},
                      {{"bat_1", "completed", "3"}, {"bat_22", "running", "120"}}};
    EXPECT_EQ(render_table(table, kPlain),
              "ID      STATUS     TOTAL\n"
              "bat_1   completed      3\n"
              "bat_22  running      120\n");
}

TEST(CliTable, NoTrailingSpacesAndMissingCellsAreBlank) {
    const Table table{{{"A"}, {"B"}}, {{"long value"}, {"x", "y"}}};
    EXPECT_EQ(render_table(table, kPlain),
              "A           B\n"
              "long value\n"
              "x           y\n");
}

TEST(CliTable, WithoutHeaderOnlyRowsWithMinimumWidths) {
    const Table table{{{"SEQ", Align::right, false, 6}, {"TYPE", Align::left, false, 8}, {"X"}}, {{"7", "a", "b"}}};
    EXPECT_EQ(render_table(table, kPlain, /*header=*/false), "     7  a         b\n");
    EXPECT_EQ(render_table(table, kPlain), "   SEQ  TYPE      X\n     7  a         b\n");
}

TEST(CliTable, ColourOnlyWhenAskedAndAlignmentKept) {
    const Table table{{{"STATUS", Align::left, true}, {"N"}}, {{"failed", "1"}, {"mystery", "2"}}};
    const std::string plain = render_table(table, kPlain);
    EXPECT_EQ(plain.find('\x1b'), std::string::npos);

    const std::string colored = render_table(table, kColor);
    // The colour wraps the word; the padding stays outside it so columns still line up.
    EXPECT_NE(colored.find("\x1b[31mfailed\x1b[0m   1\n"), std::string::npos) << colored;
    EXPECT_NE(colored.find("mystery  2\n"), std::string::npos) << colored;  // unknown words stay plain
    EXPECT_EQ(colored.find("STATUS"), 0U);                                  // headers are not coloured
}

TEST(CliTable, StatusColours) {
    EXPECT_EQ(status_color("completed"), "\x1b[32m");
    EXPECT_EQ(status_color("partially_failed"), "\x1b[33m");
    EXPECT_EQ(status_color("failed"), "\x1b[31m");
    EXPECT_EQ(status_color("something_new"), "");
    EXPECT_EQ(colorize("completed", kPlain), "completed");
    EXPECT_EQ(colorize("completed", kColor), "\x1b[32mcompleted\x1b[0m");
}

TEST(CliTable, MultibyteTextLinesUp) {
    const Table table{{{"NAME"}, {"N"}}, {{"é", "1"}, {"ab", "2"}}};
    EXPECT_EQ(render_table(table, kPlain), "NAME  N\né     1\nab    2\n");
}

TEST(CliTable, FieldsAlignTheirKeys) {
    EXPECT_EQ(render_fields({{"id", "bat_1"}, {"status", "failed"}, {"empty", ""}}, kPlain),
              "id      bat_1\n"
              "status  failed\n"
              "empty\n");
    EXPECT_EQ(render_fields({{"status", "failed"}}, kColor, {"status"}), "status  \x1b[31mfailed\x1b[0m\n");
}

}  // namespace
}  // namespace extract::cli
