#include "http/http_message.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace extract::http {
namespace {

bool is_token_char(char c) {
    static constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
    return std::isalnum(static_cast<unsigned char>(c)) || extra.find(c) != std::string_view::npos;
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool contains_token(std::string_view list, std::string_view token) {
    const std::string l = lower(list);
    std::size_t pos = 0;
    while (pos <= l.size()) {
        const auto comma = l.find(',', pos);
        const auto item =
            trim(std::string_view(l).substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
        if (item == token) return true;
        if (comma == std::string::npos) break;
        pos = comma + 1;
    }
    return false;
}

RequestParser::Rejected malformed(std::string_view why) {
    HttpReply reply = detail_reply(400, std::string("malformed HTTP request: ") + std::string(why));
    reply.close = true;
    return {std::move(reply)};
}

RequestParser::Rejected head_too_large() {
    HttpReply reply = detail_reply(431, "request line and headers exceed 64 KiB");
    reply.close = true;
    return {std::move(reply)};
}

// METHOD SP request-target SP HTTP/1.x, into `request`; the rejection when it is not that.
std::optional<RequestParser::Rejected> read_request_line(std::string_view line, HttpRequest& request) {
    const auto sp1 = line.find(' ');
    const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
        return malformed("the request line is not METHOD TARGET HTTP-VERSION");
    }
    request.method = std::string(line.substr(0, sp1));
    const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view version = line.substr(sp2 + 1);
    if (request.method.empty() || !std::all_of(request.method.begin(), request.method.end(), is_token_char)) {
        return malformed("bad method");
    }
    if (target.empty() || target.front() != '/' ||
        std::any_of(target.begin(), target.end(), [](unsigned char c) { return c <= 0x20 || c == 0x7f; })) {
        return malformed("the target must be a path starting with '/'");
    }
    if (version == "HTTP/1.0") {
        request.keep_alive = false;
    } else if (version != "HTTP/1.1") {
        if (version.substr(0, 5) == "HTTP/") {
            HttpReply reply = detail_reply(505, "only HTTP/1.0 and HTTP/1.1 are spoken here");
            reply.close = true;
            return RequestParser::Rejected{std::move(reply)};
        }
        return malformed("bad HTTP version");
    }
    const auto question = target.find('?');
    request.path = std::string(target.substr(0, question));
    if (question != std::string_view::npos) request.query = std::string(target.substr(question + 1));
    return std::nullopt;
}

}  // namespace

std::optional<std::string_view> HttpRequest::header(std::string_view lower_name) const {
    for (const auto& [name, value] : headers) {
        if (name == lower_name) return std::string_view(value);
    }
    return std::nullopt;
}

HttpReply json_reply(int status, const nlohmann::json& body) {
    HttpReply reply;
    reply.status = status;
    // A client's bytes echoed in a 422 (`input`) need not be UTF-8: such bytes become U+FFFD
    // instead of an exception (a 500) while writing the answer.
    reply.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return reply;
}

HttpReply detail_reply(int status, std::string_view message) {
    return json_reply(status, nlohmann::json{{"detail", message}});
}

std::string_view reason_phrase(int status) {
    switch (status) {
        case 200: return "OK";
        case 202: return "Accepted";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 413: return "Content Too Large";
        case 422: return "Unprocessable Content";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 505: return "HTTP Version Not Supported";
        default: return "Unknown";
    }
}

FileBody::~FileBody() {
    if (fd >= 0) ::close(fd);
}

std::string serialize_reply(const HttpReply& reply, bool keep_alive, bool head_only) {
    std::string out;
    out.reserve(reply.body.size() + 160);
    out += "HTTP/1.1 ";
    out += std::to_string(reply.status);
    out += ' ';
    out += reason_phrase(reply.status);
    out += "\r\nContent-Type: ";
    out += reply.content_type;
    out += "\r\nContent-Length: ";
    out += std::to_string(reply.file ? reply.file->size : reply.body.size());
    out += "\r\nCache-Control: no-store\r\n";
    for (const auto& [name, value] : reply.headers) {
        out += name;
        out += ": ";
        out += value;
        out += "\r\n";
    }
    if (!keep_alive || reply.close) out += "Connection: close\r\n";
    out += "\r\n";
    if (!head_only) out += reply.body;
    return out;
}

std::string percent_decode(std::string_view text, bool plus_is_space) {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '%' && i + 2 < text.size()) {
            const int hi = hex(text[i + 1]);
            const int lo = hex(text[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out += static_cast<char>(hi * 16 + lo);
                i += 2;
                continue;
            }
        }
        out += (plus_is_space && c == '+') ? ' ' : c;
    }
    return out;
}

