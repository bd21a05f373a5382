#include "api/mirror_rows.hpp"

namespace extract::api {

std::optional<std::string> optional_text(const SQLite::Column& column) {
    if (column.isNull()) return std::nullopt;
    return column.getString();
}

nlohmann::json to_json(const TransitionRow& row) {
    return {{"seq", row.seq},
            {"batch_id", row.batch_id},
            {"from_status", or_null(row.from_status)},
            {"to_status", row.to_status},
            {"observed_at", row.observed_at}};
}

void append_json(std::string& out, const EventRow& row) {
    const auto text = [](const std::string& value) {
        return nlohmann::json(value).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    };
    out += R"({"seq":)";
    out += std::to_string(row.seq);
    out += R"(,"id":)";
    out += text(row.id);
    out += R"(,"type":)";
    out += text(row.type);
    out += R"(,"batch_id":)";
    out += text(row.batch_id);
    out += R"(,"created_at":)";
    out += text(row.created_at);
    out += R"(,"data":)";
    out += row.data_json;
    out += '}';
}

nlohmann::json to_json(const DeliveryRow& row) {
    nlohmann::json attempts = nlohmann::json::array();
    for (const auto& a : row.attempt_log) {
        attempts.push_back({{"attempt", a.attempt},
                            {"started_at", a.started_at},
                            {"duration_ms", a.duration_ms},
                            {"status", or_null(a.status)},
                            {"error", or_null(a.error)}});
    }
    return {{"id", row.id},
            {"event_seq", row.event_seq},
            {"event_id", or_null(row.event_id)},
            {"event_type", or_null(row.event_type)},
            {"batch_id", or_null(row.batch_id)},
            {"target", row.target},
            {"state", row.state},
            {"attempts", row.attempts},
            {"next_attempt_at", or_null(row.next_attempt_at)},
            {"last_status", or_null(row.last_status)},
            {"last_error", or_null(row.last_error)},
            {"delivered_at", or_null(row.delivered_at)},
            {"attempt_log", std::move(attempts)}};
}

nlohmann::json to_json(const SyncRunRow& row) {
    return {{"id", row.id},
            {"kind", row.kind},
            {"started_at", row.started_at},
            {"finished_at", or_null(row.finished_at)},
            {"requests", row.requests},
            {"pages", row.pages},
            {"upserted", row.upserted},
            {"changed", row.changed},
            {"removed", row.removed},
            {"error", or_null(row.error)}};
}

DeliveryRow read_delivery(const SQLite::Statement& row) {
    DeliveryRow d;
    d.id = row.getColumn(0).getInt64();
    d.event_seq = row.getColumn(1).getInt64();
    d.target = row.getColumn(2).getString();
    d.state = row.getColumn(3).getString();
    d.attempts = row.getColumn(4).getInt64();
    d.next_attempt_at = optional_text(row.getColumn(5));
    if (!row.getColumn(6).isNull()) d.last_status = row.getColumn(6).getInt64();
    d.last_error = optional_text(row.getColumn(7));
    d.delivered_at = optional_text(row.getColumn(8));
    d.event_id = optional_text(row.getColumn(9));
    d.event_type = optional_text(row.getColumn(10));
    d.batch_id = optional_text(row.getColumn(11));
    return d;
}

void read_attempt_logs(cache::StatementCache& statements, std::vector<DeliveryRow>& rows) {
    auto& attempts = statements.get(
        "SELECT attempt, started_at, duration_ms, status, error FROM delivery_attempts WHERE delivery_id = ? "
        "ORDER BY attempt, id");
    for (auto& row : rows) {
        cache::StatementUse attempts_done(attempts);
        attempts.bind(1, row.id);
        while (attempts.executeStep()) {
            DeliveryAttemptRow a;
            a.attempt = attempts.getColumn(0).getInt64();
            a.started_at = attempts.getColumn(1).getString();
            a.duration_ms = attempts.getColumn(2).getInt64();
            if (!attempts.getColumn(3).isNull()) a.status = attempts.getColumn(3).getInt64();
            a.error = optional_text(attempts.getColumn(4));
            row.attempt_log.push_back(std::move(a));
        }
    }
}

}  // namespace extract::api
