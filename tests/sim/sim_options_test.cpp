// extract-sim's command line.

#include <gtest/gtest.h>

#include "sim/sim_options.hpp"

namespace extract::sim {
namespace {

TEST(SimOptions, DefaultsFollowTheSpec) {
    const auto parsed = parse_sim_options({});
    ASSERT_TRUE(parsed.options) << parsed.error;
    const auto& o = *parsed.options;
    EXPECT_EQ(o.port, 0);
    EXPECT_EQ(o.batches, 100u);
    EXPECT_EQ(o.api_key, "sim-key");
    EXPECT_EQ(o.store.order, ListingOrder::newest);
    EXPECT_FALSE(o.store.frozen);
    EXPECT_EQ(o.store.speed, 1.0);
    EXPECT_EQ(o.store.retention, kDefaultRetention);
    EXPECT_FALSE(o.help);
}

TEST(SimOptions, EveryFlagInBothSpellings) {
    const auto parsed =
        parse_sim_options({"--port", "8080", "--batches=5000", "--api-key", "k1", "--seed", "9", "--order", "shuffled",
                           "--frozen", "--speed=2.5", "--retention", "90s", "--threads", "4"});
    ASSERT_TRUE(parsed.options) << parsed.error;
    const auto& o = *parsed.options;
    EXPECT_EQ(o.port, 8080);
    EXPECT_EQ(o.batches, 5000u);
    EXPECT_EQ(o.api_key, "k1");
    EXPECT_EQ(o.store.seed, 9u);
    EXPECT_EQ(o.store.order, ListingOrder::shuffled);
    EXPECT_TRUE(o.store.frozen);
    EXPECT_EQ(o.store.speed, 2.5);
    EXPECT_EQ(o.store.retention, 90'000'000);
    EXPECT_EQ(o.threads, 4);
    EXPECT_EQ(parse_sim_options({"--port", "0", "--port", "7"}).options->port, 7) << "the last one wins";
    EXPECT_TRUE(parse_sim_options({"--help"}).options->help);
    const auto version = parse_sim_options({"--version"});
    ASSERT_TRUE(version.options) << version.error << " (--version takes no value)";
    EXPECT_TRUE(version.options->version);
}

TEST(SimOptions, BadFlagsSayWhatIsWrong) {
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
        {{"--port", "70000"}, "--port"},    {{"--port"}, "needs a value"},
        {{"--batches", "-1"}, "--batches"}, {{"--order", "random"}, "--order"},
        {{"--speed", "0"}, "--speed"},      {{"--retention", "soon"}, "--retention"},
        {{"--frozen=yes"}, "--frozen"},     {{"--bogus", "1"}, "unknown option: --bogus"},
        {{"stray"}, "unexpected argument"}, {{"--api-key", ""}, "--api-key"},
    };
    for (const auto& [args, message] : cases) {
        const auto parsed = parse_sim_options(args);
        EXPECT_FALSE(parsed.options) << args.front();
        EXPECT_NE(parsed.error.find(message), std::string::npos) << parsed.error;
    }
}

}  // namespace
}  // namespace extract::sim
