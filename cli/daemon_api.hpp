#pragma once
// The daemon's local API as extractctl uses it: request targets with encoded queries, one
// connection per call with a timeout that covers long polls, and JSON answers with their
// error detail.

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clock.hpp"

namespace extract::cli {

// One answer of the local API. Transport failures are not answers: they throw ConnectError.
struct ApiAnswer {
    int status = 0;
    nlohmann::json body;  // null when the body was not JSON
    bool ok() const { return status >= 200 && status < 300; }
};

// The `detail` of an error answer as one line of text: the message of {"detail":"…"}, or
// "query.limit: msg; …" for a 422 list; the status alone when there is none.
std::string error_detail(const ApiAnswer& answer);

// `path` plus `?k=v&…` for the parameters that have a value, each percent-encoded.
using QueryParams = std::vector<std::pair<std::string, std::optional<std::string>>>;
std::string request_target(std::string_view path, const QueryParams& params);
// An ID made safe as one path segment (/v1/batches/{id}).
std::string path_segment(std::string_view id);

class DaemonApi {
public:
    static constexpr Millis kDefaultTimeout{30'000};

    explicit DaemonApi(std::string socket_path, Millis timeout = kDefaultTimeout);

    // `long_poll` is how long the daemon may hold the answer on purpose (wait=…); it is added
    // to the timeout so the wait itself is never taken for a dead daemon.
    ApiAnswer get(const std::string& target, Millis long_poll = Millis{0}) const;
    ApiAnswer post(const std::string& target, Millis long_poll = Millis{0}) const;
    // GET whose 200 body goes to `sink` as it arrives (body null in the answer); any other
    // status is an answer as from get(). `extra` is added to the timeout of each wait.
    ApiAnswer download(const std::string& target, std::ostream& sink, Millis extra = Millis{0}) const;

    const std::string& socket_path() const { return socket_path_; }

private:
    ApiAnswer send(const std::string& method, const std::string& target, Millis long_poll) const;

    std::string socket_path_;
    Millis timeout_;
};

}  // namespace extract::cli
