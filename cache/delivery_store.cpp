#include "cache/delivery_store.hpp"

#include <SQLiteCpp/Transaction.h>

#include <nlohmann/json.hpp>

#include "cache/connection.hpp"
#include "cache/meta_keys.hpp"
#include "cache/statement_cache.hpp"
#include "core/timefmt.hpp"

namespace extract::cache {
namespace {

// The columns read_delivery() expects, in its order, after the deliveries alias d and events e.
constexpr const char* kDeliveryColumns =
    "d.id, d.event_seq, d.attempts, e.id, e.type, e.batch_id, e.payload, d.next_attempt_at";

void bind_optional_time(SQLite::Statement& statement, int index, const std::optional<WallTime>& at) {
    if (at) {
        statement.bind(index, format_timestamp(*at));
    } else {
        statement.bind(index);
    }
}

}  // namespace

const char* state_name(DeliveryState state) {
    switch (state) {
        case DeliveryState::pending: return "pending";
        case DeliveryState::delivered: return "delivered";
        case DeliveryState::failed: return "failed";
        case DeliveryState::disabled: return "disabled";
    }
    return "pending";
}

DeliveryStore::DeliveryStore(const std::string& db_path)
    : db_(open_connection(db_path, ConnectionRole::outbox)),
      due_(db_, std::string("SELECT ") + kDeliveryColumns +
                    " FROM deliveries d JOIN events e ON e.seq = d.event_seq"
                    " WHERE d.target = ?1 AND d.state = 'pending'"
                    " AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= ?2)"
                    " ORDER BY d.event_seq, d.id LIMIT ?3"),
      head_(db_, std::string("SELECT ") + kDeliveryColumns +
                     " FROM deliveries d JOIN events e ON e.seq = d.event_seq"
                     " WHERE d.target = ?1 AND d.state = 'pending'"
                     " ORDER BY d.event_seq, d.id LIMIT ?2"),
      next_attempt_(db_,
                    "SELECT MIN(next_attempt_at) FROM deliveries"
                    " WHERE target = ?1 AND state = 'pending' AND next_attempt_at > ?2"),
      insert_attempt_(db_,
                      "INSERT INTO delivery_attempts (delivery_id, attempt, started_at, duration_ms, status, error)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
      update_delivery_(db_,
                       "UPDATE deliveries SET state = ?2, attempts = ?3, next_attempt_at = ?4, last_status = ?5,"
                       " last_error = ?6, delivered_at = COALESCE(?7, delivered_at) WHERE id = ?1"),
      put_meta_(db_, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)"),
      get_meta_(db_, "SELECT value FROM meta WHERE key = ?1"),
      delete_meta_(db_, "DELETE FROM meta WHERE key = ?1"),
      delivery_state_(db_, "SELECT state FROM deliveries WHERE id = ?1"),
      retry_one_(db_, "UPDATE deliveries SET state = 'pending', next_attempt_at = ?2 WHERE id = ?1"),
      retry_matching_(db_) {}

OutboxDelivery DeliveryStore::read_delivery(SQLite::Statement& row, const std::string& target) {
    OutboxDelivery d;
    d.id = row.getColumn(0).getInt64();
    d.event_seq = row.getColumn(1).getInt64();
    d.target = target;
    d.attempts = row.getColumn(2).getInt();
    d.event_id = row.getColumn(3).getString();
    d.event_type = row.getColumn(4).getString();
    d.batch_id = row.getColumn(5).getString();
    d.payload = row.getColumn(6).getString();
    return d;
}

std::vector<OutboxDelivery> DeliveryStore::due(const std::string& target, WallTime now, int limit) {
    std::vector<OutboxDelivery> found;
    StatementUse use(due_);
    due_.bind(1, target);
    due_.bind(2, format_timestamp(now));
    due_.bind(3, limit);
    while (due_.executeStep()) found.push_back(read_delivery(due_, target));
    return found;
}

std::vector<QueuedDelivery> DeliveryStore::head(const std::string& target, int limit) {
    std::vector<QueuedDelivery> found;
    StatementUse use(head_);
    head_.bind(1, target);
    head_.bind(2, limit);
    while (head_.executeStep()) {
        QueuedDelivery q{read_delivery(head_, target), std::nullopt};
        if (!head_.getColumn(7).isNull()) q.next_attempt_at = parse_timestamp(head_.getColumn(7).getString());
        found.push_back(std::move(q));
    }
    return found;
}

std::optional<WallTime> DeliveryStore::next_attempt_after(const std::string& target, WallTime now) {
    StatementUse use(next_attempt_);
    next_attempt_.bind(1, target);
    next_attempt_.bind(2, format_timestamp(now));
    if (!next_attempt_.executeStep() || next_attempt_.getColumn(0).isNull()) return std::nullopt;
    return parse_timestamp(next_attempt_.getColumn(0).getString());
}

void DeliveryStore::record_attempt(const OutboxDelivery& delivery, const AttemptRecord& record,
                                   const std::optional<DisabledMark>& disable) {
    SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);

    StatementUse insert_use(insert_attempt_);
    insert_attempt_.bind(1, delivery.id);
    insert_attempt_.bind(2, record.attempt);
    insert_attempt_.bind(3, format_timestamp(record.started_at));
    insert_attempt_.bind(4, static_cast<std::int64_t>(record.duration.count()));
    if (record.status) insert_attempt_.bind(5, *record.status);
    if (!record.error.empty()) insert_attempt_.bind(6, record.error);
    insert_attempt_.exec();

    StatementUse update_use(update_delivery_);
    update_delivery_.bind(1, delivery.id);
    update_delivery_.bind(2, state_name(record.state));
    update_delivery_.bind(3, record.attempt);
    bind_optional_time(update_delivery_, 4,
                       record.state == DeliveryState::pending ? record.next_attempt_at : std::nullopt);
    if (record.status) update_delivery_.bind(5, *record.status);
    if (!record.error.empty()) update_delivery_.bind(6, record.error);
    bind_optional_time(update_delivery_, 7,
                       record.state == DeliveryState::delivered
                           ? std::optional<WallTime>(record.started_at + record.duration)
                           : std::nullopt);
    update_delivery_.exec();  // 0 rows when the delivery was pruned meanwhile: nothing to keep current

    if (disable) {
        const nlohmann::json mark{{"delivery_id", disable->delivery_id}, {"url", disable->url}, {"at", disable->at}};
        StatementUse put_use(put_meta_);
        put_meta_.bind(1, meta_key::disabled(delivery.target));
        put_meta_.bind(2, mark.dump());
        put_meta_.exec();
    }
    tx.commit();
}

std::optional<DisabledMark> DeliveryStore::disabled_mark(const std::string& target) {
    StatementUse use(get_meta_);
    get_meta_.bind(1, meta_key::disabled(target));
    if (!get_meta_.executeStep()) return std::nullopt;
    const auto value = nlohmann::json::parse(get_meta_.getColumn(0).getString(), nullptr, false);
    DisabledMark mark;
    if (value.is_object()) {
        mark.delivery_id = value.value("delivery_id", std::int64_t{0});
        mark.url = value.value("url", std::string());
        mark.at = value.value("at", std::string());
    }
    // A value someone else wrote that is not ours still means "disabled": never send on a guess.
    return mark;
}

void DeliveryStore::clear_disabled_mark(const std::string& target) {
    StatementUse use(delete_meta_);
    delete_meta_.bind(1, meta_key::disabled(target));
    delete_meta_.exec();
}

std::optional<std::string> DeliveryStore::delivery_state(std::int64_t delivery_id) {
    StatementUse use(delivery_state_);
    delivery_state_.bind(1, delivery_id);
    if (!delivery_state_.executeStep()) return std::nullopt;
    return delivery_state_.getColumn(0).getString();
}

std::map<std::string, std::int64_t> DeliveryStore::pending_by_target() {
    std::map<std::string, std::int64_t> counts;
    SQLite::Statement query(db_, "SELECT target, COUNT(*) FROM deliveries WHERE state = 'pending' GROUP BY target");
    while (query.executeStep()) counts[query.getColumn(0).getString()] = query.getColumn(1).getInt64();
    return counts;
}

bool DeliveryStore::retry(std::int64_t delivery_id, WallTime now, const ReadBack& read_back) {
    // IMMEDIATE: take the write lock up front, so busy_timeout applies to the whole step.
    SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
    bool found = false;
    {
        StatementUse use(retry_one_);
        retry_one_.bind(1, delivery_id);
        retry_one_.bind(2, format_timestamp(now));
        found = retry_one_.exec() > 0;
    }
    if (found) read_back({delivery_id});
    tx.commit();
    return found;
}

void DeliveryStore::retry_matching(const DeliveryRetryFilter& filter, WallTime now, const ReadBack& read_back) {
    std::string sql = "UPDATE deliveries SET state = 'pending', next_attempt_at = :now WHERE state = :state";
    if (filter.target) sql += " AND target = :target";
    // events.created_at is written by extract-sync in one fixed format: text order is time order.
    if (filter.since) sql += " AND event_seq IN (SELECT seq FROM events WHERE created_at >= :since)";
    sql += " RETURNING id";

    SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
    std::vector<std::int64_t> ids;
    {
        auto& update = retry_matching_.get(sql);
        StatementUse use(update);
        update.bind(":now", format_timestamp(now));
        update.bind(":state", filter.state);
        if (filter.target) update.bind(":target", *filter.target);
        if (filter.since) update.bind(":since", format_timestamp(*filter.since));
        while (update.executeStep()) ids.push_back(update.getColumn(0).getInt64());
    }
    read_back(ids);
    tx.commit();
}

}  // namespace extract::cache
