#pragma once
// Timestamps as extract-sync writes them (UTC ISO-8601, milliseconds, `Z`) and as it
// reads them from users and from HTTP headers.

#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"

namespace extract {

// 2026-11-30T03:04:05.123Z
std::string format_timestamp(WallTime t);

// ISO-8601: `YYYY-MM-DD`, or with `THH:MM[:SS[.fff…]]` and `Z` / `±HH:MM` (no zone: UTC).
std::optional<WallTime> parse_timestamp(std::string_view text);

// IMF-fixdate as in `Retry-After: Sun, 06 Nov 1994 08:49:37 GMT`.
std::optional<WallTime> parse_http_date(std::string_view text);

}  // namespace extract
