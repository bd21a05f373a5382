#include "bench/unix_http_client.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace extract::bench {
namespace {

int connect_unix(const std::string& path) {
    sockaddr_un address{};
    if (path.size() >= sizeof(address.sun_path)) return -1;
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// The value of header `name` (lower-case) in `head`, matched case-insensitively.
std::string_view header_value(std::string_view head, std::string_view name) {
    std::size_t line = head.find("\r\n");
    while (line != std::string_view::npos && line + 2 < head.size()) {
        const std::size_t start = line + 2;
        const std::size_t end = head.find("\r\n", start);
        const std::string_view text = head.substr(start, end == std::string_view::npos ? head.npos : end - start);
        const std::size_t colon = text.find(':');
        if (colon == name.size()) {
            bool same = true;
            for (std::size_t i = 0; i < colon && same; ++i) {
                same = static_cast<char>(std::tolower(static_cast<unsigned char>(text[i]))) == name[i];
            }
            if (same) {
                std::string_view value = text.substr(colon + 1);
                while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
                return value;
            }
        }
        line = end;
    }
    return {};
}

}  // namespace

UnixHttpConnection::UnixHttpConnection(const std::string& socket_path) : fd_(connect_unix(socket_path)) {
    if (fd_ < 0) throw std::runtime_error("cannot connect to " + socket_path + ": " + std::strerror(errno));
}

UnixHttpConnection::~UnixHttpConnection() { close(); }

void UnixHttpConnection::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

HttpExchange UnixHttpConnection::request(std::string_view method, std::string_view target) {
    HttpExchange failed;
    if (fd_ < 0) return failed;
    out_.clear();
    out_.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: localhost\r\n");
    if (method != "GET") out_.append("Content-Length: 0\r\n");
    out_.append("\r\n");
    for (std::size_t sent = 0; sent < out_.size();) {
        const ssize_t n = ::send(fd_, out_.data() + sent, out_.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            close();
            return failed;
        }
        sent += static_cast<std::size_t>(n);
    }
    std::size_t head_end = std::string::npos;
    std::size_t total = 0;
    char buffer[65536];
    for (;;) {
        if (head_end == std::string::npos) {
            head_end = in_.find("\r\n\r\n");
            if (head_end != std::string::npos) {
                const std::string_view head(in_.data(), head_end);
                const std::string_view length = header_value(head, "content-length");
                std::size_t body_length = 0;
                if (std::from_chars(length.data(), length.data() + length.size(), body_length).ec != std::errc{}) {
                    close();  // the benchmarks' servers always frame with Content-Length
                    return failed;
                }
                total = head_end + 4 + body_length;
            }
        }
        if (head_end != std::string::npos && in_.size() >= total) break;
        const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
        if (n <= 0) {
            close();
            return failed;
        }
        in_.append(buffer, static_cast<std::size_t>(n));
    }
    HttpExchange reply;
    if (in_.size() < 12 || in_.compare(0, 5, "HTTP/") != 0 ||
        std::from_chars(in_.data() + 9, in_.data() + 12, reply.status).ec != std::errc{}) {
        close();
        return failed;
    }
    reply.body.assign(in_, head_end + 4, total - head_end - 4);
    const bool server_closes = header_value(std::string_view(in_.data(), head_end), "connection") == "close";
    in_.erase(0, total);
    if (server_closes) close();
    return reply;
}

bool wait_for_socket(const std::string& socket_path, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const int fd = connect_unix(socket_path);
        if (fd >= 0) {
            ::close(fd);
            return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) return false;
        // Polling a socket that does not exist yet: there is no event to wait on.
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

}  // namespace extract::bench
