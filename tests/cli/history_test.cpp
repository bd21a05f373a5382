// extractctl's export formats (issue 17): RFC 4180 CSV fields and rows.
#include <gtest/gtest.h>

#include "cli/history.hpp"

namespace extract::cli {
namespace {

using nlohmann::json;

TEST(CliCsv, QuotesOnlyWhatNeedsQuoting) {
    EXPECT_EQ(csv_field("plain"), "plain");
    EXPECT_EQ(csv_field(nullptr), "");
    EXPECT_EQ(csv_field(42), "42");
    EXPECT_EQ(csv_field(true), "true");
    EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
    EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
    EXPECT_EQ(csv_field("cr\rhere"), "\"cr\rhere\"");
    EXPECT_EQ(csv_field(" spaced "), " spaced ");  // RFC 4180: spaces are part of the field
    // Nested JSON goes in as its JSON text, quoted like any other field.
    EXPECT_EQ(csv_field(json{{"project", "atlas"}, {"n", 1}}), "\"{\"\"n\"\":1,\"\"project\"\":\"\"atlas\"\"}\"");
    EXPECT_EQ(csv_field(json::array({1, 2})), "\"[1,2]\"");
    EXPECT_EQ(csv_line({"a", "\"b,c\"", ""}), "a,\"b,c\",\r\n");
}

TEST(CliCsv, BatchRowsFollowTheHeader) {
    const json batch{{"id", "bat_1"},
                     {"status", "completed"},
                     {"engine", nullptr},
                     {"total_items", 3},
                     {"counts", {{"pending", 0}, {"running", 0}, {"succeeded", 2}, {"failed", 1}, {"cancelled", 0}}},
                     {"created_at", "2026-11-30T03:00:00Z"},
                     {"metadata", {{"k", "v"}}},
                     {"options", json::object()}};
    const auto row = csv_row(ExportTable::batches, batch);
    ASSERT_EQ(row.size(), csv_columns(ExportTable::batches).size());
    EXPECT_EQ(csv_line(csv_columns(ExportTable::batches)),
              "id,status,engine,total_items,count_pending,count_running,count_succeeded,count_failed,count_cancelled,"
              "created_at,started_at,completed_at,expires_at,metadata,options\r\n");
    EXPECT_EQ(csv_line(row), "bat_1,completed,,3,0,0,2,1,0,2026-11-30T03:00:00Z,,,,\"{\"\"k\"\":\"\"v\"\"}\",{}\r\n");
    EXPECT_EQ(csv_line(csv_columns(ExportTable::transitions)), "seq,batch_id,from_status,to_status,observed_at\r\n");
    EXPECT_EQ(csv_line(csv_columns(ExportTable::events)), "seq,id,type,batch_id,created_at,data\r\n");
}

TEST(CliReport, BarsScaleToTheLargestGroup) {
    EXPECT_EQ(report_bar(10, 10, false), std::string(30, '#'));
    EXPECT_EQ(report_bar(5, 10, false), std::string(15, '#'));
    EXPECT_EQ(report_bar(1, 1000, false), "#");  // never empty above 0
    EXPECT_EQ(report_bar(0, 10, false), "");
    std::string full;
    for (int i = 0; i < 30; ++i) full += "\u2588";
    EXPECT_EQ(report_bar(10, 10, true), full);
    // 1/16 of 30 cells is 1.875 cells: one full block and seven eighths.
    EXPECT_EQ(report_bar(1, 16, true), "\u2588\u2589");
}

TEST(CliReport, OneAlignedRowPerGroup) {
    const json report{{"object", "report"},
                      {"by", "engine"},
                      {"since", "2026-11-01T00:00:00.000Z"},
                      {"groups",
                       {{{"key", "fast"},
                         {"batches", 4},
                         {"by_status", {{"completed", 3}, {"failed", 1}}},
                         {"items", 40},
                         {"failed_items", 2},
                         {"duration_s", {{"p50", 75.5}, {"p95", 7300.0}}}},
                        {{"key", nullptr},
                         {"batches", 2},
                         {"by_status", {{"running", 2}}},
                         {"items", 3},
                         {"failed_items", 0},
                         {"duration_s", {{"p50", nullptr}, {"p95", nullptr}}}}}}};
    EXPECT_EQ(
        render_report(report, OutputStyle{}, false),
        "batches created since 2026-11-01T00:00:00.000Z, by engine\n"
        "GROUP  BATCHES                                  ITEMS  FAILED_ITEMS    P50    P95  BY_STATUS\n"
        "fast         4  ##############################     40             2  1m15s  2h01m  completed 3, failed 1\n"
        "-            2  ###############                     3             0      -      -  running 2\n");
    EXPECT_EQ(render_report({{"since", "x"}, {"by", "day"}, {"groups", json::array()}}, OutputStyle{}, false),
              "batches created since x, by day\nno batches\n");
}

}  // namespace
}  // namespace extract::cli
