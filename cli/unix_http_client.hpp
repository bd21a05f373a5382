#pragma once
// One HTTP/1.1 request per call over the daemon's Unix socket: the transport of extractctl
// (and of any test that talks to the local API).

#include <ostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.hpp"

namespace extract::cli {

struct HttpReply {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

// The socket cannot be reached, or the connection broke or timed out before a whole reply
// arrived. The message names the socket path and what went wrong.
struct ConnectError : std::runtime_error {
    explicit ConnectError(const std::string& message, int errno_code = 0)
        : std::runtime_error(message), error_code(errno_code) {}
    int error_code;  // errno of a failed connect (EACCES, ENOENT, ECONNREFUSED ...); 0 otherwise
};

class UnixHttpClient {
public:
    // `timeout` bounds connecting and each wait for the daemon (send, every read): a long
    // poll with `wait=D` needs a timeout longer than D.
    UnixHttpClient(std::string socket_path, Millis timeout);

    // Any HTTP status is a reply, not an error; a non-empty body is sent as JSON.
    HttpReply request(const std::string& method, const std::string& target, const std::string& body = {});
    // GET whose 200 body is copied to `sink` as it arrives (a file of any size), not kept in
    // the reply; any other status keeps its (small) body in the reply. A 200 body shorter
    // than its Content-Length throws ConnectError.
    HttpReply download(const std::string& target, std::ostream& sink);

    const std::string& socket_path() const { return socket_path_; }

private:
    HttpReply exchange(const std::string& method, const std::string& target, const std::string& body,
                       std::ostream* sink);

    std::string socket_path_;
    Millis timeout_;
};

}  // namespace extract::cli
