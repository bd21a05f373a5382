#include "upstream/batch_json.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace extract;
using namespace extract::upstream;
using nlohmann::json;

namespace {

json valid_batch(const std::string& id = "bat_1") {
    return {{"object", "batch"},
            {"id", id},
            {"status", "running"},
            {"counts", {{"pending", 1}, {"running", 2}, {"succeeded", 3}, {"failed", 4}, {"cancelled", 5}}},
            {"total_items", 15},
            {"engine", "standard"},
            {"options", {{"ocr", true}, {"pages", {1, 2}}}},
            {"metadata", {{"team", "finance"}}},
            {"created_at", "2026-11-30T03:04:05.123456Z"},
            {"started_at", "2026-11-30T03:04:06Z"},
            {"completed_at", nullptr},
            {"expires_at", "2026-12-03T03:04:05Z"}};
}

std::string page_body(const std::vector<json>& batches, const json& next_cursor = nullptr) {
    return json{{"object", "list"}, {"data", batches}, {"next_cursor", next_cursor}}.dump();
}

// The error of parsing a page whose data[1] is `broken` (data[0] is fine).
std::string error_for(const json& broken) {
    const auto result = parse_batch_page(page_body({valid_batch("bat_0"), broken}));
    if (const auto* error = std::get_if<ParseError>(&result)) return error->message;
    return "(parsed without error)";
}

Batch parsed_batch(const json& object) {
    auto result = parse_batch(object, "data[0]");
    if (auto* error = std::get_if<ParseError>(&result)) {
        ADD_FAILURE() << error->message;
        return {};
    }
    return std::get<Batch>(result);
}

BatchPage parsed_page(const std::string& body) {
    auto result = parse_batch_page(body);
    if (auto* error = std::get_if<ParseError>(&result)) {
        ADD_FAILURE() << error->message;
        return {};
    }
    return std::get<BatchPage>(result);
}

const std::vector<std::string> kRequiredFields{"id",     "status",  "counts",     "total_items",
                                               "engine", "options", "created_at", "expires_at"};

}  // namespace

TEST(BatchJson, ParsesEveryFieldOfAValidPage) {
    const BatchPage page = parsed_page(page_body({valid_batch("bat_a"), valid_batch("bat_b")}, "cur_2"));
    ASSERT_EQ(page.batches.size(), 2u);
    EXPECT_EQ(page.next_cursor, "cur_2");

    const Batch& b = page.batches[0];
    EXPECT_EQ(b.id, "bat_a");
    EXPECT_EQ(b.status, "running");
    EXPECT_EQ(b.counts, (BatchCounts{1, 2, 3, 4, 5}));
    EXPECT_EQ(b.total_items, 15);
    EXPECT_EQ(b.engine, "standard");
    EXPECT_EQ(json::parse(b.raw)["options"].dump(), R"({"ocr":true,"pages":[1,2]})");
    EXPECT_EQ(b.metadata, R"({"team":"finance"})");
    EXPECT_EQ(b.created_at, "2026-11-30T03:04:05.123456Z");  // as received, not reformatted
    EXPECT_EQ(b.started_at, "2026-11-30T03:04:06Z");
    EXPECT_EQ(b.completed_at, std::nullopt);
    EXPECT_EQ(b.expires_at, "2026-12-03T03:04:05Z");
    EXPECT_EQ(json::parse(b.raw), valid_batch("bat_a"));
    EXPECT_EQ(page.batches[1].id, "bat_b");
}

TEST(BatchJson, EmptyPage) {
    const BatchPage page = parsed_page(R"({"object":"list","data":[],"next_cursor":null})");
    EXPECT_TRUE(page.batches.empty());
    EXPECT_EQ(page.next_cursor, std::nullopt);
}

TEST(BatchJson, MissingRequiredFieldIsNamed) {
    for (const auto& field : kRequiredFields) {
        json broken = valid_batch();
        broken.erase(field);
        EXPECT_EQ(error_for(broken), "data[1]." + field + ": missing");
    }
}

TEST(BatchJson, NullRequiredFieldIsNamed) {
    for (const auto& field : kRequiredFields) {
        if (field == "engine") continue;  // engine may be null
        json broken = valid_batch();
        broken[field] = nullptr;
        const std::string message = error_for(broken);
        EXPECT_TRUE(message.starts_with("data[1]." + field + ": expected ")) << message;
        EXPECT_TRUE(message.ends_with("got null")) << message;
    }
}

