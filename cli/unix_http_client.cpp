#include "cli/unix_http_client.hpp"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/Timespan.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <istream>
#include <ostream>

namespace extract::cli {
namespace {

Poco::Timespan to_timespan(Millis d) {
    return Poco::Timespan(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

}  // namespace

UnixHttpClient::UnixHttpClient(std::string socket_path, Millis timeout)
    : socket_path_(std::move(socket_path)), timeout_(timeout) {}

HttpReply UnixHttpClient::request(const std::string& method, const std::string& target, const std::string& body) {
    return exchange(method, target, body, nullptr);
}

HttpReply UnixHttpClient::download(const std::string& target, std::ostream& sink) {
    return exchange("GET", target, {}, &sink);
}

HttpReply UnixHttpClient::exchange(const std::string& method, const std::string& target, const std::string& body,
                                   std::ostream* sink) {
    // Poco 1.11 cannot open a Unix socket from HTTPClientSession itself (STYLE.md): connect
    // the socket here and give the session this one connection.
    Poco::Net::StreamSocket socket;
    try {
        socket.connect(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, socket_path_),
                       to_timespan(timeout_));
    } catch (const Poco::Exception& e) {
        // Poco's socket errors carry errno as their code; its own texts are vaguer ("I/O error").
        throw ConnectError("cannot connect to " + socket_path_ + ": " +
                               (e.code() > 0 ? std::string(std::strerror(e.code())) : e.displayText()),
                           std::max(e.code(), 0));
    }

    try {
        // A session given a connected socket never applies its own timeouts to it.
        socket.setSendTimeout(to_timespan(timeout_));
        socket.setReceiveTimeout(to_timespan(timeout_));
        Poco::Net::HTTPClientSession session(socket);
        session.setKeepAlive(false);

        Poco::Net::HTTPRequest http_request(method, target, Poco::Net::HTTPMessage::HTTP_1_1);
        http_request.setHost("localhost");  // the session has no host of its own to send
        http_request.setKeepAlive(false);
        if (!body.empty()) http_request.setContentType("application/json");
        if (!body.empty() || method == Poco::Net::HTTPRequest::HTTP_POST ||
            method == Poco::Net::HTTPRequest::HTTP_PUT) {
            http_request.setContentLength(static_cast<std::streamsize>(body.size()));
        }
        std::ostream& out = session.sendRequest(http_request);
        out << body;

        Poco::Net::HTTPResponse response;
        std::istream& in = session.receiveResponse(response);
        HttpReply reply;
        reply.status = static_cast<int>(response.getStatus());
        for (const auto& [name, value] : response) reply.headers.emplace_back(name, value);
        const auto broke_off = [&] {
            return ConnectError("the reply from " + socket_path_ + " to " + method + " " + target + " broke off");
        };
        if (sink != nullptr && reply.status == 200) {
            const auto copied = Poco::StreamCopier::copyStream64(in, *sink, 1 << 16);
            // A fixed-length body that ends early just ends: only its length tells.
            if (in.bad() ||
                (response.hasContentLength() && static_cast<std::int64_t>(copied) != response.getContentLength64())) {
                throw broke_off();
            }
            return reply;
        }
        Poco::StreamCopier::copyToString(in, reply.body);
        // An istream turns a failed read into badbit instead of passing the exception on.
        if (in.bad()) throw broke_off();
        return reply;
    } catch (const Poco::TimeoutException&) {
        throw ConnectError(socket_path_ + " did not answer " + method + " " + target + " within " +
                           std::to_string(timeout_.count()) + " ms");
    } catch (const Poco::Exception& e) {
        throw ConnectError("connection to " + socket_path_ + " failed during " + method + " " + target + ": " +
                           e.displayText());
    }
}

}  // namespace extract::cli
