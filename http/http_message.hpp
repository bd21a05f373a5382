#pragma once
// HTTP/1.1 as the local API speaks it: a request read incrementally from a connection's
// buffer (with the size limits of SPEC §6), and a reply written as bytes.

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace extract::http {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
    std::string method;
    std::string path;    // as sent, still percent-encoded (segments are decoded by the router)
    std::string query;   // the part after '?', still encoded
    HeaderList headers;  // names lower-cased
    std::string body;
    bool keep_alive = true;

    std::optional<std::string_view> header(std::string_view lower_name) const;
};

// A reply body read from an open file as the socket takes it (GET /v1/backup: a file of any
// size, never held in memory). Owns the descriptor; the file is usually already unlinked.
struct FileBody {
    explicit FileBody(int descriptor, std::uint64_t bytes) : fd(descriptor), size(bytes) {}
    ~FileBody();
    FileBody(const FileBody&) = delete;
    FileBody& operator=(const FileBody&) = delete;
    int fd = -1;
    std::uint64_t size = 0;
};

struct HttpReply {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::shared_ptr<FileBody> file;  // set: the body is the file's `size` bytes instead of `body`
    HeaderList headers;              // besides Content-Type, Content-Length and Connection
    bool close = false;              // close the connection after this reply
};

HttpReply json_reply(int status, const nlohmann::json& body);
// FastAPI's shape for every error but a validation error: {"detail": "message"}.
HttpReply detail_reply(int status, std::string_view message);

// The bytes of `reply` on the wire; `keep_alive` false adds `Connection: close`. `head_only`
// (the answer to a HEAD): the same head, Content-Length included, and no body.
std::string serialize_reply(const HttpReply& reply, bool keep_alive, bool head_only = false);

std::string_view reason_phrase(int status);

// Decodes %XX escapes (invalid ones are kept as written) and, when `plus_is_space`, '+'.
std::string percent_decode(std::string_view text, bool plus_is_space);

struct RequestLimits {
    std::size_t max_head_bytes = 64 * 1024;    // request line and headers
    std::size_t max_body_bytes = 1024 * 1024;  // SPEC §6: larger bodies get 413
};

// Reads one request at a time from the front of a connection's input buffer. Keeps how far
// it has already looked for the end of the head, so a client that sends a byte at a time
// costs linear, not quadratic, work.
class RequestParser {
public:
    explicit RequestParser(RequestLimits limits = {}) : limits_(limits) {}

    struct NeedMore {};
    struct Complete {
        HttpRequest request;
        std::size_t consumed = 0;  // bytes of the buffer this request used
    };
    // The request cannot be served; the reply says why and closes the connection.
    struct Rejected {
        HttpReply reply;
    };
    using Result = std::variant<NeedMore, Complete, Rejected>;

    Result parse(std::string_view buffer);
    // Forget the progress on the current request (after a Complete, or a new buffer).
    void reset() {
        scanned_ = 0;
        line_checked_ = false;
    }

private:
    RequestLimits limits_;
    std::size_t scanned_ = 0;
    bool line_checked_ = false;
};

}  // namespace extract::http
