#pragma once
// The routes of SPEC §6: each turns a request into a reply from the mirror or the daemon.
// Runs on a worker thread with that thread's own mirror connections; what would hold the
// thread for long (a long poll, a sync with wait=true) is handed back to the server instead.

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "api/api_options.hpp"
#include "api/batch_cursor.hpp"
#include "api/daemon_link.hpp"
#include "api/mirror_connections.hpp"
#include "core/clock.hpp"
#include "http/event_notifier.hpp"
#include "http/http_message.hpp"
#include "http/park_for_events.hpp"
#include "http/router.hpp"
#include "metrics/metrics.hpp"

namespace extract::api {

// A call that may block for minutes (POST /v1/sync?wait=true): run it on a thread of its own.
struct RunBlocking {
    std::function<http::HttpReply()> call;
};

using RouteOutcome = std::variant<http::HttpReply, http::ParkForEvents, RunBlocking>;

class ApiRoutes {
public:
    ApiRoutes(ApiOptions options, DaemonLink& link, http::EventNotifier& notifier, extract::metrics::Metrics& metrics,
              const Clock& clock);

    // `long_poll_deadline` is set when a parked long poll is asked again: at or past it, the
    // route answers with what it has.
    RouteOutcome handle(const http::HttpRequest& request, MirrorConnections& mirror,
                        std::optional<SteadyTime> long_poll_deadline);

    // Every (method, pattern) served, for the OpenAPI document's test.
    std::vector<std::pair<std::string, std::string>> route_table() const;

private:
    struct Call {
        const http::HttpRequest& request;
        const std::vector<std::string>& params;
        MirrorConnections& mirror;
        std::optional<SteadyTime> long_poll_deadline;
    };
    using Handler = std::function<RouteOutcome(ApiRoutes&, const Call&)>;

    RouteOutcome list_batches(const Call& call);
    RouteOutcome get_batch(const Call& call);
    RouteOutcome refresh_batch(const Call& call);
    RouteOutcome batch_transitions(const Call& call);
    RouteOutcome list_events(const Call& call);
    RouteOutcome stats(const Call& call);
    RouteOutcome health(const Call& call);
    RouteOutcome sync(const Call& call);
    RouteOutcome list_deliveries(const Call& call);
    RouteOutcome retry_delivery(const Call& call);
    RouteOutcome retry_deliveries(const Call& call);
    RouteOutcome metrics(const Call& call);
    RouteOutcome openapi(const Call& call);
    // History (issue 17): history_routes.cpp.
    RouteOutcome transition_feed(const Call& call);
    RouteOutcome report(const Call& call);
    RouteOutcome backup(const Call& call);

    ApiOptions options_;
    DaemonLink& link_;
    http::EventNotifier& notifier_;
    extract::metrics::Metrics& metrics_;
    const Clock& clock_;
    const CursorCodec cursors_;  // with the mirror's key
    http::Router<Handler> router_;
    // One snapshot at a time (each needs the mirror's size on disk): the ticket of the one
    // being written, 0 for none.
    std::atomic<std::uint64_t> backup_owner_{0};
    std::atomic<std::uint64_t> backup_tickets_{0};
};

}  // namespace extract::api
