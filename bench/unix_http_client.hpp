#pragma once
// One keep-alive HTTP/1.1 connection to a Unix-domain socket, blocking, for the benchmarks'
// load generators: as little client work per request as possible (no Poco session, no header
// map), so that what is measured is the server.

#include <chrono>
#include <string>
#include <string_view>

namespace extract::bench {

struct HttpExchange {
    int status = 0;  // 0: the connection failed or the reply was not HTTP
    std::string body;
};

class UnixHttpConnection {
public:
    // Throws std::runtime_error naming the path when it cannot connect.
    explicit UnixHttpConnection(const std::string& socket_path);
    ~UnixHttpConnection();
    UnixHttpConnection(const UnixHttpConnection&) = delete;
    UnixHttpConnection& operator=(const UnixHttpConnection&) = delete;

    // Sends `method target` with an empty body and reads the whole reply (Content-Length
    // framed). On any failure the status is 0 and the connection is closed for good.
    HttpExchange request(std::string_view method, std::string_view target);
    HttpExchange get(std::string_view target) { return request("GET", target); }
    bool open() const { return fd_ >= 0; }

private:
    void close();

    int fd_ = -1;
    std::string out_;
    std::string in_;  // bytes read past the previous reply stay here (none with one request in flight)
};

// Waits until something accepts connections on `socket_path`; false after `timeout`.
bool wait_for_socket(const std::string& socket_path, std::chrono::milliseconds timeout);

}  // namespace extract::bench
