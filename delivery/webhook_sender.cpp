#include "delivery/webhook_sender.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

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

#include <array>
#include <istream>
#include <mutex>
#include <ostream>
#include <set>

namespace extract::delivery {
namespace {

constexpr std::size_t kBodyStart = 512;

Poco::Timespan to_timespan(Millis d) { return Poco::Timespan(static_cast<Poco::Timespan::TimeDiff>(d.count()) * 1000); }

// The path and query of `url` exactly as written (Poco::URI would decode and re-encode them):
// everything after the authority, without a #fragment; "/" when there is nothing.
std::string request_target(std::string_view url) {
    const auto scheme_end = url.find("://");
    const auto start = url.find_first_of("/?#", scheme_end == std::string_view::npos ? 0 : scheme_end + 3);
    if (start == std::string_view::npos) return "/";
    std::string_view rest = url.substr(start);
    rest = rest.substr(0, rest.find('#'));
    if (rest.empty()) return "/";
    return rest.front() == '?' ? "/" + std::string(rest) : std::string(rest);
}

SendResult failed(SendFailure failure, std::string message) {
    SendResult result;
    result.failure = failure;
    result.message = std::move(message);
    return result;
}

}  // namespace

std::string_view describe(SendFailure failure) {
    switch (failure) {
        case SendFailure::none: return "none";
        case SendFailure::bad_url: return "bad url";
        case SendFailure::connect_failed: return "connection failed";
        case SendFailure::timeout: return "timeout";
        case SendFailure::tls: return "tls";
        case SendFailure::connection_lost: return "connection lost";
        case SendFailure::aborted: return "aborted";
    }
    return "unknown";
}

struct PocoWebhookSender::Impl {
    PocoWebhookSenderOptions options;
    std::mutex mutex;
    bool aborted = false;
    Poco::Net::Context::Ptr tls;  // made at the first https request
    // A duplicate of each in-flight request's socket descriptor: abort() shuts the socket down
    // through it, and since it is ours until unregistered, it never names a reused descriptor.
    std::set<int> in_flight;

    Poco::Net::Context::Ptr context() {
        std::lock_guard lock(mutex);
        if (!tls) {
            Poco::Net::Context::Params params;
            params.caLocation = options.ca_file;
            params.loadDefaultCAs = options.ca_file.empty();
            // STRICT also checks the host name of loopback addresses, which RELAXED skips.
            params.verificationMode = Poco::Net::Context::VERIFY_STRICT;
            tls = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);
            tls->disableProtocols(Poco::Net::Context::PROTO_SSLV2 | Poco::Net::Context::PROTO_SSLV3 |
                                  Poco::Net::Context::PROTO_TLSV1 | Poco::Net::Context::PROTO_TLSV1_1);
        }
        return tls;
    }
};

namespace {

// Keeps an in-flight request's socket where abort() can reach it, for the registration's lifetime.
class AbortRegistration {
public:
    AbortRegistration(std::mutex& mutex, const bool& aborted, std::set<int>& in_flight, int fd)
        : mutex_(mutex), in_flight_(in_flight) {
        std::lock_guard lock(mutex_);
        if (aborted) return;
        dup_ = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);  // never inherited by a command a trigger starts
        if (dup_ >= 0) in_flight_.insert(dup_);
    }
    ~AbortRegistration() {
        std::lock_guard lock(mutex_);
        if (dup_ >= 0) {
            in_flight_.erase(dup_);
            ::close(dup_);
        }
    }
    AbortRegistration(const AbortRegistration&) = delete;
    AbortRegistration& operator=(const AbortRegistration&) = delete;
    bool registered() const { return dup_ >= 0; }

private:
    std::mutex& mutex_;
    std::set<int>& in_flight_;
    int dup_ = -1;
};

}  // namespace

PocoWebhookSender::PocoWebhookSender(PocoWebhookSenderOptions options) : impl_(std::make_unique<Impl>()) {
    static const bool ssl_initialized = [] {
        Poco::Net::initializeSSL();  // for the process' lifetime: other parts use OpenSSL too
        return true;
    }();
    (void)ssl_initialized;
    impl_->options = std::move(options);
}

