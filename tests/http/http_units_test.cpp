// Unit tests of the pieces under the server: request parsing, query validation, cursors,
// routing.

#include <gtest/gtest.h>

#include <limits>

#include <nlohmann/json.hpp>

#include "api/batch_cursor.hpp"
#include "http/http_message.hpp"
#include "api/query_params.hpp"
#include "http/router.hpp"

namespace extract::api {
namespace {

TEST(ApiRequestParser, ReadsARequestSentInPieces) {
    RequestParser parser;
    const std::string wire = "GET /v1/batches?limit=2 HTTP/1.1\r\nHost: localhost\r\nX-A:  b \r\n\r\n";
    for (std::size_t i = 1; i < wire.size(); ++i) {
        EXPECT_TRUE(std::holds_alternative<RequestParser::NeedMore>(parser.parse(std::string_view(wire).substr(0, i))));
    }
    auto result = parser.parse(wire + "GET /next");
    ASSERT_TRUE(std::holds_alternative<RequestParser::Complete>(result));
    const auto& complete = std::get<RequestParser::Complete>(result);
    EXPECT_EQ(complete.consumed, wire.size());
    EXPECT_EQ(complete.request.method, "GET");
    EXPECT_EQ(complete.request.path, "/v1/batches");
    EXPECT_EQ(complete.request.query, "limit=2");
    EXPECT_EQ(complete.request.header("x-a"), "b");
    EXPECT_TRUE(complete.request.keep_alive);
}

TEST(ApiRequestParser, WaitsForTheWholeBody) {
    RequestParser parser;
    EXPECT_TRUE(std::holds_alternative<RequestParser::NeedMore>(
        parser.parse("POST /v1/sync HTTP/1.1\r\nContent-Length: 4\r\n\r\nab")));
    parser.reset();
    auto result = parser.parse("POST /v1/sync HTTP/1.0\r\nContent-Length: 4\r\n\r\nabcd");
    ASSERT_TRUE(std::holds_alternative<RequestParser::Complete>(result));
    EXPECT_EQ(std::get<RequestParser::Complete>(result).request.body, "abcd");
    EXPECT_FALSE(std::get<RequestParser::Complete>(result).request.keep_alive);  // HTTP/1.0
}

int rejected_status(std::string_view wire) {
    RequestParser parser;
    auto result = parser.parse(wire);
    if (!std::holds_alternative<RequestParser::Rejected>(result)) return 0;
    const auto& reply = std::get<RequestParser::Rejected>(result).reply;
    EXPECT_TRUE(reply.close);
    EXPECT_TRUE(nlohmann::json::parse(reply.body).contains("detail"));
    return reply.status;
}

TEST(ApiRequestParser, RejectsWhatItCannotServe) {
    EXPECT_EQ(rejected_status("GARBAGE\r\n\r\n"), 400);
    EXPECT_EQ(rejected_status(std::string_view("\x16\x03\x01", 3)), 400);   // TLS: at the first byte
    EXPECT_EQ(rejected_status("GET / FTP/1.0\r\nHost: x"), 400);              // at the end of the line
    EXPECT_EQ(rejected_status("GET nopath HTTP/1.1\r\n\r\n"), 400);
    EXPECT_EQ(rejected_status("GET / HTTP/1.1\r\nno colon here\r\n\r\n"), 400);
    EXPECT_EQ(rejected_status("GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"), 400);
    EXPECT_EQ(rejected_status("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), 400);
    EXPECT_EQ(rejected_status("GET / HTTP/2.0\r\n\r\n"), 505);
    EXPECT_EQ(rejected_status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 501);
    EXPECT_EQ(rejected_status("POST / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n"), 413);
    EXPECT_EQ(rejected_status("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"), 413);
    EXPECT_EQ(rejected_status("GET / HTTP/1.1\r\nX: " + std::string(70000, 'a')), 431);
    EXPECT_EQ(rejected_status("GET / HTTP/1.1\r\nX: " + std::string(70000, 'a') + "\r\n\r\n"), 431);
}

// Issue 15: a NUL or control byte in a header value is a 400; so is a bare LF, at once (not a
// 408 after the request timeout).
TEST(ApiRequestParser, RejectsControlBytesInHeaderValuesAndBareLineFeedsAtOnce) {
    EXPECT_EQ(rejected_status(std::string("GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n", 28)), 400);
    EXPECT_EQ(rejected_status("GET / HTTP/1.1\r\nX-A: a\x1b[2Jb\r\n\r\n"), 400);
    EXPECT_EQ(rejected_status("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n"), 400);
    EXPECT_EQ(rejected_status("GET / HTTP/1.1\n"), 400);                           // the request line
    EXPECT_EQ(rejected_status("GET / HTTP/1.1\r\nHost: x\nX-A: b\n"), 400);       // a header line, head not ended
    RequestParser parser;
    EXPECT_TRUE(std::holds_alternative<RequestParser::Complete>(
        parser.parse("GET / HTTP/1.1\r\nX-A: tab\there\r\n\r\n")));  // a tab is a value's own
}

TEST(ApiPercentDecode, DecodesEscapesAndKeepsBrokenOnes) {
    EXPECT_EQ(percent_decode("a%20b+c", true), "a b c");
    EXPECT_EQ(percent_decode("a%20b+c", false), "a b+c");
    EXPECT_EQ(percent_decode("100%", true), "100%");
    EXPECT_EQ(percent_decode("%zz%4", true), "%zz%4");
}

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

TEST(ApiRouter, AnswersNotFoundAndMethodNotAllowedLikeFastApi) {
    Router<int> router;
    router.add("GET", "/v1/batches/{batch_id}", 1);
    router.add("POST", "/v1/deliveries/{id}/retry", 2);
    router.add("POST", "/v1/deliveries/retry", 3);

    auto found = router.match("GET", "/v1/batches/b%2F1");
    ASSERT_TRUE(std::holds_alternative<Router<int>::Match>(found));
    EXPECT_EQ(std::get<Router<int>::Match>(found).route->handler, 1);
    EXPECT_EQ(std::get<Router<int>::Match>(found).params, std::vector<std::string>{"b/1"});
    EXPECT_EQ(std::get<Router<int>::Match>(router.match("POST", "/v1/deliveries/retry")).route->handler, 3);

    auto wrong_method = router.match("DELETE", "/v1/batches/x");
    ASSERT_TRUE(std::holds_alternative<HttpReply>(wrong_method));
    const auto& reply = std::get<HttpReply>(wrong_method);
    EXPECT_EQ(reply.status, 405);
    EXPECT_EQ(reply.headers, (HeaderList{{"Allow", "GET"}}));
    EXPECT_EQ(nlohmann::json::parse(reply.body)["detail"], "Method Not Allowed");

    for (const char* path : {"/v1/batches", "/v1/batches/", "/v1/batches/x/y", "/nothing"}) {
        auto missing = router.match("GET", path);
        ASSERT_TRUE(std::holds_alternative<HttpReply>(missing)) << path;
        EXPECT_EQ(std::get<HttpReply>(missing).status, 404) << path;
    }
}

}  // namespace
}  // namespace extract::api
