#include "cli/daemon_api.hpp"

#include <gtest/gtest.h>

namespace extract::cli {
namespace {

using nlohmann::json;

TEST(CliDaemonApi, TargetsEncodeQueryAndPath) {
    EXPECT_EQ(request_target("/v1/batches", {{"status", "running"}, {"cursor", std::nullopt}, {"limit", "5"}}),
              "/v1/batches?status=running&limit=5");
    EXPECT_EQ(request_target("/v1/batches", {{"created_after", "2026-11-30T02:00:00+02:00"}}),
              "/v1/batches?created_after=2026-11-30T02%3A00%3A00%2B02%3A00");
    EXPECT_EQ(request_target("/v1/stats", {}), "/v1/stats");
    EXPECT_EQ(path_segment("a/b c?"), "a%2Fb%20c%3F");
}

TEST(CliDaemonApi, ErrorDetailInBothFastApiShapes) {
    EXPECT_EQ(error_detail({404, {{"detail", "batch not found"}}}), "batch not found");
    EXPECT_EQ(error_detail({422,
                            {{"detail", json::array({{{"loc", {"query", "limit"}}, {"msg", "too big"}, {"type", "x"}},
                                                     {{"loc", {"query", "after"}}, {"msg", "not a number"}}})}}}),
              "query.limit: too big; query.after: not a number");
    EXPECT_EQ(error_detail({500, nullptr}), "HTTP 500");
}

}  // namespace
}  // namespace extract::cli
