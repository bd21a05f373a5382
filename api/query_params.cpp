#include "api/query_params.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

#include "core/duration.hpp"
#include "core/timefmt.hpp"

namespace extract::api {

using http::HttpReply;
using http::json_reply;
using http::percent_decode;

void ValidationErrors::add(std::string_view where, std::string_view name, std::string_view type, std::string_view msg,
                           std::optional<std::string_view> input, nlohmann::json ctx) {
    nlohmann::json error{{"type", type}, {"loc", {where, name}}, {"msg", msg}};
    if (input) error["input"] = *input;
    if (!ctx.is_null()) error["ctx"] = std::move(ctx);
    errors_.push_back(std::move(error));
}

HttpReply ValidationErrors::reply() const { return json_reply(422, nlohmann::json{{"detail", errors_}}); }

QueryParams::QueryParams(std::string_view query) {
    std::size_t pos = 0;
    while (pos < query.size()) {
        auto amp = query.find('&', pos);
        if (amp == std::string_view::npos) amp = query.size();
        const std::string_view pair = query.substr(pos, amp - pos);
        pos = amp + 1;
        if (pair.empty()) continue;
        const auto eq = pair.find('=');
        std::string name = percent_decode(pair.substr(0, eq), true);
        std::string value = eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1), true);
        in_order_.emplace_back(name, value);
        values_.insert_or_assign(std::move(name), std::move(value));
    }
}

std::optional<std::string> QueryParams::text(std::string_view name) const {
    const auto it = values_.find(name);
    if (it == values_.end()) return std::nullopt;
    return it->second;
}

std::int64_t QueryParams::integer(std::string_view name, std::int64_t fallback, std::int64_t min, std::int64_t max) {
    const auto value = text(name);
    if (!value) return fallback;
    std::int64_t n = 0;
    const char* begin = value->data();
    const char* end = begin + value->size();
    if (begin != end && *begin == '+') ++begin;
    const auto [stop, ec] = std::from_chars(begin, end, n);
    if (ec != std::errc{} || stop != end || begin == end) {
        errors_.add("query", name, "int_parsing",
                    "Input should be a valid integer, unable to parse string as an integer", *value);
        return fallback;
    }
    if (n < min) {
        errors_.add("query", name, "greater_than_equal",
                    "Input should be greater than or equal to " + std::to_string(min), *value, {{"ge", min}});
        return fallback;
    }
    if (n > max) {
        errors_.add("query", name, "less_than_equal", "Input should be less than or equal to " + std::to_string(max),
                    *value, {{"le", max}});
        return fallback;
    }
    return n;
}

bool QueryParams::boolean(std::string_view name, bool fallback) {
    static constexpr std::array<std::string_view, 6> yes{"1", "true", "t", "yes", "y", "on"};
    static constexpr std::array<std::string_view, 6> no{"0", "false", "f", "no", "n", "off"};
    const auto value = text(name);
    if (!value) return fallback;
    std::string word = *value;
    std::transform(word.begin(), word.end(), word.begin(), [](unsigned char c) { return std::tolower(c); });
    if (std::find(yes.begin(), yes.end(), word) != yes.end()) return true;
    if (std::find(no.begin(), no.end(), word) != no.end()) return false;
    errors_.add("query", name, "bool_parsing", "Input should be a valid boolean, unable to interpret input", *value);
    return fallback;
}

std::optional<WallTime> QueryParams::timestamp(std::string_view name) {
    const auto value = text(name);
    if (!value) return std::nullopt;
    const auto parsed = parse_timestamp(*value);
    if (!parsed) {
        errors_.add("query", name, "datetime_parsing",
                    "Input should be a valid ISO-8601 date or datetime, e.g. 2026-11-30T03:04:05Z", *value);
    }
    return parsed;
}

std::optional<Millis> QueryParams::duration(std::string_view name) {
    const auto value = text(name);
    if (!value) return std::nullopt;
    const auto parsed = parse_duration(*value);
    if (!parsed) {
        errors_.add("query", name, "value_error", "Value error, expected a duration such as 250ms, 30s or 5m", *value);
    }
    return parsed;
}

void QueryParams::reject_literal(std::string_view name, const std::string& expected) {
    errors_.add("query", name, "literal_error", "Input should be " + expected, text(name), {{"expected", expected}});
}

std::vector<std::pair<std::string, std::string>> QueryParams::with_prefix(std::string_view prefix) const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [name, value] : in_order_) {
        if (name.starts_with(prefix)) out.emplace_back(name.substr(prefix.size()), value);
    }
    return out;
}

void QueryParams::reject(std::string_view name, std::string_view why) {
    errors_.add("query", name, "value_error", "Value error, " + std::string(why), text(name));
}

}  // namespace extract::api
