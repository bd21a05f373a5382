#include "tests/api/hostile_clients.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

namespace extract::testing {
namespace {

struct Route {
    std::string method;
    std::string path;
    std::vector<std::string> params;
};

// Every route of SPEC §6 with every query parameter it reads; {id} is a path parameter.
const std::vector<Route>& routes() {
    static const std::vector<Route> all{
        {"GET",
         "/v1/batches",
         {"status", "cursor", "limit", "created_after", "created_before", "engine", "include_removed"}},
        {"GET", "/v1/batches/{id}", {}},
        {"GET", "/v1/batches/{id}/transitions", {}},
        {"GET", "/v1/events", {"after", "type", "batch_id", "limit", "wait"}},
        {"GET", "/v1/stats", {}},
        {"GET", "/v1/health", {}},
        {"GET", "/v1/deliveries", {"state", "target", "limit"}},
        {"POST", "/v1/deliveries/{id}/retry", {}},
        {"POST", "/v1/deliveries/retry", {"state", "target", "since"}},
        {"POST", "/v1/sync", {"full"}},  // never wait=true: the abuse must not hold sync waiters
        {"GET", "/metrics", {}},
        {"GET", "/openapi.json", {}},
    };
    return all;
}

// What an attacker puts in a parameter, already as it appears in a URL.
const std::vector<std::string>& hostile_values() {
    static const std::vector<std::string> all{
        "'%20OR%201=1--",
        "1;%20DROP%20TABLE%20batches;--",
        "%27%3B%20DELETE%20FROM%20transitions%3B--",
        "%22%20OR%20%22%22%3D%22",
        "1'%20UNION%20SELECT%20id,raw%20FROM%20batches--",
        "batch_1'--",
        "%00",
        "%ff%fe%fd",  // invalid UTF-8 once decoded
        "%c0%af",     // overlong '/'
        "%ed%a0%80",  // a lone surrogate
        "%",          // bad percent-encoding
        "%zz",
        "%4",
        "-1",
        "-9223372036854775809",
        "99999999999999999999999999",
        "1e400",
        "NaN",
        "9787-11-30T00:00:00Z",  // past what a 64-bit nanosecond clock holds
        "0000-01-01",
        "0x10",
        "..%2f..%2fetc%2fpasswd",
        "../../etc/passwd",
        "%0d%0aX-Injected:%201",
        "WyJhIiwiYiJd.AAAAAAAAAAA",  // a cursor with a wrong checksum
        "not-a-cursor",
        std::string(8000, 'A'),
        "",
    };
    return all;
}

std::string request(const std::string& method, const std::string& target, const std::string& extra_headers = "") {
    return method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n" + extra_headers + "\r\n";
}

std::string with_id(std::string path, const std::string& id) {
    const auto at = path.find("{id}");
    if (at != std::string::npos) path.replace(at, 4, id);
    return path;
}

}  // namespace

std::vector<HostileRequest> hostile_requests(std::size_t garbage, unsigned seed) {
    std::vector<HostileRequest> out;
    // SQL injection, bad encodings and absurd numbers in every parameter of every route, and
    // in every path parameter.
    for (const auto& route : routes()) {
        for (const auto& value : hostile_values()) {
            const std::string path = with_id(route.path, value.empty() ? "x" : value);
            if (route.path.find("{id}") != std::string::npos) {
                out.push_back(
                    {route.method + " " + route.path + " = " + value.substr(0, 40), request(route.method, path)});
            }
            for (const auto& param : route.params) {
                out.push_back({route.method + " " + route.path + " ?" + param + "=" + value.substr(0, 40),
                               request(route.method, with_id(route.path, "x") + "?" + param + "=" + value)});
            }
        }
        // Raw bytes that are not UTF-8 (and not even allowed in a URL) in the target.
        out.push_back({route.path + " with raw invalid UTF-8",
                       request(route.method, with_id(route.path, "\xff\xfe") + "?status=\xc3\x28")});
        out.push_back(
            {route.path + " with a huge limit", request(route.method, with_id(route.path, "x") + "?limit=1000000000")});
    }
    // Path traversal.
    for (const std::string target :
         {"/../../etc/passwd", "/v1/../../etc/passwd", "/v1/batches/..%2f..%2fetc%2fpasswd",
          "/v1/batches/%2e%2e/%2e%2e/stats", "//v1//batches", "/v1/batches/../stats",
          "/openapi.json/../../../etc/shadow", "/v1/batches/%00", "*", "http://evil/v1/stats",
          "/v1/batches/a/transitions/../../../x", "\\..\\..\\windows"}) {
        out.push_back({"traversal " + target, request("GET", target)});
    }
    // Broken HTTP.
    const std::string huge_line = "GET /v1/batches?status=" + std::string(70 * 1024, 'x') + " HTTP/1.1\r\n\r\n";
    std::string huge_head = "GET /v1/health HTTP/1.1\r\n";
    while (huge_head.size() < 70 * 1024) huge_head += "X-Filler: " + std::string(1000, 'y') + "\r\n";
    for (const auto& [what, bytes] : std::vector<std::pair<std::string, std::string>>{
             {"a request line over 64 KiB", huge_line},
             {"headers over 64 KiB", huge_head + "\r\n"},
             {"a body over 1 MiB",
              "POST /v1/sync HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n" + std::string(4096, 'b')},
             {"a negative Content-Length", request("POST", "/v1/sync", "Content-Length: -1\r\n")},
             {"a Content-Length that is not a number", request("POST", "/v1/sync", "Content-Length: ten\r\n")},
             {"a Content-Length past 2^64", request("POST", "/v1/sync", "Content-Length: 99999999999999999999999\r\n")},
             {"two Content-Lengths", request("POST", "/v1/sync", "Content-Length: 1\r\nContent-Length: 2\r\n") + "ab"},
             {"chunked", request("POST", "/v1/sync", "Transfer-Encoding: chunked\r\n") + "0\r\n\r\n"},
             {"a header without a colon", request("GET", "/v1/health", "NoColonHere\r\n")},
             {"a NUL in a header", request("GET", "/v1/health", std::string("X-A: a\0b\r\n", 10))},
             {"an obs-fold header", request("GET", "/v1/health", "X-A: a\r\n folded\r\n")},
             {"bare LF line ends", "GET /v1/health HTTP/1.1\nHost: x\n\n"},
             {"HTTP/9.9", "GET /v1/health HTTP/9.9\r\n\r\n"},
             {"no version", "GET /v1/health\r\n\r\n"},
             {"a lower-case method", "get /v1/health HTTP/1.1\r\n\r\n"},
             {"an unknown method", "BREW /v1/health HTTP/1.1\r\n\r\n"},
             {"a space-only request line", "   \r\n\r\n"},
             {"a TLS hello", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)},
             {"a request cut mid-line", "GET /v1/batc"},
             {"a head cut mid-header", "GET /v1/health HTTP/1.1\r\nHost: loc"},
             {"a body cut short", "POST /v1/sync HTTP/1.1\r\nContent-Length: 100\r\n\r\nshort"},
             {"CONNECT", "CONNECT localhost:22 HTTP/1.1\r\n\r\n"},
             {"an upgrade to websocket", request("GET", "/v1/events", "Upgrade: websocket\r\nConnection: Upgrade\r\n")},
         }) {
        out.push_back({what, bytes});
    }
    // Random bytes, some of them after a valid request line.
    std::mt19937 random(seed);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<std::size_t> length(1, 3000);
    for (std::size_t i = 0; i < garbage; ++i) {
        std::string bytes = i % 3 == 0 ? "GET /v1/batches?limit=" : "";
        for (std::size_t n = length(random); n > 0; --n) bytes += static_cast<char>(byte(random));
        if (i % 2 == 0) bytes += "\r\n\r\n";
        out.push_back({"garbage #" + std::to_string(i), bytes});
    }
    return out;
}

