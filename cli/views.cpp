#include "cli/views.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "core/duration.hpp"
#include "core/untrusted_text.hpp"

namespace extract::cli {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

// The fields of `object` named in `order` first, then any others (a newer daemon may add
// fields: show them rather than hide them), skipping `omit`.
Fields object_fields(const nlohmann::json& object, const std::vector<std::string_view>& order,
                     const std::vector<std::string_view>& omit = {}) {
    Fields fields;
    for (const auto key : order) {
        if (object.contains(key)) fields.emplace_back(std::string(key), cell_text(object.at(key)));
    }
    const auto listed = [](const std::vector<std::string_view>& keys, const std::string& key) {
        return std::find(keys.begin(), keys.end(), key) != keys.end();
    };
    for (const auto& [key, value] : object.items()) {
        if (!listed(order, key) && !listed(omit, key)) fields.emplace_back(key, cell_text(value));
    }
    return fields;
}

std::string count_text(const nlohmann::json& counts, std::string_view key) {
    const auto& value = member(counts, key);
    return value.is_null() ? "0" : cell_text(value);
}

Table event_table(const nlohmann::json& events, bool streaming) {
    Table table{{{"SEQ", Align::right},
                 {"CREATED_AT"},
                 {"TYPE"},
                 {"BATCH_ID"},
                 {"STATUS", Align::left, true},
                 {"PREVIOUS", Align::left, true}},
                {}};
    if (streaming) {
        // A typical seq, a timestamp, the longest event type, a batch id, the longest status.
        constexpr std::array<std::size_t, 5> kStreamWidths{6, 24, 20, 24, 16};
        for (std::size_t c = 0; c < kStreamWidths.size(); ++c) table.columns[c].min_width = kStreamWidths[c];
    }
    for (const auto& event : events) {
        const auto& data = member(event, "data");
        table.rows.push_back({cell_text(member(event, "seq")), cell_text(member(event, "created_at")),
                              cell_text(member(event, "type")), cell_text(member(event, "batch_id")),
                              cell_text(member(member(data, "batch"), "status")),
                              cell_text(member(data, "previous_status"))});
    }
    return table;
}

}  // namespace

const nlohmann::json& member(const nlohmann::json& object, std::string_view key) {
    static const nlohmann::json kNull;
    if (!object.is_object()) return kNull;
    const auto it = object.find(key);
    return it == object.end() ? kNull : *it;
}

std::string cell_text(const nlohmann::json& value) {
    if (value.is_null()) return "-";
    // Upstream strings (ids, statuses, metadata) reach the terminal: control bytes and escape
    // sequences are shown escaped, never interpreted. Backslashes stay: a set-aside id comes
    // escaped already, and --json is there for the exact text.
    if (value.is_string()) return escape_untrusted(value.get_ref<const std::string&>(), std::string::npos, false);
    if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
    return value.dump();
}

bool is_removed(const nlohmann::json& batch) { return !member(member(batch, "mirror"), "removed_at").is_null(); }

nlohmann::json list_rows(const nlohmann::json& answer) {
    if (answer.is_array()) return answer;
    const auto& data = member(answer, "data");
    return data.is_array() ? data : nlohmann::json::array();
}

std::string render_batch_list(const nlohmann::json& batches, const OutputStyle& style) {
    const bool any_removed = std::any_of(batches.begin(), batches.end(), is_removed);
    Table table{{{"ID"},
                 {"STATUS", Align::left, true},
                 {"ENGINE"},
                 {"TOTAL", Align::right},
                 {"SUCCEEDED", Align::right},
                 {"FAILED", Align::right},
                 {"CREATED_AT"}},
                {}};
    if (any_removed) table.columns.push_back({"REMOVED_AT"});
    for (const auto& batch : batches) {
        const auto& counts = member(batch, "counts");
        std::vector<std::string> row{cell_text(member(batch, "id")),        cell_text(member(batch, "status")),
                                     cell_text(member(batch, "engine")),    cell_text(member(batch, "total_items")),
                                     count_text(counts, "succeeded"),       count_text(counts, "failed"),
                                     cell_text(member(batch, "created_at"))};
        if (any_removed) row.push_back(cell_text(member(member(batch, "mirror"), "removed_at")));
        table.rows.push_back(std::move(row));
    }
    if (table.rows.empty()) return "no batches\n";
    return render_table(table, style);
}

