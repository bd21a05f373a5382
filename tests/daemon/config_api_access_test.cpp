// [api] allowed_uids / allowed_gids: numbers or names, resolved when the file is loaded; an
// unknown name is an error that names it (file, line, key), never a user silently locked out.

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "daemon/config.hpp"

namespace extract::daemon {
namespace {

LoadedConfig parse_api(const std::string& api_section) {
    const Environment env = [](const std::string& name) -> std::optional<std::string> {
        if (name == "EXTRACT_API_KEY") return "xk_test_key";
        return std::nullopt;
    };
    return parse_config("[api]\n" + api_section, "/etc/extract-sync/test.ini", env);
}

TEST(ApiAccessConfig, NoListsByDefault) {
    const auto loaded = parse_api("");
    ASSERT_TRUE(loaded.ok());
    EXPECT_TRUE(loaded.config->api.allowed_uids.empty());
    EXPECT_TRUE(loaded.config->api.allowed_gids.empty());
}

TEST(ApiAccessConfig, NumbersAndNamesAreResolved) {
    // root / nobody and root / nogroup exist in every Debian system.
    const auto loaded = parse_api("allowed_uids = 1000, root, nobody\nallowed_gids = nogroup,0 , 4242\n");
    ASSERT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors.front().to_string());
    EXPECT_EQ(loaded.config->api.allowed_uids, (std::vector<unsigned>{1000, 0, 65534}));
    EXPECT_EQ(loaded.config->api.allowed_gids, (std::vector<unsigned>{65534, 0, 4242}));
}

TEST(ApiAccessConfig, AnUnknownNameIsAnErrorNamingIt) {
    const auto users = parse_api("allowed_uids = root, no-such-user-xq\n");
    ASSERT_EQ(users.errors.size(), 1u);
    EXPECT_EQ(users.errors[0].line, 2);
    EXPECT_EQ(users.errors[0].key, "api.allowed_uids");
    EXPECT_NE(users.errors[0].message.find("user \"no-such-user-xq\""), std::string::npos) << users.errors[0].message;
    EXPECT_NE(users.errors[0].message.find("does not exist"), std::string::npos) << users.errors[0].message;

    const auto groups = parse_api("allowed_gids = no-such-group-xq\n");
    ASSERT_EQ(groups.errors.size(), 1u);
    EXPECT_NE(groups.errors[0].message.find("group \"no-such-group-xq\""), std::string::npos)
        << groups.errors[0].message;
}

TEST(ApiAccessConfig, EmptyItemsAndTheInvalidIdAreErrors) {
    EXPECT_FALSE(parse_api("allowed_uids = 1000,,1001\n").ok());
    EXPECT_FALSE(parse_api("allowed_uids = 4294967295\n").ok());
    EXPECT_FALSE(parse_api("allowed_gids = -1\n").ok());
}

TEST(ApiAccessConfig, AChangeNeedsARestart) {
    const auto running = parse_api("");
    const auto reloaded = parse_api("allowed_uids = 1000\n");
    ASSERT_TRUE(running.ok() && reloaded.ok());
    EXPECT_EQ(sections_needing_restart(*running.config, *reloaded.config), std::vector<std::string>{"api"});
}

}  // namespace
}  // namespace extract::daemon