int status_after_sending(const std::string& socket_path, const std::string& bytes, int timeout_ms) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        if (fd >= 0) ::close(fd);
        return -1;
    }
    // The server may answer and close before it has read everything: stop sending then.
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
    std::string reply;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    bool closed = false;
    while (!closed) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
        char buffer[8192];
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n > 0) {
            reply.append(buffer, static_cast<std::size_t>(n));
        } else {
            closed = true;  // EOF, or a reset after the server closed with unread bytes
        }
    }
    ::close(fd);
    if (reply.rfind("HTTP/1.1 ", 0) == 0 && reply.size() >= 12) return std::atoi(reply.c_str() + 9);
    return closed ? 0 : -1;
}

HostileOutcome send_hostile_requests(const std::string& socket_path, const std::vector<HostileRequest>& requests,
                                     std::size_t threads, int timeout_ms) {
    HostileOutcome outcome;
    std::mutex mutex;
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> clients;
    for (std::size_t t = 0; t < threads; ++t) {
        clients.emplace_back([&] {
            for (std::size_t i = next++; i < requests.size(); i = next++) {
                const auto& r = requests[i];
                const int status = status_after_sending(socket_path, r.bytes, timeout_ms);
                const bool health = r.bytes.find(" /v1/health") != std::string::npos;
                // The two protocol answers RFC 9112 asks for (docs/api.md): a transfer coding the
                // server does not implement (501) and an HTTP version it does not speak (505).
                const bool protocol = status == 501 || status == 505;
                std::lock_guard lock(mutex);
                ++outcome.sent;
                if (status > 0) ++outcome.answered;
                if (status < 0) {
                    outcome.failures.push_back(r.what + ": neither answered nor closed in time");
                } else if (status >= 500 && !(status == 503 && health) && !protocol) {
                    outcome.failures.push_back(r.what + ": answered " + std::to_string(status));
                }
            }
        });
    }
    for (auto& c : clients) c.join();
    return outcome;
}

}  // namespace extract::testing
