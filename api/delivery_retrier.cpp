#include "api/delivery_retrier.hpp"

#include <SQLiteCpp/Transaction.h>

#include <algorithm>

#include "cache/connection.hpp"
#include "core/timefmt.hpp"

namespace extract::api {
DeliveryRetrier::DeliveryRetrier(const std::string& db_path, const Clock& clock)
    : clock_(clock), db_(cache::open_connection(db_path, cache::ConnectionRole::outbox)), statements_(db_) {}

std::optional<DeliveryRow> DeliveryRetrier::retry(std::int64_t delivery_id) {
    const auto rows = [&] {
        // IMMEDIATE: take the write lock up front, so busy_timeout applies to the whole step.
        SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
        auto& update = statements_.get("UPDATE deliveries SET state = 'pending', next_attempt_at = ? WHERE id = ?");
        StatementDone update_done(update);
        update.bind(1, format_timestamp(clock_.now()));
        update.bind(2, delivery_id);
        const bool found = update.exec() > 0;
        auto result = found ? rows_with_ids({delivery_id}) : std::vector<DeliveryRow>{};
        tx.commit();
        return result;
    }();
    if (rows.empty()) return std::nullopt;
    return rows.front();
}

std::vector<DeliveryRow> DeliveryRetrier::retry_matching(const DeliveryRetryFilter& filter) {
    std::string sql = "UPDATE deliveries SET state = 'pending', next_attempt_at = :now WHERE state = :state";
    if (filter.target) sql += " AND target = :target";
    // events.created_at is written by extract-sync in one fixed format: text order is time order.
    if (filter.since) sql += " AND event_seq IN (SELECT seq FROM events WHERE created_at >= :since)";
    sql += " RETURNING id";

    SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
    std::vector<std::int64_t> ids;
    {
        auto& update = statements_.get(sql);
        StatementDone done(update);
        update.bind(":now", format_timestamp(clock_.now()));
        update.bind(":state", filter.state);
        if (filter.target) update.bind(":target", *filter.target);
        if (filter.since) update.bind(":since", format_timestamp(*filter.since));
        while (update.executeStep()) ids.push_back(update.getColumn(0).getInt64());
    }
    auto rows = rows_with_ids(ids);
    tx.commit();
    return rows;
}

std::vector<DeliveryRow> DeliveryRetrier::rows_with_ids(const std::vector<std::int64_t>& ids) {
    auto& select = statements_.get(std::string(kSelectDeliveries) + "WHERE d.id = ?");
    std::vector<DeliveryRow> rows;
    rows.reserve(ids.size());
    for (const auto id : ids) {
        select.reset();
        select.bind(1, id);
        StatementDone done(select);
        if (select.executeStep()) rows.push_back(read_delivery(select));
    }
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.id > b.id; });
    read_attempt_logs(statements_, rows);  // the history the retry keeps
    return rows;
}

}  // namespace extract::api
