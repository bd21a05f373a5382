#include "core/json_text.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>

using extract::append_json_string;

namespace {

std::string as_json_string(std::string_view value) {
    std::string out;
    append_json_string(out, value);
    return out;
}

// The batch page reader writes a batch's canonical text with it, and that text must be the
// byte-for-byte twin of nlohmann's dump (Batch::raw is compared across passes).
TEST(JsonText, WritesEveryAsciiByteAsNlohmannDumpDoes) {
    for (int c = 0; c < 0x80; ++c) {
        const std::string value = "a" + std::string(1, static_cast<char>(c)) + "b";
        EXPECT_EQ(as_json_string(value), nlohmann::json(value).dump()) << c;
    }
}

TEST(JsonText, KeepsUtf8AndAppendsToWhatIsThere) {
    const std::string value = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \"\\\n";
    EXPECT_EQ(as_json_string(value), nlohmann::json(value).dump());
    std::string out = "[";
    append_json_string(out, "");
    EXPECT_EQ(out, "[\"\"");
}

}  // namespace
