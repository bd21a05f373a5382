#pragma once
// What the API tests share: a mirror file filled by SQL, a fake daemon, a server on a socket
// in a TempDir, and a raw Unix-socket connection for what a well-behaved client never sends.

#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/daemon_link.hpp"
#include "api/server.hpp"
#include "cli/unix_http_client.hpp"
#include "http/event_notifier.hpp"
#include "metrics/metrics.hpp"
#include "tests/support/temp_dir.hpp"

namespace extract::testing {

// A migrated mirror file in WAL mode, written by plain SQL on the test's thread.
class MirrorFile {
public:
    explicit MirrorFile(const std::string& path);

    struct BatchRow {
        std::string id;
        std::string status = "pending";
        std::string created_at = "2026-11-30T03:00:00.000Z";
        std::optional<std::string> engine = "standard";
        std::optional<std::string> removed_at{};
        std::string seen_at = "2026-11-30T03:00:01.000Z";
        nlohmann::json metadata = nullptr;  // the upstream's object or null
        std::optional<std::string> completed_at{};
        std::int64_t total_items = 1;
        std::int64_t succeeded = 0;
        std::int64_t failed = 0;
    };
    // Inserts a batch whose raw object holds its fields plus {"extra": "kept"}; returns raw.
    nlohmann::json insert_batch(const BatchRow& row);
    void insert_transition(const std::string& batch_id, std::optional<std::string> from, const std::string& to,
                           const std::string& observed_at);
    // Returns the seq.
    std::int64_t insert_event(const std::string& type, const std::string& batch_id, const std::string& created_at);
    std::int64_t insert_delivery(std::int64_t event_seq, const std::string& target, const std::string& state);
    std::int64_t insert_sync_run(const std::string& kind);
    void set_meta(const std::string& key, const std::string& value);

    SQLite::Database& db() { return db_; }

private:
    SQLite::Database db_;
};

// The daemon as the API sees it: health set by the test, requests recorded.
class FakeDaemonLink : public api::DaemonLink {
public:
    api::HealthSnapshot health() const override;
    std::optional<std::int64_t> request_sync(api::SyncRequest what, bool wait, Millis max_wait) override;
    api::RefreshOutcome refresh_batch(const std::string& batch_id, Millis max_wait) override;
    void deliveries_changed() override { ++deliveries_changed_calls; }

    void set_health(api::HealthSnapshot h);
    std::atomic<int> refresh_requests{0};
    // What refresh_batch answers (set before the request); the real daemon's cases are tested
    // against extract-sim in tests/daemon/syncd_refresh_test.cpp.
    api::RefreshOutcome refresh_outcome{api::RefreshResult::unavailable, "the upstream cannot be asked"};
    std::atomic<int> deliveries_changed_calls{0};
    std::atomic<int> sync_requests{0};
    std::atomic<bool> last_full{false};
    std::atomic<bool> last_confirm_removals{false};
    std::atomic<bool> last_wait{false};
    std::atomic<std::int64_t> last_max_wait_ms{0};
    std::int64_t run_id_to_return = 0;  // set before a wait=true request

private:
    mutable std::mutex mutex_;
    api::HealthSnapshot health_;
};

// A running ApiServer over a fresh mirror, and a client of it.
class ApiTest : public ::testing::Test {
protected:
    ApiTest();
    ~ApiTest() override;

    void start_server();
    cli::HttpReply get(const std::string& target);
    cli::HttpReply post(const std::string& target, const std::string& body = {});
    nlohmann::json get_json(const std::string& target, int expected_status = 200);

    TempDir dir;
    std::string socket_path;
    std::string db_path;
    std::unique_ptr<MirrorFile> mirror;
    FakeDaemonLink link;
    http::EventNotifier notifier;
    extract::metrics::Metrics metrics;
    api::ApiOptions options;
    std::unique_ptr<api::ApiServer> server;
};

// One Unix-socket connection spoken to byte by byte.
class RawConnection {
public:
    explicit RawConnection(const std::string& socket_path);
    explicit RawConnection(int connected_fd) : fd_(connected_fd) {}  // takes the fd over
    ~RawConnection();
    RawConnection(const RawConnection&) = delete;
    RawConnection& operator=(const RawConnection&) = delete;

    // False when the server closed its side before everything was sent.
    bool send(const std::string& bytes);
    struct Reply {
        int status = 0;
        std::string head;
        std::string body;
    };
    // One reply (Content-Length framed), or nullopt when none came within `timeout`.
    std::optional<Reply> read_reply(Millis timeout);
    // True when the server closes the connection within `timeout` (after any bytes it sends).
    bool closed_within(Millis timeout);
    int fd() const { return fd_; }

private:
    int fd_ = -1;
    std::string buffer_;
};

}  // namespace extract::testing
