#include "http/connection_loop.hpp"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace extract::http {
namespace {

constexpr ConnectionId kListenerTag = 0;
constexpr ConnectionId kWakeTag = 1;
constexpr std::size_t kReadChunk = 64 * 1024;
// A file body (GET /v1/backup) is read and sent this much at a time.
constexpr std::uint64_t kFileChunk = 256 * 1024;

void signal_eventfd(int fd) {
    const std::uint64_t one = 1;
    (void)!::write(fd, &one, sizeof one);  // a full counter is still a wake-up
}

// Best effort: a refusal the client can read, sent without waiting for it to read, then the
// end of our side (the caller closes the fd).
void say_refusal(int fd, int status, const std::string& detail) {
    const std::string reply = serialize_reply(detail_reply(status, detail), false);
    (void)!::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::shutdown(fd, SHUT_WR);
}

void refuse(int fd, int status, const std::string& detail) {
    say_refusal(fd, status, detail);
    ::close(fd);
}

}  // namespace

ConnectionLoop::ConnectionLoop(int listen_fd, ConnectionLimits limits, PeerAccess access, const Clock& clock,
                               EventNotifier& notifier, metrics::Metrics& metrics, Dispatch dispatch)
    : listen_fd_(listen_fd),
      limits_(limits),
      access_(std::move(access)),
      admission_(ConnectionQuota::derived(limits.max_connections, limits.max_connections_per_uid), access_.own_uid()),
      clock_(clock),
      notifier_(notifier),
      metrics_(metrics),
      dispatch_(std::move(dispatch)),
      read_buffer_(kReadChunk) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd_ < 0 || wake_fd_ < 0) {
        throw std::runtime_error(std::string("api: cannot create the event loop: ") + std::strerror(errno));
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenerTag;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
    ev.data.u64 = kWakeTag;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
    listener_id_ = notifier_.add_listener([this] {
        events_committed_.store(true);
        signal_eventfd(wake_fd_);
    });
}

ConnectionLoop::~ConnectionLoop() {
    notifier_.remove_listener(listener_id_);
    for (auto& [id, c] : connections_) ::close(c.fd);
    ::close(wake_fd_);
    ::close(epoll_fd_);
}

void ConnectionLoop::stop() {
    stop_requested_.store(true);
    signal_eventfd(wake_fd_);
}

void ConnectionLoop::answer(ConnectionId id, std::variant<HttpReply, ParkForEvents> outcome) {
    std::shared_ptr<DirectWrite> direct;
    {
        std::lock_guard lock(mailbox_mutex_);
        if (const auto it = direct_writes_.find(id); it != direct_writes_.end()) direct = it->second;
    }
    if (auto* reply = std::get_if<HttpReply>(&outcome); reply && direct && reply_directly(*direct, id, *reply)) return;
    post(id, std::visit([](auto&& o) -> Outcome { return std::forward<decltype(o)>(o); }, std::move(outcome)), true);
}

void ConnectionLoop::post(ConnectionId id, Outcome outcome, bool wake) {
    {
        std::lock_guard lock(mailbox_mutex_);
        mailbox_.emplace_back(id, std::move(outcome));
    }
    if (wake) signal_eventfd(wake_fd_);
}

// On the worker's thread. True when the reply is the worker's business no more: written
// whole (the loop hears of it when it next wakes), or begun and handed to the loop.
bool ConnectionLoop::reply_directly(DirectWrite& direct, ConnectionId id, const HttpReply& reply) {
    if (reply.close || reply.file) return false;  // a file body is the loop's to send, chunk by chunk
    std::lock_guard lock(direct.mutex);           // the loop closes the fd only under it
    if (!direct.allowed || direct.fd < 0) return false;
    direct.allowed = false;
    std::string out = serialize_reply(reply, true, direct.head_only);
    std::size_t sent = 0;
    while (sent < out.size()) {
        const ssize_t n = ::send(direct.fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            break;  // a full socket or a failure: flush() goes on from here, or closes
        }
    }
    if (sent < out.size()) {
        post(id, PartlyReplied{std::move(out), sent}, true);
        return true;
    }
    // Posted before re-arming: the loop can see the next request only after this entry. No
    // wake-up (that is the saving) unless the loop is stopping and counts what is in flight.
    post(id, RepliedDirectly{clock_.steady_now()}, stop_requested_.load());
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = id;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, direct.fd, &ev);
    return true;
}

