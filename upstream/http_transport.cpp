#include "upstream/http_transport.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/NetSSL.h>
#include <Poco/Net/SSLException.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/URI.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "core/sigpipe_blocked.hpp"

#ifndef EXTRACT_VERSION
#error "EXTRACT_VERSION must be defined by the build (upstream/CMakeLists.txt)"
#endif

namespace extract::upstream {
namespace {

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

Poco::Timespan to_timespan(Millis d) { return Poco::Timespan(std::chrono::microseconds(d).count()); }

// A kept-alive connection idle for longer than this may have been dropped silently by a
// NAT or load balancer (no FIN ever arrives): open a new one instead of waiting for a timeout.
constexpr auto kMaxIdleReuse = std::chrono::seconds(60);
// How often a connect in progress looks at the abort flag.
constexpr auto kConnectPollSlice = std::chrono::milliseconds(50);
// The body is read in pieces of this size, so its cap is checked while it arrives.
constexpr std::size_t kBodyReadChunk = 64 * 1024;

}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
        if (equals_ignoring_case(key, name)) return value;
    }
    return std::nullopt;
}

std::string_view describe(TransportError error) {
    switch (error) {
        case TransportError::none: return "no error";
        case TransportError::timeout: return "timeout";
        case TransportError::connect_failed: return "connect failed";
        case TransportError::unknown_host: return "unknown host";
        case TransportError::connection_reset: return "connection reset";
        case TransportError::tls: return "TLS error";
        case TransportError::aborted: return "aborted";
        case TransportError::too_large: return "answer too large";
    }
    return "unknown transport error";
}

namespace {

// Poco's displayText() is "name: message", which repeats itself when the message already says
// what the name does ("Connection refused: Connection refused") and adds nothing when the name
// is a generic base class's.
std::string exception_text(const Poco::Exception& e) {
    std::string name = e.name();
    const std::string& message = e.message();
    if (message.empty()) return name;
    auto lower = [](std::string text) {
        for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return text;
    };
    const bool generic = name == "Net Exception" || name == "I/O error" || name == "Exception";
    if (generic || lower(message).find(lower(name)) != std::string::npos) return message;
    return name + ": " + message;
}

}  // namespace

std::string default_user_agent() { return std::string("extract-sync/") + EXTRACT_VERSION; }

// One open connection. While it exists its socket's fd is published for abort(); the fd is
// withdrawn before the socket closes, so abort() never touches a recycled descriptor.
struct PocoHttpTransport::Connection {
    Connection(Impl& owner, const Poco::Net::StreamSocket& plain);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    Impl& owner;
    Poco::Net::StreamSocket socket;  // plain, or a SecureStreamSocket over the same fd
    std::unique_ptr<Poco::Net::HTTPClientSession> session;
    std::chrono::steady_clock::time_point last_used = std::chrono::steady_clock::now();
};

struct PocoHttpTransport::Impl {
    explicit Impl(TransportOptions opts);
    ~Impl();

    TransportResult get(const std::string& target, const HeaderList& headers);
    void abort();

    struct Exchange {
        TransportResult result;
        bool nothing_received = false;  // failed before a status line arrived
    };
    Exchange exchange(const std::string& target, const HeaderList& headers,
                      std::chrono::steady_clock::time_point deadline_at);
    Exchange exchange_within_deadline(const std::string& target, const HeaderList& headers,
                                      std::chrono::steady_clock::time_point deadline_at);
    std::unique_ptr<Connection> open_connection(std::chrono::steady_clock::time_point deadline_at);
    // Leaves a connect in progress; failure() reports any exception as `aborted` once the flag is set.
    void throw_if_aborted() const {
        if (aborted.load(std::memory_order_acquire)) throw Poco::IOException("aborted");
    }
    bool reusable(Connection& connection) const;
    TransportResult failure(const Poco::Exception& e, std::string_view doing) const;
    std::string authority() const { return host + ":" + std::to_string(port); }

    TransportOptions options;
    bool https = false;
    std::string host;
    Poco::UInt16 port = 0;
    std::string path_prefix;  // "" or "/prefix" (no trailing slash)
    Poco::Net::Context::Ptr tls_context;

    std::mutex request_mutex;                // one request at a time on the one connection
    std::unique_ptr<Connection> connection;  // guarded by request_mutex

    std::atomic<bool> aborted{false};
    std::mutex fd_mutex;  // guards active_fd against a concurrent abort()
    int active_fd = -1;

