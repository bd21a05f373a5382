// The fast path of parse_batch_page (issue 14: parsing was 40% of a first sync's CPU) against
// its reference, the nlohmann tree: wherever the scanner answers, the answer is the tree's, to
// the byte of every raw text; where it gives up, parse_batch_page still answers as the tree.

#include "upstream/batch_page_scanner.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "upstream/batch_json.hpp"

using namespace extract;
using namespace extract::upstream;

namespace {

// A page as a server that does not sort its keys would write it (Python's json, Go's structs):
// the batch's fields in the contract's order, spaces after separators.
std::string batch_text(const std::string& id, const std::string& metadata = R"({"team": "finance", "run": 7})",
                       const std::string& options = R"({"pages": [1, 2, {"z": null, "a": true}], "ocr": false})") {
    return R"({"id": ")" + id +
           R"(", "object": "batch", "status": "running", "counts": {"succeeded": 3, "pending": 1, "running": 2, "failed": 0, "cancelled": 0}, "total_items": 6, "engine": null, "options": )" +
           options + R"(, "metadata": )" + metadata +
           R"(, "created_at": "2026-11-30T03:04:05.123456Z", "started_at": "2026-11-30T03:04:06Z", "completed_at": null, "expires_at": "2026-12-03T03:04:05Z"})";
}

std::string page_text(const std::vector<std::string>& batches, const std::string& cursor = "null") {
    std::string data;
    for (const auto& b : batches) data += (data.empty() ? "" : ", ") + b;
    return R"({"object": "list", "data": [)" + data + R"(], "next_cursor": )" + cursor + "}";
}

// The scanner's answer equals the tree's; false (with a failure) when it does not, or gave up.
void expect_same(const std::string& body, bool scanner_must_answer = true) {
    const auto fast = scan_batch_page(body);
    const auto tree = parse_batch_page_tree(body);
    if (!fast) {
        if (scanner_must_answer) ADD_FAILURE() << "the scanner gave up on\n" << body;
        return;
    }
    const auto* reference = std::get_if<BatchPage>(&tree);
    ASSERT_NE(reference, nullptr) << "the scanner accepted what the tree refuses: "
                                  << std::get<ParseError>(tree).message << "\n"
                                  << body;
    ASSERT_EQ(fast->batches.size(), reference->batches.size()) << body;
    for (std::size_t i = 0; i < fast->batches.size(); ++i) {
        EXPECT_EQ(fast->batches[i].raw, reference->batches[i].raw) << body;
        EXPECT_EQ(fast->batches[i], reference->batches[i]) << body;
    }
    EXPECT_EQ(fast->next_cursor, reference->next_cursor) << body;
}

TEST(BatchPageScanner, ReadsAnUnsortedPageExactlyAsTheTreeDoes) {
    expect_same(page_text({batch_text("bat_1"), batch_text("bat_2")}, R"("cur_2")"));
    expect_same(page_text({}));
    expect_same(R"({"data":[],"next_cursor":null,"has_more":false,"url":"/v1/batches"})");
    expect_same(page_text({batch_text("bat_1", "null", "{}")}));
    expect_same(page_text({batch_text("bat_1", "{}", "[]")}) /* options not an object: the tree refuses */, false);
}

TEST(BatchPageScanner, WritesStringsAsTheTreeDoes) {
    const std::vector<std::string> values{R"("plain")",
                                          R"("quote \" backslash \\ slash \/ done")",
                                          R"("\b\f\n\r\t")",
                                          R"("\u0000\u001f\u007f")",
                                          R"("\u00e9t\u00E9 \u20ac \ud83d\ude00")",
                                          "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
                                          R"("")",
                                          R"("\u0022\u005c\u002f")"};
    for (const auto& v : values) {
        expect_same(page_text({batch_text("bat_1", R"({"note": )" + v + R"(, )" + v + R"(: 1})")}));
    }
}

TEST(BatchPageScanner, LeavesToTheTreeWhatItDoesNotWriteTheSameWay) {
    const std::vector<std::string> metadata{R"({"ratio": 0.5})",   R"({"n": 1e3})",
                                            R"({"n": -0})",        R"({"n": 1234567890123456789})",
                                            R"({"a": 1, "a": 2})", "{\"bad\": \"\xc3\x28\"}",
                                            "{\"ctl\": \"\x01\"}", R"({"s": "\ud800"})",
                                            R"({"n": 01})"};
    for (const auto& m : metadata) {
        const std::string body = page_text({batch_text("bat_1", m)});
        EXPECT_FALSE(scan_batch_page(body)) << body;
        const auto general = parse_batch_page(body), tree = parse_batch_page_tree(body);
        EXPECT_EQ(general.index(), tree.index()) << body;
        if (const auto* page = std::get_if<BatchPage>(&general)) {
            EXPECT_EQ(page->batches, std::get<BatchPage>(tree).batches) << body;
        }
    }
    std::string deep = "1";
    for (int i = 0; i < kMaxBatchNesting; ++i) deep = "[" + deep + "]";
    const std::string body = page_text({batch_text("bat_1", R"({"deep": )" + deep + "}")});
    EXPECT_FALSE(scan_batch_page(body));
    const auto page = std::get<BatchPage>(parse_batch_page(body));
    EXPECT_TRUE(page.batches.at(0).set_aside) << "the tree sets a batch that nests too deep aside";
}

