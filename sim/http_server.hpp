#pragma once
// Puts a SimService on 127.0.0.1 with Poco's HTTPServer: keep-alive connections, a pool of
// worker threads and a queue for connections waiting for one.

#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/ThreadPool.h>

#include <cstdint>
#include <memory>

#include "sim/sim_service.hpp"

namespace extract::sim {

class SimHttpServer {
public:
    // Binds at once (port 0: a free one), so port() is known before start().
    SimHttpServer(SimService& service, std::uint16_t port, int threads);
    ~SimHttpServer();
    SimHttpServer(const SimHttpServer&) = delete;
    SimHttpServer& operator=(const SimHttpServer&) = delete;

    std::uint16_t port() const;
    void start();
    // Stops accepting and aborts connections still open.
    void stop();

private:
    Poco::ThreadPool pool_;
    Poco::Net::ServerSocket socket_;
    std::unique_ptr<Poco::Net::HTTPServer> server_;
    bool running_ = false;
};

}  // namespace extract::sim
