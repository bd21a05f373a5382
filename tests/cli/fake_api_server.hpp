#pragma once
// An in-process stand-in for extract-syncd's local API on a Unix socket: canned JSON per
// route, every request recorded, and a small event feed whose long poll (`wait=`) answers
// when the test pushes an event.

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace Poco::Net {
class HTTPServer;
}

namespace extract::testing {

struct RecordedRequest {
    std::string method;
    std::string uri;   // as sent, with the query
    std::string path;  // decoded, without the query
    std::map<std::string, std::string> query;
    std::string host;
    std::string body;
};

struct CannedReply {
    int status = 200;
    std::string body;
};

class FakeApiServer {
public:
    using Handler = std::function<CannedReply(const RecordedRequest&)>;

    explicit FakeApiServer(std::filesystem::path socket_path);
    ~FakeApiServer();
    FakeApiServer(const FakeApiServer&) = delete;
    FakeApiServer& operator=(const FakeApiServer&) = delete;

    const std::filesystem::path& socket_path() const { return socket_path_; }

    // Routes match "METHOD path" exactly; an unknown route answers 404 {"detail":"Not Found"}.
    void on(const std::string& method, const std::string& path, Handler handler);
    void on(const std::string& method, const std::string& path, int status, const nlohmann::json& body);

    // The built-in GET /v1/events: `seq > after`, `type` and `batch_id` filters, `limit`,
    // and with `wait=` it blocks until a matching event is pushed (or the wait ends).
    // `last_seq` is the highest seq of the feed.
    void push_event(const nlohmann::json& event);

    std::vector<RecordedRequest> requests() const;
    // Waits until `count` requests for `path` arrived (any method); false on timeout.
    bool wait_for_requests(const std::string& path, std::size_t count, std::chrono::milliseconds timeout) const;

    CannedReply handle(const RecordedRequest& request);

private:
    CannedReply serve_events(const RecordedRequest& request);

    std::filesystem::path socket_path_;
    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    bool stopping_ = false;
    std::map<std::string, Handler> routes_;
    std::vector<RecordedRequest> requests_;
    std::vector<nlohmann::json> events_;
    std::unique_ptr<Poco::Net::HTTPServer> server_;
};

}  // namespace extract::testing