TEST(BatchPageScanner, GivesUpOnEveryBrokenPageTheTreeRefuses) {
    const std::string good = page_text({batch_text("bat_1")}, R"("c")");
    for (std::size_t cut = 0; cut < good.size(); cut += 7) {
        const std::string body = good.substr(0, cut);
        EXPECT_FALSE(scan_batch_page(body)) << body;
    }
    for (const std::string& body :
         {good + "x", std::string(R"({"data": {}})"), std::string(R"({"data": [1]})"),
          std::string(R"({"next_cursor": null})"), std::string(R"({"data": [], "next_cursor": ""})"),
          std::string(R"({"data": [], "next_cursor": 5})"), std::string(R"({"data": [], "data": []})"),
          std::string("[]")}) {
        EXPECT_FALSE(scan_batch_page(body)) << body;
    }
    // A field of the wrong type, or an empty id: the tree names it.
    const std::vector<std::pair<std::string, std::string>> edits{{R"("status": "running")", R"("status": 5)"},
                                                                 {R"("total_items": 6)", R"("total_items": "6")"},
                                                                 {R"("pending": 1)", R"("pending": null)"},
                                                                 {R"("engine": null)", R"("engine": 5)"},
                                                                 {R"("started_at": "2026-11-30T03:04:06Z")",
                                                                  R"("started_at": 5)"},
                                                                 {R"("options": {)", R"("options": 5, "x": {)"},
                                                                 {R"("id": "bat_1")", R"("id": "")"},
                                                                 {R"("expires_at": "2026-12-03T03:04:05Z")",
                                                                  R"("expires": "2026-12-03T03:04:05Z")"}};
    for (const auto& [from, to] : edits) {
        std::string batch = batch_text("bat_1");
        ASSERT_NE(batch.find(from), std::string::npos) << from;
        batch.replace(batch.find(from), from.size(), to);
        const std::string body = page_text({batch});
        EXPECT_FALSE(scan_batch_page(body)) << batch;
        EXPECT_TRUE(std::holds_alternative<ParseError>(parse_batch_page(body))) << batch;
    }
}

// Found by the batch_page fuzzer: nlohmann throws out_of_range, not parse_error, for a number
// past a double's range, and the tree let it escape (a crash of the daemon on a hostile page).
TEST(BatchPageScanner, ANumberPastADoublesRangeIsAParseErrorNotACrash) {
    for (const std::string& body :
         {std::string(R"({"data": [], "x": 1e400})"), page_text({batch_text("bat_1", R"({"n": -7e1841})")}),
          std::string("7777770024696e1841")}) {
        const auto page = parse_batch_page(body);
        ASSERT_TRUE(std::holds_alternative<ParseError>(page)) << body;
        EXPECT_NE(std::get<ParseError>(page).message.find("number overflow"), std::string::npos)
            << std::get<ParseError>(page).message;
        EXPECT_TRUE(std::holds_alternative<ParseError>(parse_batch_detail(body))) << body;
    }
}

TEST(BatchPageScanner, SetsAsideIdsTheMirrorCannotKeyAsTheTreeDoes) {
    expect_same(page_text({batch_text("bat\\u0001x"), batch_text(std::string(300, 'a'))}));
    const auto page = *scan_batch_page(page_text({batch_text("bat\\u0001x")}));
    EXPECT_TRUE(page.batches.at(0).set_aside);
}

// Random objects with random key orders, strings of random bytes and escapes, nested values:
// wherever the scanner answers, it answers as the tree; it answers for most of them.
TEST(BatchPageScanner, AgreesWithTheTreeOnRandomPages) {
    std::mt19937 random(7);
    const auto pick = [&](int n) { return static_cast<int>(random() % static_cast<unsigned>(n)); };
    std::function<std::string(int)> value = [&](int depth) -> std::string {
        switch (pick(depth > 3 ? 4 : 6)) {
            case 0: return std::to_string(static_cast<long long>(random() % 2000000) - 1000000);
            case 1: {
                std::string s = "\"";
                for (int i = pick(12); i > 0; --i) {
                    switch (pick(8)) {
                        case 0: s += "\\n"; break;
                        case 1: s += "\\u00" + std::string(1, "0123456789abcdef"[pick(16)]) + "a"; break;
                        case 2: s += "\xc3\xa9"; break;
                        case 3: s += "\\\""; break;
                        default: s += static_cast<char>('a' + pick(26));
                    }
                }
                return s + "\"";
            }
            case 2: return pick(2) ? "true" : "null";
            case 3: return "false";
            case 4: {
                std::string a = "[";
                for (int i = pick(4); i > 0; --i) a += (a.size() > 1 ? ", " : "") + value(depth + 1);
                return a + "]";
            }
            default: {
                std::vector<std::string> keys;
                for (int i = pick(6); i > 0; --i)
                    keys.push_back(std::string(1, static_cast<char>('a' + pick(26))) + std::to_string(i));
                std::string o = "{";
                for (const auto& k : keys) o += (o.size() > 1 ? ", " : "") + ("\"" + k + "\": ") + value(depth + 1);
                return o + "}";
            }
        }
    };
    int answered = 0;
    constexpr int kPages = 300;
    for (int p = 0; p < kPages; ++p) {
        std::vector<std::string> batches;
        for (int b = pick(5); b >= 0; --b) {
            std::string metadata = value(1);
            if (metadata.front() != '{') metadata = "{\"v\": " + metadata + "}";
            std::string options = value(1);
            if (options.front() != '{') options = "{\"o\": " + options + "}";
            batches.push_back(batch_text("bat_" + std::to_string(p) + "_" + std::to_string(b), metadata, options));
        }
        const std::string body = page_text(batches, pick(2) ? "null" : "\"next\"");
        if (scan_batch_page(body)) ++answered;
        expect_same(body, false);
    }
    EXPECT_EQ(answered, kPages) << "random keys repeat only by their number suffix, never within an object";
}

}  // namespace