void ConnectionLoop::run() {
    std::array<epoll_event, 128> ready{};
    while (true) {
        const auto before = clock_.steady_now();
        if (stopping_ && (connections_.empty() || before >= stop_deadline_)) break;
        const int n = ::epoll_wait(epoll_fd_, ready.data(), static_cast<int>(ready.size()), next_timeout_ms(before));
        if (n < 0 && errno != EINTR) {
            spdlog::error("api: epoll_wait failed: {}", std::strerror(errno));
            break;
        }
        // First what the workers wrote themselves: a connection they re-armed is reading again.
        take_mailbox();
        for (int i = 0; i < n; ++i) {
            const ConnectionId tag = ready[static_cast<std::size_t>(i)].data.u64;
            if (tag == kListenerTag) {
                accept_all();
            } else if (tag == kWakeTag) {
                std::uint64_t count = 0;
                (void)!::read(wake_fd_, &count, sizeof count);
            } else if (auto it = connections_.find(tag); it != connections_.end()) {
                on_ready(it->second, ready[static_cast<std::size_t>(i)].events);
            }
        }
        // Whatever woke us, look at every source: cheap, and no signal can be missed.
        take_mailbox();
        if (events_committed_.exchange(false)) wake_parked();
        if (stop_requested_.load() && !stopping_) begin_stop();
        expire(clock_.steady_now());
    }
    std::vector<ConnectionId> remaining;
    for (const auto& [id, c] : connections_) remaining.push_back(id);
    for (const auto id : remaining) close(id);
}

void ConnectionLoop::accept_all() {
    while (true) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) spdlog::warn("api: accept failed: {}", std::strerror(errno));
            return;
        }
        if (stopping_) {
            refuse(fd, 503, "the daemon is stopping");
            continue;
        }
        if (refuse_peer(fd)) continue;
        const auto peer = peer_credentials(fd);
        const uid_t uid = peer ? peer->uid : kUnknownPeerUid;
        if (const auto full = make_room(uid)) {
            refuse(fd, 503, *full);
            log_refusal(*full);
            continue;
        }
        const ConnectionId id = next_id_++;
        Connection& c = connections_[id];
        c.id = id;
        c.fd = fd;
        admission_.opened(id, uid);
        c.direct = std::make_shared<DirectWrite>();
        c.direct->fd = fd;
        {
            std::lock_guard lock(mailbox_mutex_);
            direct_writes_[id] = c.direct;
        }
        c.parser = RequestParser(limits_.request);
        c.deadline = clock_.steady_now() + limits_.idle_timeout;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.u64 = id;
        c.watched = ev.events;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    }
}

// A peer that [api] allowed_uids / allowed_gids leave out gets a 403 it can read, sent without
// waiting for it, and a closed connection: it never reaches the parser or a worker.
bool ConnectionLoop::refuse_peer(int fd) {
    const auto refusal = access_.refusal(fd);
    if (!refusal) return false;
    refuse(fd, 403, *refusal);
    log_refusal(*refusal);
    return true;
}