    // request_timeout bounds the whole request. Socket timeouts bound only each wait, and a server
    // trickling a byte a second never trips them: the watchdog shuts the socket down at the
    // deadline instead, as abort() does, and the request reports a timeout.
    void watch_deadline();
    void arm_deadline(std::chrono::steady_clock::time_point at);
    bool disarm_deadline();  // true when the deadline struck
    std::mutex deadline_mutex;
    std::condition_variable deadline_changed;
    std::optional<std::chrono::steady_clock::time_point> deadline;  // guarded by deadline_mutex
    bool deadline_struck = false;                                   // guarded by deadline_mutex
    bool stopping = false;                                          // guarded by deadline_mutex
    std::thread watchdog;
};

PocoHttpTransport::Connection::Connection(Impl& impl, const Poco::Net::StreamSocket& plain)
    : owner(impl), socket(plain) {
    std::lock_guard lock(owner.fd_mutex);
    owner.active_fd = socket.impl()->sockfd();
}

PocoHttpTransport::Connection::~Connection() {
    std::lock_guard lock(owner.fd_mutex);
    owner.active_fd = -1;
    // The session and socket members close the fd after this body, outside abort()'s view.
}

PocoHttpTransport::Impl::Impl(TransportOptions opts) : options(std::move(opts)) {
    Poco::URI uri;
    try {
        uri = Poco::URI(options.base_url);
    } catch (const Poco::Exception& e) {
        throw std::invalid_argument("upstream base_url '" + options.base_url + "' is not a URL: " + e.displayText());
    }
    if (uri.getScheme() != "http" && uri.getScheme() != "https") {
        throw std::invalid_argument("upstream base_url '" + options.base_url + "' must start with http:// or https://");
    }
    if (uri.getHost().empty()) {
        throw std::invalid_argument("upstream base_url '" + options.base_url + "' names no host");
    }
    if (!uri.getRawQuery().empty() || !uri.getFragment().empty()) {
        throw std::invalid_argument("upstream base_url '" + options.base_url + "' must not carry a query or fragment");
    }
    https = uri.getScheme() == "https";
    host = uri.getHost();
    port = uri.getPort();
    path_prefix = uri.getPathEtc();  // still percent-encoded; no query or fragment (checked above)
    while (!path_prefix.empty() && path_prefix.back() == '/') path_prefix.pop_back();
    if (options.user_agent.empty()) options.user_agent = default_user_agent();

    if (https) {
        Poco::Net::initializeSSL();
        Poco::Net::Context::Params params;
        params.verificationMode =
            options.verify_tls ? Poco::Net::Context::VERIFY_RELAXED : Poco::Net::Context::VERIFY_NONE;
        params.caLocation = options.ca_file;
        params.loadDefaultCAs = options.ca_file.empty();
        try {
            tls_context = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);
        } catch (const Poco::Exception& e) {
            Poco::Net::uninitializeSSL();
            throw std::invalid_argument("cannot set up TLS for upstream " + options.base_url +
                                        (options.ca_file.empty() ? "" : " with ca_file " + options.ca_file) + ": " +
                                        e.displayText());
        }
        tls_context->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
        if (!options.verify_tls) {
            tls_context->enableExtendedCertificateVerification(false);
            spdlog::warn(
                "verify_tls = false: the certificate of {} is not checked; anyone on the path can read "
                "the API key and forge answers",
                authority());
        }
    }
    watchdog = std::thread([this] { watch_deadline(); });
}

void PocoHttpTransport::Impl::watch_deadline() {
    std::unique_lock lock(deadline_mutex);
    while (!stopping) {
        if (!deadline) {
            deadline_changed.wait(lock);
            continue;
        }
        const auto at = *deadline;
        if (deadline_changed.wait_until(lock, at) == std::cv_status::timeout && deadline == at) {
            deadline_struck = true;
            deadline.reset();
            std::lock_guard fd_lock(fd_mutex);
            if (active_fd >= 0) ::shutdown(active_fd, SHUT_RDWR);
        }
    }
}

void PocoHttpTransport::Impl::arm_deadline(std::chrono::steady_clock::time_point at) {
    {
        std::lock_guard lock(deadline_mutex);
        deadline = at;
        deadline_struck = false;
    }
    deadline_changed.notify_all();
}

bool PocoHttpTransport::Impl::disarm_deadline() {
    std::lock_guard lock(deadline_mutex);
    deadline.reset();
    return deadline_struck;
}

PocoHttpTransport::Impl::~Impl() {
    {
        std::lock_guard lock(deadline_mutex);
        stopping = true;
    }
    deadline_changed.notify_all();
    if (watchdog.joinable()) watchdog.join();
    connection.reset();
    tls_context.reset();
    if (https) Poco::Net::uninitializeSSL();
}

void PocoHttpTransport::Impl::abort() {
    aborted.store(true, std::memory_order_release);
    std::lock_guard lock(fd_mutex);
    // shutdown(), not close(): the fd stays owned by the requesting thread, whose blocked
    // read or write returns at once.
    if (active_fd >= 0) ::shutdown(active_fd, SHUT_RDWR);
}

