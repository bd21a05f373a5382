#pragma once
// Misbehaviour extract-sim adds to /v1/* when asked: server errors, rate limits, slowness,
// malformed and truncated bodies, drawn per request from a seeded generator so a run can
// be repeated.

#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>

#include "core/clock.hpp"

namespace extract::sim {

struct FaultSettings {
    double error_rate = 0;       // 500 {"detail":"Internal Server Error"}
    double rate_limit_rate = 0;  // 429, with Retry-After when `retry_after` is set
    std::string retry_after;     // the header value, sent as given
    double slow_rate = 0;        // answer after `slow_ms` (independent of the others)
    std::int64_t slow_ms = 0;
    double malformed_rate = 0;  // 200 with a body that is not the contract's JSON
    double truncated_rate = 0;  // 200 with the JSON cut in half
    std::uint64_t seed = 0;
};

struct ParsedFaultSettings {
    std::optional<FaultSettings> settings;
    std::string error;  // what is wrong when `settings` is empty
};

// Every key optional (missing: 0 / empty); `{}` switches faults off.
ParsedFaultSettings parse_fault_settings(const nlohmann::json& body);
nlohmann::json to_json(const FaultSettings& settings);

enum class FaultKind { none, server_error, rate_limited, malformed, truncated };

struct FaultDraw {
    FaultKind kind = FaultKind::none;
    Millis delay{0};
    bool malformed_as_text = false;  // malformed: not JSON at all, rather than JSON of the wrong shape
};

class FaultInjector {
public:
    // Replaces the settings and restarts the generator from their seed.
    void configure(const FaultSettings& settings);
    FaultSettings settings() const;
    FaultDraw draw();

private:
    mutable std::mutex mutex_;
    FaultSettings settings_;
    std::mt19937_64 rng_{0};
};

}  // namespace extract::sim