std::optional<std::string> ConnectionLoop::make_room(uid_t uid) {
    while (true) {
        const auto decision = admission_.decide(uid);
        if (std::holds_alternative<ConnectionAdmission::Admit>(decision)) return std::nullopt;
        if (const auto* refused = std::get_if<ConnectionAdmission::Refuse>(&decision)) return refused->reason;
        // A connection that has sent nothing since it was accepted: it gives up its slot first.
        const ConnectionId victim = std::get<ConnectionAdmission::Evict>(decision).victim;
        const auto it = connections_.find(victim);
        if (it == connections_.end()) {  // cannot happen: the table and the connections move together
            admission_.closed(victim);
            continue;
        }
        // Bytes the loop has not read yet count as spoken: a client that sent its request at
        // once is not closed because the loop was busy accepting.
        char byte = 0;
        if (::recv(it->second.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0) {
            it->second.spoke = true;
            admission_.spoke(victim);
            continue;
        }
        say_refusal(it->second.fd, 503,
                    "closed to make room for another connection: this one sent nothing since it was accepted");
        spdlog::debug("api: closed a connection that had sent nothing, to make room");
        close(victim);
    }
}

// Once per text at warn (a refused user retrying must not flood the log), then at debug.
void ConnectionLoop::log_refusal(const std::string& refusal) {
    constexpr std::size_t kRefusalsRemembered = 64;
    if (std::find(refusals_logged_.begin(), refusals_logged_.end(), refusal) == refusals_logged_.end() &&
        refusals_logged_.size() < kRefusalsRemembered) {
        refusals_logged_.push_back(refusal);
        spdlog::warn("api: refused a connection: {}", refusal);
    } else {
        spdlog::debug("api: refused a connection: {}", refusal);
    }
}

void ConnectionLoop::watch(Connection& c, std::uint32_t events) {
    if (c.watched == events) return;
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = c.id;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
    c.watched = events;
}

void ConnectionLoop::on_ready(Connection& c, std::uint32_t events) {
    const ConnectionId id = c.id;
    if (events & (EPOLLERR | EPOLLHUP)) {
        close(id);
        return;
    }
    if (c.phase == Phase::writing && (events & EPOLLOUT)) {
        flush(c);
        return;
    }
    if (c.phase == Phase::reading && (events & (EPOLLIN | EPOLLRDHUP))) {
        read_from(c);
        return;
    }
    if (events & EPOLLRDHUP) {
        // The client went away while its request is served or parked.
        c.peer_closed = true;
        revoke_direct(c);  // the reply goes through the loop, which closes after it
        if (c.phase == Phase::parked) {
            close(id);
        } else {
            watch(c, 0);
        }
    }
}

void ConnectionLoop::read_from(Connection& c) {
    // Never buffer more than one request's worth: the parser rejects anything larger.
    const std::size_t cap = limits_.request.max_head_bytes + limits_.request.max_body_bytes + kReadChunk;
    while (c.in.size() < cap) {
        const ssize_t n = ::recv(c.fd, read_buffer_.data(), read_buffer_.size(), 0);
        if (n > 0) {
            if (!c.spoke) {
                c.spoke = true;
                admission_.spoke(c.id);
            }
            c.in.append(read_buffer_.data(), static_cast<std::size_t>(n));
            continue;
        }
        if (n == 0) {
            c.peer_closed = true;
            break;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        close(c.id);
        return;
    }
    const ConnectionId id = c.id;
    parse_next(c);
    auto it = connections_.find(id);
    if (it != connections_.end() && it->second.peer_closed && it->second.phase == Phase::reading) close(id);
}

void ConnectionLoop::parse_next(Connection& c) {
    // RFC 9112 §2.2: empty lines before a request line are ignored.
    while (c.in.size() >= 2 && c.in[0] == '\r' && c.in[1] == '\n') c.in.erase(0, 2);
    if (c.in.empty()) {
        c.request_started = false;
        return;
    }
    if (!c.request_started) {
        c.request_started = true;
        c.deadline = clock_.steady_now() + limits_.request_timeout;
    }
    auto result = c.parser.parse(c.in);
    if (std::holds_alternative<RequestParser::NeedMore>(result)) return;
    c.parser.reset();
    if (auto* rejected = std::get_if<RequestParser::Rejected>(&result)) {
        c.in.clear();
        send_reply(c, rejected->reply);
        return;
    }
    auto& complete = std::get<RequestParser::Complete>(result);
    c.in.erase(0, complete.consumed);
    c.request_started = false;
    c.request = std::move(complete.request);
    if (stopping_) {
        HttpReply reply = detail_reply(503, "the daemon is stopping");
        reply.close = true;
        send_reply(c, reply);
        return;
    }
    dispatch(c, std::nullopt);
}

void ConnectionLoop::dispatch(Connection& c, std::optional<SteadyTime> long_poll_deadline) {
    c.phase = Phase::dispatched;
    // Stop reading (one request at a time) but notice a hang-up; once the peer has shut its
    // side, level-triggered RDHUP would fire without end, so watch nothing but errors.
    watch(c, c.peer_closed ? 0u : static_cast<std::uint32_t>(EPOLLRDHUP));
    // Alone on a connection that stays open: the worker may write the reply itself. The loop
    // looks for it by an idle timeout from now at the latest (it is not woken for it).
    c.direct_dispatch = c.in.empty() && c.request.keep_alive && !c.peer_closed && !stopping_;
    if (c.direct_dispatch) {
        std::lock_guard lock(c.direct->mutex);
        c.direct->allowed = true;
        c.direct->head_only = c.request.method == "HEAD";
        c.deadline = clock_.steady_now() + limits_.idle_timeout;
    }
    dispatch_(c.id, c.request, long_poll_deadline);
}

void ConnectionLoop::send_reply(Connection& c, const HttpReply& reply) {
    const bool keep_alive = c.request.keep_alive && !reply.close && !c.peer_closed && !stopping_;
    const bool head_only = c.request.method == "HEAD";
    c.out = serialize_reply(reply, keep_alive, head_only);
    c.out_sent = 0;
    if (head_only) {
        c.file.reset();  // the headers say how long the body would be; HEAD sends none
    } else {
        c.file = reply.file;
    }
    c.file_read = 0;
    c.close_after_write = !keep_alive;
    c.phase = Phase::writing;
    c.deadline = clock_.steady_now() + limits_.write_timeout;
    flush(c);
}

void ConnectionLoop::flush(Connection& c) {
    while (c.out_sent < c.out.size() || (c.file && c.file_read < c.file->size)) {
        if (c.out_sent == c.out.size()) {
            // The next chunk of a file body; a reader that keeps taking it keeps its deadline.
            const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(kFileChunk, c.file->size - c.file_read));
            c.out.resize(want);
            const ssize_t got = ::pread(c.file->fd, c.out.data(), want, static_cast<off_t>(c.file_read));
            if (got <= 0) {
                if (got < 0 && errno == EINTR) continue;
                spdlog::error("api: reading a reply body from its file failed: {}",
                              got < 0 ? std::strerror(errno) : "it ended early");
                close(c.id);  // the client sees a short body, never a wrong one
                return;
            }
            c.out.resize(static_cast<std::size_t>(got));
            c.out_sent = 0;
            c.file_read += static_cast<std::uint64_t>(got);
            c.deadline = clock_.steady_now() + limits_.write_timeout;
        }
        const ssize_t n = ::send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL);
        if (n > 0) {
            c.out_sent += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            watch(c, EPOLLOUT);
            return;
        }
        close(c.id);
        return;
    }
    if (c.close_after_write) {
        // Half-close first so the client reads the whole reply before seeing the end.
        ::shutdown(c.fd, SHUT_WR);
        close(c.id);
        return;
    }
    finish_reply(c, clock_.steady_now());
}

