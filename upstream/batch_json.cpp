#include "upstream/batch_json.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "upstream/batch_page_scanner.hpp"
#include "upstream/text_snippet.hpp"

namespace extract::upstream {
namespace {

using nlohmann::json;

// What a value is, for "expected X, got Y": numbers show themselves, the rest their type.
std::string describe_value(const json& value) {
    if (value.is_number()) return "number " + value.dump();
    return value.type_name();
}

// Reads the fields of one object, remembering the first thing that is wrong with it.
class FieldReader {
public:
    FieldReader(const json& object, std::string where) : object_(object), where_(std::move(where)) {}

    const std::optional<ParseError>& error() const { return error_; }

    std::string required_string(std::string_view field) {
        const json* value = require(field);
        if (!value) return {};
        if (!value->is_string()) {
            fail(field, "expected a string, got " + describe_value(*value));
            return {};
        }
        return value->get<std::string>();
    }

    // Absent and null both mean "no value".
    std::optional<std::string> optional_string(std::string_view field) {
        const json* value = find(field);
        if (!value || value->is_null()) return std::nullopt;
        if (!value->is_string()) {
            fail(field, "expected a string or null, got " + describe_value(*value));
            return std::nullopt;
        }
        return value->get<std::string>();
    }

    // Required, but null is a value ("engine": null).
    std::optional<std::string> required_nullable_string(std::string_view field) {
        if (!require(field)) return std::nullopt;
        return optional_string(field);
    }

    std::int64_t required_integer(std::string_view field) {
        const json* value = require(field);
        return value ? integer(*value, field) : 0;
    }

    std::int64_t integer_or_zero(std::string_view field) {
        const json* value = find(field);
        return value ? integer(*value, field) : 0;
    }

    // An object, checked only: the mirror keeps it in `raw`, nothing else reads it.
    void required_object(std::string_view field) {
        const json* value = require(field);
        if (value && !value->is_object()) fail(field, "expected an object, got " + describe_value(*value));
    }

    std::optional<std::string> optional_object(std::string_view field) {
        const json* value = find(field);
        if (!value || value->is_null()) return std::nullopt;
        if (!value->is_object()) {
            fail(field, "expected an object or null, got " + describe_value(*value));
            return std::nullopt;
        }
        return canonical(*value);
    }

    // A reader for a required nested object such as "counts"; its errors come back through adopt().
    std::optional<FieldReader> required_nested(std::string_view field) {
        const json* value = require(field);
        if (!value) return std::nullopt;
        if (!value->is_object()) {
            fail(field, "expected an object, got " + describe_value(*value));
            return std::nullopt;
        }
        return FieldReader(*value, path(field));
    }

    void adopt(const std::optional<ParseError>& nested) {
        if (!error_ && nested) error_ = nested;
    }

    void fail(std::string_view field, const std::string& problem) {
        if (!error_) error_ = ParseError{path(field) + ": " + problem};
    }

    static std::string canonical(const json& value) {
        // nlohmann's default object is a std::map: keys come out sorted, so equal objects dump equal.
        return value.dump(-1, ' ', false, json::error_handler_t::replace);
    }

private:
    const json* find(std::string_view field) const {
        const auto it = object_.find(field);
        return it == object_.end() ? nullptr : &*it;
    }

    // The field's value, or nullptr with the error recorded when it is absent.
    const json* require(std::string_view field) {
        const json* value = find(field);
        if (!value) fail(field, "missing");
        return value;
    }

    std::string path(std::string_view field) const {
        return where_.empty() ? std::string(field) : where_ + "." + std::string(field);
    }

    // Integers are JSON numbers with an integral value (1 and 1.0, not 1.5 or "1") that fit in 64 bits.
    std::int64_t integer(const json& value, std::string_view field) {
        if (value.is_number_unsigned()) {
            const auto v = value.get<std::uint64_t>();
            if (v <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                return static_cast<std::int64_t>(v);
            }
        } else if (value.is_number_integer()) {
            return value.get<std::int64_t>();
        } else if (value.is_number_float()) {
            const double v = value.get<double>();
            // 2^63 is exact in a double; every integral double below it in magnitude converts safely.
            if (std::isfinite(v) && std::trunc(v) == v && std::fabs(v) < 9223372036854775808.0) {
                return static_cast<std::int64_t>(v);
            }
        }
        fail(field, "expected an integer, got " + describe_value(value));
        return 0;
    }