std::string render_batch(const nlohmann::json& batch, const OutputStyle& style) {
    Fields fields{{"id", cell_text(member(batch, "id"))},
                  {"status", cell_text(member(batch, "status"))},
                  {"engine", cell_text(member(batch, "engine"))}};
    const auto& counts = member(batch, "counts");
    fields.emplace_back("items", cell_text(member(batch, "total_items")) + " total: " + count_text(counts, "pending") +
                                     " pending, " + count_text(counts, "running") + " running, " +
                                     count_text(counts, "succeeded") + " succeeded, " + count_text(counts, "failed") +
                                     " failed, " + count_text(counts, "cancelled") + " cancelled");
    for (const auto key : {"created_at", "started_at", "completed_at", "expires_at", "metadata", "options"}) {
        fields.emplace_back(key, cell_text(member(batch, key)));
    }
    const auto& mirror = member(batch, "mirror");
    for (const auto key : {"first_seen_at", "last_seen_at", "last_changed_at", "removed_at"}) {
        fields.emplace_back(key, cell_text(member(mirror, key)));
    }
    std::string out = render_fields(fields, style, {"status"});

    Table transitions{{{"SEQ", Align::right}, {"FROM", Align::left, true}, {"TO", Align::left, true}, {"OBSERVED_AT"}},
                      {}};
    for (const auto& t : list_rows(member(batch, "transitions"))) {
        transitions.rows.push_back({cell_text(member(t, "seq")), cell_text(member(t, "from_status")),
                                    cell_text(member(t, "to_status")), cell_text(member(t, "observed_at"))});
    }
    out += "\ntransitions:\n";
    out += transitions.rows.empty() ? "none recorded\n" : render_table(transitions, style);
    return out;
}

std::string render_events(const nlohmann::json& events, const OutputStyle& style) {
    if (events.empty()) return "no events\n";
    return render_table(event_table(events, false), style);
}

std::string render_event_stream_header(const OutputStyle& style) {
    return render_table(event_table(nlohmann::json::array(), true), style);
}

std::string render_event_stream_rows(const nlohmann::json& events, const OutputStyle& style) {
    return render_table(event_table(events, true), style, /*header=*/false);
}

std::string render_stats(const nlohmann::json& stats, const OutputStyle& style) {
    const auto& batches = member(stats, "batches");
    const auto& deliveries = member(stats, "deliveries");
    Fields fields{{"batches",
                   cell_text(member(batches, "total")) + " (" + count_text(batches, "removed") + " removed)"},
                  {"events", cell_text(member(stats, "events"))}};
    std::string delivery_summary;
    if (deliveries.is_object()) {
        for (const auto& [state, count] : deliveries.items()) {
            if (!delivery_summary.empty()) delivery_summary += ", ";
            delivery_summary += cell_text(count) + " " + state;
        }
    }
    fields.emplace_back("deliveries", delivery_summary.empty() ? "-" : delivery_summary);
    for (auto& field : object_fields(stats, {}, {"batches", "events", "deliveries"}))
        fields.push_back(std::move(field));
    std::string out = render_fields(fields, style);

    Table by_status{{{"STATUS", Align::left, true}, {"BATCHES", Align::right}}, {}};
    const auto& counts = member(batches, "by_status");
    if (counts.is_object()) {
        for (const auto& [status, count] : counts.items()) by_status.rows.push_back({status, cell_text(count)});
    }
    if (!by_status.rows.empty()) out += "\n" + render_table(by_status, style);
    return out;
}

// "120 pages, 24000 batches, 850.0 batches/s, about 3m left (of 500 pages)"; "-" when no pass runs.
std::string progress_text(const nlohmann::json& progress) {
    if (!progress.is_object()) return "-";
    std::string text = cell_text(member(progress, "pages")) + " pages, " + cell_text(member(progress, "batches")) +
                       " batches, " + cell_text(member(progress, "batches_per_second")) + " batches/s";
    const auto& left = member(progress, "estimated_seconds_left");
    if (left.is_number_integer() && left.get<std::int64_t>() >= 0) {
        text += ", about " + format_duration(std::chrono::seconds(left.get<std::int64_t>())) + " left (of " +
                cell_text(member(progress, "expected_pages")) + " pages)";
    }
    return text;
}

