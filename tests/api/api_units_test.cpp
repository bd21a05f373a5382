// Unit tests of the API's pure pieces: query validation and cursors.

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "api/batch_cursor.hpp"
#include "api/query_params.hpp"

namespace extract::api {
namespace {

TEST(ApiQueryParams, ValidatesLikeFastApi) {
    QueryParams q("limit=0&limit=500&full=maybe&wait=10x&after=-1&since=yesterday&status=a%2Bb&ignored=1");
    EXPECT_EQ(q.integer("limit", 50, 1, 200), 50);  // the last value wins: 500
    EXPECT_FALSE(q.boolean("full", false));
    EXPECT_FALSE(q.duration("wait"));
    EXPECT_EQ(q.integer("after", 0, 0, 100), 0);
    EXPECT_FALSE(q.timestamp("since"));
    EXPECT_EQ(q.text("status"), "a+b");
    const auto body = nlohmann::json::parse(q.errors().reply().body);
    ASSERT_EQ(body["detail"].size(), 5u);
    EXPECT_EQ(body["detail"][0]["loc"], nlohmann::json({"query", "limit"}));
    EXPECT_EQ(body["detail"][0]["type"], "less_than_equal");
    EXPECT_EQ(body["detail"][0]["ctx"]["le"], 200);
    EXPECT_EQ(body["detail"][0]["input"], "500");
    EXPECT_EQ(body["detail"][1]["type"], "bool_parsing");
    EXPECT_EQ(body["detail"][2]["loc"], nlohmann::json({"query", "wait"}));
    EXPECT_EQ(body["detail"][3]["type"], "greater_than_equal");
    EXPECT_EQ(body["detail"][4]["loc"], nlohmann::json({"query", "since"}));
    EXPECT_EQ(q.errors().reply().status, 422);
}

TEST(ApiQueryParams, AcceptsPydanticBooleans) {
    QueryParams q("a=YES&b=off&c=1&d=f");
    EXPECT_TRUE(q.boolean("a", false));
    EXPECT_FALSE(q.boolean("b", true));
    EXPECT_TRUE(q.boolean("c", false));
    EXPECT_FALSE(q.boolean("d", true));
    EXPECT_TRUE(q.errors().empty());
}

TEST(ApiBatchCursor, RoundTripsAndRefusesEdits) {
    const CursorCodec codec(std::string(64, 'a'));
    const BatchListPosition position{"2026-11-30T03:04:05.123Z", "batch_é\"/+"};
    const auto cursor = codec.batches_cursor(position);
    EXPECT_EQ(cursor.find_first_of("+/= "), std::string::npos) << cursor;  // safe in a query string
    EXPECT_EQ(codec.batches_position(cursor), position);
    // Every one-character edit, including the spare bits of the last base64 character.
    for (std::size_t i = 0; i < cursor.size(); ++i) {
        for (const char c : std::string_view("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")) {
            if (c == cursor[i]) continue;
            std::string edited = cursor;
            edited[i] = c;
            EXPECT_FALSE(codec.batches_position(edited)) << "edit at " << i << " to " << c;
        }
    }
    EXPECT_FALSE(codec.batches_position(""));
    EXPECT_FALSE(codec.batches_position("abc"));
    EXPECT_FALSE(codec.batches_position(cursor.substr(0, cursor.size() - 2)));
    EXPECT_FALSE(codec.batches_position(cursor + "A"));
}

TEST(ApiBatchCursor, ACursorMadeWithAnotherKeyOrForAnotherListIsRefused) {
    const CursorCodec mine(std::string(64, 'a'));
    const CursorCodec theirs(std::string(64, 'b'));
    const BatchListPosition position{"2026-11-30T03:04:05.123Z", "batch_1"};
    EXPECT_FALSE(mine.batches_position(theirs.batches_cursor(position)));
    EXPECT_FALSE(mine.deliveries_position(theirs.deliveries_cursor(42)));
    // The same body under the other kind: a batches cursor is no deliveries cursor.
    EXPECT_FALSE(mine.deliveries_position(mine.batches_cursor(position)));
    EXPECT_FALSE(mine.batches_position(mine.deliveries_cursor(42)));
    // The unkeyed cursors of before (a SHA-256 anyone could compute) are refused.
    EXPECT_FALSE(mine.batches_position("WyIyMDI2LTExLTMwVDAzOjA0OjA1LjEyM1oiLCJiYXRjaF8xIl0.AAAAAAAAAAA"));
    // Two codecs without a key each make their own random one.
    const CursorCodec a(""), b("");
    EXPECT_EQ(a.batches_position(a.batches_cursor(position)), position);
    EXPECT_FALSE(b.batches_position(a.batches_cursor(position)));
}

TEST(ApiDeliveriesCursor, RoundTripsAndRefusesPlainNumbersAndEdits) {
    const CursorCodec codec(std::string(64, 'a'));
    for (const std::int64_t id : {std::int64_t{1}, std::int64_t{4630}, std::numeric_limits<std::int64_t>::max()}) {
        const auto cursor = codec.deliveries_cursor(id);
        EXPECT_EQ(codec.deliveries_position(cursor), id) << cursor;
        std::string edited = cursor;
        edited[1] = edited[1] == 'A' ? 'B' : 'A';
        EXPECT_FALSE(codec.deliveries_position(edited)) << edited;
    }
    EXPECT_FALSE(codec.deliveries_position("4630"));  // the plain ids of before
    EXPECT_FALSE(codec.deliveries_position(""));
}

}  // namespace
}  // namespace extract::api
