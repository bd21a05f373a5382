#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>

#include "cache/event.hpp"

using namespace extract;
using namespace extract::cache;
using namespace std::chrono;

namespace {

constexpr std::string_view kCrockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

// The 48-bit millisecond time that the first 10 characters of an id's 26 encode.
std::uint64_t id_millis(const std::string& id) {
    std::uint64_t ms = 0;
    for (std::size_t i = 4; i < 14; ++i) ms = ms * 32 + kCrockford.find(id[i]);
    return ms;
}

}  // namespace

TEST(EventType, NamesAreTheSpecs) {
    EXPECT_EQ(event_type_name(EventType::created), "batch.created");
    EXPECT_EQ(event_type_name(EventType::status_changed), "batch.status_changed");
    EXPECT_EQ(event_type_name(EventType::updated), "batch.updated");
    EXPECT_EQ(event_type_name(EventType::removed), "batch.removed");
}

TEST(EventId, IsEvtAnd26CrockfordCharactersCarryingTheTime) {
    EventIdGenerator ids(42);
    const WallTime t{milliseconds{1796007845123}};
    const std::string id = ids.next(t);
    ASSERT_EQ(id.size(), 30U);
    EXPECT_EQ(id.substr(0, 4), "evt_");
    for (std::size_t i = 4; i < id.size(); ++i) EXPECT_NE(kCrockford.find(id[i]), std::string_view::npos) << id;
    EXPECT_LE(id[4], '7');  // 130 bits of characters hold 128: the first carries 3
    EXPECT_EQ(id_millis(id), 1796007845123U);
}

TEST(EventId, SortsByTimeAndStrictlyIncreasesWithinAMillisecondAndWhenTheClockStepsBack) {
    EventIdGenerator ids(7);
    const WallTime t{milliseconds{1796007845123}};
    std::vector<std::string> issued;
    for (int i = 0; i < 1000; ++i) issued.push_back(ids.next(t));
    issued.push_back(ids.next(t - seconds{5}));
    issued.push_back(ids.next(t + milliseconds{1}));
    for (std::size_t i = 1; i < issued.size(); ++i) EXPECT_LT(issued[i - 1], issued[i]) << i;
    EXPECT_EQ(id_millis(issued.back()), 1796007845124U);
}

TEST(EventId, TwoGeneratorsDoNotCollide) {
    EventIdGenerator a;
    EventIdGenerator b;
    const WallTime t{milliseconds{1796007845123}};
    std::set<std::string> seen;
    for (int i = 0; i < 100; ++i) {
        seen.insert(a.next(t));
        seen.insert(b.next(t));
    }
    EXPECT_EQ(seen.size(), 200U);
}

TEST(EventPayload, EmbedsTheRawBatchAsJsonWithTheFieldsOfItsType) {
    const std::string raw = R"({"id":"b1","status":"running","x":[1,2]})";
    const std::string ts = "2026-11-30T03:04:05.123Z";

    const auto created = nlohmann::json::parse(event_payload(EventType::created, ts, raw));
    EXPECT_EQ(created, nlohmann::json::parse(R"({"type":"batch.created","timestamp":"2026-11-30T03:04:05.123Z",
        "data":{"batch":{"id":"b1","status":"running","x":[1,2]},"previous_status":null}})"));

    const auto changed = nlohmann::json::parse(event_payload(EventType::status_changed, ts, raw, "pen\"ding"));
    EXPECT_EQ(changed["type"], "batch.status_changed");
    EXPECT_EQ(changed["data"]["previous_status"], "pen\"ding");
    EXPECT_TRUE(changed["data"]["batch"].is_object());
    // A first sighting's status change comes from nothing.
    const auto first = nlohmann::json::parse(event_payload(EventType::status_changed, ts, raw, std::nullopt));
    EXPECT_EQ(first["type"], "batch.status_changed");
    ASSERT_TRUE(first["data"].contains("previous_status"));
    EXPECT_TRUE(first["data"]["previous_status"].is_null());

    const auto updated = nlohmann::json::parse(event_payload(EventType::updated, ts, raw));
    EXPECT_EQ(updated["data"], nlohmann::json::parse(R"({"batch":{"id":"b1","status":"running","x":[1,2]}})"));

    const auto removed = nlohmann::json::parse(event_payload(EventType::removed, ts, raw));
    EXPECT_EQ(removed["type"], "batch.removed");
    EXPECT_EQ(removed["data"]["removed_at"], ts);
    EXPECT_EQ(removed["data"]["batch"]["id"], "b1");
}

TEST(EventPayload, KeepsTheSpecsKeyOrder) {
    const std::string payload = event_payload(EventType::created, "2026-11-30T03:04:05.123Z", "{}");
    EXPECT_EQ(payload.rfind(R"({"type":"batch.created","timestamp":"2026-11-30T03:04:05.123Z","data":{"batch":{})", 0),
              0U)
        << payload;
}
