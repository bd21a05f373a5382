#pragma once
// The daemon's health as one word: /v1/health `status` (200 only when ok) and the metric
// health_status{status} (SPEC §6, §7).

#include <array>
#include <string_view>

namespace extract {

enum class HealthStatus { ok, starting, degraded };
inline constexpr std::array<HealthStatus, 3> kHealthStatuses{HealthStatus::ok, HealthStatus::starting,
                                                             HealthStatus::degraded};

constexpr std::string_view to_string(HealthStatus status) {
    switch (status) {
        case HealthStatus::ok: return "ok";
        case HealthStatus::degraded: return "degraded";
        case HealthStatus::starting: break;
    }
    return "starting";
}

}  // namespace extract