namespace {

// A '\n' at or after `from` that no '\r' precedes.
bool has_bare_lf(std::string_view buffer, std::size_t from) {
    for (auto at = buffer.find('\n', from); at != std::string_view::npos; at = buffer.find('\n', at + 1)) {
        if (at == 0 || buffer[at - 1] != '\r') return true;
    }
    return false;
}

}  // namespace

RequestParser::Result RequestParser::parse(std::string_view buffer) {
    if (!buffer.empty() && !is_token_char(buffer.front())) return malformed("this is not an HTTP request");
    // Judge the request line as soon as it is complete: a client speaking something else
    // (TLS, say) is told at once instead of after a timeout.
    if (!line_checked_) {
        const auto eol = buffer.find("\r\n", scanned_ > 0 ? scanned_ - 1 : 0);
        if (eol == std::string_view::npos) {
            if (has_bare_lf(buffer, scanned_)) return malformed("a line ends with a bare LF; HTTP lines end with CRLF");
            scanned_ = buffer.size();
            if (buffer.size() > limits_.max_head_bytes) return head_too_large();
            return NeedMore{};
        }
        HttpRequest probe;
        if (auto rejected = read_request_line(buffer.substr(0, eol), probe)) return std::move(*rejected);
        line_checked_ = true;
        scanned_ = eol;
    }
    // Resume the search a few bytes back: the terminator may straddle two reads.
    const std::size_t from = scanned_ > 3 ? scanned_ - 3 : 0;
    const auto head_end = buffer.find("\r\n\r\n", from);
    if (head_end == std::string_view::npos) {
        // Said at once, not after the request timeout: a head of bare-LF lines never ends.
        if (has_bare_lf(buffer, from)) return malformed("a line ends with a bare LF; HTTP lines end with CRLF");
        scanned_ = buffer.size();
        if (buffer.size() > limits_.max_head_bytes) return head_too_large();
        return NeedMore{};
    }
    const std::size_t head_size = head_end + 4;
    if (head_size > limits_.max_head_bytes) return head_too_large();

    const std::string_view head = buffer.substr(0, head_end);
    const auto line_end = head.find("\r\n");
    HttpRequest request;
    if (auto rejected = read_request_line(head.substr(0, line_end), request)) return std::move(*rejected);

    std::optional<std::size_t> content_length;
    std::size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
        auto eol = head.find("\r\n", pos);
        if (eol == std::string_view::npos) eol = head.size();
        const std::string_view line = head.substr(pos, eol - pos);
        pos = eol + 2;
        const auto colon = line.find(':');
        if (colon == 0 || colon == std::string_view::npos ||
            !std::all_of(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(colon), is_token_char)) {
            return malformed("bad header line");  // also rejects obsolete line folding
        }
        std::string name = lower(line.substr(0, colon));
        const std::string_view value = trim(line.substr(colon + 1));
        // RFC 9110 field values: visible characters, spaces and tabs. A NUL or another control
        // byte is an attack on whatever reads the value next, not a value.
        if (std::any_of(value.begin(), value.end(), [](char c) {
                const auto byte = static_cast<unsigned char>(c);
                return (byte < 0x20 && byte != '\t') || byte == 0x7f;
            })) {
            return malformed("a control byte in the value of header " + name);
        }
        if (name == "content-length") {
            std::size_t n = 0;
            const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
            if (ec != std::errc{} || end != value.data() + value.size() || value.empty()) {
                if (ec == std::errc::result_out_of_range)
                    n = limits_.max_body_bytes + 1;
                else
                    return malformed("bad Content-Length");
            }
            if (content_length && *content_length != n) return malformed("conflicting Content-Length headers");
            content_length = n;
        } else if (name == "transfer-encoding") {
            // Nothing in this API takes a body worth streaming; say so instead of guessing.
            HttpReply reply = detail_reply(501, "Transfer-Encoding is not supported: send a Content-Length");
            reply.close = true;
            return Rejected{std::move(reply)};
        } else if (name == "connection") {
            if (contains_token(value, "close")) request.keep_alive = false;
            if (contains_token(value, "keep-alive")) request.keep_alive = true;
        }
        request.headers.emplace_back(std::move(name), std::string(value));
    }

    const std::size_t body_size = content_length.value_or(0);
    if (body_size > limits_.max_body_bytes) {
        HttpReply reply = detail_reply(413, "request body exceeds 1 MiB");
        reply.close = true;
        return Rejected{std::move(reply)};
    }
    if (buffer.size() < head_size + body_size) return NeedMore{};
    request.body = std::string(buffer.substr(head_size, body_size));
    return Complete{std::move(request), head_size + body_size};
}

}  // namespace extract::http
