#pragma once
// Counts of the /v1 requests extract-sim answered, for tests and benchmarks to check how
// many requests a client made and of which kind.

#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace extract::sim {

class RequestStats {
public:
    RequestStats();
    // `route`: list, get or other; `filter`: the list's status filter ("<none>" for
    // none), empty for requests that are not a list.
    void record(std::string_view route, std::string_view filter, int status);
    // A /v1 request arrived; `requests` counts it only once answered (a slow answer may take long).
    void received();
    // {"received":N,"requests":N,"by_route":{…},"by_status":{"200":N,…},"by_filter":{"<none>":N,…}}
    nlohmann::json to_json() const;
    void reset();

private:
    mutable std::mutex mutex_;
    std::int64_t received_ = 0;
    std::int64_t requests_ = 0;
    std::map<std::string, std::int64_t, std::less<>> by_route_;
    std::map<std::string, std::int64_t, std::less<>> by_status_;
    std::map<std::string, std::int64_t, std::less<>> by_filter_;
};

}  // namespace extract::sim
