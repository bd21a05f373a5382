#include "tests/api/api_fixture.hpp"

#include "tests/support/eventually.hpp"

#include <SQLiteCpp/Statement.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>

#include "cache/schema.hpp"

namespace extract::testing {

MirrorFile::MirrorFile(const std::string& path) : db_(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE, 5000) {
    db_.exec("PRAGMA journal_mode=WAL");
    cache::migrate(db_);
}

nlohmann::json MirrorFile::insert_batch(const BatchRow& row) {
    nlohmann::json raw{{"object", "batch"},
                       {"id", row.id},
                       {"status", row.status},
                       {"counts",
                        {{"pending", row.total_items - row.succeeded - row.failed},
                         {"running", 0},
                         {"succeeded", row.succeeded},
                         {"failed", row.failed},
                         {"cancelled", 0}}},
                       {"total_items", row.total_items},
                       {"engine", row.engine ? nlohmann::json(*row.engine) : nlohmann::json(nullptr)},
                       {"options", nlohmann::json::object()},
                       {"metadata", row.metadata},
                       {"created_at", row.created_at},
                       {"started_at", nullptr},
                       {"completed_at", row.completed_at ? nlohmann::json(*row.completed_at) : nlohmann::json(nullptr)},
                       {"expires_at", "2026-12-03T03:00:00.000Z"},
                       {"extra", "kept"}};
    SQLite::Statement insert(db_, R"sql(
        INSERT INTO batch_rows (id, status, total_items, count_pending, count_running, count_succeeded, count_failed,
                                count_cancelled, engine, metadata, created_at, started_at, completed_at, expires_at,
                                raw, first_seen_at, last_seen_at, last_changed_at, removed_at)
        VALUES (?, ?, ?, ?, 0, ?, ?, 0, ?, ?, ?, NULL, ?, '2026-12-03T03:00:00.000Z', ?, ?, ?, ?, ?))sql");
    int at = 0;
    insert.bind(++at, row.id);
    insert.bind(++at, row.status);
    insert.bind(++at, row.total_items);
    insert.bind(++at, row.total_items - row.succeeded - row.failed);
    insert.bind(++at, row.succeeded);
    insert.bind(++at, row.failed);
    if (row.engine) insert.bind(at + 1, *row.engine);
    ++at;
    if (!row.metadata.is_null()) insert.bind(at + 1, row.metadata.dump());
    ++at;
    insert.bind(++at, row.created_at);
    if (row.completed_at) insert.bind(at + 1, *row.completed_at);
    ++at;
    insert.bind(++at, raw.dump());
    insert.bind(++at, row.seen_at);
    if (row.removed_at) insert.bind(at + 1, row.seen_at);  // NULL while live: the view derives it
    ++at;
    insert.bind(++at, row.seen_at);
    if (row.removed_at) insert.bind(at + 1, *row.removed_at);
    insert.exec();
    return raw;
}

void MirrorFile::insert_transition(const std::string& batch_id, std::optional<std::string> from, const std::string& to,
                                   const std::string& observed_at) {
    SQLite::Statement insert(db_,
                             "INSERT INTO transition_rows (batch_key, from_status, to_status, observed_at) "
                             "VALUES ((SELECT key FROM batch_rows WHERE id = ?), ?, ?, ?)");
    insert.bind(1, batch_id);
    if (from) insert.bind(2, *from);
    insert.bind(3, to);
    insert.bind(4, observed_at);
    insert.exec();
}

std::int64_t MirrorFile::insert_event(const std::string& type, const std::string& batch_id,
                                      const std::string& created_at) {
    const std::int64_t next = db_.execAndGet("SELECT COALESCE(MAX(seq), 0) + 1 FROM events").getInt64();
    const nlohmann::json payload{{"type", type},
                                 {"timestamp", created_at},
                                 {"data", {{"batch", {{"id", batch_id}}}, {"previous_status", "pending"}}}};
    SQLite::Statement insert(db_,
                             "INSERT INTO event_rows (id, type, batch_key, created_at, payload) "
                             "VALUES (?, ?, (SELECT key FROM batch_rows WHERE id = ?), ?, ?)");
    insert.bind(1, "evt_" + std::to_string(next) + "_" + batch_id);
    insert.bind(2, type);
    insert.bind(3, batch_id);
    insert.bind(4, created_at);
    insert.bind(5, payload.dump());
    insert.exec();
    return db_.getLastInsertRowid();
}

std::int64_t MirrorFile::insert_delivery(std::int64_t event_seq, const std::string& target, const std::string& state) {
    SQLite::Statement insert(db_,
                             "INSERT INTO deliveries (event_seq, target, state, attempts, last_status, last_error) "
                             "VALUES (?, ?, ?, 3, 500, 'HTTP 500')");
    insert.bind(1, event_seq);
    insert.bind(2, target);
    insert.bind(3, state);
    insert.exec();
    return db_.getLastInsertRowid();
}

std::int64_t MirrorFile::insert_sync_run(const std::string& kind) {
    SQLite::Statement insert(
        db_,
        "INSERT INTO sync_runs (kind, started_at, finished_at, requests, pages, upserted, changed) "
        "VALUES (?, '2026-11-30T03:00:00.000Z', '2026-11-30T03:00:02.000Z', 3, 2, 10, 4)");
    insert.bind(1, kind);
    insert.exec();
    return db_.getLastInsertRowid();
}

void MirrorFile::set_meta(const std::string& key, const std::string& value) {
    SQLite::Statement upsert(db_, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
    upsert.bind(1, key);
    upsert.bind(2, value);
    upsert.exec();
}

api::HealthSnapshot FakeDaemonLink::health() const {
    std::lock_guard lock(mutex_);
    return health_;
}

void FakeDaemonLink::set_health(api::HealthSnapshot h) {
    std::lock_guard lock(mutex_);
    health_ = std::move(h);
}

std::optional<std::int64_t> FakeDaemonLink::request_sync(api::SyncRequest what, bool wait, Millis max_wait) {
    ++sync_requests;
    last_max_wait_ms = max_wait.count();
    last_full = what.full;
    last_confirm_removals = what.confirm_removals;
    last_wait = wait;
    if (!wait) return std::nullopt;
    return run_id_to_return;
}

api::RefreshOutcome FakeDaemonLink::refresh_batch(const std::string&, Millis) {
    ++refresh_requests;
    return refresh_outcome;
}

ApiTest::ApiTest() {
    socket_path = (dir / "api.sock").string();
    db_path = (dir / "mirror.db").string();
    mirror = std::make_unique<MirrorFile>(db_path);
    options.socket_path = socket_path;
    options.db_path = db_path;
    options.version = "0.1.0-test";
    api::HealthSnapshot healthy;
    healthy.status = HealthStatus::ok;
    healthy.synced = true;
    healthy.last_sync_at = "2026-11-30T03:04:05.123Z";
    link.set_health(healthy);
}

ApiTest::~ApiTest() {
    if (server) server->stop();
}

void ApiTest::start_server() {
    server = std::make_unique<api::ApiServer>(options, link, notifier, metrics);
    server->start();
}

cli::HttpReply ApiTest::get(const std::string& target) {
    return cli::UnixHttpClient(socket_path, std::chrono::seconds(10)).request("GET", target);
}

cli::HttpReply ApiTest::post(const std::string& target, const std::string& body) {
    return cli::UnixHttpClient(socket_path, std::chrono::seconds(10)).request("POST", target, body);
}

nlohmann::json ApiTest::get_json(const std::string& target, int expected_status) {
    const auto reply = get(target);
    EXPECT_EQ(reply.status, expected_status) << target << ": " << reply.body;
    return nlohmann::json::parse(reply.body);
}

RawConnection::RawConnection(const std::string& socket_path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        throw std::runtime_error("cannot connect to " + socket_path + ": " + std::strerror(errno));
    }
}

RawConnection::~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::send(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return false;
        sent += static_cast<std::size_t>(n);
    }
    return true;
}

std::optional<RawConnection::Reply> RawConnection::read_reply(Millis timeout) {
    const auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
    while (true) {
        const auto head_end = buffer_.find("\r\n\r\n");
        if (head_end != std::string::npos) {
            Reply reply;
            reply.head = buffer_.substr(0, head_end);
            reply.status = std::stoi(reply.head.substr(9, 3));
            std::size_t length = 0;
            const auto at = reply.head.find("Content-Length: ");
            if (at != std::string::npos) length = std::stoul(reply.head.substr(at + 16));
            if (buffer_.size() >= head_end + 4 + length) {
                reply.body = buffer_.substr(head_end + 4, length);
                buffer_.erase(0, head_end + 4 + length);
                return reply;
            }
        }
        const auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return std::nullopt;
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
        char buf[65536];
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) return std::nullopt;
        buffer_.append(buf, static_cast<std::size_t>(n));
    }
}

bool RawConnection::closed_within(Millis timeout) {
    const auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
    while (true) {
        const auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
        char buf[65536];
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n == 0) return true;
        if (n < 0) return errno == ECONNRESET;
        buffer_.append(buf, static_cast<std::size_t>(n));
    }
}

}  // namespace extract::testing
