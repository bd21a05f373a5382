#include "sim/fault_injector.hpp"

#include <algorithm>
#include <array>
#include <string_view>

namespace extract::sim {
namespace {

struct RateField {
    std::string_view name;
    double FaultSettings::*member;
};

constexpr std::array<RateField, 5> kRates{{
    {"error_rate", &FaultSettings::error_rate},
    {"rate_limit_rate", &FaultSettings::rate_limit_rate},
    {"slow_rate", &FaultSettings::slow_rate},
    {"malformed_rate", &FaultSettings::malformed_rate},
    {"truncated_rate", &FaultSettings::truncated_rate},
}};

ParsedFaultSettings failure(std::string message) { return {std::nullopt, std::move(message)}; }

}  // namespace

ParsedFaultSettings parse_fault_settings(const nlohmann::json& body) {
    if (!body.is_object()) return failure("the body must be a JSON object");
    FaultSettings s;
    for (const auto& item : body.items()) {
        // Named, not a structured binding: clang 14 (the lint's parser) cannot capture those.
        const std::string& key = item.key();
        const nlohmann::json& value = item.value();
        const auto rate = std::find_if(kRates.begin(), kRates.end(), [&](const RateField& f) { return f.name == key; });
        if (rate != kRates.end()) {
            if (!value.is_number() || value.get<double>() < 0 || value.get<double>() > 1) {
                return failure(key + ": must be a number from 0 to 1");
            }
            s.*(rate->member) = value.get<double>();
        } else if (key == "retry_after") {
            if (value.is_string())
                s.retry_after = value.get<std::string>();
            else if (value.is_number_unsigned())
                s.retry_after = std::to_string(value.get<std::uint64_t>());
            else if (!value.is_null())
                return failure("retry_after: must be a string (the header value) or a whole number");
        } else if (key == "slow_ms") {
            if (!value.is_number_unsigned()) return failure("slow_ms: must be a non-negative whole number");
            s.slow_ms = static_cast<std::int64_t>(value.get<std::uint64_t>());
        } else if (key == "seed") {
            if (!value.is_number_integer()) return failure("seed: must be a whole number");
            s.seed = value.is_number_unsigned() ? value.get<std::uint64_t>()
                                                : static_cast<std::uint64_t>(value.get<std::int64_t>());
        } else {
            return failure("unknown fault setting: " + key);
        }
    }
    if (s.error_rate + s.rate_limit_rate + s.malformed_rate + s.truncated_rate > 1.0 + 1e-9) {
        return failure("error_rate + rate_limit_rate + malformed_rate + truncated_rate must not exceed 1");
    }
    return {s, {}};
}

nlohmann::json to_json(const FaultSettings& s) {
    return {{"error_rate", s.error_rate},
            {"rate_limit_rate", s.rate_limit_rate},
            {"retry_after", s.retry_after},
            {"slow_rate", s.slow_rate},
            {"slow_ms", s.slow_ms},
            {"malformed_rate", s.malformed_rate},
            {"truncated_rate", s.truncated_rate},
            {"seed", s.seed}};
}

void FaultInjector::configure(const FaultSettings& settings) {
    std::lock_guard lock(mutex_);
    settings_ = settings;
    rng_.seed(settings.seed);
}

FaultSettings FaultInjector::settings() const {
    std::lock_guard lock(mutex_);
    return settings_;
}

FaultDraw FaultInjector::draw() {
    std::lock_guard lock(mutex_);
    FaultDraw d;
    const auto& s = settings_;
    if (s.error_rate + s.rate_limit_rate + s.slow_rate + s.malformed_rate + s.truncated_rate == 0) return d;
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    // The same number of draws per request whatever the outcome, so a seed replays exactly.
    const double slow = uniform(rng_);
    const double kind = uniform(rng_);
    d.malformed_as_text = uniform(rng_) < 0.5;
    if (slow < s.slow_rate) d.delay = Millis{s.slow_ms};
    double edge = s.error_rate;
    if (kind < edge) {
        d.kind = FaultKind::server_error;
    } else if (kind < (edge += s.rate_limit_rate)) {
        d.kind = FaultKind::rate_limited;
    } else if (kind < (edge += s.malformed_rate)) {
        d.kind = FaultKind::malformed;
    } else if (kind < edge + s.truncated_rate) {
        d.kind = FaultKind::truncated;
    }
    return d;
}

}  // namespace extract::sim
