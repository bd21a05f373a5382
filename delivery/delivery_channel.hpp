#pragma once
// What one attempt at one delivery carries and what came of it, and the seam every kind of
// target (webhook, trigger) implements to make such an attempt.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"

namespace extract::delivery {

// A pending row of `deliveries` with the event it carries.
struct OutboxDelivery {
    std::int64_t id = 0;  // deliveries.id
    std::int64_t event_seq = 0;
    std::string target;    // "webhook.NAME" / "trigger.NAME"
    int attempts = 0;      // attempts made before this one
    std::string event_id;  // evt_…: the webhook-id, the same on every attempt
    std::string event_type;
    std::string batch_id;
    std::string payload;  // the event JSON as stored (SPEC §5), sent byte for byte
};

struct AttemptResult {
    enum class Verdict {
        delivered,  // a 2xx, an exit code 0
        retry,      // anything else: tried again on the retry_schedule
        gone,       // a 410: the target is disabled
        aborted,    // cut short by a shutdown: the outcome is unknown, so nothing is recorded
    };
    Verdict verdict = Verdict::retry;
    std::optional<int> status;           // the HTTP status or exit code, when there was one
    std::string error;                   // what went wrong (at most kMaxErrorLength bytes); empty when delivered
    std::optional<WallTime> not_before;  // a Retry-After: no attempt to this target before then
};

// deliveries.last_error and delivery_attempts.error hold at most this many bytes.
inline constexpr std::size_t kMaxErrorLength = 500;

// `text` cut to kMaxErrorLength bytes without splitting a UTF-8 sequence.
std::string error_snippet(std::string_view text);

class DeliveryChannel {
public:
    virtual ~DeliveryChannel() = default;
    // Makes one attempt and blocks until its outcome is known. Webhooks are called from up to
    // max_in_flight threads at once; a trigger from one.
    virtual AttemptResult deliver(const OutboxDelivery& delivery) = 0;
    // Called from another thread at shutdown: attempts in flight end promptly as `aborted`, and
    // so does every later one (sticky).
    virtual void abort() = 0;
};

}  // namespace extract::delivery
