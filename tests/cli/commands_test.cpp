#include "cli/commands.hpp"

#include <gtest/gtest.h>

namespace extract::cli {
namespace {

TEST(CliWaitOutcome, ExitCodeByStatus) {
    EXPECT_EQ(wait_exit_code("completed"), 0);
    EXPECT_EQ(wait_exit_code("partially_failed"), 0);
    EXPECT_EQ(wait_exit_code("failed"), 1);
    EXPECT_EQ(wait_exit_code("cancelled"), 1);
    EXPECT_EQ(wait_exit_code("pending"), std::nullopt);
    EXPECT_EQ(wait_exit_code("running"), std::nullopt);
    EXPECT_EQ(wait_exit_code("some_new_status"), std::nullopt);  // unknown statuses are not terminal
}

}  // namespace
}  // namespace extract::cli