TEST(BatchJson, WrongTypeIsNamedWithWhatCame) {
    const std::vector<std::pair<json, std::string>> cases{
        {{{"id", 5}}, "data[1].id: expected a string, got number 5"},
        {{{"status", json::array()}}, "data[1].status: expected a string, got array"},
        {{{"counts", "many"}}, "data[1].counts: expected an object, got string"},
        {{{"total_items", "15"}}, "data[1].total_items: expected an integer, got string"},
        {{{"total_items", 1.5}}, "data[1].total_items: expected an integer, got number 1.5"},
        {{{"total_items", true}}, "data[1].total_items: expected an integer, got boolean"},
        {{{"engine", 3}}, "data[1].engine: expected a string or null, got number 3"},
        {{{"options", "{}"}}, "data[1].options: expected an object, got string"},
        {{{"options", json::array()}}, "data[1].options: expected an object, got array"},
        {{{"metadata", "x"}}, "data[1].metadata: expected an object or null, got string"},
        {{{"created_at", 1796007845}}, "data[1].created_at: expected a string, got number 1796007845"},
        {{{"started_at", false}}, "data[1].started_at: expected a string or null, got boolean"},
        {{{"completed_at", json::object()}}, "data[1].completed_at: expected a string or null, got object"},
        {{{"expires_at", nullptr}}, "data[1].expires_at: expected a string, got null"},
        {{{"object", 1}}, "data[1].object: expected a string, got number 1"},
    };
    for (const auto& [patch, expected] : cases) {
        json broken = valid_batch();
        broken.update(patch);
        EXPECT_EQ(error_for(broken), expected);
    }
}

TEST(BatchJson, CountErrorsNameTheCount) {
    for (const char* count : {"pending", "running", "succeeded", "failed", "cancelled"}) {
        json broken = valid_batch();
        broken["counts"][count] = "3";
        auto result = parse_batch_page(page_body({valid_batch(), valid_batch(), valid_batch(), broken}));
        ASSERT_TRUE(std::holds_alternative<ParseError>(result));
        EXPECT_EQ(std::get<ParseError>(result).message,
                  std::string("data[3].counts.") + count + ": expected an integer, got string");

        broken["counts"][count] = nullptr;
        EXPECT_EQ(error_for(broken), std::string("data[1].counts.") + count + ": expected an integer, got null");
        broken["counts"][count] = 0.5;
        EXPECT_EQ(error_for(broken), std::string("data[1].counts.") + count + ": expected an integer, got number 0.5");
    }
}

TEST(BatchJson, AbsentCountsDefaultToZero) {
    json batch = valid_batch();
    batch["counts"] = json::object();
    EXPECT_EQ(parsed_batch(batch).counts, BatchCounts{});
    batch["counts"] = {{"succeeded", 7}};
    EXPECT_EQ(parsed_batch(batch).counts, (BatchCounts{0, 0, 7, 0, 0}));
}

TEST(BatchJson, IntegersAreWholeNumbersThatFit) {
    json batch = valid_batch();
    batch["total_items"] = 2.0;  // JSON Schema's "integer" includes 2.0
    EXPECT_EQ(parsed_batch(batch).total_items, 2);
    batch["total_items"] = -1;
    EXPECT_EQ(parsed_batch(batch).total_items, -1);
    batch["total_items"] = 9223372036854775807LL;
    EXPECT_EQ(parsed_batch(batch).total_items, 9223372036854775807LL);

    for (const json& too_big : {json(18446744073709551615ULL), json(1e20), json(-1e19)}) {
        batch["total_items"] = too_big;
        const auto result = parse_batch(batch, "data[0]");
        ASSERT_TRUE(std::holds_alternative<ParseError>(result)) << too_big.dump();
        EXPECT_TRUE(std::get<ParseError>(result).message.starts_with("data[0].total_items: expected an integer"));
    }
}

TEST(BatchJson, EmptyIdIsRefused) { EXPECT_EQ(error_for(valid_batch("")), "data[1].id: must not be empty"); }

TEST(BatchJson, NonObjectBatchIsNamed) {
    EXPECT_EQ(error_for(json("bat_1")), "data[1]: expected an object, got string");
    EXPECT_EQ(error_for(json(nullptr)), "data[1]: expected an object, got null");
}

