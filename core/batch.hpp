#pragma once
// One batch as the mirror stores it: the typed fields of the upstream BatchResource plus
// its whole object as canonical JSON text (`raw`), so unknown fields survive.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace extract {

// What the mirror stores as it is (docs/reliability.md, "Batches set aside"). A batch beyond
// these limits is set aside with its reason instead of stopping the page it came in.
// Levels of arrays and objects in one batch object, the batch itself being level 1. SQLite's
// JSON functions refuse more than 1000, and every recursive walk (a dump, a copy) must stay far
// below what a thread's stack holds.
inline constexpr int kMaxBatchNesting = 64;
// Bytes of a batch id: it is a primary key, an environment variable of every trigger and a
// path segment of the upstream's URL.
inline constexpr std::size_t kMaxBatchIdBytes = 256;

// The statuses after which a batch no longer changes: SPEC's default for [sync] terminal_statuses,
// and what `extractctl wait` waits for.
inline constexpr std::array<std::string_view, 4> kDefaultTerminalStatuses{"completed", "partially_failed", "failed",
                                                                          "cancelled"};

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
    std::optional<std::string> metadata;  // JSON text of an object, or absent / null
    std::string created_at;               // upstream timestamps are kept as received
    std::optional<std::string> started_at;
    std::optional<std::string> completed_at;
    std::string expires_at;
    std::string raw;  // the whole upstream object, canonical JSON (keys sorted)
    // Why the mirror cannot store this batch as it is (nesting, id); nullopt for a storable
    // batch. Only `id` is meaningful then: the other fields may be empty.
    std::optional<std::string> set_aside;
    bool operator==(const Batch&) const = default;
};

// Why `id` cannot be a mirrored batch id (control bytes, too long), or nullopt when it can.
std::optional<std::string> batch_id_problem(std::string_view id);

}  // namespace extract
