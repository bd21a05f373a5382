#include "sim/sim_service.hpp"

#include <charconv>

#include "sim/batch_json.hpp"

namespace extract::sim {
namespace {

constexpr std::string_view kListPath = "/v1/batches";
constexpr std::string_view kBatchPrefix = "/v1/batches/";
constexpr int kMaxCreate = 1'000'000;

SimResponse json_response(int status, const nlohmann::json& body) { return {status, body.dump(), {}}; }

SimResponse detail(int status, std::string_view message) {
    return json_response(status, nlohmann::json{{"detail", message}});
}

std::optional<std::string> query_param(const SimRequest& request, std::string_view name) {
    std::optional<std::string> value;
    for (const auto& [key, v] : request.query) {
        if (key == name) value = v;  // the last one wins, as in Starlette
    }
    return value;
}

// The query parameter's value, with an empty value treated as absent.
std::optional<std::string> nonempty_param(const SimRequest& request, std::string_view name) {
    auto value = query_param(request, name);
    if (value && value->empty()) value.reset();
    return value;
}

// FastAPI's HTTPValidationError entries for `limit` (1..max) and `cursor`.
nlohmann::json validation_error(std::string_view field, std::string_view type, std::string_view message,
                                const std::string& input, nlohmann::json ctx = nullptr) {
    nlohmann::json e{{"type", type}, {"loc", {"query", field}}, {"msg", message}, {"input", input}};
    if (!ctx.is_null()) e["ctx"] = std::move(ctx);
    return e;
}

int read_limit(const SimRequest& request, int fallback, int max, nlohmann::json& errors) {
    const auto raw = query_param(request, "limit");
    if (!raw) return fallback;
    std::string_view digits = *raw;
    if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
    long long value = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || end != digits.data() + digits.size() ||
        (ec != std::errc{} && ec != std::errc::result_out_of_range)) {
        errors.push_back(validation_error("limit", "int_parsing",
                                          "Input should be a valid integer, unable to parse string as an integer",
                                          *raw));
        return fallback;
    }
    const bool negative = !digits.empty() && digits.front() == '-';
    if (ec == std::errc::result_out_of_range ? negative : value < 1) {
        errors.push_back(validation_error("limit", "greater_than_equal", "Input should be greater than or equal to 1",
                                          *raw, {{"ge", 1}}));
        return fallback;
    }
    if (ec == std::errc::result_out_of_range || value > max) {
        errors.push_back(validation_error("limit", "less_than_equal",
                                          "Input should be less than or equal to " + std::to_string(max), *raw,
                                          {{"le", max}}));
        return fallback;
    }
    return static_cast<int>(value);
}

std::optional<ListingPosition> read_cursor(const SimRequest& request, nlohmann::json& errors) {
    const auto raw = nonempty_param(request, "cursor");
    if (!raw) return std::nullopt;
    auto position = decode_cursor(*raw);
    if (!position) {
        errors.push_back(validation_error("cursor", "value_error", "Value error, invalid cursor", *raw,
                                          {{"error", "invalid cursor"}}));
    }
    return position;
}

SimResponse validation_failure(nlohmann::json errors) {
    return json_response(422, nlohmann::json{{"detail", std::move(errors)}});
}

// The batch's items, made up from its counts: finished items first, then running, then
// pending, all updated when the batch last changed, so (updated_at, id) order is index order.
void append_items(std::string& out, std::string_view batch_id, const BatchView& batch, std::size_t first,
                  std::size_t limit, std::size_t& next) {
    const std::array<std::pair<std::string_view, std::int32_t>, 5> runs{{{"succeeded", batch.counts.succeeded},
                                                                         {"failed", batch.counts.failed},
                                                                         {"cancelled", batch.counts.cancelled},
                                                                         {"running", batch.counts.running},
                                                                         {"pending", batch.counts.pending}}};
    std::size_t total = 0;
    for (const auto& [name, n] : runs) total += static_cast<std::size_t>(std::max(0, n));
    std::string updated_at;
    append_upstream_timestamp(updated_at, batch.updated_at);
    first = std::min(first, total);
    next = std::min(total, first + limit);
    for (std::size_t i = first; i < next; ++i) {
        std::size_t index = i;
        std::string_view item_status = "pending";
        for (const auto& [name, n] : runs) {
            if (index < static_cast<std::size_t>(std::max(0, n))) {
                item_status = name;
                break;
            }
            index -= static_cast<std::size_t>(std::max(0, n));
        }
        if (i > first) out += ',';
        std::string number = std::to_string(i + 1);
        number.insert(0, number.size() < 6 ? 6 - number.size() : 0, '0');
        out += R"({"object":"batch_item","id":"itm_)";
        out += batch_id.substr(kBatchIdPrefix.size());
        out += '_';
        out += number;
        out += R"(","status":")";
        out += item_status;
        out += R"(","updated_at":")";
        out += updated_at;
        out += "\"}";
    }
    if (next >= total) next = 0;
}