std::unique_ptr<PocoHttpTransport::Connection> PocoHttpTransport::Impl::open_connection(
    std::chrono::steady_clock::time_point deadline_at) {
    const Poco::Net::SocketAddress address(host, port);  // name resolution: not abortable
    auto conn = std::make_unique<Connection>(*this, Poco::Net::StreamSocket(address.family()));
    auto& socket = conn->socket;

    // Connect without blocking so that abort() and request_timeout both cut it short.
    socket.connectNB(address);
    while (!socket.poll(to_timespan(kConnectPollSlice),
                        Poco::Net::Socket::SELECT_WRITE | Poco::Net::Socket::SELECT_ERROR)) {
        throw_if_aborted();
        if (std::chrono::steady_clock::now() >= deadline_at) {
            throw Poco::TimeoutException("no connection within " + std::to_string(options.request_timeout.count()) +
                                         " ms");
        }
    }
    if (const int err = socket.impl()->socketError(); err != 0) {
        if (err == ECONNREFUSED) throw Poco::Net::ConnectionRefusedException();  // says "Connection refused" once
        throw Poco::Net::NetException(std::strerror(err), err);
    }
    throw_if_aborted();  // a shutdown() that raced the connect had no effect; the flag tells
    socket.setBlocking(true);
    socket.setNoDelay(true);
    socket.setReceiveTimeout(to_timespan(options.request_timeout));
    socket.setSendTimeout(to_timespan(options.request_timeout));
    if (https) {
        // The handshake checks the certificate chain and (extended verification) the host name.
        socket = Poco::Net::SecureStreamSocket::attach(socket, host, tls_context);
    }
    // The plain HTTPClientSession works over a SecureStreamSocket as well; it never
    // reconnects on its own because it is given a connected socket and no host.
    conn->session = std::make_unique<Poco::Net::HTTPClientSession>(socket);
    conn->session->setKeepAlive(true);
    return conn;
}

bool PocoHttpTransport::Impl::reusable(Connection& conn) const {
    if (std::chrono::steady_clock::now() - conn.last_used > kMaxIdleReuse) return false;
    try {
        // An idle kept-alive connection has nothing to read: readable means the server closed it.
        return !conn.socket.poll(Poco::Timespan(0), Poco::Net::Socket::SELECT_READ | Poco::Net::Socket::SELECT_ERROR);
    } catch (const Poco::Exception&) {
        return false;
    }
}

TransportResult PocoHttpTransport::Impl::failure(const Poco::Exception& e, std::string_view doing) const {
    TransportResult result;
    const std::string what = std::string(doing) + ": " + exception_text(e);
    if (aborted.load(std::memory_order_acquire)) {
        result.error = TransportError::aborted;
        result.message = std::string(doing) + ": request aborted at shutdown";
    } else if (dynamic_cast<const Poco::Net::HostNotFoundException*>(&e) ||
               dynamic_cast<const Poco::Net::NoAddressFoundException*>(&e)) {
        result.error = TransportError::unknown_host;
    } else if (dynamic_cast<const Poco::TimeoutException*>(&e)) {
        // No connection within request_timeout is a failure to connect, not a slow answer.
        result.error = doing.starts_with("connecting") ? TransportError::connect_failed : TransportError::timeout;
    } else if (dynamic_cast<const Poco::Net::SSLConnectionUnexpectedlyClosedException*>(&e)) {
        result.error = TransportError::connection_reset;
    } else if (dynamic_cast<const Poco::Net::SSLException*>(&e)) {
        result.error = TransportError::tls;
    } else if (dynamic_cast<const Poco::Net::DNSException*>(&e) ||
               dynamic_cast<const Poco::Net::ConnectionRefusedException*>(&e) || doing.starts_with("connecting")) {
        result.error = TransportError::connect_failed;
    } else {
        result.error = TransportError::connection_reset;
    }
    if (result.message.empty()) result.message = what;
    return result;
}

PocoHttpTransport::Impl::Exchange PocoHttpTransport::Impl::exchange_within_deadline(
    const std::string& target, const HeaderList& headers, std::chrono::steady_clock::time_point deadline_at) {
    arm_deadline(deadline_at);
    Exchange out = exchange(target, headers, deadline_at);
    if (disarm_deadline()) {
        // Whatever the cut-off exchange looked like (an error, or a body cut short that seemed
        // complete), it is a timeout; the socket is shut down, so the connection goes.
        connection.reset();
        out.result = TransportResult{TransportError::timeout,
                                     "GET " + path_prefix + target + ": no complete answer within request_timeout (" +
                                         std::to_string(options.request_timeout.count()) + " ms)",
                                     {}};
    }
    return out;
}

