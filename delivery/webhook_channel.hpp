#pragma once
// Delivers to one [webhook.NAME]: signs the stored event as Standard Webhooks requires, POSTs
// it, and reads the answer as a delivery outcome.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.hpp"
#include "delivery/delivery_channel.hpp"
#include "delivery/delivery_target.hpp"
#include "delivery/webhook_sender.hpp"

namespace extract::delivery {

class WebhookChannel final : public DeliveryChannel {
public:
    // `target.secrets` are whsec_ secrets (checked by the configuration); one that is not is
    // left out of the signature. `user_agent` is "extract-sync/VERSION".
    WebhookChannel(const WebhookTarget& target, std::string user_agent, std::unique_ptr<WebhookSender> sender,
                   const Clock& clock);

    AttemptResult deliver(const OutboxDelivery& delivery) override;
    void abort() override;

    // The request of one attempt at `now` (webhook-timestamp is its Unix seconds).
    WebhookRequest request_for(const OutboxDelivery& delivery, WallTime now) const;

private:
    std::string url_;
    Millis timeout_;
    std::vector<std::string> keys_;  // decoded HMAC keys: never log them
    std::string user_agent_;
    std::unique_ptr<WebhookSender> sender_;
    const Clock& clock_;
};

// What an answer means: 2xx delivered; 410 gone; 429 and 503 retried no sooner than their
// Retry-After; anything else retried on the schedule.
AttemptResult classify_response(int status, const std::optional<std::string>& retry_after, std::string_view body_start,
                                WallTime now);

}  // namespace extract::delivery
