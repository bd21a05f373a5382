#pragma once
// What an event is once written: its type names, its sortable unique id and its payload text
// (the body every webhook and trigger receives, SPEC §5).

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "core/clock.hpp"

namespace extract::cache {

enum class EventType { created, status_changed, updated, removed };

// "batch.created", "batch.status_changed", "batch.updated", "batch.removed".
std::string_view event_type_name(EventType type);

// Hands out event ids: "evt_" + 26 Crockford base32 characters encoding 48 bits of Unix
// milliseconds then 80 random bits (the ULID layout), so ids sort by creation time. Ids from one
// generator strictly increase, even within one millisecond or when the wall clock steps back.
class EventIdGenerator {
public:
    EventIdGenerator();  // seeded from std::random_device
    explicit EventIdGenerator(std::uint64_t seed);

    std::string next(WallTime now);

private:
    std::mt19937_64 random_;
    std::uint64_t last_ms_ = 0;
    std::uint64_t random_high_ = 0;  // the top 16 of the 80 random bits
    std::uint64_t random_low_ = 0;   // the low 64
};

// The event as sent: {"type":…,"timestamp":…,"data":{"batch":<raw>,…}} with
// "previous_status" (null for created; for status_changed the old status, or null when there is
// none: a first sighting) and, for removed, "removed_at" (= timestamp). `raw` must be JSON object
// text: it is embedded verbatim, which keeps the upstream's own object and costs no re-parse.
std::string event_payload(EventType type, std::string_view timestamp, std::string_view raw,
                          std::optional<std::string_view> previous_status = std::nullopt);

}  // namespace extract::cache
