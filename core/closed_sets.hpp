#pragma once
// The closed sets of values the API and extractctl accept in filters (SPEC §6): a value
// outside one is a mistake to report with the allowed values, not an empty answer. Open sets
// (a batch's status or engine: the upstream may add values) are not here.

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

namespace extract {

// Event types (SPEC §5); cache's EventType names exactly these.
inline constexpr std::array<std::string_view, 4> kEventTypes{"batch.created", "batch.status_changed", "batch.updated",
                                                             "batch.removed"};
// deliveries.state (SPEC §4).
inline constexpr std::array<std::string_view, 4> kDeliveryStates{"pending", "delivered", "failed", "disabled"};
// GET /v1/report?by=: these, or "metadata." followed by a top-level key.
inline constexpr std::array<std::string_view, 3> kReportGroupings{"day", "engine", "status"};
inline constexpr std::string_view kMetadataPrefix = "metadata.";
// The same as messages spell them, metadata.KEY included.
inline constexpr std::array<std::string_view, 4> kReportGroupingSpellings{"day", "engine", "status", "metadata.KEY"};

template <std::size_t N>
bool in_closed_set(const std::array<std::string_view, N>& set, std::string_view value) {
    return std::find(set.begin(), set.end(), value) != set.end();
}

// "a, b, c or d": the allowed values as an error message lists them.
template <std::size_t N>
std::string allowed_values(const std::array<std::string_view, N>& set, std::string_view quote = "") {
    std::string out;
    for (std::size_t i = 0; i < N; ++i) {
        if (i > 0) out += i + 1 == N ? " or " : ", ";
        out += quote;
        out += set[i];
        out += quote;
    }
    return out;
}

// Whether `by` names a report grouping: one of kReportGroupings, or metadata.KEY with a KEY.
inline bool is_report_grouping(std::string_view by) {
    return in_closed_set(kReportGroupings, by) ||
           (by.starts_with(kMetadataPrefix) && by.size() > kMetadataPrefix.size());
}

}  // namespace extract