void ConnectionLoop::finish_reply(Connection& c, SteadyTime idle_from) {
    c.out.clear();
    c.out.shrink_to_fit();  // a file body's chunk buffer is not kept per idle connection
    c.out_sent = 0;
    c.file.reset();
    c.file_read = 0;
    c.phase = Phase::reading;
    c.request = {};
    c.deadline = idle_from + limits_.idle_timeout;
    watch(c, EPOLLIN | EPOLLRDHUP);
    parse_next(c);  // a pipelined request may already be buffered
}

void ConnectionLoop::revoke_direct(Connection& c) {
    if (!c.direct_dispatch) return;
    c.direct_dispatch = false;
    std::lock_guard lock(c.direct->mutex);
    c.direct->allowed = false;
}

void ConnectionLoop::park(Connection& c, const ParkForEvents& park) {
    if (stopping_ || park.seen_generation != notifier_.generation()) {
        // Stopping: answer now. A commit raced the query: ask again at once.
        dispatch(c, stopping_ ? clock_.steady_now() : park.deadline);
        return;
    }
    c.phase = Phase::parked;
    c.parked = park;
    c.deadline = park.deadline;
    count_parked();
}

void ConnectionLoop::ask_again(Connection& c, SteadyTime deadline) {
    c.parked.reset();
    dispatch(c, deadline);
}

void ConnectionLoop::take_mailbox() {
    std::vector<std::pair<ConnectionId, Outcome>> mailbox;
    {
        std::lock_guard lock(mailbox_mutex_);
        if (mailbox_.empty()) return;
        mailbox.swap(mailbox_);
    }
    for (auto& [id, outcome] : mailbox) {
        auto it = connections_.find(id);
        if (it == connections_.end() || it->second.phase != Phase::dispatched) continue;  // the client left
        Connection& c = it->second;
        if (auto* replied = std::get_if<RepliedDirectly>(&outcome)) {
            c.direct_dispatch = false;
            c.watched = EPOLLIN | EPOLLRDHUP;  // as the worker re-armed it
            if (c.peer_closed || stopping_) {
                close(id);  // the reply is out whole; it was sent before the loop could say otherwise
            } else {
                finish_reply(c, replied->at);
            }
            continue;
        }
        revoke_direct(c);
        if (auto* partly = std::get_if<PartlyReplied>(&outcome)) {
            c.out = std::move(partly->out);
            c.out_sent = partly->sent;
            c.close_after_write = c.peer_closed || stopping_;
            c.phase = Phase::writing;
            c.deadline = clock_.steady_now() + limits_.write_timeout;
            flush(c);
        } else if (auto* reply = std::get_if<HttpReply>(&outcome)) {
            send_reply(c, *reply);
        } else if (c.peer_closed) {
            close(id);
        } else {
            park(c, std::get<ParkForEvents>(outcome));
        }
    }
}

