#include "delivery/delivery_retry.hpp"

#include <algorithm>
#include <charconv>

#include "core/timefmt.hpp"

namespace extract::delivery {

RetrySchedule::RetrySchedule(std::vector<Millis> waits, double jitter, std::uint64_t seed)
    : waits_(std::move(waits)), jitter_(std::clamp(jitter, 0.0, 1.0)), random_(seed) {}

std::optional<WallTime> RetrySchedule::next_attempt(int attempt, WallTime now, std::optional<WallTime> not_before) {
    if (attempt < 1 || attempt >= max_attempts()) return std::nullopt;
    const Millis wait = waits_[static_cast<std::size_t>(attempt - 1)];
    std::uniform_real_distribution<double> factor(1.0 - jitter_, 1.0 + jitter_);
    const auto jittered = Millis{static_cast<Millis::rep>(static_cast<double>(wait.count()) * factor(random_))};
    const WallTime at = now + jittered;
    return not_before ? std::max(at, *not_before) : at;
}

std::optional<WallTime> parse_retry_after(std::string_view value, WallTime now) {
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
    if (value.empty()) return std::nullopt;
    std::int64_t seconds = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (error == std::errc{} && end == value.data() + value.size()) {
        if (seconds < 0) return std::nullopt;
        // Far beyond any schedule, and well inside what the clock's type can hold.
        constexpr std::int64_t kLongest = 10LL * 365 * 86400;
        return now + std::chrono::seconds{std::min(seconds, kLongest)};
    }
    const auto date = parse_http_date(value);
    if (!date) return std::nullopt;
    return std::max(*date, now);
}

}  // namespace extract::delivery
