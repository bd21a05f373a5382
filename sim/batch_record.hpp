#pragma once
// One simulated batch as extract-sim keeps it in memory: compact typed state, the plan of
// how it moves by itself, and its JSON text exactly as served (rebuilt on every change).

#include <array>
#include <cstdint>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace extract::sim {

// Microseconds: since the Unix epoch for wall times, on the lifecycle clock for plans.
using Micros = std::int64_t;
inline constexpr Micros kNever = std::numeric_limits<Micros>::max();
inline constexpr Micros kNull = std::numeric_limits<Micros>::min();  // a timestamp served as null

inline constexpr std::string_view kBatchIdPrefix = "bat_";
inline constexpr std::size_t kBatchIdLength = 24;  // "bat_" + 20 alphanumerics

// Index into the store's status names. The lifecycle produces the first six; the control
// API may introduce any other string.
using StatusId = std::uint8_t;
namespace status {
inline constexpr StatusId pending = 0;
inline constexpr StatusId running = 1;
inline constexpr StatusId completed = 2;
inline constexpr StatusId partially_failed = 3;
inline constexpr StatusId failed = 4;
inline constexpr StatusId cancelled = 5;
inline constexpr std::array<std::string_view, 6> kLifecycleNames{"pending",          "running", "completed",
                                                                 "partially_failed", "failed",  "cancelled"};
}  // namespace status

struct ItemCounts {
    std::int32_t pending = 0;
    std::int32_t running = 0;
    std::int32_t succeeded = 0;
    std::int32_t failed = 0;
    std::int32_t cancelled = 0;
    bool operator==(const ItemCounts&) const = default;
};

// How a batch moves by itself, in lifecycle time: pending until `start_at`, running until
// `end_at` with `progress_steps` count updates evenly in between, then `final_status` with
// `final_succeeded` / `final_failed` (the rest cancelled when the batch is cancelled).
struct LifecyclePlan {
    Micros start_at = kNever;
    Micros end_at = kNever;
    std::int32_t final_succeeded = 0;
    std::int32_t final_failed = 0;
    StatusId final_status = status::completed;
    std::uint8_t progress_steps = 0;
    bool cancelled_while_pending = false;
};

struct BatchRecord {
    std::array<char, kBatchIdLength> id{};
    std::uint32_t generation = 0;  // bumped when the slot is reused, so stale schedule entries are ignored
    std::uint32_t flavor = 0;      // picks engine, options, metadata and the extra field
    Micros created_at = 0;
    Micros started_at = kNull;
    Micros completed_at = kNull;
    Micros expires_at = kNever;
    std::uint64_t order_key = 0;  // position in the listing order (ties broken by slot)
    std::int32_t total_items = 0;
    ItemCounts counts;
    StatusId status = status::pending;
    std::uint8_t progress_step = 0;
    bool live = false;
    bool pinned = false;  // set through the control API: no automatic lifecycle any more
    LifecyclePlan plan;
    Micros next_change_at = kNever;  // lifecycle time of the next automatic change
    std::string json;
    // Fields set through the control API that have no typed slot above (metadata, options, engine, anything).
    std::unique_ptr<nlohmann::json> overrides;

    std::string_view id_view() const { return {id.data(), id.size()}; }
};

}  // namespace extract::sim
