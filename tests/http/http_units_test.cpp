// Unit tests of the HTTP engine's pure pieces: request parsing, percent-decoding, routing.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "http/http_message.hpp"
#include "http/router.hpp"

namespace extract::http {
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
    EXPECT_EQ(rejected_status(std::string_view("\x16\x03\x01", 3)), 400);  // TLS: at the first byte
    EXPECT_EQ(rejected_status("GET / FTP/1.0\r\nHost: x"), 400);           // at the end of the line
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
    EXPECT_EQ(rejected_status("GET / HTTP/1.1\n"), 400);                     // the request line
    EXPECT_EQ(rejected_status("GET / HTTP/1.1\r\nHost: x\nX-A: b\n"), 400);  // a header line, head not ended
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
}  // namespace extract::http
