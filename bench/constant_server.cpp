#include "bench/constant_server.hpp"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/ThreadPool.h>

#include <filesystem>
#include <mutex>

namespace extract::bench {
namespace {

class ConstantHandler final : public Poco::Net::HTTPRequestHandler {
public:
    explicit ConstantHandler(std::shared_ptr<const std::string> body) : body_(std::move(body)) {}
    void handleRequest(Poco::Net::HTTPServerRequest&, Poco::Net::HTTPServerResponse& response) override {
        response.setContentType("application/json");
        response.setContentLength(static_cast<std::streamsize>(body_->size()));
        response.send().write(body_->data(), static_cast<std::streamsize>(body_->size()));
    }

private:
    std::shared_ptr<const std::string> body_;
};

class ConstantFactory final : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit ConstantFactory(std::mutex& mutex, std::shared_ptr<const std::string>& body)
        : mutex_(mutex), body_(body) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
        std::lock_guard lock(mutex_);
        return new ConstantHandler(body_);
    }

private:
    std::mutex& mutex_;
    std::shared_ptr<const std::string>& body_;
};

Poco::Net::ServerSocket bind_unix(const std::string& path) {
    std::filesystem::remove(path);
    return Poco::Net::ServerSocket(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, path), 1024);
}

}  // namespace

struct ConstantServer::Running {
    Running(const std::string& path, int threads)
        : pool(threads, threads),
          socket(bind_unix(path)),
          server(new ConstantFactory(mutex, body), pool, socket, params(threads)) {
        server.start();
    }
    ~Running() { server.stopAll(true); }

    static Poco::Net::HTTPServerParams::Ptr params(int threads) {
        Poco::Net::HTTPServerParams::Ptr p = new Poco::Net::HTTPServerParams;
        p->setMaxThreads(threads);
        p->setMaxQueued(1024);
        p->setKeepAlive(true);
        p->setMaxKeepAliveRequests(0);  // unlimited: no reconnect in the middle of a run
        return p;
    }

    std::mutex mutex;
    std::shared_ptr<const std::string> body = std::make_shared<const std::string>("{}");
    Poco::ThreadPool pool;
    Poco::Net::ServerSocket socket;
    Poco::Net::HTTPServer server;
};

ConstantServer::ConstantServer(const std::string& socket_path, int threads)
    : running_(std::make_unique<Running>(socket_path, threads)) {}

ConstantServer::~ConstantServer() = default;

void ConstantServer::set_body(std::string body) {
    std::lock_guard lock(running_->mutex);
    running_->body = std::make_shared<const std::string>(std::move(body));
}

}  // namespace extract::bench
