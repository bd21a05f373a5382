#pragma once
// The configuration's [webhook.NAME] and [trigger.NAME] sections as delivery/'s targets: the
// one place where the delivery side meets the INI.

#include "daemon/config.hpp"
#include "delivery/delivery_target.hpp"

namespace extract::daemon {

delivery::WebhookTarget delivery_target(const WebhookConfig& config);
delivery::TriggerTarget delivery_target(const TriggerConfig& config);
// Every webhook and trigger of `config`, in file order.
delivery::DeliveryTargets delivery_targets(const Config& config);

}  // namespace extract::daemon
