#pragma once
// How the daemon configures the local API ([api] and [cache] of the configuration, plus the
// limits that docs/api.md documents).

#include <cstddef>
#include <string>
#include <vector>

#include "core/clock.hpp"

namespace extract::api {

struct ApiOptions {
    std::string socket_path;
    unsigned socket_mode = 0660;
    std::string db_path;
    std::string version;  // answered by GET /v1/health
    std::vector<std::string> terminal_statuses;
    // Socket activation: serve this listening socket instead of binding socket_path.
    int inherited_fd = -1;

    std::size_t worker_threads = 4;      // run the queries; long polls do not hold them
    std::size_t max_connections = 512;   // more are answered 503 and closed
    Millis long_poll_cap{std::chrono::minutes(5)};      // a longer `wait` is cut to this
    Millis max_sync_wait{std::chrono::minutes(10)};     // POST /v1/sync?wait=true gives up after this
    std::size_t max_sync_waiters = 16;   // concurrent POST /v1/sync?wait=true; more get 503
};

}  // namespace extract::api
