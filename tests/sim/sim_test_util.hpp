#pragma once
// Helpers shared by the sim's unit tests: paging through a store like a client would.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sim/batch_store.hpp"

namespace extract::sim::testing {

inline constexpr std::array<std::string_view, 4> kTerminal{"completed", "partially_failed", "failed", "cancelled"};

// Every page of the listing with `status` ("" for all), following next_cursor to the end.
// `between_pages` runs after each page (to change the store mid-pass).
template <typename BetweenPages>
std::vector<nlohmann::json> page_through(BatchStore& store, const std::string& status, int limit,
                                         BetweenPages between_pages) {
    std::vector<nlohmann::json> batches;
    ListQuery query{status, std::nullopt, limit};
    for (int pages = 0; pages < 100000; ++pages) {
        const auto page = nlohmann::json::parse(store.list_page(query));
        EXPECT_EQ(page.at("object"), "list");
        EXPECT_LE(page.at("data").size(), static_cast<std::size_t>(limit));
        for (const auto& b : page.at("data")) batches.push_back(b);
        if (page.at("next_cursor").is_null()) return batches;
        query.after = decode_cursor(page.at("next_cursor").get<std::string>());
        EXPECT_TRUE(query.after.has_value());
        between_pages();
    }
    ADD_FAILURE() << "the listing never ended";
    return batches;
}

inline std::vector<nlohmann::json> page_through(BatchStore& store, const std::string& status = "", int limit = 50) {
    return page_through(store, status, limit, [] {});
}

inline std::vector<std::string> ids_of(const std::vector<nlohmann::json>& batches) {
    std::vector<std::string> ids;
    for (const auto& b : batches) ids.push_back(b.at("id").get<std::string>());
    return ids;
}

inline std::vector<nlohmann::json> snapshot_of(BatchStore& store) {
    return nlohmann::json::parse(store.snapshot()).at("batches").get<std::vector<nlohmann::json>>();
}

// The invariants every served batch keeps, whatever its status.
inline void expect_consistent(const nlohmann::json& b) {
    const auto& c = b.at("counts");
    const auto sum = c.at("pending").get<std::int64_t>() + c.at("running").get<std::int64_t>() +
                     c.at("succeeded").get<std::int64_t>() + c.at("failed").get<std::int64_t>() +
                     c.at("cancelled").get<std::int64_t>();
    EXPECT_EQ(sum, b.at("total_items").get<std::int64_t>()) << b.dump();
    const std::string status = b.at("status");
    const bool terminal = std::find(kTerminal.begin(), kTerminal.end(), status) != kTerminal.end();
    EXPECT_EQ(b.at("completed_at").is_null(), !terminal) << b.dump();
    if (status == "pending") {
        EXPECT_TRUE(b.at("started_at").is_null()) << b.dump();
        EXPECT_EQ(c.at("pending"), b.at("total_items")) << b.dump();
    }
    if (status == "running" || status == "completed" || status == "failed" || status == "partially_failed") {
        EXPECT_TRUE(b.at("started_at").is_string()) << b.dump();
    }
    if (status == "completed") {
        EXPECT_EQ(c.at("succeeded"), b.at("total_items")) << b.dump();
    }
    if (status == "partially_failed") {
        EXPECT_GT(c.at("failed").get<int>(), 0) << b.dump();
        EXPECT_GT(c.at("succeeded").get<int>(), 0) << b.dump();
    }
    if (b.at("started_at").is_string()) {
        EXPECT_LE(b.at("created_at").get<std::string>(), b.at("started_at").get<std::string>());
    }
    if (b.at("completed_at").is_string() && b.at("started_at").is_string()) {
        EXPECT_LE(b.at("started_at").get<std::string>(), b.at("completed_at").get<std::string>());
    }
    EXPECT_EQ(b.at("id").get<std::string>().size(), 24u);
    EXPECT_EQ(b.at("object"), "batch");
    EXPECT_TRUE(b.at("options").is_object());
    EXPECT_TRUE(b.at("metadata").is_null() || b.at("metadata").is_object());
    EXPECT_TRUE(b.at("engine").is_null() || b.at("engine").is_string());
}

}  // namespace extract::sim::testing
