#pragma once
// What the sync engine's unit tests share: a real mirror file, a scripted upstream, a fake
// clock, and upstream JSON made to order.

#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cache/mirror.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/fake_transport.hpp"
#include "tests/support/live_db.hpp"
#include "tests/support/temp_dir.hpp"
#include "upstream/client.hpp"

namespace extract::testing {

inline nlohmann::json batch_json(const std::string& id, const std::string& status = "running") {
    return {{"object", "batch"},
            {"id", id},
            {"status", status},
            {"counts", nlohmann::json::object()},
            {"total_items", 3},
            {"engine", nullptr},
            {"options", nlohmann::json::object()},
            {"created_at", "2026-11-30T00:00:00Z"},
            {"expires_at", "2026-12-03T00:00:00Z"}};
}

inline std::string page_json(std::vector<nlohmann::json> batches, const nlohmann::json& next = nullptr) {
    return nlohmann::json{{"object", "list"}, {"data", batches}, {"next_cursor", next}}.dump();
}

class SyncFixture : public ::testing::Test {
protected:
    SyncFixture() : mirror((dir / "mirror.db").string(), clock) {}

    static upstream::ClientOptions client_options() {
        upstream::ClientOptions o;
        o.api_key = "k";
        o.api_key_source = "$EXTRACT_API_KEY";
        o.max_requests_per_second = 0;
        o.max_attempts = 2;
        return o;
    }

    std::int64_t count(const std::string& sql) const {
        auto db = open_live_db((dir / "mirror.db").string());
        return db.execAndGet(sql).getInt64();
    }

    TempDir dir;
    FakeClock clock;
    StopSignal stop;
    cache::Mirror mirror;
    FakeTransport transport{&clock};
};

}  // namespace extract::testing
