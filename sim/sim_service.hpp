#pragma once
// What extract-sim answers, transport aside: the upstream routes (/v1/…: key check,
// FastAPI-style validation, injected faults, request statistics) and the control routes
// (/_control/…) that tests, the demo and benchmarks drive it with. http_server.hpp puts it
// on a socket; tests can call it directly.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "sim/batch_store.hpp"
#include "sim/fault_injector.hpp"
#include "sim/request_stats.hpp"

namespace extract::sim {

struct SimRequest {
    std::string method;
    std::string path;                                        // decoded, without the query
    std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
    std::optional<std::string> api_key;                      // the X-API-KEY header
    std::string body;
};

struct SimResponse {
    int status = 200;
    std::string body;  // always JSON, except for a malformed-body fault
    std::vector<std::pair<std::string, std::string>> headers;
};

class SimService {
public:
    // `sleeper` carries out the slow-response fault, so a shutdown can cut it short.
    SimService(BatchStore& store, std::string api_key, Sleeper& sleeper);

    SimResponse handle(const SimRequest& request);

private:
    SimResponse upstream(const SimRequest& request);
    SimResponse list_batches(const SimRequest& request);
    SimResponse get_batch(std::string_view id, const SimRequest& request);
    SimResponse control(const SimRequest& request);
    SimResponse create_batches(const nlohmann::json& body);
    SimResponse update_batch(std::string_view id, const nlohmann::json& body);

    BatchStore& store_;
    const std::string api_key_;
    Sleeper& sleeper_;
    FaultInjector faults_;
    RequestStats stats_;
};

}  // namespace extract::sim
