#include "upstream/http_transport.hpp"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/StreamSocket.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/eventually.hpp"

using namespace extract;
using extract::testing::scaled;
using namespace extract::upstream;
using namespace std::chrono_literals;

namespace {

struct SeenRequest {
    std::string uri;
    std::string api_key;
    std::string user_agent;
    std::string accept;
    Poco::UInt16 client_port = 0;  // the same port means the same connection
};

// What the test server saw, and a gate that holds "/hang" requests until the test opens it.
struct ServerState {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<SeenRequest> seen;
    bool gate_open = false;
    int hanging = 0;

    void open_gate() {
        {
            std::lock_guard lock(mutex);
            gate_open = true;
        }
        changed.notify_all();
    }
    bool wait_until_hanging(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, scaled(timeout), [this] { return hanging > 0; });
    }
    std::vector<SeenRequest> requests() {
        std::lock_guard lock(mutex);
        return seen;
    }
};

class RecordingHandler final : public Poco::Net::HTTPRequestHandler {
public:
    explicit RecordingHandler(ServerState& state) : state_(state) {}

    void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override {
        const std::string uri = request.getURI();
        {
            std::lock_guard lock(state_.mutex);
            state_.seen.push_back({uri, request.get("X-API-KEY", ""), request.get("User-Agent", ""),
                                   request.get("Accept", ""), request.clientAddress().port()});
        }
        if (uri.starts_with("/hang")) {
            std::unique_lock lock(state_.mutex);
            ++state_.hanging;
            state_.changed.notify_all();
            // Bounded, so that a failing test still lets the server stop.
            state_.changed.wait_for(lock, scaled(10s), [this] { return state_.gate_open; });
        }
        if (uri.starts_with("/busy")) {
            response.setStatus(Poco::Net::HTTPResponse::HTTP_SERVICE_UNAVAILABLE);
            response.set("Retry-After", "7");
            reply(response, "busy");
            return;
        }
        response.setContentType("application/json");
        reply(response, R"({"object":"list","data":[],"next_cursor":null})");
    }

    // With a Content-Length, so that Poco keeps the connection open.
    static void reply(Poco::Net::HTTPServerResponse& response, const std::string& body) {
        response.setContentLength64(static_cast<Poco::Int64>(body.size()));
        response.send() << body;
    }

private:
    ServerState& state_;
};

class RecordingFactory final : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit RecordingFactory(ServerState& state) : state_(state) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
        return new RecordingHandler(state_);
    }

private:
    ServerState& state_;
};

// A Poco HTTPServer on 127.0.0.1 with keep-alive, inside the test process.
class TestServer {
public:
    TestServer() : socket_(Poco::Net::SocketAddress("127.0.0.1", 0)) {
        auto* params = new Poco::Net::HTTPServerParams;
        params->setKeepAlive(true);
        params->setMaxThreads(4);
        server_ = std::make_unique<Poco::Net::HTTPServer>(new RecordingFactory(state), socket_, params);
        server_->start();
    }
    ~TestServer() {
        state.open_gate();
        server_->stopAll(true);
    }
    std::string base_url(const std::string& prefix = "") const {
        return "http://127.0.0.1:" + std::to_string(socket_.address().port()) + prefix;
    }

    ServerState state;

private:
    Poco::Net::ServerSocket socket_;
    std::unique_ptr<Poco::Net::HTTPServer> server_;
};

// A bare TCP server that answers each connection from a script, for misbehaviour Poco's
// server will not produce (dropping a kept-alive connection, short bodies).
class ScriptedServer {
public:
    using Script = std::function<void(Poco::Net::StreamSocket&)>;

    explicit ScriptedServer(std::vector<Script> per_connection)
        : socket_(Poco::Net::SocketAddress("127.0.0.1", 0)), scripts_(std::move(per_connection)) {
        thread_ = std::thread([this] { serve(); });
    }
    ~ScriptedServer() {
        stop_ = true;
        thread_.join();
    }
    std::string base_url() const { return "http://127.0.0.1:" + std::to_string(socket_.address().port()); }
    int connections() const { return connections_; }