    const json& object_;
    std::string where_;
    std::optional<ParseError> error_;
};

// Which batch objects of a body nest deeper than kMaxBatchNesting. Their too-deep values are
// dropped while parsing, so no recursive walk (dump, copy, comparison) ever meets them; the
// batch itself is then set aside, never stored cut.
struct DepthReport {
    bool root_too_deep = false;                  // parse_batch_detail: the body's batch
    std::vector<std::size_t> elements_too_deep;  // parse_batch_page: indexes into "data"

    bool element_too_deep(std::size_t index) const {
        return std::find(elements_too_deep.begin(), elements_too_deep.end(), index) != elements_too_deep.end();
    }
};

enum class BodyShape { page, batch };

// Parses a whole body; nlohmann's message says where it broke (truncation shows as
// "unexpected end of input"). nlohmann's parser is iterative: the callback sees every
// container open with its depth (the root's is 0) before any of it is built.
std::variant<json, ParseError> parse_json(std::string_view body, BodyShape shape, DepthReport& depth) {
    if (body.empty()) return ParseError{"body: empty"};
    // Batch objects open at depth 2 in a page ({"data":[{...}]}) and at 0 in a batch body.
    const int batch_depth = shape == BodyShape::page ? 2 : 0;
    bool in_data = false;     // page: the current top-level key is "data"
    std::size_t element = 0;  // page: the number of "data" elements opened so far
    auto callback = [&](int at, json::parse_event_t event, json& parsed) {
        const bool opens = event == json::parse_event_t::object_start || event == json::parse_event_t::array_start;
        if (shape == BodyShape::page) {
            if (at == 1 && event == json::parse_event_t::key) in_data = parsed.is_string() && parsed == "data";
            if (at == 2 && in_data && (opens || event == json::parse_event_t::value)) ++element;
        }
        if (!opens || at - batch_depth + 1 <= kMaxBatchNesting) return true;
        if (shape == BodyShape::batch) {
            depth.root_too_deep = true;
        } else if (in_data && at > batch_depth) {
            if (depth.elements_too_deep.empty() || depth.elements_too_deep.back() != element - 1) {
                depth.elements_too_deep.push_back(element - 1);
            }
        }
        return false;  // dropped, with everything inside it; the rest of the page was not read by anyone
    };
    try {
        return json::parse(body.begin(), body.end(), callback);
    } catch (const json::exception& e) {
        // parse_error, and out_of_range for a number past a double's range (1e400): a hostile
        // or broken body either way.
        std::string what = e.what();
        if (const auto bracket = what.find("] "); what.starts_with("[json.exception") && bracket != std::string::npos) {
            what.erase(0, bracket + 2);
        }
        return ParseError{"body is not JSON (" + std::to_string(body.size()) +
                          " bytes): " + printable_snippet(what, 300)};
    }
}

// A batch object that nests too deep: only its id is read (its other fields may be the ones that
// were dropped), and it is set aside.
std::variant<Batch, ParseError> too_deep_batch(const json& object, std::string_view where) {
    const std::string label = where.empty() ? "id" : std::string(where) + ".id";
    if (!object.is_object()) return ParseError{std::string(where.empty() ? "batch" : where) + ": expected an object"};
    const auto id = object.find("id");
    if (id == object.end() || !id->is_string() || id->get_ref<const std::string&>().empty()) {
        return ParseError{label + ": missing or not a non-empty string"};
    }
    Batch batch;
    batch.id = id->get<std::string>();
    batch.set_aside = "it nests deeper than " + std::to_string(kMaxBatchNesting) + " levels";
    return batch;
}

// A parsed batch whose id the mirror cannot key is set aside; every other batch is kept as is.
void check_id(Batch& batch) {
    if (auto problem = batch_id_problem(batch.id)) batch.set_aside = std::move(problem);
}

}  // namespace

std::variant<Batch, ParseError> parse_batch(const nlohmann::json& object, std::string_view where) {
    const std::string label = where.empty() ? "batch" : std::string(where);
    if (!object.is_object()) return ParseError{label + ": expected an object, got " + describe_value(object)};

    FieldReader reader(object, std::string(where));
    Batch batch;
    batch.id = reader.required_string("id");
    if (!reader.error() && batch.id.empty()) reader.fail("id", "must not be empty");
    if (const auto kind = object.find("object"); kind != object.end() && !kind->is_string()) {
        reader.fail("object", "expected a string, got " + describe_value(*kind));
    }
    batch.status = reader.required_string("status");
    if (auto counts = reader.required_nested("counts")) {
        batch.counts.pending = counts->integer_or_zero("pending");
        batch.counts.running = counts->integer_or_zero("running");
        batch.counts.succeeded = counts->integer_or_zero("succeeded");
        batch.counts.failed = counts->integer_or_zero("failed");
        batch.counts.cancelled = counts->integer_or_zero("cancelled");
        reader.adopt(counts->error());
    }
    batch.total_items = reader.required_integer("total_items");
    batch.engine = reader.required_nullable_string("engine");
    reader.required_object("options");
    batch.metadata = reader.optional_object("metadata");
    batch.created_at = reader.required_string("created_at");
    batch.started_at = reader.optional_string("started_at");
    batch.completed_at = reader.optional_string("completed_at");
    batch.expires_at = reader.required_string("expires_at");
    if (reader.error()) return *reader.error();

    batch.raw = FieldReader::canonical(object);
    return batch;
}

std::variant<BatchPage, ParseError> parse_batch_page(std::string_view body) {
    if (auto page = scan_batch_page(body)) return std::move(*page);
    return parse_batch_page_tree(body);
}

std::variant<BatchPage, ParseError> parse_batch_page_tree(std::string_view body) {
    DepthReport depth;
    auto parsed = parse_json(body, BodyShape::page, depth);
    if (auto* error = std::get_if<ParseError>(&parsed)) return std::move(*error);
    const json& doc = std::get<json>(parsed);
    if (!doc.is_object()) return ParseError{"body: expected an object, got " + describe_value(doc)};

    const auto data = doc.find("data");
    if (data == doc.end()) return ParseError{"data: missing"};
    if (!data->is_array()) return ParseError{"data: expected an array, got " + describe_value(*data)};

    BatchPage page;
    page.batches.reserve(data->size());
    for (std::size_t i = 0; i < data->size(); ++i) {
        const std::string where = "data[" + std::to_string(i) + "]";
        auto batch = depth.element_too_deep(i) ? too_deep_batch((*data)[i], where) : parse_batch((*data)[i], where);
        if (auto* error = std::get_if<ParseError>(&batch)) return std::move(*error);
        check_id(std::get<Batch>(batch));
        page.batches.push_back(std::move(std::get<Batch>(batch)));
    }

    const auto cursor = doc.find("next_cursor");
    if (cursor != doc.end() && !cursor->is_null()) {
        if (!cursor->is_string()) {
            return ParseError{"next_cursor: expected a string or null, got " + describe_value(*cursor)};
        }
        // An empty cursor would restart the listing (an endless pass) or, read as "last page",
        // end a pass early; neither is safe, so it is refused like any other broken body.
        if (cursor->get_ref<const std::string&>().empty()) return ParseError{"next_cursor: must not be empty"};
        page.next_cursor = cursor->get<std::string>();
    }
    return page;
}

std::variant<Batch, ParseError> parse_batch_detail(std::string_view body) {
    DepthReport depth;
    auto parsed = parse_json(body, BodyShape::batch, depth);
    if (auto* error = std::get_if<ParseError>(&parsed)) return std::move(*error);
    json& doc = std::get<json>(parsed);
    if (depth.root_too_deep) return too_deep_batch(doc, "");
    if (doc.is_object()) {
        doc.erase("items");
        doc.erase("next_cursor");
    }
    auto batch = parse_batch(doc, "");
    if (auto* parsed_batch = std::get_if<Batch>(&batch)) check_id(*parsed_batch);
    return batch;
}

}  // namespace extract::upstream
