#include "core/duration.hpp"

#include <array>
#include <cctype>
#include <cstdint>
#include <limits>
#include <utility>

namespace extract {
namespace {

constexpr std::array<std::pair<std::string_view, std::int64_t>, 5> kUnits{{
    {"d", 86'400'000},
    {"h", 3'600'000},
    {"m", 60'000},
    {"s", 1'000},
    {"ms", 1},
}};

}  // namespace

std::optional<Millis> parse_duration(std::string_view s) {
    std::size_t pos = 0;
    std::int64_t value = 0;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
        if (value > std::numeric_limits<std::int64_t>::max() / 10 - 9) return std::nullopt;
        value = value * 10 + (s[pos] - '0');
        ++pos;
    }
    if (pos == 0) return std::nullopt;
    const std::string_view unit = s.substr(pos);
    if (unit.empty()) return value == 0 ? std::optional<Millis>(Millis{0}) : std::nullopt;
    for (const auto& [name, factor] : kUnits) {
        if (unit == name) {
            if (value > std::numeric_limits<std::int64_t>::max() / factor) return std::nullopt;
            return Millis{value * factor};
        }
    }
    return std::nullopt;
}

std::string format_duration(Millis d) {
    const std::int64_t ms = d.count();
    if (ms == 0) return "0s";
    for (const auto& [name, factor] : kUnits) {
        if (ms % factor == 0) return std::to_string(ms / factor) + std::string(name);
    }
    return std::to_string(ms) + "ms";
}

}  // namespace extract