TEST(BatchJson, EngineMayBeNull) {
    json batch = valid_batch();
    batch["engine"] = nullptr;
    EXPECT_EQ(parsed_batch(batch).engine, std::nullopt);
}

TEST(BatchJson, MetadataNullAbsentOrObject) {
    json batch = valid_batch();
    batch["metadata"] = nullptr;
    EXPECT_EQ(parsed_batch(batch).metadata, std::nullopt);
    batch.erase("metadata");
    EXPECT_EQ(parsed_batch(batch).metadata, std::nullopt);
    batch["metadata"] = json::object();
    EXPECT_EQ(parsed_batch(batch).metadata, "{}");
    batch["metadata"] = {{"z", 1}, {"a", {{"y", nullptr}, {"b", "c"}}}};
    EXPECT_EQ(parsed_batch(batch).metadata, R"({"a":{"b":"c","y":null},"z":1})");
}

TEST(BatchJson, OptionalFieldsMayBeAbsent) {
    json batch = valid_batch();
    for (const char* field : {"object", "metadata", "started_at", "completed_at"}) batch.erase(field);
    const Batch b = parsed_batch(batch);
    EXPECT_EQ(b.started_at, std::nullopt);
    EXPECT_EQ(b.completed_at, std::nullopt);
    EXPECT_EQ(b.metadata, std::nullopt);
}

TEST(BatchJson, UnknownFieldsAreKeptInRaw) {
    json batch = valid_batch();
    batch["priority"] = "high";
    batch["counts"]["paused"] = 9;
    batch["future"] = {{"nested", {1, 2, 3}}};
    const Batch b = parsed_batch(batch);
    const json raw = json::parse(b.raw);
    EXPECT_EQ(raw["priority"], "high");
    EXPECT_EQ(raw["counts"]["paused"], 9);
    EXPECT_EQ(raw["future"]["nested"], json({1, 2, 3}));
    EXPECT_EQ(raw, batch);
}

TEST(BatchJson, RawIsCanonical) {
    const std::string one = R"({"data":[{"status":"pending","id":"b","counts":{"running":0,"pending":1},
        "total_items":1,"engine":null,"options":{"z":1,"a":2},"created_at":"c","expires_at":"e"}]})";
    const std::string two = R"({ "data" : [ { "id" : "b", "counts" : { "pending" : 1, "running" : 0 },
        "created_at" : "c", "engine" : null, "expires_at" : "e", "options" : { "a" : 2, "z" : 1 },
        "status" : "pending", "total_items" : 1 } ] })";
    const Batch a = parsed_page(one).batches.at(0);
    const Batch b = parsed_page(two).batches.at(0);
    EXPECT_EQ(a.raw, b.raw);
    EXPECT_EQ(a.raw, R"({"counts":{"pending":1,"running":0},"created_at":"c","engine":null,"expires_at":"e",)"
                     R"("id":"b","options":{"a":2,"z":1},"status":"pending","total_items":1})");
    EXPECT_EQ(a, b);
}

TEST(BatchJson, NextCursorNullAbsentOrString) {
    const std::string data = R"("data":[])";
    EXPECT_EQ(parsed_page("{" + data + "}").next_cursor, std::nullopt);
    EXPECT_EQ(parsed_page("{" + data + R"(,"next_cursor":null})").next_cursor, std::nullopt);
    EXPECT_EQ(parsed_page("{" + data + R"(,"next_cursor":"eyJvIjoxfQ=="})").next_cursor, "eyJvIjoxfQ==");

    auto number = parse_batch_page("{" + data + R"(,"next_cursor":5})");
    ASSERT_TRUE(std::holds_alternative<ParseError>(number));
    EXPECT_EQ(std::get<ParseError>(number).message, "next_cursor: expected a string or null, got number 5");
    auto empty = parse_batch_page("{" + data + R"(,"next_cursor":""})");
    ASSERT_TRUE(std::holds_alternative<ParseError>(empty));
    EXPECT_EQ(std::get<ParseError>(empty).message, "next_cursor: must not be empty");
}

