#include "api/routes.hpp"

#include <SQLiteCpp/Exception.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "api/mirror_rows.hpp"
#include "api/openapi_document.hpp"
#include "api/query_params.hpp"
#include "core/duration.hpp"

namespace extract::api {

using http::detail_reply;
using http::EventNotifier;
using http::HttpReply;
using http::HttpRequest;
using http::json_reply;
using http::ParkForEvents;
using http::Router;

namespace {

constexpr std::int64_t kMaxEventsPerPage = 1000;
constexpr std::int64_t kMaxDeliveriesPerPage = 1000;
// metadata.KEY filters in one request: bounds the statement shapes a worker keeps prepared.
constexpr std::size_t kMaxMetadataFilters = 8;
constexpr int kSetAsideShown = 20;  // set-aside batches listed in /v1/health
constexpr const char* kForeignCursor =
    "not a cursor this mirror's API gave (edited, cut short, or from another mirror): pass next_cursor unchanged";

// The path parameter `name` as a delivery id, or the 422 naming it.
std::variant<std::int64_t, HttpReply> path_integer(std::string_view name, const std::string& text) {
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc{} && end == text.data() + text.size()) return value;
    ValidationErrors errors;
    errors.add("path", name, "int_parsing", "Input should be a valid integer, unable to parse string as an integer",
               text);
    return errors.reply();
}

// A batch id as it may go into an upstream URL: 1..128 characters, letters, digits and
// `-_.:`, starting with a letter or digit (no `.`/`..` segment, no control or URL syntax).
constexpr std::size_t kMaxBatchIdLength = 128;

std::optional<HttpReply> invalid_batch_id(const std::string& id) {
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
    const bool valid = !id.empty() && id.size() <= kMaxBatchIdLength && alnum(id.front()) &&
                       std::all_of(id.begin(), id.end(),
                                   [&](char c) { return alnum(c) || c == '-' || c == '_' || c == '.' || c == ':'; });
    if (valid) return std::nullopt;
    ValidationErrors errors;
    errors.add("path", "batch_id", "string_pattern_mismatch",
               "a batch id is 1 to " + std::to_string(kMaxBatchIdLength) +
                   " letters, digits, '-', '_', '.' or ':', starting with a letter or digit",
               id.substr(0, kMaxBatchIdLength));
    return errors.reply();
}

// GET /v1/batches/{id}'s answer, or its 404.
HttpReply batch_reply(MirrorReader& reader, const std::string& id);

nlohmann::json list_of(const nlohmann::json& items) { return {{"object", "list"}, {"data", items}}; }

template <class Rows>
nlohmann::json json_array(const Rows& rows) {
    auto out = nlohmann::json::array();
    for (const auto& row : rows) out.push_back(to_json(row));
    return out;
}

// The metadata.KEY=VALUE parameters, checked: a key SQLite's JSON path can name, not too many.
std::vector<std::pair<std::string, std::string>> metadata_filters(QueryParams& query) {
    auto filters = query.with_prefix(kMetadataPrefix);
    for (const auto& [key, value] : filters) {
        const std::string name = std::string(kMetadataPrefix) + key;
        if (key.empty()) query.reject(name, "name a metadata key after 'metadata.', e.g. metadata.project=x");
        if (key.find('"') != std::string::npos) query.reject(name, "a metadata key with '\"' cannot be matched");
    }
    if (filters.size() > kMaxMetadataFilters) {
        query.reject(std::string(kMetadataPrefix) + filters.back().first,
                     "at most " + std::to_string(kMaxMetadataFilters) + " metadata filters in one request");
    }
    return filters;
}

std::string route_label(const std::string* pattern) { return pattern ? *pattern : std::string("unmatched"); }

}  // namespace

