#include "sim/http_server.hpp"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/URI.h>

#include <istream>

namespace extract::sim {
namespace {

constexpr std::streamsize kMaxBody = 1 << 20;

class SimRequestHandler final : public Poco::Net::HTTPRequestHandler {
public:
    explicit SimRequestHandler(SimService& service) : service_(service) {}

    void handleRequest(Poco::Net::HTTPServerRequest& http_request,
                       Poco::Net::HTTPServerResponse& http_response) override {
        SimResponse response = read_request(http_request);
        http_response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(response.status));
        http_response.setContentType("application/json");
        for (const auto& [name, value] : response.headers) http_response.set(name, value);
        http_response.setContentLength64(static_cast<Poco::Int64>(response.body.size()));
        http_response.sendBuffer(response.body.data(), response.body.size());
    }

private:
    SimResponse read_request(Poco::Net::HTTPServerRequest& http_request) {
        SimRequest request;
        request.method = http_request.getMethod();
        try {
            const Poco::URI uri(http_request.getURI());
            request.path = uri.getPath();
            request.query = uri.getQueryParameters();
        } catch (const Poco::SyntaxException&) {
            return {400, R"({"detail":"Bad Request: malformed request target"})", {}};
        }
        if (http_request.has("X-API-KEY")) request.api_key = http_request.get("X-API-KEY");
        // Without a length or chunking a request has no body (RFC 9112 6.3); Poco would
        // otherwise read a bodiless POST (`curl -XPOST …`) until the client hangs up.
        if (http_request.hasContentLength() || http_request.getChunkedTransferEncoding()) {
            std::istream& in = http_request.stream();
            request.body.resize(static_cast<std::size_t>(kMaxBody) + 1);
            in.read(request.body.data(), kMaxBody + 1);
            request.body.resize(static_cast<std::size_t>(in.gcount()));
            if (std::ssize(request.body) > kMaxBody) return {413, R"({"detail":"Request body too large"})", {}};
        }
        return service_.handle(request);
    }

    SimService& service_;
};

class SimHandlerFactory final : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit SimHandlerFactory(SimService& service) : service_(service) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
        return new SimRequestHandler(service_);
    }

private:
    SimService& service_;
};

}  // namespace

SimHttpServer::SimHttpServer(SimService& service, std::uint16_t port, int threads) : pool_(2, threads) {
    // No SO_REUSEPORT (Poco's two-argument bind sets it): a second sim on a taken port must fail, not share it.
    socket_.bind(Poco::Net::SocketAddress("127.0.0.1", port), true, false);
    socket_.listen(256);
    auto params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(threads);
    params->setMaxQueued(1024);
    params->setKeepAlive(true);
    params->setMaxKeepAliveRequests(0);  // unlimited: a client may page through everything on one connection
    params->setKeepAliveTimeout(Poco::Timespan(30, 0));
    server_ = std::make_unique<Poco::Net::HTTPServer>(new SimHandlerFactory(service), pool_, socket_, params);
}

SimHttpServer::~SimHttpServer() { stop(); }

std::uint16_t SimHttpServer::port() const { return socket_.address().port(); }

void SimHttpServer::start() {
    server_->start();
    running_ = true;
}

void SimHttpServer::stop() {
    if (!running_) return;
    running_ = false;
    server_->stopAll(true);
    pool_.joinAll();
}

}  // namespace extract::sim
