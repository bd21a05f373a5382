#pragma once
// A request's query parameters, read and validated the way the upstream's FastAPI does it:
// the last of repeated names wins, unknown names are ignored, and every invalid value adds a
// 422 entry `{"loc":["query",NAME],"msg":…,"type":…,"input":…}`.

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/closed_sets.hpp"
#include "http/http_message.hpp"

namespace extract::api {

// FastAPI's HTTPValidationError: {"detail":[{loc,msg,type,input[,ctx]}…]}.
class ValidationErrors {
public:
    void add(std::string_view where, std::string_view name, std::string_view type, std::string_view msg,
             std::optional<std::string_view> input, nlohmann::json ctx = nullptr);
    bool empty() const { return errors_.empty(); }
    http::HttpReply reply() const;  // 422

private:
    nlohmann::json errors_ = nlohmann::json::array();
};

class QueryParams {
public:
    explicit QueryParams(std::string_view query);

    std::optional<std::string> text(std::string_view name) const;
    // Absent: `fallback`. Not an integer, or outside [min, max]: an error and `fallback`.
    std::int64_t integer(std::string_view name, std::int64_t fallback, std::int64_t min, std::int64_t max);
    // pydantic's words: 1/0, true/false, t/f, yes/no, y/n, on/off, any case.
    bool boolean(std::string_view name, bool fallback);
    // ISO-8601 date or date-time (core parse_timestamp).
    std::optional<WallTime> timestamp(std::string_view name);
    // `250ms`, `10s`, `5m` (core parse_duration).
    std::optional<Millis> duration(std::string_view name);

    // A value of a closed set (SPEC §6): absent, none; outside `allowed`, a `literal_error`
    // naming every allowed value, and none.
    template <std::size_t N>
    std::optional<std::string> one_of(std::string_view name, const std::array<std::string_view, N>& allowed) {
        auto value = text(name);
        if (!value || in_closed_set(allowed, *value)) return value;
        reject_literal(name, allowed_values(allowed, "'"));
        return std::nullopt;
    }
    // `expected` lists what is allowed ("'day', 'engine' or …"): a pydantic `literal_error`.
    void reject_literal(std::string_view name, const std::string& expected);

    // Every parameter whose name starts with `prefix`, repeats included, in request order,
    // with the prefix cut off: metadata.project=x&metadata.team=y -> {project,x}, {team,y}.
    std::vector<std::pair<std::string, std::string>> with_prefix(std::string_view prefix) const;

    // For checks of its own (a cursor, say): a `value_error` on `name`.
    void reject(std::string_view name, std::string_view why);

    ValidationErrors& errors() { return errors_; }

private:
    std::map<std::string, std::string, std::less<>> values_;
    std::vector<std::pair<std::string, std::string>> in_order_;  // every pair, repeats too
    ValidationErrors errors_;
};

}  // namespace extract::api
