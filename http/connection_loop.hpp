#pragma once
// The API's network side on one thread: accepts connections, reads and parses requests,
// hands each complete request to the workers, writes their replies, and keeps parked long
// polls as plain connection state (no thread each), re-asking them when an event is
// committed or their time is up. Non-blocking throughout, with deadlines on every phase,
// so a slow or malformed client costs a buffer, never a thread.
//
// The common case skips the way back: when a request is alone on its kept-alive connection,
// the worker that answers it writes the reply to the socket itself and re-arms it for the
// next request, and the loop learns of it the next time it wakes (issue 7: handing every
// reply back cost a thread wake-up and two epoll changes per request). Anything else (a
// reply that closes, a parked poll, pipelined requests, a reply the socket cannot take at
// once, a peer that hung up, stopping) goes back to the loop as before.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "core/clock.hpp"
#include "http/connection_admission.hpp"
#include "http/event_notifier.hpp"
#include "http/http_message.hpp"
#include "http/park_for_events.hpp"
#include "http/peer_access.hpp"
#include "metrics/metrics.hpp"

namespace extract::http {

struct ConnectionLimits {
    std::size_t max_connections = 512;
    std::size_t max_connections_per_uid = 0;           // 0: derived (ConnectionQuota::derived)
    Millis idle_timeout{std::chrono::seconds(60)};     // a kept-alive connection with no request
    Millis request_timeout{std::chrono::seconds(10)};  // from a request's first byte to its last
    Millis write_timeout{std::chrono::seconds(30)};    // to send one reply
    Millis stop_grace{std::chrono::seconds(2)};        // for replies in flight when stopping
    RequestLimits request;
};

class ConnectionLoop {
public:
    // Called on the loop thread for each complete request; the answer comes back later,
    // from any thread, through answer(). `long_poll_deadline` is set when a parked request
    // is asked again.
    using Dispatch =
        std::function<void(ConnectionId, const HttpRequest&, std::optional<SteadyTime> long_poll_deadline)>;

    // `listen_fd` stays owned by the caller; `access` decides who may connect.
    ConnectionLoop(int listen_fd, ConnectionLimits limits, PeerAccess access, const Clock& clock,
                   EventNotifier& notifier, metrics::Metrics& metrics, Dispatch dispatch);
    ~ConnectionLoop();
    ConnectionLoop(const ConnectionLoop&) = delete;
    ConnectionLoop& operator=(const ConnectionLoop&) = delete;

    // Serves until stop(); then asks every parked long poll one last time, waits up to
    // stop_grace for replies in flight, and closes every connection.
    void run();
    // Thread-safe and idempotent.
    void stop();
    // Thread-safe: the outcome of the request dispatched for `id` (a reply, or park it).
    void answer(ConnectionId id, std::variant<HttpReply, ParkForEvents> outcome);

private:
    // A connection's socket as a worker may write to it: shared so that the loop never
    // closes the fd while a worker writes, and so that it can take the permission back.
    struct DirectWrite {
        std::mutex mutex;
        int fd = -1;             // -1 once the loop has closed the connection
        bool allowed = false;    // the request in flight may be answered here, kept alive
        bool head_only = false;  // the request in flight is a HEAD: no body in its answer
    };
    // What a worker that wrote a reply itself tells the loop.
    struct RepliedDirectly {
        SteadyTime at;  // the idle timeout runs from here
    };
    struct PartlyReplied {  // the socket took only `sent` bytes (or failed): the loop goes on
        std::string out;
        std::size_t sent = 0;
    };
    using Outcome = std::variant<HttpReply, ParkForEvents, RepliedDirectly, PartlyReplied>;

    enum class Phase {
        reading,     // waiting for (the rest of) a request
        dispatched,  // a worker is on it
        parked,      // a long poll waiting for an event
        writing,     // sending the reply
    };
    struct Connection {
        ConnectionId id = 0;
        int fd = -1;
        Phase phase = Phase::reading;
        std::string in;
        RequestParser parser;
        bool request_started = false;  // bytes of a request arrived: its deadline runs
        bool spoke = false;            // sent a byte since it was accepted: never evicted for room
        HttpRequest request;           // the one being served
        std::optional<ParkForEvents> parked;
        std::string out;
        std::size_t out_sent = 0;
        std::shared_ptr<FileBody> file;  // the rest of the body, read into `out` a chunk at a time
        std::uint64_t file_read = 0;
        bool close_after_write = false;
        bool peer_closed = false;
        SteadyTime deadline{};  // of the current phase; while dispatched, when to look again
        std::uint32_t watched = 0;
        std::shared_ptr<DirectWrite> direct;
        bool direct_dispatch = false;  // dispatched with direct.allowed set
    };

    void accept_all();
    bool refuse_peer(int fd);
    // nullopt when a connection from `uid` may be added (never-spoken ones closed for room
    // first), else why not.
    std::optional<std::string> make_room(uid_t uid);
    void log_refusal(const std::string& refusal);
    void on_ready(Connection& c, std::uint32_t events);
    void read_from(Connection& c);
    void parse_next(Connection& c);
    void dispatch(Connection& c, std::optional<SteadyTime> long_poll_deadline);
    void send_reply(Connection& c, const HttpReply& reply);
    void flush(Connection& c);
    void park(Connection& c, const ParkForEvents& park);
    void ask_again(Connection& c, SteadyTime deadline);
    void post(ConnectionId id, Outcome outcome, bool wake);
    bool reply_directly(DirectWrite& direct, ConnectionId id, const HttpReply& reply);
    void revoke_direct(Connection& c);
    void finish_reply(Connection& c, SteadyTime idle_from);
    void take_mailbox();
    void wake_parked();
    void expire(SteadyTime now);
    void begin_stop();
    void close(ConnectionId id);
    void watch(Connection& c, std::uint32_t events);
    int next_timeout_ms(SteadyTime now) const;
    void count_parked();

    const int listen_fd_;
    const ConnectionLimits limits_;
    const PeerAccess access_;
    ConnectionAdmission admission_;
    std::vector<std::string> refusals_logged_;  // each refusal (it names the uid) is logged at warn once
    const Clock& clock_;
    EventNotifier& notifier_;
    metrics::Metrics& metrics_;
    const Dispatch dispatch_;
    int epoll_fd_ = -1;
    int wake_fd_ = -1;  // eventfd: answers, notifications and stop reach the loop through it
    EventNotifier::ListenerId listener_id_ = 0;

    std::unordered_map<ConnectionId, Connection> connections_;
    std::vector<char> read_buffer_;  // one for all connections: only the loop thread reads
    ConnectionId next_id_ = 2;       // 0 and 1 mark the listener and the wake fd in epoll
    std::size_t parked_ = 0;
    bool stopping_ = false;
    SteadyTime stop_deadline_{};

    std::mutex mailbox_mutex_;  // guards mailbox_ and direct_writes_
    std::vector<std::pair<ConnectionId, Outcome>> mailbox_;
    std::unordered_map<ConnectionId, std::shared_ptr<DirectWrite>> direct_writes_;
    std::atomic<bool> stop_requested_{false};
    std::atomic<bool> events_committed_{false};
};

}  // namespace extract::http