ApiRoutes::ApiRoutes(ApiOptions options, DaemonLink& link, EventNotifier& notifier, extract::metrics::Metrics& metrics,
                     const Clock& clock)
    : options_(std::move(options)),
      link_(link),
      notifier_(notifier),
      metrics_(metrics),
      clock_(clock),
      cursors_(options_.cursor_key) {
    router_.add("GET", "/v1/batches", &ApiRoutes::list_batches);
    router_.add("GET", "/v1/batches/{batch_id}", &ApiRoutes::get_batch);
    router_.add("POST", "/v1/batches/{batch_id}/refresh", &ApiRoutes::refresh_batch);
    router_.add("GET", "/v1/batches/{batch_id}/transitions", &ApiRoutes::batch_transitions);
    router_.add("GET", "/v1/events", &ApiRoutes::list_events);
    router_.add("GET", "/v1/stats", &ApiRoutes::stats);
    router_.add("GET", "/v1/health", &ApiRoutes::health);
    router_.add("POST", "/v1/sync", &ApiRoutes::sync);
    router_.add("GET", "/v1/deliveries", &ApiRoutes::list_deliveries);
    router_.add("POST", "/v1/deliveries/retry", &ApiRoutes::retry_deliveries);
    router_.add("POST", "/v1/deliveries/{delivery_id}/retry", &ApiRoutes::retry_delivery);
    router_.add("GET", "/v1/transitions", &ApiRoutes::transition_feed);
    router_.add("GET", "/v1/report", &ApiRoutes::report);
    router_.add("GET", "/v1/backup", &ApiRoutes::backup);
    router_.add("GET", "/metrics", &ApiRoutes::metrics);
    router_.add("GET", "/openapi.json", &ApiRoutes::openapi);
}

std::vector<std::pair<std::string, std::string>> ApiRoutes::route_table() const {
    std::vector<std::pair<std::string, std::string>> table;
    for (const auto& route : router_.routes()) table.emplace_back(route.method, route.pattern);
    return table;
}

RouteOutcome ApiRoutes::handle(const HttpRequest& request, MirrorConnections& mirror,
                               std::optional<SteadyTime> long_poll_deadline) {
    // HEAD is GET without the body (RFC 9110): the connection leaves the body out.
    auto matched = router_.match(request.method == "HEAD" ? std::string_view("GET") : request.method, request.path);
    const std::string* pattern = nullptr;
    RouteOutcome outcome;
    if (auto* reply = std::get_if<HttpReply>(&matched)) {
        outcome = std::move(*reply);
    } else {
        const auto& match = std::get<Router<Handler>::Match>(matched);
        pattern = &match.route->pattern;
        try {
            outcome = match.route->handler(*this, Call{request, match.params, mirror, long_poll_deadline});
        } catch (const SQLite::Exception& e) {
            // A locked, missing or damaged file: say so, and reopen on the next request.
            spdlog::error("api: {} {}: mirror database error: {}", request.method, *pattern, e.what());
            mirror.reset();
            outcome = detail_reply(503, std::string("the mirror database cannot be read: ") + e.what());
        } catch (const std::exception& e) {
            spdlog::error("api: {} {}: {}", request.method, *pattern, e.what());
            outcome = detail_reply(500, std::string("internal error: ") + e.what());
        }
    }
    if (auto* ready = std::get_if<HttpReply>(&outcome)) {
        metrics_.api_request(route_label(pattern), ready->status);
    } else if (auto* blocking = std::get_if<RunBlocking>(&outcome)) {
        blocking->call = [this, call = std::move(blocking->call), label = route_label(pattern)] {
            HttpReply reply;
            try {
                reply = call();
            } catch (const std::exception& e) {  // on a thread of its own: nothing above would catch it
                spdlog::error("api: {}: {}", label, e.what());
                reply = detail_reply(500, std::string("internal error: ") + e.what());
            }
            metrics_.api_request(label, reply.status);
            return reply;
        };
    }
    return outcome;
}

