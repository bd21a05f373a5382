#pragma once
// The seam where a webhook POST leaves the process: one request, its answer or its failure as
// a value. WebhookChannel decides what an answer means; a sender only carries bytes.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.hpp"

namespace extract::delivery {

struct WebhookRequest {
    std::string url;  // http://… or https://…
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    Millis timeout{15000};
};

enum class SendFailure { none, bad_url, connect_failed, timeout, tls, connection_lost, aborted };

// "bad url", "connection failed", "timeout", "tls", "connection lost", "aborted".
std::string_view describe(SendFailure failure);

struct SendResult {
    SendFailure failure = SendFailure::none;
    std::string message;  // what went wrong, when failure != none
    // Meaningful only when failure == none:
    int status = 0;
    std::optional<std::string> retry_after;
    std::string body_start;  // the first bytes of the answer's body, for the attempt log
};

class WebhookSender {
public:
    virtual ~WebhookSender() = default;
    // Sends one POST and blocks until it is answered, fails or times out. Thread-safe.
    virtual SendResult post(const WebhookRequest& request) = 0;
    // From another thread at shutdown: requests in flight end promptly as `aborted`, and so
    // does every later one.
    virtual void abort() = 0;
};

struct PocoWebhookSenderOptions {
    // Trusted CAs for https (a PEM file); empty: OpenSSL's default store, which honours
    // $SSL_CERT_FILE and $SSL_CERT_DIR.
    std::string ca_file;
};

// HTTP(S) with Poco Net / NetSSL: a new connection per request (webhooks are rare, and a
// receiver's idle timeout never meets a stale connection). Certificates are always verified,
// the host name included, also for localhost. `timeout` bounds connecting, the TLS handshake and
// each wait on the socket.
class PocoWebhookSender final : public WebhookSender {
public:
    explicit PocoWebhookSender(PocoWebhookSenderOptions options = {});
    ~PocoWebhookSender() override;
    PocoWebhookSender(const PocoWebhookSender&) = delete;
    PocoWebhookSender& operator=(const PocoWebhookSender&) = delete;

    SendResult post(const WebhookRequest& request) override;
    void abort() override;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace extract::delivery