    // Reads one request head; false when the client closed the connection first.
    static bool read_request(Poco::Net::StreamSocket& s) {
        std::string head;
        char c;
        while (head.find("\r\n\r\n") == std::string::npos) {
            if (s.receiveBytes(&c, 1) <= 0) return false;
            head += c;
        }
        return true;
    }
    static void write(Poco::Net::StreamSocket& s, const std::string& text) {
        s.sendBytes(text.data(), static_cast<int>(text.size()));
    }
    // Whole `text`, or false once the client has gone (no SIGPIPE, no exception).
    static bool write_quietly(Poco::Net::StreamSocket& s, const std::string& text) {
        std::size_t sent = 0;
        while (sent < text.size()) {
            const ssize_t n = ::send(s.impl()->sockfd(), text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
            if (n <= 0) return false;
            sent += static_cast<std::size_t>(n);
        }
        return true;
    }

private:
    void serve() {
        for (const auto& script : scripts_) {
            while (!stop_ && !socket_.poll(Poco::Timespan(50'000), Poco::Net::Socket::SELECT_READ)) {}
            if (stop_) return;
            Poco::Net::StreamSocket connection = socket_.acceptConnection();
            connection.setReceiveTimeout(Poco::Timespan(5, 0));
            ++connections_;
            script(connection);
            connection.close();
        }
    }

    Poco::Net::ServerSocket socket_;
    std::vector<Script> scripts_;
    std::atomic<bool> stop_{false};
    std::atomic<int> connections_{0};
    std::thread thread_;
};

const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";

TransportOptions options_for(const std::string& base_url, Millis timeout = 5000ms) {
    TransportOptions o;
    o.base_url = base_url;
    o.request_timeout = timeout;
    return o;
}

}  // namespace

TEST(PocoHttpTransport, GetsStatusHeadersAndBody) {
    TestServer server;
    PocoHttpTransport transport(options_for(server.base_url()));
    const auto result =
        transport.get("/v1/batches?limit=2&cursor=a%2Fb", {{"X-API-KEY", "k1"}, {"Accept", "application/json"}});
    ASSERT_EQ(result.error, TransportError::none) << result.message;
    EXPECT_EQ(result.response.status, 200);
    EXPECT_EQ(result.response.body, R"({"object":"list","data":[],"next_cursor":null})");
    EXPECT_EQ(result.response.header("content-type"), "application/json");  // any spelling
    EXPECT_EQ(result.response.header("CONTENT-TYPE"), "application/json");
    EXPECT_EQ(result.response.header("X-Absent"), std::nullopt);

    const auto seen = server.state.requests();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].uri, "/v1/batches?limit=2&cursor=a%2Fb");
    EXPECT_EQ(seen[0].api_key, "k1");
    EXPECT_EQ(seen[0].accept, "application/json");
    EXPECT_EQ(seen[0].user_agent, default_user_agent());
}

TEST(PocoHttpTransport, ErrorStatusesAreResponsesNotFailures) {
    TestServer server;
    PocoHttpTransport transport(options_for(server.base_url()));
    const auto result = transport.get("/busy", {});
    ASSERT_EQ(result.error, TransportError::none) << result.message;
    EXPECT_EQ(result.response.status, 503);
    EXPECT_EQ(result.response.header("retry-after"), "7");
    EXPECT_EQ(result.response.body, "busy");
}

TEST(PocoHttpTransport, BaseUrlPathPrefixIsKept) {
    TestServer server;
    PocoHttpTransport transport(options_for(server.base_url("/api/extract/")));
    ASSERT_EQ(transport.get("/v1/batches?limit=1", {}).error, TransportError::none);
    EXPECT_EQ(server.state.requests().at(0).uri, "/api/extract/v1/batches?limit=1");
}

TEST(PocoHttpTransport, ReusesTheKeptAliveConnection) {
    TestServer server;
    PocoHttpTransport transport(options_for(server.base_url()));
    for (int i = 0; i < 3; ++i) ASSERT_EQ(transport.get("/v1/batches", {}).error, TransportError::none);
    const auto seen = server.state.requests();
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_EQ(seen[1].client_port, seen[0].client_port);
    EXPECT_EQ(seen[2].client_port, seen[0].client_port);
}

TEST(PocoHttpTransport, SendsAgainWhenTheServerDroppedTheKeptAliveConnection) {
    std::atomic<int> requests_on_first{0};
    ScriptedServer server({
        [&](Poco::Net::StreamSocket& s) {
            // Answers as if keeping the connection open, then takes the next request and hangs up
            // without a word, as a server whose keep-alive timeout just ran out does.
            if (!ScriptedServer::read_request(s)) return;
            ++requests_on_first;
            ScriptedServer::write(s, kOk);
            if (ScriptedServer::read_request(s)) ++requests_on_first;
        },
        [](Poco::Net::StreamSocket& s) {
            if (ScriptedServer::read_request(s)) ScriptedServer::write(s, kOk);
        },
    });
    PocoHttpTransport transport(options_for(server.base_url()));
    const auto first = transport.get("/v1/batches", {});
    ASSERT_EQ(first.error, TransportError::none) << first.message;
    const auto second = transport.get("/v1/batches", {});
    ASSERT_EQ(second.error, TransportError::none) << second.message;
    EXPECT_EQ(second.response.body, "{}");
    EXPECT_EQ(requests_on_first, 2);
    EXPECT_EQ(server.connections(), 2);
}

TEST(PocoHttpTransport, ShortBodyIsAConnectionFailure) {
    ScriptedServer server({[](Poco::Net::StreamSocket& s) {
        if (ScriptedServer::read_request(s)) {
            ScriptedServer::write(s, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"data\":[");
        }
    }});
    PocoHttpTransport transport(options_for(server.base_url()));
    const auto result = transport.get("/v1/batches", {});
    EXPECT_EQ(result.error, TransportError::connection_reset);
    EXPECT_NE(result.message.find("truncated after 9 of 100 bytes"), std::string::npos) << result.message;
}

TEST(PocoHttpTransport, SlowServerIsATimeout) {
    TestServer server;
    PocoHttpTransport transport(options_for(server.base_url(), 200ms));
    const auto started = std::chrono::steady_clock::now();
    const auto result = transport.get("/hang", {});
    const auto took = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(result.error, TransportError::timeout) << result.message;
    EXPECT_GE(took, 190ms);
    EXPECT_LT(took, scaled(5s));
}

// Issue 15: request_timeout bounds the whole request, not each wait on the socket.
TEST(PocoHttpTransport, ABodyTrickledByteByByteIsCutAtTheRequestsDeadline) {
    ScriptedServer server({[](Poco::Net::StreamSocket& s) {
        if (!ScriptedServer::read_request(s)) return;
        ScriptedServer::write(s, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
        // A byte every 50 ms, each well within any per-read timeout; stops once the client is gone.
        for (int i = 0; i < 1000; ++i) {
            if (!ScriptedServer::write_quietly(s, " ")) return;
            std::this_thread::sleep_for(50ms);
        }
    }});
    PocoHttpTransport transport(options_for(server.base_url(), 500ms));
    const auto started = std::chrono::steady_clock::now();
    const auto result = transport.get("/v1/batches", {});
    const auto took = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(result.error, TransportError::timeout) << result.message;
    EXPECT_NE(result.message.find("within request_timeout (500 ms)"), std::string::npos) << result.message;
    EXPECT_GE(took, 490ms);
    EXPECT_LT(took, scaled(5s));  // the server would trickle for 50 s
}

TEST(PocoHttpTransport, AnAnswerLargerThanTheCapIsAbandonedWhileItIsRead) {
    // Chunked, so no length announces it: 64 chunks of 64 KiB (4 MiB) against a 1 MiB cap.
    ScriptedServer server({[](Poco::Net::StreamSocket& s) {
        if (!ScriptedServer::read_request(s)) return;
        ScriptedServer::write(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        const std::string chunk = "10000\r\n" + std::string(0x10000, 'x') + "\r\n";
        for (int i = 0; i < 64; ++i) {
            if (!ScriptedServer::write_quietly(s, chunk)) return;
        }
        ScriptedServer::write_quietly(s, "0\r\n\r\n");
    }});
    TransportOptions options = options_for(server.base_url());
    options.max_response_bytes = 1 << 20;
    PocoHttpTransport transport(options);
    const auto result = transport.get("/v1/batches", {});
    EXPECT_EQ(result.error, TransportError::too_large) << result.message;
    EXPECT_NE(result.message.find("more than max_response_size (1048576 bytes)"), std::string::npos) << result.message;
    EXPECT_TRUE(result.response.body.empty());
}

TEST(PocoHttpTransport, AContentLengthAboveTheCapIsRefusedBeforeReading) {
    ScriptedServer server({[](Poco::Net::StreamSocket& s) {
        if (ScriptedServer::read_request(s)) {
            ScriptedServer::write_quietly(s, "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n{");
        }
    }});
    TransportOptions options = options_for(server.base_url());
    options.max_response_bytes = 1 << 20;
    PocoHttpTransport transport(options);
    const auto result = transport.get("/v1/batches", {});
    EXPECT_EQ(result.error, TransportError::too_large) << result.message;
    EXPECT_NE(result.message.find("1073741824 bytes (Content-Length)"), std::string::npos) << result.message;
}

TEST(PocoHttpTransport, AbortFromAnotherThreadEndsABlockedRequest) {
    TestServer server;
    PocoHttpTransport transport(options_for(server.base_url(), 30000ms));
    auto pending = std::async(std::launch::async, [&] { return transport.get("/hang", {}); });
    ASSERT_TRUE(server.state.wait_until_hanging(5s));

    const auto aborted_at = std::chrono::steady_clock::now();
    transport.abort();
    ASSERT_EQ(pending.wait_for(scaled(5s)), std::future_status::ready);
    EXPECT_LT(std::chrono::steady_clock::now() - aborted_at, scaled(2s));
    const auto result = pending.get();
    EXPECT_EQ(result.error, TransportError::aborted) << result.message;

    // Sticky: nothing more goes out after a shutdown began.
    EXPECT_EQ(transport.get("/v1/batches", {}).error, TransportError::aborted);
    EXPECT_EQ(server.state.requests().size(), 1u);
}

TEST(PocoHttpTransport, RefusedConnectionIsConnectFailed) {
    std::string base_url;
    {
        Poco::Net::ServerSocket closed(Poco::Net::SocketAddress("127.0.0.1", 0));
        base_url = "http://127.0.0.1:" + std::to_string(closed.address().port());
    }
    PocoHttpTransport transport(options_for(base_url));
    const auto result = transport.get("/v1/batches", {});
    EXPECT_EQ(result.error, TransportError::connect_failed) << result.message;
    EXPECT_NE(result.message.find("connecting to 127.0.0.1:"), std::string::npos) << result.message;
    EXPECT_NE(result.message.find("Connection refused"), std::string::npos) << result.message;
    EXPECT_EQ(result.message.find("Connection refused: Connection refused"), std::string::npos) << result.message;
}

TEST(PocoHttpTransport, AHostThatDoesNotResolveIsUnknownHost) {
    PocoHttpTransport transport(options_for("http://no-such-upstream.invalid:8080"));
    const auto result = transport.get("/v1/batches", {});
    // .invalid never resolves (RFC 2606); without any DNS server the resolver may only say it cannot ask.
    EXPECT_TRUE(result.error == TransportError::unknown_host || result.error == TransportError::connect_failed)
        << result.message;
    EXPECT_NE(result.message.find("no-such-upstream.invalid"), std::string::npos) << result.message;
}

TEST(PocoHttpTransport, UnusableBaseUrlThrowsWithTheUrl) {
    for (const std::string url : {"ftp://api.extract.page", "api.extract.page", "http://", "https:///v1",
                                  "http://host/?key=1", "http://host/#top", ""}) {
        try {
            PocoHttpTransport transport(options_for(url));
            ADD_FAILURE() << "accepted " << url;
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find("'" + url + "'"), std::string::npos) << e.what();
        }
    }
}

TEST(PocoHttpTransport, HttpsTransportIsBuiltWithVerification) {
    // Construction sets up the TLS context (system trust store) without touching the network.
    EXPECT_NO_THROW(PocoHttpTransport(options_for("https://api.extract.page")));
    TransportOptions unverified = options_for("https://api.extract.page:8443/prefix");
    unverified.verify_tls = false;
    EXPECT_NO_THROW(PocoHttpTransport{unverified});
    TransportOptions missing_ca = options_for("https://api.extract.page");
    missing_ca.ca_file = "/nonexistent/ca.pem";
    EXPECT_THROW(PocoHttpTransport{missing_ca}, std::invalid_argument);
}
