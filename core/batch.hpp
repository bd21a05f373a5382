#pragma once
// One batch as the mirror stores it: the typed fields of the upstream BatchResource plus
// its whole object as canonical JSON text (`raw`), so unknown fields survive.

#include <cstdint>
#include <optional>
#include <string>

namespace extract {

struct BatchCounts {
    std::int64_t pending = 0;
    std::int64_t running = 0;
    std::int64_t succeeded = 0;
    std::int64_t failed = 0;
    std::int64_t cancelled = 0;
    bool operator==(const BatchCounts&) const = default;
};

struct Batch {
    std::string id;
    std::string status;
    BatchCounts counts;
    std::int64_t total_items = 0;
    std::optional<std::string> engine;
    std::string options = "{}";           // JSON text of an object
    std::optional<std::string> metadata;  // JSON text of an object, or absent / null
    std::string created_at;               // upstream timestamps are kept as received
    std::optional<std::string> started_at;
    std::optional<std::string> completed_at;
    std::string expires_at;
    std::string raw;  // the whole upstream object, canonical JSON (keys sorted)
    bool operator==(const Batch&) const = default;
};

}  // namespace extract
