#include "daemon/delivery_targets.hpp"

namespace extract::daemon {

delivery::WebhookTarget delivery_target(const WebhookConfig& config) {
    return {.name = config.name,
            .url = config.url,
            .secrets = config.secrets,
            .events = config.events,
            .statuses = config.statuses,
            .timeout = config.timeout,
            .retry_schedule = config.retry_schedule,
            .max_in_flight = config.max_in_flight};
}

delivery::TriggerTarget delivery_target(const TriggerConfig& config) {
    return {.name = config.name,
            .command = config.command,
            .argv = config.argv,
            .events = config.events,
            .statuses = config.statuses,
            .timeout = config.timeout,
            .retry_schedule = config.retry_schedule};
}

delivery::DeliveryTargets delivery_targets(const Config& config) {
    delivery::DeliveryTargets targets;
    for (const auto& hook : config.webhooks) targets.webhooks.push_back(delivery_target(hook));
    for (const auto& trigger : config.triggers) targets.triggers.push_back(delivery_target(trigger));
    return targets;
}

}  // namespace extract::daemon