PocoWebhookSender::~PocoWebhookSender() = default;

void PocoWebhookSender::abort() {
    std::lock_guard lock(impl_->mutex);
    impl_->aborted = true;
    for (const int fd : impl_->in_flight) ::shutdown(fd, SHUT_RDWR);
}

SendResult PocoWebhookSender::post(const WebhookRequest& request) {
    Poco::URI uri;
    try {
        uri = Poco::URI(request.url);
    } catch (const Poco::Exception& e) {
        return failed(SendFailure::bad_url, "cannot parse the url: " + e.displayText());
    }
    const bool https = uri.getScheme() == "https";
    if ((!https && uri.getScheme() != "http") || uri.getHost().empty()) {
        return failed(SendFailure::bad_url, "the url must be http:// or https:// with a host");
    }
    const auto timeout = to_timespan(request.timeout);
    const auto was_aborted = [this] {
        std::lock_guard lock(impl_->mutex);
        return impl_->aborted;
    };
    const auto outcome = [&](SendFailure failure, std::string message) {
        return was_aborted() ? failed(SendFailure::aborted, "aborted by shutdown")
                             : failed(failure, std::move(message));
    };

    try {
        const Poco::Net::SocketAddress address(uri.getHost(), uri.getPort());
        Poco::Net::StreamSocket socket(address.family());
        std::unique_ptr<Poco::Net::HTTPClientSession> session;  // closes the socket: destroyed after `registration`
        AbortRegistration registration(impl_->mutex, impl_->aborted, impl_->in_flight,
                                       static_cast<int>(socket.impl()->sockfd()));
        if (!registration.registered()) return outcome(SendFailure::aborted, "aborted");

        socket.connect(address, timeout);
        socket.setReceiveTimeout(timeout);
        socket.setSendTimeout(timeout);
        socket.setNoDelay(true);
        // A plain HTTPClientSession over the TLS socket: HTTPSClientSession cannot take a socket
        // that is already connected, and the connection must be ours before it exists (abort()).
        session = std::make_unique<Poco::Net::HTTPClientSession>(
            https ? Poco::Net::SecureStreamSocket::attach(socket, uri.getHost(), impl_->context()) : socket);
        session->setTimeout(timeout);

        const std::string target = request_target(request.url);
        Poco::Net::HTTPRequest http(Poco::Net::HTTPRequest::HTTP_POST, target, Poco::Net::HTTPMessage::HTTP_1_1);
        http.setHost(uri.getHost(), uri.getPort());
        for (const auto& [name, value] : request.headers) http.set(name, value);
        http.setContentLength(static_cast<std::streamsize>(request.body.size()));
        http.setKeepAlive(false);
        std::ostream& out = session->sendRequest(http);
        out.write(request.body.data(), static_cast<std::streamsize>(request.body.size()));
        out.flush();

        Poco::Net::HTTPResponse response;
        std::istream& in = session->receiveResponse(response);
        std::array<char, kBodyStart> buffer{};
        in.read(buffer.data(), buffer.size());

        SendResult result;
        result.status = static_cast<int>(response.getStatus());
        if (response.has("Retry-After")) result.retry_after = response.get("Retry-After");
        result.body_start.assign(buffer.data(), static_cast<std::size_t>(in.gcount()));
        return result;
    } catch (const Poco::TimeoutException&) {
        return outcome(SendFailure::timeout, "no answer within " + std::to_string(request.timeout.count()) + " ms");
    } catch (const Poco::Net::ConnectionRefusedException&) {
        return outcome(SendFailure::connect_failed, "connection refused");
    } catch (const Poco::Net::DNSException& e) {
        return outcome(SendFailure::connect_failed, "cannot resolve the host: " + e.displayText());
    } catch (const Poco::Net::SSLException& e) {
        return outcome(SendFailure::tls, e.displayText());
    } catch (const Poco::Net::NoMessageException&) {
        return outcome(SendFailure::connection_lost, "the connection closed without an answer");
    } catch (const Poco::Exception& e) {
        return outcome(SendFailure::connection_lost, e.displayText());
    } catch (const std::exception& e) {
        return outcome(SendFailure::connection_lost, e.what());
    }
}

}  // namespace extract::delivery
