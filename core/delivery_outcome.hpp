#pragma once
// What one delivery attempt did to its delivery, as GET /metrics' deliveries_total{outcome}
// counts it (SPEC §6; docs/webhooks.md):
// delivered; retried (failed, another attempt is scheduled); failed (the last attempt failed);
// disabled (a 410 Gone disabled the target).

#include <string_view>

namespace extract {

enum class DeliveryOutcome { delivered, retried, failed, disabled };

constexpr std::string_view to_string(DeliveryOutcome outcome) {
    switch (outcome) {
        case DeliveryOutcome::delivered: return "delivered";
        case DeliveryOutcome::retried: return "retried";
        case DeliveryOutcome::failed: return "failed";
        case DeliveryOutcome::disabled: break;
    }
    return "disabled";
}

}  // namespace extract
