#pragma once
// The human views of the local API's answers: JSON in, table text out, nothing else, so
// each layout is testable without a daemon.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cli/table.hpp"

namespace extract::cli {

// `object[key]`, or null when `object` is not an object or has no such key: answers are
// read defensively, a missing field is shown as "-", never a crash.
const nlohmann::json& member(const nlohmann::json& object, std::string_view key);

// A JSON value as one table cell: strings as they are, null or missing as "-".
std::string cell_text(const nlohmann::json& value);

// `batches`: the `data` array of GET /v1/batches (all pages joined for --all).
std::string render_batch_list(const nlohmann::json& batches, const OutputStyle& style);
// GET /v1/batches/{id}: the fields, then the transitions.
std::string render_batch(const nlohmann::json& batch, const OutputStyle& style);

// The event log as one table, each column as wide as its content.
std::string render_events(const nlohmann::json& events, const OutputStyle& style);
// events --follow: the header once, then rows as they arrive. The columns have fixed minimum
// widths so that rows printed later still line up under the header.
std::string render_event_stream_header(const OutputStyle& style);
std::string render_event_stream_rows(const nlohmann::json& events, const OutputStyle& style);

std::string render_stats(const nlohmann::json& stats, const OutputStyle& style);
std::string render_health(const nlohmann::json& health, const OutputStyle& style);
// A sync_runs row.
std::string render_sync_run(const nlohmann::json& run, const OutputStyle& style);
// `deliveries`: the rows of GET /v1/deliveries.
std::string render_deliveries(const nlohmann::json& deliveries, const OutputStyle& style);
// The answer of POST /v1/deliveries/{id}/retry or /v1/deliveries/retry.
std::string render_redelivered(const nlohmann::json& answer, const OutputStyle& style);

// The status a wait ends on: the "ID STATUS" line.
// `wait`'s progress line (no newline: it is rewritten in place): "bat_1 running: 4 succeeded,
// 0 failed of 5 items". Control characters from the upstream's text become '?'.
std::string render_wait_progress(const nlohmann::json& batch, const OutputStyle& style);
std::string render_wait_outcome(const std::string& batch_id, const std::string& status, const OutputStyle& style);

// Whether a batch answer says, in "mirror", that the upstream has forgotten it.
bool is_removed(const nlohmann::json& batch);

// The rows of a list answer: `data` of {"object":"list","data":[…]}, or a bare array.
nlohmann::json list_rows(const nlohmann::json& answer);

}  // namespace extract::cli
