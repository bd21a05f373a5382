#pragma once
// Durations as the configuration and the API write them: a whole number and a unit,
// `250ms`, `10s`, `5m`, `2h`, `3d`; `0` alone means zero.

#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"

namespace extract {

std::optional<Millis> parse_duration(std::string_view text);

// The shortest exact spelling: 90000ms -> "90s", 300000ms -> "5m".
std::string format_duration(Millis d);

}  // namespace extract