TEST(BatchJson, EveryTruncationOfAPageIsAnError) {
    const std::string body = page_body({valid_batch("bat_a"), valid_batch("bat_b")}, "cur");
    for (std::size_t length = 0; length < body.size(); ++length) {
        const auto result = parse_batch_page(std::string_view(body).substr(0, length));
        ASSERT_TRUE(std::holds_alternative<ParseError>(result)) << "prefix of " << length << " bytes parsed";
    }
    const auto cut = parse_batch_page(std::string_view(body).substr(0, body.size() / 2));
    const std::string& message = std::get<ParseError>(cut).message;
    EXPECT_TRUE(message.starts_with("body is not JSON (")) << message;
}

TEST(BatchJson, MalformedBodiesAreErrorsNotExceptions) {
    const std::vector<std::pair<std::string, std::string>> cases{
        {"", "body: empty"},
        {"null", "body: expected an object, got null"},
        {"[]", "body: expected an object, got array"},
        {"{}", "data: missing"},
        {R"({"data":null})", "data: expected an array, got null"},
        {R"({"data":{}})", "data: expected an array, got object"},
        {R"({"data":[1]})", "data[0]: expected an object, got number 1"},
    };
    for (const auto& [body, expected] : cases) {
        const auto result = parse_batch_page(body);
        ASSERT_TRUE(std::holds_alternative<ParseError>(result)) << body;
        EXPECT_EQ(std::get<ParseError>(result).message, expected);
    }
    for (const std::string body : {"<html>502 Bad Gateway</html>", "{\"data\":[]}garbage", "{\"data\":[\"\xff\"]}"}) {
        const auto result = parse_batch_page(body);
        ASSERT_TRUE(std::holds_alternative<ParseError>(result)) << body;
        const std::string& message = std::get<ParseError>(result).message;
        EXPECT_TRUE(message.starts_with("body is not JSON")) << message;
        // The message may end up in JSON (health, sync_runs): it must be valid text.
        EXPECT_NO_THROW((void)json(message).dump());
    }
}

TEST(BatchJson, DetailLeavesItemsOutOfTheBatch) {
    json detail = valid_batch("bat_9");
    detail["items"] = json::array({{{"item_id", "it_1"}}});
    detail["next_cursor"] = "items_cursor";
    const auto result = parse_batch_detail(detail.dump());
    ASSERT_TRUE(std::holds_alternative<Batch>(result)) << std::get<ParseError>(result).message;
    const Batch& b = std::get<Batch>(result);
    EXPECT_EQ(b.id, "bat_9");
    EXPECT_EQ(json::parse(b.raw), valid_batch("bat_9"));
    // The same batch listed and fetched alone mirrors identically.
    EXPECT_EQ(b, parsed_page(page_body({valid_batch("bat_9")})).batches.at(0));
}

TEST(BatchJson, DetailErrorsNameTheFieldWithoutPrefix) {
    json detail = valid_batch();
    detail["counts"]["failed"] = "x";
    const auto result = parse_batch_detail(detail.dump());
    ASSERT_TRUE(std::holds_alternative<ParseError>(result));
    EXPECT_EQ(std::get<ParseError>(result).message, "counts.failed: expected an integer, got string");

    const auto list = parse_batch_detail("[]");
    ASSERT_TRUE(std::holds_alternative<ParseError>(list));
    EXPECT_EQ(std::get<ParseError>(list).message, "batch: expected an object, got array");
    EXPECT_TRUE(std::holds_alternative<ParseError>(parse_batch_detail(R"({"id":"b")")));
}

