#pragma once
// What one delivery attempt did to its delivery, as deliveries_total{outcome} counts it (SPEC §7):
// delivered; retried (failed, another attempt is scheduled); failed (the last attempt failed);
// disabled (a 410 Gone disabled the target).

#include <array>
#include <string_view>

namespace extract {

enum class DeliveryOutcome { delivered, retried, failed, disabled };
inline constexpr std::array<DeliveryOutcome, 4> kDeliveryOutcomes{DeliveryOutcome::delivered, DeliveryOutcome::retried,
                                                                  DeliveryOutcome::failed, DeliveryOutcome::disabled};

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
