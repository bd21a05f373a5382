#pragma once
// The delivery side of the outbox in the mirror file: reads a target's pending deliveries with
// their events, and records each attempt together with what it did to the delivery, in one
// transaction. One connection, used by one thread at a time.

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "delivery/delivery_channel.hpp"

namespace extract::daemon {

// The attempt log, table delivery_attempts, is created by the mirror's migration 2 (cache/schema.cpp).

enum class DeliveryState { pending, delivered, failed, disabled };

// "pending", "delivered", "failed", "disabled": the values of deliveries.state.
const char* state_name(DeliveryState state);

// Kept in `meta` under "disabled." + target while a target is disabled by a 410: which
// delivery got the 410 and from which url. It outlives restarts; see docs/webhooks.md for what
// lifts it.
struct DisabledMark {
    std::int64_t delivery_id = 0;
    std::string url;
    std::string at;  // when, format_timestamp
    bool operator==(const DisabledMark&) const = default;
};

// A pending delivery at the head of its target's queue, due or not.
struct QueuedDelivery {
    delivery::OutboxDelivery delivery;
    std::optional<WallTime> next_attempt_at;  // unset: due now
};

// One attempt and the state it leaves the delivery in.
struct AttemptRecord {
    int attempt = 0;  // 1-based; becomes deliveries.attempts
    WallTime started_at;
    Millis duration{0};
    std::optional<int> status;
    std::string error;  // empty: NULL
    DeliveryState state = DeliveryState::pending;
    std::optional<WallTime> next_attempt_at;  // while pending
};

class DeliveryStore {
public:
    // Opens the mirror at `db_path` (created and migrated by cache::Mirror), waits up to 5 s for
    // the write lock, and creates delivery_attempts when missing. Throws SQLite::Exception.
    explicit DeliveryStore(const std::string& db_path);
    DeliveryStore(const DeliveryStore&) = delete;
    DeliveryStore& operator=(const DeliveryStore&) = delete;

    // Pending deliveries of `target` due at `now` (next_attempt_at unset or not later), oldest
    // event first, at most `limit`.
    std::vector<delivery::OutboxDelivery> due(const std::string& target, WallTime now, int limit);
    // The first `limit` pending deliveries of `target`, oldest event first, due or not.
    std::vector<QueuedDelivery> head(const std::string& target, int limit);
    // The earliest next_attempt_at later than `now` among the target's pending deliveries.
    std::optional<WallTime> next_attempt_after(const std::string& target, WallTime now);

    // The attempt log row and the delivery's new state; with `disable`, also the target's
    // DisabledMark. One transaction.
    void record_attempt(const delivery::OutboxDelivery& delivery, const AttemptRecord& record,
                        const std::optional<DisabledMark>& disable = std::nullopt);

    std::optional<DisabledMark> disabled_mark(const std::string& target);
    void clear_disabled_mark(const std::string& target);
    // deliveries.state of one row; nullopt when the row is gone (pruned).
    std::optional<std::string> delivery_state(std::int64_t delivery_id);
    // Pending deliveries per target, for every target that has some.
    std::map<std::string, std::int64_t> pending_by_target();

private:
    static delivery::OutboxDelivery read_delivery(SQLite::Statement& row, const std::string& target);

    SQLite::Database db_;
    SQLite::Statement due_;
    SQLite::Statement head_;
    SQLite::Statement next_attempt_;
    SQLite::Statement insert_attempt_;
    SQLite::Statement update_delivery_;
    SQLite::Statement put_meta_;
    SQLite::Statement get_meta_;
    SQLite::Statement delete_meta_;
    SQLite::Statement delivery_state_;
};

}  // namespace extract::daemon