RouteOutcome ApiRoutes::list_batches(const Call& call) {
    QueryParams query(call.request.query);
    BatchListQuery q;
    q.status = query.text("status");
    q.engine = query.text("engine");
    q.limit = static_cast<int>(query.integer("limit", 50, 1, 200));
    q.created_after = query.timestamp("created_after");
    q.created_before = query.timestamp("created_before");
    q.include_removed = query.boolean("include_removed", false);
    q.metadata = metadata_filters(query);
    if (const auto cursor = query.text("cursor"); cursor && !cursor->empty()) {
        q.after = cursors_.batches_position(*cursor);
        if (!q.after) query.reject("cursor", kForeignCursor);
    }
    if (!query.errors().empty()) return query.errors().reply();

    const auto page = call.mirror.reader().list_batches(q);
    // The items are the upstream objects exactly as mirrored: splice their stored JSON text
    // (valid JSON, checked by the schema) instead of parsing and printing each again.
    std::string body = R"({"object":"list","data":[)";
    for (std::size_t i = 0; i < page.raw_items.size(); ++i) {
        if (i > 0) body += ',';
        body += page.raw_items[i];
    }
    body += R"(],"next_cursor":)";
    body += page.next ? nlohmann::json(cursors_.batches_cursor(*page.next)).dump() : "null";
    body += '}';
    HttpReply reply;
    reply.body = std::move(body);
    return reply;
}

RouteOutcome ApiRoutes::get_batch(const Call& call) { return batch_reply(call.mirror.reader(), call.params.at(0)); }

RouteOutcome ApiRoutes::refresh_batch(const Call& call) {
    std::string id = call.params.at(0);
    if (auto invalid = invalid_batch_id(id)) return std::move(*invalid);
    return RunBlocking{[this, id = std::move(id)] {
        const RefreshOutcome outcome = link_.refresh_batch(id, options_.max_refresh_wait);
        switch (outcome.result) {
            case RefreshResult::refreshed: {
                // This thread is not a worker: it reads through a connection of its own.
                MirrorReader reader(options_.db_path);
                return batch_reply(reader, id);
            }
            case RefreshResult::not_found: return detail_reply(404, outcome.detail);
            case RefreshResult::unavailable: break;
        }
        return detail_reply(503, outcome.detail);
    }};
}

namespace {

HttpReply batch_reply(MirrorReader& reader, const std::string& id) {
    const auto detail = reader.batch(id);
    if (!detail) return detail_reply(404, "batch not found");
    const nlohmann::json mirror{{"first_seen_at", detail->mirror.first_seen_at},
                                {"last_seen_at", detail->mirror.last_seen_at},
                                {"last_changed_at", detail->mirror.last_changed_at},
                                {"removed_at",
                                 detail->mirror.removed_at ? nlohmann::json(*detail->mirror.removed_at) : nullptr}};
    const nlohmann::json transitions = json_array(detail->transitions);
    // The stored object (valid JSON, checked by the schema) with the two members spliced in
    // before its closing brace: parsing and printing the whole object again was a fifth of
    // the request's cost (issue 7). An upstream object that already has a member of either
    // name (unknown fields are kept) gets ours in its place the slow way.
    const std::string& raw = detail->raw;
    const auto close = raw.find_last_of('}');
    if (close == std::string::npos || raw.find("\"mirror\"") != std::string::npos ||
        raw.find("\"transitions\"") != std::string::npos) {
        auto body = nlohmann::json::parse(raw);
        body["mirror"] = mirror;
        body["transitions"] = transitions;
        return json_reply(200, body);
    }
    const auto last = raw.find_last_not_of(" \t\r\n", close - 1);
    const bool empty_object = last == std::string::npos || raw[last] == '{';
    HttpReply reply;
    reply.body.reserve(raw.size() + 256 + 128 * detail->transitions.size());
    reply.body.append(raw, 0, close);
    reply.body += empty_object ? R"("mirror":)" : R"(,"mirror":)";
    reply.body += mirror.dump();
    reply.body += R"(,"transitions":)";
    reply.body += transitions.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    reply.body += '}';
    return reply;
}

}  // namespace

RouteOutcome ApiRoutes::batch_transitions(const Call& call) {
    const auto rows = call.mirror.reader().transitions(call.params.at(0));
    if (!rows) return detail_reply(404, "batch not found");
    return json_reply(200, list_of(json_array(*rows)));
}

