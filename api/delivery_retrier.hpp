#pragma once
// Makes deliveries due again on a user's request (POST /v1/deliveries/…/retry) through the
// outbox store (cache::DeliveryStore, on the API's own connection), so the delivery dispatcher
// picks them up at once, and answers the rows as that retry left them.

#include <SQLiteCpp/Database.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/mirror_rows.hpp"
#include "cache/delivery_store.hpp"
#include "cache/statement_cache.hpp"
#include "core/clock.hpp"

namespace extract::api {

using cache::DeliveryRetryFilter;

class DeliveryRetrier {
public:
    // Opens `db_path` read-write. Throws SQLite::Exception when it cannot.
    DeliveryRetrier(const std::string& db_path, const Clock& clock);
    DeliveryRetrier(const DeliveryRetrier&) = delete;
    DeliveryRetrier& operator=(const DeliveryRetrier&) = delete;

    // Whatever its state: state `pending`, next_attempt_at now; attempts and the last error
    // are kept as history. nullopt when there is no such delivery.
    std::optional<DeliveryRow> retry(std::int64_t delivery_id);
    // The same for every match, in one transaction; the rows as they are afterwards.
    std::vector<DeliveryRow> retry_matching(const DeliveryRetryFilter& filter);

private:
    std::vector<DeliveryRow> rows_with_ids(const std::vector<std::int64_t>& ids);

    const Clock& clock_;
    cache::DeliveryStore store_;
    cache::StatementCache statements_;  // on store_'s connection: the rows, read inside its retry
};

}  // namespace extract::api
