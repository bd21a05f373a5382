#include "tests/support/scripted_upstream.hpp"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/URI.h>

#include <csignal>
#include <ostream>

namespace extract::testing {
namespace {

class Forward : public Poco::Net::HTTPRequestHandler {
public:
    explicit Forward(ScriptedUpstream& upstream) : upstream_(upstream) {}
    void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override {
        upstream_.serve(request, response);
    }

private:
    ScriptedUpstream& upstream_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit Factory(ScriptedUpstream& upstream) : upstream_(upstream) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
        return new Forward(upstream_);
    }

private:
    ScriptedUpstream& upstream_;
};

void answer(Poco::Net::HTTPServerResponse& response, Poco::Net::HTTPResponse::HTTPStatus status,
            const std::string& body) {
    response.setStatus(status);
    response.setContentType("application/json");
    response.setContentLength(static_cast<std::streamsize>(body.size()));
    response.send().write(body.data(), static_cast<std::streamsize>(body.size()));
}

}  // namespace

ScriptedUpstream::ScriptedUpstream() {
    // A handler writing to a client that gave up (the point of most tests here) must get an
    // error, not kill the test process.
    std::signal(SIGPIPE, SIG_IGN);
    Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", 0));
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(4);
    params->setKeepAlive(true);
    server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(*this), socket, params);
    server_->start();
}

ScriptedUpstream::~ScriptedUpstream() { server_->stopAll(true); }

std::string ScriptedUpstream::base_url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

void ScriptedUpstream::set_page(const std::string& cursor, std::string body) {
    std::lock_guard lock(mutex_);
    pages_[cursor] = std::move(body);
}

void ScriptedUpstream::set_batch(const std::string& id, std::string body) {
    std::lock_guard lock(mutex_);
    batches_[id] = std::move(body);
}

void ScriptedUpstream::set_handler(Handler handler) {
    std::lock_guard lock(mutex_);
    handler_ = std::move(handler);
}

int ScriptedUpstream::requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
}

void ScriptedUpstream::serve(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) {
    Handler handler;
    std::string body;
    bool found = false;
    {
        std::lock_guard lock(mutex_);
        ++requests_;
        handler = handler_;
        if (!handler) {
            const Poco::URI uri(request.getURI());
            const std::string path = uri.getPath();
            if (path == "/v1/batches") {
                std::string cursor;
                for (const auto& [name, value] : uri.getQueryParameters()) {
                    if (name == "cursor") cursor = value;
                }
                const auto page = pages_.find(cursor);
                found = page != pages_.end();
                if (found) body = page->second;
            } else if (path.starts_with("/v1/batches/")) {
                const auto batch = batches_.find(path.substr(std::string("/v1/batches/").size()));
                found = batch != batches_.end();
                if (found) body = batch->second;
            }
        }
    }
    if (handler) return handler(request, response);
    if (!found) return answer(response, Poco::Net::HTTPResponse::HTTP_NOT_FOUND, R"({"detail":"Not Found"})");
    answer(response, Poco::Net::HTTPResponse::HTTP_OK, body);
}

}  // namespace extract::testing