RouteOutcome ApiRoutes::list_events(const Call& call) {
    QueryParams query(call.request.query);
    EventQuery q;
    q.after = query.integer("after", 0, 0, std::numeric_limits<std::int64_t>::max());
    q.type = query.one_of("type", kEventTypes);
    q.batch_id = query.text("batch_id");
    q.limit = static_cast<int>(query.integer("limit", 100, 1, kMaxEventsPerPage));
    const auto wait = query.duration("wait");
    if (!query.errors().empty()) return query.errors().reply();

    // Sampled before the query: a commit between the two shows as a changed generation and
    // the parked request is asked again at once, so no event slips past a waiter.
    const auto generation = notifier_.generation();
    const auto page = call.mirror.reader().events(q);
    if (wait && wait->count() > 0 && page.events.empty() && !page.truncated) {
        const auto now = clock_.steady_now();
        const auto deadline = call.long_poll_deadline.value_or(now + std::min(*wait, options_.long_poll_cap));
        if (now < deadline) return ParkForEvents{deadline, generation};
    }
    HttpReply reply;
    reply.body = R"({"object":"list","data":[)";
    for (std::size_t i = 0; i < page.events.size(); ++i) {
        if (i > 0) reply.body += ',';
        append_json(reply.body, page.events[i]);
    }
    reply.body += R"(],"last_seq":)";
    reply.body += std::to_string(page.last_seq);
    reply.body += page.truncated ? R"(,"truncated":true})" : R"(,"truncated":false})";
    return reply;
}

RouteOutcome ApiRoutes::stats(const Call& call) {
    const auto s = call.mirror.reader().stats();
    auto deliveries = [&](const char* state) {
        const auto it = s.deliveries_by_state.find(state);
        return it == s.deliveries_by_state.end() ? std::int64_t{0} : it->second;
    };
    return json_reply(200,
                      {{"batches",
                        {{"total", s.batches_total}, {"by_status", s.live_by_status}, {"removed", s.batches_removed}}},
                       {"events", s.events},
                       {"set_aside", s.set_aside},
                       {"deliveries",
                        {{"pending", deliveries("pending")},
                         {"failed", deliveries("failed")},
                         {"delivered", deliveries("delivered")}}}});
}

namespace {

nlohmann::json progress_json(const std::optional<SyncProgress>& p) {
    if (!p) return nullptr;
    return {{"pages", p->pages},
            {"batches", p->batches},
            {"batches_per_second", std::round(p->batches_per_second * 10) / 10},
            {"expected_pages", or_null(p->expected_pages)},
            {"estimated_seconds_left", or_null(p->estimated_seconds_left)}};
}

}  // namespace

RouteOutcome ApiRoutes::health(const Call& call) {
    const HealthSnapshot h = link_.health();
    nlohmann::json body{{"status", std::string(to_string(h.status))},
                        {"version", options_.version},
                        {"synced", h.synced},
                        {"last_sync_at", or_null(h.last_sync_at)},
                        {"last_full_sync_at", or_null(h.last_full_sync_at)},
                        {"last_error", or_null(h.last_error)},
                        {"consecutive_failures", h.consecutive_failures},
                        {"disabled_targets", h.disabled_targets},
                        {"held_removals", h.held_removals},
                        {"progress", progress_json(h.progress)}};
    // Batches set aside do not make the daemon unhealthy (everything else syncs), but an operator
    // looking at health must see them. The first few are listed; the table holds them all.
    // Health answers even when the mirror cannot be read; `set_aside` is then left out.
    try {
        const SetAsideSummary set_aside = call.mirror.reader().set_aside(kSetAsideShown);
        nlohmann::json listed = nlohmann::json::array();
        for (const SetAsideBatch& b : set_aside.batches) {
            listed.push_back({{"batch_id", b.batch_id},
                              {"reason", b.reason},
                              {"first_seen_at", b.first_seen_at},
                              {"last_seen_at", b.last_seen_at}});
        }
        body["set_aside"] = {{"count", set_aside.count}, {"batches", std::move(listed)}};
    } catch (const std::exception&) {
        // The mirror is missing or unreadable: the rest of the report still stands.
    }
    return json_reply(h.status == HealthStatus::ok ? 200 : 503, body);
}