std::optional<nlohmann::json> parse_body(const std::string& body) {
    if (body.empty()) return nlohmann::json::object();
    auto parsed = nlohmann::json::parse(body, nullptr, false);
    if (parsed.is_discarded()) return std::nullopt;
    return parsed;
}

}  // namespace

SimService::SimService(BatchStore& store, std::string api_key, Sleeper& sleeper)
    : store_(store), api_key_(std::move(api_key)), sleeper_(sleeper) {}

SimResponse SimService::handle(const SimRequest& request) {
    if (request.path == "/_control" || request.path.starts_with("/_control/")) return control(request);
    if (request.path.starts_with("/v1/")) return upstream(request);
    return detail(404, "Not Found");
}

SimResponse SimService::upstream(const SimRequest& request) {
    stats_.received();
    const std::string_view path = request.path;
    const bool is_list = path == kListPath;
    const bool is_get = path.starts_with(kBatchPrefix) && path.size() > kBatchPrefix.size() &&
                        path.find('/', kBatchPrefix.size()) == std::string_view::npos;
    const std::string_view route = is_list ? "list" : is_get ? "get" : "other";
    std::string filter;
    if (is_list) filter = nonempty_param(request, "status").value_or("<none>");

    SimResponse response;
    if (!is_list && !is_get) {
        response = detail(404, "Not Found");
    } else if (request.method != "GET") {
        response = detail(405, "Method Not Allowed");
    } else if (!request.api_key || *request.api_key != api_key_) {
        response =
            detail(401, request.api_key ? "Invalid API key" : "Missing API key: send it in the X-API-KEY header");
    } else {
        const FaultDraw fault = faults_.draw();
        if (fault.delay.count() > 0 && !sleeper_.sleep_for(fault.delay)) {
            response = detail(503, "Service Unavailable");  // shutting down
        } else if (fault.kind == FaultKind::server_error) {
            response = detail(500, "Internal Server Error");
        } else if (fault.kind == FaultKind::rate_limited) {
            response = detail(429, "Too Many Requests");
            const auto retry_after = faults_.settings().retry_after;
            if (!retry_after.empty()) response.headers.emplace_back("Retry-After", retry_after);
        } else {
            response = is_list ? list_batches(request) : get_batch(path.substr(kBatchPrefix.size()), request);
            if (response.status == 200 && fault.kind == FaultKind::malformed) {
                response.body =
                    fault.malformed_as_text ? "<html><body>502 Bad Gateway</body></html>" : R"({"data": "oops"})";
            } else if (response.status == 200 && fault.kind == FaultKind::truncated) {
                response.body.resize(response.body.size() / 2);
            }
        }
    }
    stats_.record(route, filter, response.status);
    return response;
}

SimResponse SimService::list_batches(const SimRequest& request) {
    nlohmann::json errors = nlohmann::json::array();
    ListQuery query;
    query.limit = read_limit(request, 50, 200, errors);
    query.after = read_cursor(request, errors);
    if (!errors.empty()) return validation_failure(std::move(errors));
    query.status = nonempty_param(request, "status").value_or("");
    return {200, store_.list_page(query), {}};
}

SimResponse SimService::get_batch(std::string_view id, const SimRequest& request) {
    nlohmann::json errors = nlohmann::json::array();
    const int limit = read_limit(request, 100, 500, errors);
    const auto after = read_cursor(request, errors);
    if (!errors.empty()) return validation_failure(std::move(errors));
    const auto batch = store_.find(id);
    if (!batch) return detail(404, "Batch not found");

    // The batch object with two more members: its page of items and the items cursor.
    std::string body = batch->json;
    body.pop_back();
    body += R"(,"items":[)";
    std::size_t next = 0;
    append_items(body, id, *batch, after ? after->key : 0, static_cast<std::size_t>(limit), next);
    body += R"(],"next_cursor":)";
    if (next > 0) {
        body += '"';
        body += encode_cursor({next, 0});
        body += '"';
    } else {
        body += "null";
    }
    body += '}';
    return {200, std::move(body), {}};
}

