#include "api/delivery_retrier.hpp"

#include <algorithm>

namespace extract::api {

DeliveryRetrier::DeliveryRetrier(const std::string& db_path, const Clock& clock)
    : clock_(clock), store_(db_path), statements_(store_.connection()) {}

std::optional<DeliveryRow> DeliveryRetrier::retry(std::int64_t delivery_id) {
    std::vector<DeliveryRow> rows;
    store_.retry(delivery_id, clock_.now(), [&](const auto& ids) { rows = rows_with_ids(ids); });
    if (rows.empty()) return std::nullopt;
    return rows.front();
}

std::vector<DeliveryRow> DeliveryRetrier::retry_matching(const DeliveryRetryFilter& filter) {
    std::vector<DeliveryRow> rows;
    store_.retry_matching(filter, clock_.now(), [&](const auto& ids) { rows = rows_with_ids(ids); });
    return rows;
}

std::vector<DeliveryRow> DeliveryRetrier::rows_with_ids(const std::vector<std::int64_t>& ids) {
    auto& select = statements_.get(std::string(kSelectDeliveries) + "WHERE d.id = ?");
    std::vector<DeliveryRow> rows;
    rows.reserve(ids.size());
    for (const auto id : ids) {
        cache::StatementUse done(select);
        select.bind(1, id);
        if (select.executeStep()) rows.push_back(read_delivery(select));
    }
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.id > b.id; });
    read_attempt_logs(statements_, rows);  // the history the retry keeps
    return rows;
}

}  // namespace extract::api