RouteOutcome ApiRoutes::sync(const Call& call) {
    QueryParams query(call.request.query);
    SyncRequest what;
    what.full = query.boolean("full", false);
    what.confirm_removals = query.boolean("confirm_removals", false);
    const bool wait = query.boolean("wait", false);
    // How long to wait with wait=true (extractctl sync --timeout); at most max_sync_wait.
    const Millis max_wait =
        std::min(query.duration("timeout").value_or(options_.max_sync_wait), options_.max_sync_wait);
    // Only a complete full pass removes anything, so only one can apply held removals.
    if (what.confirm_removals && !what.full) {
        query.reject("confirm_removals",
                     "confirm_removals=true needs full=true: only a complete full pass removes "
                     "batches, so only one can apply held removals");
    }
    if (!query.errors().empty()) return query.errors().reply();
    if (!wait) {
        link_.request_sync(what, false, Millis{0});
        return json_reply(202, {{"detail", "sync requested"}});
    }
    return RunBlocking{[this, what, max_wait] {
        const auto run_id = link_.request_sync(what, true, max_wait);
        if (!run_id) {
            return detail_reply(504, "the sync did not finish within " + format_duration(max_wait) +
                                         "; it goes on: see GET /v1/health");
        }
        // This thread is not a worker: it reads through a connection of its own.
        const auto row = MirrorReader(options_.db_path).sync_run(*run_id);
        if (!row) {
            // The cycle failed before its sync_runs row could be written (a locked or full database, say).
            const auto error = link_.health().last_error;
            return detail_reply(503, "the sync failed before it could be recorded: " + error.value_or("unknown error"));
        }
        return json_reply(200, to_json(*row));
    }};
}

RouteOutcome ApiRoutes::list_deliveries(const Call& call) {
    QueryParams query(call.request.query);
    DeliveryQuery q;
    q.state = query.one_of("state", kDeliveryStates);
    q.target = query.text("target");
    q.limit = static_cast<int>(query.integer("limit", 100, 1, kMaxDeliveriesPerPage));
    if (const auto cursor = query.text("cursor"); cursor && !cursor->empty()) {
        q.before_id = cursors_.deliveries_position(*cursor);
        if (!q.before_id) query.reject("cursor", kForeignCursor);
    }
    if (!query.errors().empty()) return query.errors().reply();
    const auto page = call.mirror.reader().deliveries(q);
    nlohmann::json body = list_of(json_array(page.rows));
    body["next_cursor"] =
        page.next_before_id ? nlohmann::json(cursors_.deliveries_cursor(*page.next_before_id)) : nullptr;
    return json_reply(200, body);
}

RouteOutcome ApiRoutes::retry_delivery(const Call& call) {
    const auto id = path_integer("delivery_id", call.params.at(0));
    if (const auto* reply = std::get_if<HttpReply>(&id)) return *reply;
    const auto row = call.mirror.retrier().retry(std::get<std::int64_t>(id));
    if (!row) return detail_reply(404, "delivery not found");
    link_.deliveries_changed();
    return json_reply(200, to_json(*row));
}

RouteOutcome ApiRoutes::retry_deliveries(const Call& call) {
    QueryParams query(call.request.query);
    DeliveryRetryFilter filter;
    filter.state = query.one_of("state", kDeliveryStates).value_or("failed");
    filter.target = query.text("target");
    filter.since = query.timestamp("since");
    if (!query.errors().empty()) return query.errors().reply();
    const auto rows = call.mirror.retrier().retry_matching(filter);
    if (!rows.empty()) link_.deliveries_changed();
    nlohmann::json body = list_of(json_array(rows));
    body["count"] = rows.size();
    return json_reply(200, body);
}

RouteOutcome ApiRoutes::metrics(const Call& call) {
    // Mirror-derived gauges are read per scrape, so they are as fresh as the mirror.
    const auto s = call.mirror.reader().stats();
    metrics_.batches_by_status(s.live_by_status);
    metrics_.batches_removed(s.batches_removed);
    metrics_.deliveries_by_state(s.deliveries_by_state);
    const HealthSnapshot health = link_.health();
    metrics_.health_status(health.status);
    metrics_.sync_paused(health.paused);
    metrics_.held_removals(health.held_removals);
    HttpReply reply;
    reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
    reply.body = metrics_.render();
    return reply;
}

RouteOutcome ApiRoutes::openapi(const Call&) {
    HttpReply reply;
    reply.body = std::string(kOpenApiDocument);
    return reply;
}

}  // namespace extract::api