SimResponse SimService::control(const SimRequest& request) {
    const std::string_view path = request.path;
    const std::string_view method = request.method;
    const auto body = parse_body(request.body);
    if (!body) return detail(400, "the request body is not JSON");
    constexpr std::string_view kBatches = "/_control/batches";

    if (path == kBatches) {
        if (method != "POST") return detail(405, "Method Not Allowed");
        return create_batches(*body);
    }
    if (path.starts_with(kBatches) && path[kBatches.size()] == '/' && path.size() > kBatches.size() + 1) {
        const std::string_view id = path.substr(kBatches.size() + 1);
        if (method == "POST") return update_batch(id, *body);
        if (method == "DELETE") {
            if (!store_.remove(id)) return detail(404, "Batch not found");
            return json_response(200, {{"deleted", id}});
        }
        if (method == "GET") {
            const auto batch = store_.find(id);
            if (!batch) return detail(404, "Batch not found");
            return {200, batch->json, {}};
        }
        return detail(405, "Method Not Allowed");
    }
    if (path == "/_control/faults") {
        if (method == "GET") return json_response(200, to_json(faults_.settings()));
        if (method != "POST") return detail(405, "Method Not Allowed");
        const auto parsed = parse_fault_settings(*body);
        if (!parsed.settings) return detail(400, parsed.error);
        faults_.configure(*parsed.settings);
        return json_response(200, to_json(*parsed.settings));
    }
    if (path == "/_control/stats") {
        if (method != "GET") return detail(405, "Method Not Allowed");
        return json_response(200, stats_.to_json());
    }
    if (path == "/_control/stats/reset") {
        if (method != "POST") return detail(405, "Method Not Allowed");
        stats_.reset();
        return json_response(200, stats_.to_json());
    }
    if (path == "/_control/snapshot") {
        if (method != "GET") return detail(405, "Method Not Allowed");
        return {200, store_.snapshot(), {}};
    }
    if (path == "/_control/freeze" || path == "/_control/unfreeze") {
        if (method != "POST") return detail(405, "Method Not Allowed");
        if (path == "/_control/freeze")
            store_.freeze();
        else
            store_.unfreeze();
        return json_response(200, {{"frozen", store_.frozen()}});
    }
    return detail(404, "Not Found");
}

SimResponse SimService::create_batches(const nlohmann::json& body) {
    if (!body.is_object()) return detail(400, "the body must be a JSON object");
    NewBatches request;
    if (body.contains("count")) {
        const auto& count = body.at("count");
        if (!count.is_number_integer() || count.get<std::int64_t>() < 1 || count.get<std::int64_t>() > kMaxCreate) {
            return detail(400, "count: must be a whole number from 1 to " + std::to_string(kMaxCreate));
        }
        request.count = count.get<int>();
    }
    if (body.contains("status") && !body.at("status").is_null()) {
        const auto& status = body.at("status");
        if (!status.is_string() || status.get_ref<const std::string&>().empty()) {
            return detail(400, "status: must be a non-empty string");
        }
        request.status = status.get<std::string>();
    }
    if (body.contains("total_items") && !body.at("total_items").is_null()) {
        const auto& total = body.at("total_items");
        if (!total.is_number_integer() || total.get<std::int64_t>() < 0 ||
            total.get<std::int64_t>() > std::numeric_limits<std::int32_t>::max()) {
            return detail(400, "total_items: must be a non-negative whole number");
        }
        request.total_items = total.get<std::int32_t>();
    }
    return json_response(200, {{"ids", store_.create(request)}});
}

SimResponse SimService::update_batch(std::string_view id, const nlohmann::json& body) {
    const auto result = store_.update(id, body);
    switch (result.outcome) {
        case UpdateResult::Outcome::not_found: return detail(404, "Batch not found");
        case UpdateResult::Outcome::invalid: return detail(400, result.message);
        case UpdateResult::Outcome::updated: break;
    }
    const auto batch = store_.find(id);
    return batch ? SimResponse{200, batch->json, {}} : detail(404, "Batch not found");
}

}  // namespace extract::sim