PocoHttpTransport::Impl::Exchange PocoHttpTransport::Impl::exchange(const std::string& target,
                                                                    const HeaderList& headers,
                                                                    std::chrono::steady_clock::time_point deadline_at) {
    const std::string request_line = "GET " + path_prefix + target;
    bool got_status = false;
    try {
        if (!connection) {
            try {
                connection = open_connection(deadline_at);
            } catch (const Poco::Exception& e) {
                connection.reset();
                return {failure(e, "connecting to " + authority()), true};
            }
        }
        Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_GET, path_prefix + target,
                                       Poco::Net::HTTPMessage::HTTP_1_1);
        request.setHost(host, port);
        request.setKeepAlive(true);
        request.set("User-Agent", options.user_agent);
        for (const auto& [name, value] : headers) request.set(name, value);

        auto& session = *connection->session;
        session.sendRequest(request);
        Poco::Net::HTTPResponse response;
        std::istream& body_stream = session.receiveResponse(response);
        got_status = true;

        Exchange out;
        HttpResponse& r = out.result.response;
        r.status = static_cast<int>(response.getStatus());
        for (const auto& [name, value] : response) r.headers.emplace_back(name, value);
        const std::size_t cap = options.max_response_bytes;
        auto too_large = [&](const std::string& how_much) {
            connection.reset();  // the rest of the body is never read: the connection cannot be reused
            out.result = TransportResult{TransportError::too_large,
                                         request_line + ": answer of " + how_much + ", more than max_response_size (" +
                                             std::to_string(cap) + " bytes)",
                                         {}};
            return out;
        };
        if (response.hasContentLength() && response.getContentLength64() > static_cast<Poco::Int64>(cap)) {
            return too_large(std::to_string(response.getContentLength64()) + " bytes (Content-Length)");
        }
        // In pieces, so that a body without a length (chunked, or up to the close) is cut at the
        // cap instead of filling memory first.
        std::string chunk(kBodyReadChunk, '\0');
        while (body_stream) {
            body_stream.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
            r.body.append(chunk.data(), static_cast<std::size_t>(body_stream.gcount()));
            if (r.body.size() > cap) return too_large("more than " + std::to_string(cap) + " bytes");
        }
        // Poco's body streams swallow socket errors into the stream state; the session keeps them.
        if (const Poco::Exception* network_error = session.networkException()) network_error->rethrow();
        if (response.hasContentLength() && r.body.size() < static_cast<std::size_t>(response.getContentLength64())) {
            connection.reset();
            out.result =
                TransportResult{TransportError::connection_reset,
                                request_line + ": response body truncated after " + std::to_string(r.body.size()) +
                                    " of " + std::to_string(response.getContentLength64()) + " bytes",
                                {}};
            return out;
        }
        if (response.getKeepAlive()) {
            connection->last_used = std::chrono::steady_clock::now();
        } else {
            connection.reset();
        }
        return out;
    } catch (const Poco::Exception& e) {
        connection.reset();
        return {failure(e, request_line), !got_status};
    } catch (const std::exception& e) {
        connection.reset();
        return {failure(Poco::IOException(e.what()), request_line), !got_status};
    }
}

TransportResult PocoHttpTransport::Impl::get(const std::string& target, const HeaderList& headers) {
    std::lock_guard lock(request_mutex);
    const SigpipeBlocked no_sigpipe;
    if (aborted.load(std::memory_order_acquire)) {
        return {TransportError::aborted, "GET " + path_prefix + target + ": request aborted at shutdown", {}};
    }
    if (connection && !reusable(*connection)) connection.reset();
    const bool reusing = connection != nullptr;
    // One deadline for the request, a send again on a new connection included.
    const auto deadline_at = std::chrono::steady_clock::now() + options.request_timeout;
    Exchange first = exchange_within_deadline(target, headers, deadline_at);
    if (reusing && first.nothing_received && first.result.error != TransportError::none &&
        first.result.error != TransportError::aborted && first.result.error != TransportError::timeout) {
        // The server dropped the kept-alive connection between requests: not a failure of the request.
        spdlog::debug("upstream {} closed a kept-alive connection ({}); sending again on a new one", authority(),
                      first.result.message);
        return exchange_within_deadline(target, headers, deadline_at).result;
    }
    return first.result;
}

PocoHttpTransport::PocoHttpTransport(TransportOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

PocoHttpTransport::~PocoHttpTransport() = default;

TransportResult PocoHttpTransport::get(const std::string& target, const HeaderList& headers) {
    return impl_->get(target, headers);
}

void PocoHttpTransport::abort() { impl_->abort(); }

}  // namespace extract::upstream
