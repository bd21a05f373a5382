#pragma once
// The query API's load generator (issue 7, item 3): N keep-alive connections over a Unix
// socket, each sending its next request as soon as the previous reply is in, for a fixed time;
// every latency is kept, so p50/p99 are exact.

#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <string>

namespace extract::bench {

struct LoadOptions {
    std::string socket_path;
    int connections = 16;
    std::chrono::milliseconds duration{std::chrono::seconds(10)};
    std::chrono::milliseconds warm_up{std::chrono::seconds(1)};  // run, not counted
    // The target of each request; called on the connection's own thread with its own generator.
    std::function<std::string(std::mt19937_64&)> next_target;
    int expected_status = 200;
};

struct LoadResult {
    std::int64_t requests = 0;  // answered with expected_status
    std::int64_t errors = 0;    // any other status, or a broken connection (it reconnects)
    double seconds = 0;
    double p50_ms = 0;
    double p99_ms = 0;
    double max_ms = 0;
    std::int64_t body_bytes = 0;  // of one reply, for the record
    double requests_per_second() const { return seconds > 0 ? static_cast<double>(requests) / seconds : 0; }
};

LoadResult run_load(const LoadOptions& options);

}  // namespace extract::bench