void ConnectionLoop::wake_parked() {
    const auto generation = notifier_.generation();
    for (auto& [id, c] : connections_) {
        if (c.phase == Phase::parked && c.parked->seen_generation != generation) ask_again(c, c.parked->deadline);
    }
    count_parked();
}

void ConnectionLoop::expire(SteadyTime now) {
    // Decide first, act after: acting may close connections, which the walk must not see.
    std::vector<ConnectionId> too_slow, to_close, to_ask_again;
    for (auto& [id, c] : connections_) {
        if (c.deadline > now) continue;
        if (c.phase == Phase::dispatched) {
            // A route still running (a reply its worker wrote would have been taken by now).
            if (c.direct_dispatch) c.deadline = now + limits_.idle_timeout;
            continue;
        }
        if (c.phase == Phase::parked) {
            to_ask_again.push_back(id);
        } else if (c.phase == Phase::reading && c.request_started) {
            too_slow.push_back(id);
        } else {
            to_close.push_back(id);  // idle keep-alive, or a client that does not read its reply
        }
    }
    for (const auto id : to_ask_again) {
        Connection& c = connections_.at(id);
        ask_again(c, c.parked->deadline);  // past its deadline, the route answers with what it has
    }
    for (const auto id : too_slow) {
        Connection& c = connections_.at(id);
        HttpReply reply = detail_reply(408, "the request did not arrive completely in time");
        reply.close = true;
        c.in.clear();
        send_reply(c, reply);
    }
    for (const auto id : to_close) close(id);
    if (!to_ask_again.empty()) count_parked();
}

void ConnectionLoop::begin_stop() {
    stopping_ = true;
    stop_deadline_ = clock_.steady_now() + limits_.stop_grace;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
    std::vector<ConnectionId> idle;
    for (auto& [id, c] : connections_) {
        if (c.phase == Phase::reading) {
            idle.push_back(id);
        } else if (c.phase == Phase::dispatched) {
            revoke_direct(c);  // its reply says "Connection: close"
        } else if (c.phase == Phase::parked) {
            ask_again(c, clock_.steady_now());  // every long poll answers now
        }
    }
    for (const auto id : idle) close(id);
    count_parked();
}

void ConnectionLoop::close(ConnectionId id) {
    const auto it = connections_.find(id);
    if (it == connections_.end()) return;
    {
        std::lock_guard lock(mailbox_mutex_);
        direct_writes_.erase(id);
    }
    {
        std::lock_guard lock(it->second.direct->mutex);  // no worker is writing to the fd now, nor will
        it->second.direct->fd = -1;
        it->second.direct->allowed = false;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->second.fd, nullptr);
        ::close(it->second.fd);
    }
    const bool was_parked = it->second.phase == Phase::parked;
    connections_.erase(it);
    admission_.closed(id);
    if (was_parked) count_parked();
}

int ConnectionLoop::next_timeout_ms(SteadyTime now) const {
    SteadyTime next = now + std::chrono::seconds(60);
    if (stopping_) next = std::min(next, stop_deadline_);
    for (const auto& [id, c] : connections_) {
        if (c.phase != Phase::dispatched || c.direct_dispatch) next = std::min(next, c.deadline);
    }
    if (next <= now) return 0;
    // Round up so that the deadline has passed when we wake.
    return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(next - now).count());
}

void ConnectionLoop::count_parked() {
    std::size_t parked = 0;
    for (const auto& [id, c] : connections_) parked += c.phase == Phase::parked ? 1 : 0;
    if (parked != parked_) {
        parked_ = parked;
        metrics_.long_polls_waiting(parked);
    }
}

}  // namespace extract::http
