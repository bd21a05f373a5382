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
    // The mirror's `cursor_key` (cache::Mirror::cursor_key): the MAC key of the cursors the API
    // hands out. Empty: a random key of this server's own (cursors then last as long as it).
    std::string cursor_key;
    // Socket activation: serve this listening socket instead of binding socket_path.
    int inherited_fd = -1;
    // [api] allowed_uids / allowed_gids: who may connect besides root and the daemon's own
    // user, checked with SO_PEERCRED at accept (others get 403 and a closed connection). Both
    // empty: the socket file's mode alone decides.
    std::vector<unsigned> allowed_uids;
    std::vector<unsigned> allowed_gids;

    // Run the queries; long polls do not hold them. 0: one per CPU, at least 2 (issue 7: on 2
    // CPUs, 4 workers only added context switches: get-by-id p99 6-7.5 ms against 3.4-4.6).
    std::size_t worker_threads = 0;
    std::size_t max_connections = 512;  // more are answered 503 and closed
    // What one uid may hold (root and the daemon's own included). 0: a quarter of
    // max_connections. An eighth of max_connections is kept for root and the daemon's own uid;
    // at a limit, a connection that has sent nothing since it was accepted is closed to make
    // room before a newcomer is refused (http/connection_admission.hpp).
    std::size_t max_connections_per_uid = 0;
    Millis request_timeout{std::chrono::seconds(10)};   // a request's first byte to its last; then 408 and closed
    Millis idle_timeout{std::chrono::seconds(60)};      // a kept-alive connection with no request is closed
    Millis long_poll_cap{std::chrono::minutes(5)};      // a longer `wait` is cut to this
    Millis max_sync_wait{std::chrono::minutes(10)};     // POST /v1/sync?wait=true gives up after this
    Millis max_refresh_wait{std::chrono::seconds(20)};  // POST /v1/batches/{id}/refresh answers 503 after this
    std::size_t max_sync_waiters = 16;  // concurrent POST /v1/sync?wait=true and refreshes; more get 503
};

}  // namespace extract::api
