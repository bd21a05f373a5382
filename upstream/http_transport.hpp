#pragma once
// The seam where the network enters: one HTTP GET to the extract API, its outcome as a
// value. UpstreamClient decides what an outcome means; a transport only carries bytes.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.hpp"

namespace extract::upstream {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
    int status = 0;
    HeaderList headers;
    std::string body;
    // The first header of that name, compared case-insensitively.
    std::optional<std::string> header(std::string_view name) const;
};

// connect_failed: refused, unreachable, or no connection within request_timeout;
// unknown_host: the name does not resolve (NXDOMAIN), which retrying in seconds does not change;
// too_large: the answer was longer than TransportOptions::max_response_bytes (its reading stopped there).
enum class TransportError { none, timeout, connect_failed, unknown_host, connection_reset, tls, aborted, too_large };

// "timeout", "connect failed", ... for messages.
std::string_view describe(TransportError error);

struct TransportResult {
    TransportError error = TransportError::none;
    std::string message;    // what went wrong, when error != none
    HttpResponse response;  // meaningful only when error == none
};

class HttpTransport {
public:
    virtual ~HttpTransport() = default;
    // `target` is path + query, e.g. "/v1/batches?limit=200"; `headers` are sent as given.
    virtual TransportResult get(const std::string& target, const HeaderList& headers) = 0;
    // Called from another thread at shutdown: makes a blocked get() return `aborted` promptly.
    virtual void abort() = 0;
};

// "extract-sync/<version>", the User-Agent of every request this project sends.
std::string default_user_agent();

struct TransportOptions {
    std::string base_url;                               // http://host[:port][/prefix] or https://...
    Millis request_timeout{30000};                      // the whole request: connect, request, headers and body
    std::size_t max_response_bytes = 64 * 1024 * 1024;  // one answer's body, checked while reading
    bool verify_tls = true;
    std::string ca_file;     // empty: the system's trust store
    std::string user_agent;  // empty: default_user_agent()
};

// HTTP(S) to one base URL over a kept-alive connection (Poco Net / NetSSL with OpenSSL).
//
// A connection the server dropped while idle is replaced transparently: the request is sent
// once more on a new connection when a reused one fails before any response arrived (the
// only method is GET, so repeating it is safe). abort() is sticky: once called, every get()
// returns `aborted` at once. get() calls are serialised: one connection, one request at a time.
class PocoHttpTransport final : public HttpTransport {
public:
    // Throws std::invalid_argument for a base_url it cannot use (bad scheme, no host).
    explicit PocoHttpTransport(TransportOptions options);
    ~PocoHttpTransport() override;
    PocoHttpTransport(const PocoHttpTransport&) = delete;
    PocoHttpTransport& operator=(const PocoHttpTransport&) = delete;

    TransportResult get(const std::string& target, const HeaderList& headers) override;
    void abort() override;

private:
    struct Connection;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace extract::upstream
