#pragma once
// Clients no well-behaved program would be: thousands of malformed requests (garbage bytes,
// oversized heads and bodies, broken HTTP, invalid UTF-8, SQL injection in every parameter of
// every route, path traversal, bad percent-encoding, huge and negative numbers, bad cursors),
// each sent on its own connection, and what the API answered. For the API's abuse tests, in
// process (tests/api) and against the real daemon (tests/daemon).

#include <cstddef>
#include <string>
#include <vector>

namespace extract::testing {

struct HostileRequest {
    std::string what;   // for failure messages
    std::string bytes;  // exactly what is sent
};

// Every kind above; `garbage` random-byte requests among them, from a fixed `seed`.
std::vector<HostileRequest> hostile_requests(std::size_t garbage, unsigned seed);

// Sends `bytes` on a new connection to `socket_path`, half-closes, and reads until the server
// closes (bounded by `timeout_ms`). Returns the status of the first reply, 0 when the server
// closed without one, -1 when it neither answered nor closed in time.
int status_after_sending(const std::string& socket_path, const std::string& bytes, int timeout_ms);

struct HostileOutcome {
    std::size_t sent = 0;
    std::size_t answered = 0;           // with a status (the rest: closed without a reply)
    std::vector<std::string> failures;  // a 5xx (but 503 from /v1/health, 501, 505) or no end in time
};

// Sends every request on `threads` parallel clients and checks each outcome.
HostileOutcome send_hostile_requests(const std::string& socket_path, const std::vector<HostileRequest>& requests,
                                     std::size_t threads, int timeout_ms);

}  // namespace extract::testing
