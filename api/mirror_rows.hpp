#pragma once
// The rows of the mirror the API serves (SPEC §4), and their JSON as the routes answer them.

#include <SQLiteCpp/Column.h>
#include <SQLiteCpp/Statement.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cache/statement_cache.hpp"

namespace extract::api {

// A value, or JSON null when there is none.
template <class T>
nlohmann::json or_null(const std::optional<T>& value) {
    return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

struct TransitionRow {
    std::int64_t seq = 0;
    std::string batch_id;
    std::optional<std::string> from_status;  // none at first sighting
    std::string to_status;
    std::string observed_at;
};

struct EventRow {
    std::int64_t seq = 0;
    std::string id;
    std::string type;
    std::string batch_id;
    std::string created_at;
    std::string data_json = "null";  // the `data` of the event as sent (SPEC §5), as JSON text
};

struct DeliveryAttemptRow {
    std::int64_t attempt = 0;
    std::string started_at;
    std::int64_t duration_ms = 0;
    std::optional<std::int64_t> status;  // HTTP status or exit code
    std::optional<std::string> error;
};

struct DeliveryRow {
    std::int64_t id = 0;
    std::int64_t event_seq = 0;
    std::string target;
    std::string state;
    std::int64_t attempts = 0;
    std::optional<std::string> next_attempt_at;
    std::optional<std::int64_t> last_status;
    std::optional<std::string> last_error;
    std::optional<std::string> delivered_at;
    // From the event it carries (absent once the event is pruned).
    std::optional<std::string> event_id;
    std::optional<std::string> event_type;
    std::optional<std::string> batch_id;
    std::vector<DeliveryAttemptRow> attempt_log;  // oldest first
};

struct SyncRunRow {
    std::int64_t id = 0;
    std::string kind;
    std::string started_at;
    std::optional<std::string> finished_at;
    std::int64_t requests = 0, pages = 0, upserted = 0, changed = 0, removed = 0;
    std::optional<std::string> error;
};

nlohmann::json to_json(const TransitionRow& row);
// Appends {seq,id,type,batch_id,created_at,data} as GET /v1/events lists it; `data` (the
// payload's) goes in as the JSON text it is.
void append_json(std::string& out, const EventRow& row);
nlohmann::json to_json(const DeliveryRow& row);
nlohmann::json to_json(const SyncRunRow& row);

// One SELECT of a delivery with its event, shared by the reader and the retry writer so both
// answer the same shape. Append a WHERE / ORDER BY; read each row with read_delivery().
inline constexpr const char* kSelectDeliveries =
    "SELECT d.id, d.event_seq, d.target, d.state, d.attempts, d.next_attempt_at, d.last_status, d.last_error, "
    "d.delivered_at, e.id, e.type, e.batch_id FROM deliveries d LEFT JOIN events e ON e.seq = d.event_seq ";
DeliveryRow read_delivery(const SQLite::Statement& row);
// Fills each row's attempt_log from delivery_attempts: the list and the retry answers alike.
void read_attempt_logs(cache::StatementCache& statements, std::vector<DeliveryRow>& rows);

// A nullable TEXT column.
std::optional<std::string> optional_text(const SQLite::Column& column);

}  // namespace extract::api
