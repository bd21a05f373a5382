#include "api/server.hpp"

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <thread>

#include "api/mirror_connections.hpp"
#include "api/routes.hpp"
#include "http/connection_loop.hpp"
#include "http/unix_listener.hpp"
#include "http/worker_pool.hpp"

namespace extract::api {

using http::BlockingCalls;
using http::ConnectionId;
using http::ConnectionLimits;
using http::ConnectionLoop;
using http::detail_reply;
using http::EventNotifier;
using http::HttpReply;
using http::HttpRequest;
using http::ParkForEvents;
using http::PeerAccess;
using http::UnixListener;
using http::WorkerPool;

// Everything that exists while the server serves, in the order it must be torn down
// (members are destroyed in reverse).
struct ApiServer::Running {
    Running(const ApiOptions& options, DaemonLink& link, EventNotifier& notifier, metrics::Metrics& metrics,
            const Clock& clock)
        : routes(options, link, notifier, metrics, clock),
          workers(options.worker_threads > 0 ? options.worker_threads
                                             : std::max<std::size_t>(2, std::thread::hardware_concurrency()),
                  [&] { return std::make_unique<MirrorConnections>(options.db_path, clock); }),
          blocking(options.max_sync_waiters) {}

    ApiRoutes routes;
    WorkerPool<MirrorConnections> workers;  // each thread with its own read-only connections
    BlockingCalls blocking;
    UnixListener listener;
    std::unique_ptr<ConnectionLoop> loop;
    std::thread loop_thread;
};

ApiServer::ApiServer(ApiOptions options, DaemonLink& link, EventNotifier& notifier, metrics::Metrics& metrics)
    : ApiServer(std::move(options), link, notifier, metrics, []() -> const Clock& {
          static const SystemClock clock;
          return clock;
      }()) {}

ApiServer::ApiServer(ApiOptions options, DaemonLink& link, EventNotifier& notifier, metrics::Metrics& metrics,
                     const Clock& clock)
    : options_(std::move(options)), link_(link), notifier_(notifier), metrics_(metrics), clock_(clock) {}

ApiServer::~ApiServer() { stop(); }

std::vector<std::pair<std::string, std::string>> ApiServer::routes() const {
    return ApiRoutes(options_, link_, notifier_, metrics_, clock_).route_table();
}

void ApiServer::start() {
    if (running_) return;
    auto running = std::make_unique<Running>(options_, link_, notifier_, metrics_, clock_);
    running->listener = options_.inherited_fd >= 0 ? UnixListener::adopt(options_.inherited_fd)
                                                   : UnixListener::bind(options_.socket_path, options_.socket_mode);
    ConnectionLimits limits;
    limits.max_connections = options_.max_connections;
    limits.max_connections_per_uid = options_.max_connections_per_uid;
    limits.request_timeout = options_.request_timeout;
    limits.idle_timeout = options_.idle_timeout;
    PeerAccess access(options_.allowed_uids, options_.allowed_gids, ::geteuid());
    Running* r = running.get();
    running->loop = std::make_unique<ConnectionLoop>(
        r->listener.fd(), limits, std::move(access), clock_, notifier_, metrics_,
        [r](ConnectionId id, const HttpRequest& request, std::optional<SteadyTime> long_poll_deadline) {
            r->workers.submit([r, id, request, long_poll_deadline](MirrorConnections& mirror) {
                auto outcome = r->routes.handle(request, mirror, long_poll_deadline);
                if (auto* reply = std::get_if<HttpReply>(&outcome)) {
                    r->loop->answer(id, std::move(*reply));
                } else if (auto* park = std::get_if<ParkForEvents>(&outcome)) {
                    r->loop->answer(id, *park);
                } else {
                    auto call = std::move(std::get<RunBlocking>(outcome).call);
                    const bool started = r->blocking.try_run([r, id, call] { r->loop->answer(id, call()); });
                    if (!started)
                        r->loop->answer(
                            id, detail_reply(503, "too many clients are waiting for a sync or a refresh; try again"));
                }
            });
        });
    running->loop_thread = std::thread([r] { r->loop->run(); });
    running_ = std::move(running);
    spdlog::info("api: serving on {}", options_.inherited_fd >= 0 ? "an inherited socket" : options_.socket_path);
}

void ApiServer::stop() {
    if (!running_) return;
    // The loop first (it still needs the workers to answer the last long polls), then the
    // workers, then the calls waiting for a sync (they answer into a loop that is gone).
    running_->loop->stop();
    if (running_->loop_thread.joinable()) running_->loop_thread.join();
    running_->workers.stop();
    running_->blocking.join();
    running_->listener.close();
    running_.reset();
}

}  // namespace extract::api
