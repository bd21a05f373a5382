#include "delivery/webhook_channel.hpp"

#include "delivery/delivery_retry.hpp"
#include "delivery/webhook_signature.hpp"

namespace extract::delivery {
namespace {

// A receiver's words for the attempt log and the log: runs of white space (line breaks
// included) become one space, none at either end.
std::string one_line(std::string_view text) {
    std::string out;
    bool space = false;
    for (const char c : text) {
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            space = !out.empty();
            continue;
        }
        if (space) out += ' ';
        space = false;
        out += c;
    }
    return out;
}

}  // namespace

WebhookChannel::WebhookChannel(const WebhookTarget& target, std::string user_agent,
                               std::unique_ptr<WebhookSender> sender, const Clock& clock)
    : url_(target.url),
      timeout_(target.timeout),
      user_agent_(std::move(user_agent)),
      sender_(std::move(sender)),
      clock_(clock) {
    for (const auto& secret : target.secrets) {
        if (auto key = webhook_secret_key(secret)) keys_.push_back(std::move(*key));
    }
}

WebhookRequest WebhookChannel::request_for(const OutboxDelivery& delivery, WallTime now) const {
    const auto timestamp = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    WebhookRequest request;
    request.url = url_;
    request.timeout = timeout_;
    request.body = delivery.payload;
    request.headers = {
        {"webhook-id", delivery.event_id},
        {"webhook-timestamp", std::to_string(timestamp)},
        {"webhook-signature", webhook_signature(delivery.event_id, timestamp, delivery.payload, keys_)},
        {"content-type", "application/json"},
        {"user-agent", user_agent_},
    };
    return request;
}

AttemptResult WebhookChannel::deliver(const OutboxDelivery& delivery) {
    const SendResult sent = sender_->post(request_for(delivery, clock_.now()));
    if (sent.failure == SendFailure::aborted) return {AttemptResult::Verdict::aborted, std::nullopt, sent.message, {}};
    if (sent.failure != SendFailure::none) {
        return {AttemptResult::Verdict::retry,
                std::nullopt,
                error_snippet(std::string(describe(sent.failure)) + ": " + sent.message),
                {}};
    }
    return classify_response(sent.status, sent.retry_after, sent.body_start, clock_.now());
}

void WebhookChannel::abort() { sender_->abort(); }

AttemptResult classify_response(int status, const std::optional<std::string>& retry_after, std::string_view body_start,
                                WallTime now) {
    AttemptResult result;
    result.status = status;
    if (status >= 200 && status < 300) {
        result.verdict = AttemptResult::Verdict::delivered;
        return result;
    }
    result.verdict = status == 410 ? AttemptResult::Verdict::gone : AttemptResult::Verdict::retry;
    std::string error = "HTTP " + std::to_string(status);
    if ((status == 429 || status == 503) && retry_after) {
        result.not_before = parse_retry_after(*retry_after, now);
        error += " (Retry-After: " + *retry_after + ")";
    }
    if (const auto said = one_line(body_start); !said.empty()) error += ": " + said;
    result.error = error_snippet(error);
    return result;
}

}  // namespace extract::delivery
