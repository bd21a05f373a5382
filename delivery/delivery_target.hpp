#pragma once
// The targets deliveries go to, as delivery needs them: the daemon converts its parsed
// [webhook.NAME] and [trigger.NAME] sections into these (daemon/delivery_targets.hpp), so that
// this folder never reads the configuration. The defaults a user sees are the configuration's.

#include <string>
#include <vector>

#include "core/clock.hpp"

namespace extract::delivery {

// A webhook: signed POSTs of each event to one URL.
struct WebhookTarget {
    std::string name;  // NAME: the target is "webhook.NAME"
    std::string url;
    // whsec_... secrets; several mean rotation (one signature each). Never log them.
    std::vector<std::string> secrets;
    // What the outbox routes to it (the mirror applies them when it writes deliveries); kept here
    // so that a reload that changes them restarts the target, as any change of its section does.
    std::vector<std::string> events;
    std::vector<std::string> statuses;   // empty: every status
    Millis timeout{0};                   // one request, connect to answer
    std::vector<Millis> retry_schedule;  // waits before attempts 2..N
    int max_in_flight = 1;
    bool operator==(const WebhookTarget&) const = default;
};

// A trigger: a local command run once per event, one at a time.
struct TriggerTarget {
    std::string name;                    // NAME: the target is "trigger.NAME"
    std::string command;                 // as written, for comparison on reload
    std::vector<std::string> argv;       // what runs, without a shell
    std::vector<std::string> events;     // as WebhookTarget::events
    std::vector<std::string> statuses;   // empty: every status
    Millis timeout{0};                   // then its process group is killed
    std::vector<Millis> retry_schedule;  // waits before attempts 2..N
    bool operator==(const TriggerTarget&) const = default;
};

struct DeliveryTargets {
    std::vector<WebhookTarget> webhooks;
    std::vector<TriggerTarget> triggers;
};

}  // namespace extract::delivery
