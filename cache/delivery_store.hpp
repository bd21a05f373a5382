#pragma once
// The outbox in the mirror file, the one place that writes deliveries after the Mirror queued
// them: reads a target's pending deliveries with their events, records each attempt together
// with what it did to the delivery (one transaction), and makes deliveries due again on a
// user's retry. One connection, used by one thread at a time.

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cache/statement_cache.hpp"
#include "core/clock.hpp"

namespace extract::cache {

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

// Every table this store uses (deliveries, delivery_attempts, events, meta) is created by the
// schema's migrations (cache/schema.cpp; delivery_attempts by migration 2), run by cache::Mirror
// when it opens the file: the store creates nothing.

enum class DeliveryState { pending, delivered, failed, disabled };

// "pending", "delivered", "failed", "disabled": the values of deliveries.state.
const char* state_name(DeliveryState state);

// Kept in `meta` under meta_key::disabled(target) ("disabled." + target) while a target is disabled by a 410: which
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
    OutboxDelivery delivery;
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

// Which deliveries a retry of many makes due again.
struct DeliveryRetryFilter {
    std::string state = "failed";
    std::optional<std::string> target;
    std::optional<WallTime> since;  // only deliveries of events created at or after this
};

class DeliveryStore {
public:
    // Opens the mirror at `db_path` (created and migrated by cache::Mirror) as the outbox
    // (open_connection: waits up to 5 s for the write lock). Throws SQLite::Exception.
    explicit DeliveryStore(const std::string& db_path);
    DeliveryStore(const DeliveryStore&) = delete;
    DeliveryStore& operator=(const DeliveryStore&) = delete;

    // Pending deliveries of `target` due at `now` (next_attempt_at unset or not later), oldest
    // event first, at most `limit`.
    std::vector<OutboxDelivery> due(const std::string& target, WallTime now, int limit);
    // The first `limit` pending deliveries of `target`, oldest event first, due or not.
    std::vector<QueuedDelivery> head(const std::string& target, int limit);
    // The earliest next_attempt_at later than `now` among the target's pending deliveries.
    std::optional<WallTime> next_attempt_after(const std::string& target, WallTime now);

    // The attempt log row and the delivery's new state; with `disable`, also the target's
    // DisabledMark. One transaction.
    void record_attempt(const OutboxDelivery& delivery, const AttemptRecord& record,
                        const std::optional<DisabledMark>& disable = std::nullopt);

    std::optional<DisabledMark> disabled_mark(const std::string& target);
    void clear_disabled_mark(const std::string& target);
    // deliveries.state of one row; nullopt when the row is gone (pruned).
    std::optional<std::string> delivery_state(std::int64_t delivery_id);
    // Pending deliveries per target, for every target that has some.
    std::map<std::string, std::int64_t> pending_by_target();

    // Called inside a retry's transaction, before its commit, with the ids of the deliveries it
    // made due (in no particular order): what it reads through connection() shows them as the
    // retry left them, before any attempt can change them.
    using ReadBack = std::function<void(const std::vector<std::int64_t>& ids)>;
    // A user's retry: the delivery, whatever its state, `pending` and due at `now`; attempts and
    // the last error stay as history. One IMMEDIATE transaction (busy_timeout waits out the
    // Mirror's). False, and no read_back, when there is no such delivery.
    bool retry(std::int64_t delivery_id, WallTime now, const ReadBack& read_back);
    // The same for every delivery `filter` matches, in one transaction.
    void retry_matching(const DeliveryRetryFilter& filter, WallTime now, const ReadBack& read_back);
    // The store's connection, for a ReadBack's reads (the writes are this class's).
    SQLite::Database& connection() { return db_; }

private:
    static OutboxDelivery read_delivery(SQLite::Statement& row, const std::string& target);

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
    SQLite::Statement retry_one_;
    StatementCache retry_matching_;  // by the filters given
};

}  // namespace extract::cache
