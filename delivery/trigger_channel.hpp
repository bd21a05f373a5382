#pragma once
// Delivers to one [trigger.NAME]: runs its command with the event on stdin and the EXTRACT_*
// variables in its environment, and reads how it ended as a delivery outcome.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "delivery/delivery_channel.hpp"
#include "delivery/delivery_target.hpp"
#include "delivery/trigger_runner.hpp"

namespace extract::delivery {

class TriggerChannel final : public DeliveryChannel {
public:
    // `socket_path` becomes EXTRACT_SOCKET, so the command can ask the daemon (extractctl).
    TriggerChannel(const TriggerTarget& target, std::string socket_path, std::unique_ptr<ProcessRunner> runner);

    AttemptResult deliver(const OutboxDelivery& delivery) override;
    void abort() override;

    // The process of one attempt.
    ProcessRequest request_for(const OutboxDelivery& delivery) const;

private:
    std::string name_;  // "trigger.NAME"
    std::vector<std::string> argv_;
    Millis timeout_;
    std::string socket_path_;
    std::unique_ptr<ProcessRunner> runner_;
};

// EXTRACT_EVENT_ID, EXTRACT_EVENT_TYPE, EXTRACT_BATCH_ID, EXTRACT_BATCH_STATUS,
// EXTRACT_PREVIOUS_STATUS (empty when there is none) and EXTRACT_SOCKET for one delivery.
std::vector<std::pair<std::string, std::string>> trigger_environment(const OutboxDelivery& delivery,
                                                                     const std::string& socket_path);

// Exit 0 delivered; anything else retried on the schedule.
AttemptResult classify_process(const ProcessOutcome& outcome);

}  // namespace extract::delivery
