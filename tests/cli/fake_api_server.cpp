#include "tests/cli/fake_api_server.hpp"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <algorithm>
#include <cstdint>

#include "core/duration.hpp"

namespace extract::testing {
namespace {

class RecordingHandler final : public Poco::Net::HTTPRequestHandler {
public:
    explicit RecordingHandler(FakeApiServer& server) : server_(server) {}

    void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override {
        RecordedRequest recorded;
        recorded.method = request.getMethod();
        recorded.uri = request.getURI();
        recorded.host = request.getHost();
        const Poco::URI uri(request.getURI());
        recorded.path = uri.getPath();
        for (const auto& [key, value] : uri.getQueryParameters()) recorded.query[key] = value;
        Poco::StreamCopier::copyToString(request.stream(), recorded.body);

        const CannedReply reply = server_.handle(recorded);
        response.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.status));
        response.setContentType("application/json");
        response.setContentLength(static_cast<std::streamsize>(reply.body.size()));
        response.send() << reply.body;
    }

private:
    FakeApiServer& server_;
};

class RecordingHandlerFactory final : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit RecordingHandlerFactory(FakeApiServer& server) : server_(server) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
        return new RecordingHandler(server_);
    }

private:
    FakeApiServer& server_;
};

std::int64_t query_int(const RecordedRequest& request, const std::string& key, std::int64_t fallback) {
    const auto it = request.query.find(key);
    return it == request.query.end() ? fallback : std::stoll(it->second);
}

}  // namespace

FakeApiServer::FakeApiServer(std::filesystem::path socket_path) : socket_path_(std::move(socket_path)) {
    Poco::Net::ServerSocket socket;
    socket.bind(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, socket_path_.string()), false);
    socket.listen();
    auto params = Poco::AutoPtr<Poco::Net::HTTPServerParams>(new Poco::Net::HTTPServerParams);
    params->setMaxThreads(8);
    params->setKeepAlive(false);
    server_ = std::make_unique<Poco::Net::HTTPServer>(new RecordingHandlerFactory(*this), socket, params);
    server_->start();
}

FakeApiServer::~FakeApiServer() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;  // releases every long poll still waiting
    }
    changed_.notify_all();
    server_->stopAll(true);
}

void FakeApiServer::on(const std::string& method, const std::string& path, Handler handler) {
    std::lock_guard lock(mutex_);
    routes_[method + " " + path] = std::move(handler);
}

void FakeApiServer::on(const std::string& method, const std::string& path, int status, const nlohmann::json& body) {
    on(method, path, [status, text = body.dump()](const RecordedRequest&) { return CannedReply{status, text}; });
}

void FakeApiServer::push_event(const nlohmann::json& event) {
    {
        std::lock_guard lock(mutex_);
        events_.push_back(event);
    }
    changed_.notify_all();
}

std::vector<RecordedRequest> FakeApiServer::requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
}

bool FakeApiServer::wait_for_requests(const std::string& path, std::size_t count,
                                      std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] {
        return static_cast<std::size_t>(std::count_if(requests_.begin(), requests_.end(),
                                                      [&](const RecordedRequest& r) { return r.path == path; })) >=
               count;
    });
}

CannedReply FakeApiServer::handle(const RecordedRequest& request) {
    Handler handler;
    {
        std::lock_guard lock(mutex_);
        requests_.push_back(request);
        const auto it = routes_.find(request.method + " " + request.path);
        if (it != routes_.end()) handler = it->second;
    }
    changed_.notify_all();
    if (handler) return handler(request);
    if (request.method == "GET" && request.path == "/v1/events") return serve_events(request);
    return {404, R"({"detail":"Not Found"})"};
}

CannedReply FakeApiServer::serve_events(const RecordedRequest& request) {
    const std::int64_t after = query_int(request, "after", 0);
    const std::int64_t limit = query_int(request, "limit", 100);
    const auto wait_it = request.query.find("wait");
    const Millis wait =
        wait_it == request.query.end() ? Millis{0} : parse_duration(wait_it->second).value_or(Millis{0});

    const auto matches = [&](const nlohmann::json& event) {
        if (event.at("seq").get<std::int64_t>() <= after) return false;
        for (const char* key : {"type", "batch_id"}) {
            const auto it = request.query.find(key);
            if (it != request.query.end() && event.at(key).get<std::string>() != it->second) return false;
        }
        return true;
    };

    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, wait, [&] { return stopping_ || std::any_of(events_.begin(), events_.end(), matches); });
    nlohmann::json data = nlohmann::json::array();
    std::int64_t last_seq = 0;
    for (const auto& event : events_) {
        last_seq = std::max(last_seq, event.at("seq").get<std::int64_t>());
        if (matches(event) && static_cast<std::int64_t>(data.size()) < limit) data.push_back(event);
    }
    return {200, nlohmann::json{{"object", "list"}, {"data", data}, {"last_seq", last_seq}}.dump()};
}

}  // namespace extract::testing