// Issue 15: what the mirror cannot store as it is comes out set aside, never a crash or a page
// that fails every pass.
namespace {

// `depth` levels of arrays: "[[[…]]]".
std::string nested_arrays(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// valid_batch(id) as text, with the member `field` replaced by the raw JSON text `value`.
std::string batch_text_with(const std::string& id, const std::string& field, const std::string& value) {
    json batch = valid_batch(id);
    batch[field] = "@@";
    std::string text = batch.dump();
    text.replace(text.find("\"@@\""), 4, value);
    return text;
}

std::string page_of_texts(const std::vector<std::string>& batches) {
    std::string body = R"({"object":"list","data":[)";
    for (std::size_t i = 0; i < batches.size(); ++i) body += (i ? "," : "") + batches[i];
    return body + R"(],"next_cursor":null})";
}

}  // namespace

TEST(BatchSetAside, NestingFarBeyondTheLimitSetsOneBatchAsideWithoutRecursing) {
    // 200,000 levels: a recursive dump or copy of it overflows the stack (the crash of issue 15).
    const std::string body = page_of_texts(
        {valid_batch("bat_0").dump(), batch_text_with("bat_deep", "metadata", "{\"k\":" + nested_arrays(200000) + "}"),
         valid_batch("bat_2").dump()});
    const BatchPage page = parsed_page(body);
    ASSERT_EQ(page.batches.size(), 3u);
    EXPECT_FALSE(page.batches[0].set_aside);
    EXPECT_EQ(page.batches[1].id, "bat_deep");
    ASSERT_TRUE(page.batches[1].set_aside);
    EXPECT_EQ(*page.batches[1].set_aside, "it nests deeper than 64 levels");
    EXPECT_FALSE(page.batches[2].set_aside);
    EXPECT_EQ(page.batches[2].raw, valid_batch("bat_2").dump());
}

TEST(BatchSetAside, TheLimitCountsTheBatchAsLevelOne) {
    // options is level 2; objects inside it reach level 64 exactly, or 65.
    auto options_nesting = [](int levels) {
        std::string text;
        for (int i = 0; i < levels; ++i) text += "{\"a\":";
        text += "1";
        for (int i = 0; i < levels; ++i) text += "}";
        return text;
    };
    const BatchPage page = parsed_page(page_of_texts({batch_text_with("bat_64", "options", options_nesting(63)),
                                                      batch_text_with("bat_65", "options", options_nesting(64))}));
    ASSERT_EQ(page.batches.size(), 2u);
    EXPECT_FALSE(page.batches[0].set_aside);
    EXPECT_TRUE(page.batches[1].set_aside);
    EXPECT_EQ(page.batches[1].id, "bat_65");
}

TEST(BatchSetAside, IdsWithControlBytesOrOverTheLengthLimitAreSetAside) {
    const std::string longest(kMaxBatchIdBytes, 'x');
    const BatchPage page =
        parsed_page(page_body({valid_batch(std::string("bat_x\0y", 7)), valid_batch("bat_\n\x1b[2J"),
                               valid_batch(longest), valid_batch(longest + "x"), valid_batch("bat_ok")}));
    ASSERT_EQ(page.batches.size(), 5u);
    EXPECT_EQ(page.batches[0].id, std::string("bat_x\0y", 7));  // kept whole, never cut at the NUL
    EXPECT_EQ(page.batches[0].set_aside, "its id contains a NUL or control byte");
    EXPECT_EQ(page.batches[1].set_aside, "its id contains a NUL or control byte");
    EXPECT_FALSE(page.batches[2].set_aside);
    EXPECT_EQ(page.batches[3].set_aside, "its id is 257 bytes long, more than 256");
    EXPECT_FALSE(page.batches[4].set_aside);
}

TEST(BatchSetAside, ADeepUnknownTopLevelMemberOfAPageIsIgnored) {
    const std::string body = R"({"object":"list","extra":)" + nested_arrays(100000) + R"(,"data":[)" +
                             valid_batch("bat_1").dump() + R"(],"next_cursor":null})";
    const BatchPage page = parsed_page(body);
    ASSERT_EQ(page.batches.size(), 1u);
    EXPECT_FALSE(page.batches[0].set_aside);
}

TEST(BatchSetAside, ATooDeepBatchWithoutAnIdStillFailsThePage) {
    json no_id = valid_batch("x");
    no_id.erase("id");
    std::string text = no_id.dump();
    text.insert(1, "\"deep\":" + nested_arrays(100) + ",");
    const auto result = parse_batch_page(page_of_texts({valid_batch("bat_0").dump(), text}));
    ASSERT_TRUE(std::holds_alternative<ParseError>(result));
    EXPECT_EQ(std::get<ParseError>(result).message, "data[1].id: missing or not a non-empty string");
}

TEST(BatchSetAside, ADeepBatchDetailIsSetAside) {
    std::string body = batch_text_with("bat_deep", "metadata", "{\"k\":" + nested_arrays(100000) + "}");
    const auto result = parse_batch_detail(body);
    ASSERT_TRUE(std::holds_alternative<Batch>(result));
    EXPECT_EQ(std::get<Batch>(result).id, "bat_deep");
    EXPECT_TRUE(std::get<Batch>(result).set_aside);

    const auto nul = parse_batch_detail(valid_batch(std::string("a\0b", 3)).dump());
    ASSERT_TRUE(std::holds_alternative<Batch>(nul));
    EXPECT_TRUE(std::get<Batch>(nul).set_aside);
}
