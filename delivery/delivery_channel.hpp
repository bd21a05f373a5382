#pragma once
// What one attempt at one delivery carries and what came of it, and the seam every kind of
// target (webhook, trigger) implements to make such an attempt.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cache/delivery_store.hpp"
#include "core/clock.hpp"

namespace extract::delivery {

// The outbox row an attempt is made for (cache/delivery_store.hpp owns the table).
using cache::OutboxDelivery;

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
