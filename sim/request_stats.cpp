#include "sim/request_stats.hpp"

namespace extract::sim {
namespace {

void increment(std::map<std::string, std::int64_t, std::less<>>& counts, std::string_view key) {
    const auto it = counts.find(key);
    if (it != counts.end())
        ++it->second;
    else
        counts.emplace(std::string(key), 1);
}

}  // namespace

RequestStats::RequestStats() { reset(); }

void RequestStats::record(std::string_view route, std::string_view filter, int status) {
    std::lock_guard lock(mutex_);
    ++requests_;
    increment(by_route_, route);
    increment(by_status_, std::to_string(status));
    if (!filter.empty()) increment(by_filter_, filter);
}

void RequestStats::received() {
    std::lock_guard lock(mutex_);
    ++received_;
}

nlohmann::json RequestStats::to_json() const {
    std::lock_guard lock(mutex_);
    return {{"received", received_},
            {"requests", requests_},
            {"by_route", by_route_},
            {"by_status", by_status_},
            {"by_filter", by_filter_}};
}

void RequestStats::reset() {
    std::lock_guard lock(mutex_);
    received_ = 0;
    requests_ = 0;
    by_route_ = {{"list", 0}, {"get", 0}};  // always present, so readers need no default
    by_status_.clear();
    by_filter_.clear();
}

}  // namespace extract::sim