std::string render_health(const nlohmann::json& health, const OutputStyle& style) {
    Fields fields = object_fields(health,
                                  {"status", "version", "synced", "last_sync_at", "last_full_sync_at", "last_error",
                                   "consecutive_failures", "disabled_targets", "held_removals"},
                                  {"progress", "set_aside"});
    // Disabled targets one per comma, not as JSON; progress as one line, only while a full pass runs.
    for (auto& [key, value] : fields) {
        if (key != "disabled_targets") continue;
        const auto& targets = member(health, "disabled_targets");
        value.clear();
        if (targets.is_array()) {
            for (const auto& t : targets) value += (value.empty() ? "" : ", ") + cell_text(t);
        }
        if (value.empty()) value = "-";
    }
    if (const auto& progress = member(health, "progress"); progress.is_object()) {
        fields.emplace_back("progress", progress_text(progress));
    }
    const auto& set_aside = member(health, "set_aside");
    if (set_aside.is_object()) fields.emplace_back("set_aside", cell_text(member(set_aside, "count")));
    std::string out = render_fields(fields, style, {"status"});

    // The batches the mirror could not store: what an operator has to look at.
    Table batches{{{"SET ASIDE BATCH"}, {"REASON"}, {"SINCE"}}, {}};
    for (const auto& b : list_rows(member(set_aside, "batches"))) {
        batches.rows.push_back(
            {cell_text(member(b, "batch_id")), cell_text(member(b, "reason")), cell_text(member(b, "first_seen_at"))});
    }
    if (!batches.rows.empty()) out += "\n" + render_table(batches, style);
    return out;
}

std::string render_sync_run(const nlohmann::json& run, const OutputStyle& style) {
    return render_fields(object_fields(run, {"id", "kind", "started_at", "finished_at", "requests", "pages", "upserted",
                                             "changed", "removed", "error"}),
                         style);
}

std::string render_deliveries(const nlohmann::json& deliveries, const OutputStyle& style) {
    Table table{{{"ID", Align::right},
                 {"EVENT", Align::right},
                 {"TARGET"},
                 {"STATE", Align::left, true},
                 {"ATTEMPTS", Align::right},
                 {"LAST", Align::right},
                 {"NEXT_ATTEMPT_AT"},
                 {"DELIVERED_AT"},
                 {"LAST_ERROR"}},
                {}};
    for (const auto& d : deliveries) {
        table.rows.push_back({cell_text(member(d, "id")), cell_text(member(d, "event_seq")),
                              cell_text(member(d, "target")), cell_text(member(d, "state")),
                              cell_text(member(d, "attempts")), cell_text(member(d, "last_status")),
                              cell_text(member(d, "next_attempt_at")), cell_text(member(d, "delivered_at")),
                              cell_text(member(d, "last_error"))});
    }
    if (table.rows.empty()) return "no deliveries\n";
    return render_table(table, style);
}

std::string render_redelivered(const nlohmann::json& answer, const OutputStyle& style) {
    // One delivery row, a list of rows, or a count: whichever the daemon answers.
    if (answer.is_object() && answer.contains("id") && answer.contains("target")) {
        return "delivery " + cell_text(answer.at("id")) + " to " + cell_text(answer.at("target")) +
               " will be sent again now\n";
    }
    if (answer.is_array() || member(answer, "data").is_array()) {
        const auto rows = list_rows(answer);
        std::string out = std::to_string(rows.size()) + (rows.size() == 1 ? " delivery" : " deliveries") +
                          " will be sent again now\n";
        if (!rows.empty()) out += render_deliveries(rows, style);
        return out;
    }
    for (const auto key : {"retried", "count", "updated", "affected"}) {
        const auto& count = member(answer, key);
        if (count.is_number_integer()) {
            const auto n = count.get<std::int64_t>();
            return std::to_string(n) + (n == 1 ? " delivery" : " deliveries") + " will be sent again now\n";
        }
    }
    return render_fields(object_fields(answer, {}), style);
}

std::string render_wait_progress(const nlohmann::json& batch, const OutputStyle& style) {
    // cell_text escapes the upstream's control bytes: they cannot move the cursor.
    const auto& counts = member(batch, "counts");
    return cell_text(member(batch, "id")) + " " + colorize(cell_text(member(batch, "status")), style) + ": " +
           cell_text(member(counts, "succeeded")) + " succeeded, " + cell_text(member(counts, "failed")) +
           " failed of " + cell_text(member(batch, "total_items")) + " items";
}

std::string render_wait_outcome(const std::string& batch_id, const std::string& status, const OutputStyle& style) {
    return escape_untrusted(batch_id, std::string::npos, false) + " " +
           colorize(escape_untrusted(status, std::string::npos, false), style) + "\n";
}

}  // namespace extract::cli
