#pragma once
// The local API: HTTP/1.1 over the daemon's Unix socket, serving the routes of SPEC §6.
// One event-loop thread owns the connections (parked long polls hold no thread), a few
// worker threads run the queries on their own read-only connections, and a sync with
// wait=true blocks a thread of its own. See docs/api.md for the limits.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "api/api_options.hpp"
#include "api/daemon_link.hpp"
#include "core/clock.hpp"
#include "http/event_notifier.hpp"
#include "metrics/metrics.hpp"

namespace extract::api {

class ApiServer {
public:
    ApiServer(ApiOptions options, DaemonLink& link, http::EventNotifier& notifier, metrics::Metrics& metrics);
    // `clock` gives retry timestamps and long-poll deadlines (tests may pass their own).
    ApiServer(ApiOptions options, DaemonLink& link, http::EventNotifier& notifier, metrics::Metrics& metrics,
              const Clock& clock);
    ~ApiServer();
    ApiServer(const ApiServer&) = delete;
    ApiServer& operator=(const ApiServer&) = delete;

    // Binds socket_path (a stale socket file is replaced; a live one, which another process
    // answers on, throws std::runtime_error naming the path), or adopts inherited_fd; sets
    // socket_mode; starts serving. Throws std::runtime_error when it cannot.
    void start();
    // Stops accepting, answers every parked long poll, finishes replies in flight (briefly),
    // joins every thread and removes the socket file. Idempotent; the destructor calls it.
    void stop();

    // Every (method, path pattern) served, e.g. ("GET", "/v1/batches/{batch_id}").
    std::vector<std::pair<std::string, std::string>> routes() const;

private:
    struct Running;
    ApiOptions options_;
    DaemonLink& link_;
    http::EventNotifier& notifier_;
    metrics::Metrics& metrics_;
    const Clock& clock_;
    std::unique_ptr<Running> running_;
};

}  // namespace extract::api
