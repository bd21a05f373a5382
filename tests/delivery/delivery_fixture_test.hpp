#pragma once
// Shared by the delivery tests: a mirror file whose outbox a test fills as the sync writer
// would, readers of what the dispatcher recorded, fakes of the HTTP sender and the process
// runner, and bounded waits.

#include <SQLiteCpp/Database.h>

#include <spdlog/sinks/ringbuffer_sink.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "delivery/delivery_target.hpp"
#include "delivery/trigger_runner.hpp"
#include "delivery/webhook_sender.hpp"

namespace extract::delivery::testing {

// A whsec_ secret and the one from the Standard Webhooks test vectors.
inline const std::string kSecretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
inline const std::string kSecretB = "whsec_c2Vjb25kIHNlY3JldCBmb3Igcm90YXRpb24h";

struct AddedEvent {
    std::int64_t seq = 0;
    std::string id;                        // evt_…
    std::string payload;                   // as stored
    std::vector<std::int64_t> deliveries;  // one per target, in the order given
};

struct DeliveryRow {
    std::string state;
    int attempts = 0;
    std::optional<std::string> next_attempt_at;
    std::optional<int> last_status;
    std::optional<std::string> last_error;
    std::optional<std::string> delivered_at;
};

struct AttemptRow {
    int attempt = 0;
    std::string started_at;
    std::int64_t duration_ms = 0;
    std::optional<int> status;
    std::optional<std::string> error;
};

// The mirror in `dir`/mirror.db: migrated, with the attempt log, and one connection of its own.
class Outbox {
public:
    explicit Outbox(const std::filesystem::path& dir);
    const std::string& path() const { return path_; }

    // A batch.status_changed event (batch.created when `previous_status` is empty) for
    // `batch_id`, now `status`, and a pending delivery per target, in one transaction.
    AddedEvent add_event(const std::string& batch_id, const std::string& status, const std::string& previous_status,
                         const std::vector<std::string>& targets);

    DeliveryRow delivery(std::int64_t id);
    std::vector<AttemptRow> attempts(std::int64_t delivery_id);
    std::optional<std::string> meta(const std::string& key);
    // What the API's retry route does: back to pending, due now.
    void requeue(std::int64_t delivery_id);

private:
    std::string path_;
    SQLite::Database db_;
    std::int64_t events_made_ = 0;
};

// Copies what is logged (through spdlog's default logger) while it lives.
class LogCapture {
public:
    LogCapture();
    ~LogCapture();
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;
    bool contains(const std::string& text) const;
    std::vector<std::string> lines() const;

private:
    std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

// Polls `condition` until it holds or `timeout` passes; returns whether it held.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = std::chrono::seconds{10});

WebhookTarget webhook_config(const std::string& name, const std::string& url, std::vector<Millis> retry_schedule = {},
                             int max_in_flight = 4);
TriggerTarget trigger_config(const std::string& name, std::vector<std::string> argv,
                             std::vector<Millis> retry_schedule = {}, Millis timeout = std::chrono::seconds{10});

// A WebhookSender whose answers a test scripts. The dispatcher owns the sender; the test keeps
// the shared Script to script it and to see what was sent.
class FakeWebhookSender final : public WebhookSender {
public:
    struct Script {
        std::mutex mutex;
        std::condition_variable changed;
        std::deque<SendResult> answers;  // one per request; when empty, `otherwise`
        SendResult otherwise = ok(200);
        bool hold = false;  // requests wait (in flight) until released or aborted
        bool aborted = false;
        std::vector<WebhookRequest> requests;
        int in_flight = 0;
        int most_in_flight = 0;

        static SendResult ok(int status, std::optional<std::string> retry_after = std::nullopt);
        static SendResult failure(SendFailure failure, std::string message);
        void push(SendResult answer);
        void release();  // ends the hold
        std::size_t request_count();
        bool wait_for_requests(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds{10});
    };

    explicit FakeWebhookSender(std::shared_ptr<Script> script) : script_(std::move(script)) {}
    SendResult post(const WebhookRequest& request) override;
    void abort() override;

private:
    std::shared_ptr<Script> script_;
};

// A ProcessRunner that records each request and answers with scripted outcomes (exit 0 when
// none is left).
class FakeProcessRunner final : public ProcessRunner {
public:
    struct Script {
        std::mutex mutex;
        std::deque<ProcessOutcome> outcomes;
        std::vector<ProcessRequest> requests;
    };
    explicit FakeProcessRunner(std::shared_ptr<Script> script) : script_(std::move(script)) {}
    ProcessOutcome run(const ProcessRequest& request) override;
    void abort() override {}

private:
    std::shared_ptr<Script> script_;
};

}  // namespace extract::delivery::testing
