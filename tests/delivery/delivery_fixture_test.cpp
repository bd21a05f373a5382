#include "tests/delivery/delivery_fixture_test.hpp"

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <algorithm>

#include <thread>

#include "cache/delivery_store.hpp"
#include "cache/schema.hpp"
#include "core/timefmt.hpp"
#include "tests/support/eventually.hpp"

namespace extract::delivery::testing {
namespace {

SQLite::Database open_mirror(const std::string& path) {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("PRAGMA journal_mode = WAL");
    db.setBusyTimeout(5000);
    cache::migrate(db);
    return db;
}

template <typename T>
std::optional<T> optional_column(const SQLite::Column& column) {
    if (column.isNull()) return std::nullopt;
    if constexpr (std::is_same_v<T, int>) {
        return column.getInt();
    } else {
        return column.getString();
    }
}

}  // namespace

Outbox::Outbox(const std::filesystem::path& dir) : path_((dir / "mirror.db").string()), db_(open_mirror(path_)) {}

AddedEvent Outbox::add_event(const std::string& batch_id, const std::string& status, const std::string& previous_status,
                             const std::vector<std::string>& targets) {
    const std::string now = format_timestamp(std::chrono::system_clock::now());
    const nlohmann::json batch{{"id", batch_id},
                               {"object", "batch"},
                               {"status", status},
                               {"counts",
                                {{"pending", 0}, {"running", 0}, {"succeeded", 1}, {"failed", 0}, {"cancelled", 0}}},
                               {"total_items", 1},
                               {"engine", nullptr},
                               {"options", nlohmann::json::object()},
                               {"created_at", "2026-11-30T03:04:05Z"},
                               {"expires_at", "2026-12-03T03:04:05Z"}};
    const std::string type = previous_status.empty() ? "batch.created" : "batch.status_changed";
    nlohmann::json data{{"batch", batch}};
    data["previous_status"] = previous_status.empty() ? nlohmann::json(nullptr) : nlohmann::json(previous_status);
    const nlohmann::json event{{"type", type}, {"timestamp", now}, {"data", data}};

    AddedEvent added;
    added.id = "evt_test" + std::to_string(++events_made_);
    added.payload = event.dump();

    SQLite::Transaction tx(db_);
    SQLite::Statement upsert(db_,
                             "INSERT INTO batch_rows (id, status, total_items, count_pending, count_running,"
                             " count_succeeded, count_failed, count_cancelled, engine, created_at, started_at,"
                             " completed_at, expires_at, raw, first_seen_at, last_changed_at)"
                             " VALUES (?1, ?2, 1, 0, 0, 1, 0, 0, NULL, ?3, NULL, NULL, ?4, ?5, ?6, ?6)"
                             " ON CONFLICT (id) DO UPDATE SET status = excluded.status, raw = excluded.raw");
    upsert.bind(1, batch_id);
    upsert.bind(2, status);
    upsert.bind(3, batch["created_at"].get<std::string>());
    upsert.bind(4, batch["expires_at"].get<std::string>());
    upsert.bind(5, batch.dump());
    upsert.bind(6, now);
    upsert.exec();

    SQLite::Statement insert_event(db_,
                                   "INSERT INTO event_rows (id, type, batch_key, created_at, payload) "
                                   "VALUES (?1, ?2, (SELECT key FROM batch_rows WHERE id = ?3), ?4, ?5)");
    insert_event.bind(1, added.id);
    insert_event.bind(2, type);
    insert_event.bind(3, batch_id);
    insert_event.bind(4, now);
    insert_event.bind(5, added.payload);
    insert_event.exec();
    added.seq = db_.getLastInsertRowid();

    for (const auto& target : targets) {
        SQLite::Statement insert_delivery(db_, "INSERT INTO deliveries (event_seq, target) VALUES (?1, ?2)");
        insert_delivery.bind(1, added.seq);
        insert_delivery.bind(2, target);
        insert_delivery.exec();
        added.deliveries.push_back(db_.getLastInsertRowid());
    }
    tx.commit();
    return added;
}

DeliveryRow Outbox::delivery(std::int64_t id) {
    SQLite::Statement q(db_,
                        "SELECT state, attempts, next_attempt_at, last_status, last_error, delivered_at"
                        " FROM deliveries WHERE id = ?1");
    q.bind(1, id);
    if (!q.executeStep()) throw std::runtime_error("no delivery " + std::to_string(id));
    return {q.getColumn(0).getString(),
            q.getColumn(1).getInt(),
            optional_column<std::string>(q.getColumn(2)),
            optional_column<int>(q.getColumn(3)),
            optional_column<std::string>(q.getColumn(4)),
            optional_column<std::string>(q.getColumn(5))};
}

std::vector<AttemptRow> Outbox::attempts(std::int64_t delivery_id) {
    SQLite::Statement q(db_,
                        "SELECT attempt, started_at, duration_ms, status, error FROM delivery_attempts"
                        " WHERE delivery_id = ?1 ORDER BY attempt, id");
    q.bind(1, delivery_id);
    std::vector<AttemptRow> rows;
    while (q.executeStep()) {
        rows.push_back({q.getColumn(0).getInt(), q.getColumn(1).getString(), q.getColumn(2).getInt64(),
                        optional_column<int>(q.getColumn(3)), optional_column<std::string>(q.getColumn(4))});
    }
    return rows;
}

std::optional<std::string> Outbox::meta(const std::string& key) {
    SQLite::Statement q(db_, "SELECT value FROM meta WHERE key = ?1");
    q.bind(1, key);
    if (!q.executeStep()) return std::nullopt;
    return q.getColumn(0).getString();
}

void Outbox::requeue(std::int64_t delivery_id) {
    SQLite::Statement q(db_, "UPDATE deliveries SET state = 'pending', next_attempt_at = NULL WHERE id = ?1");
    q.bind(1, delivery_id);
    q.exec();
}

LogCapture::LogCapture() : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(2000)) {
    spdlog::default_logger()->sinks().push_back(sink_);
}

LogCapture::~LogCapture() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
}

std::vector<std::string> LogCapture::lines() const { return sink_->last_formatted(); }

bool LogCapture::contains(const std::string& text) const {
    const auto all = lines();
    return std::any_of(all.begin(), all.end(), [&](const std::string& l) { return l.find(text) != std::string::npos; });
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    return extract::testing::eventually(condition, timeout, std::chrono::milliseconds(10));
}

WebhookTarget webhook_config(const std::string& name, const std::string& url, std::vector<Millis> retry_schedule,
                             int max_in_flight) {
    WebhookTarget hook;
    hook.name = name;
    hook.url = url;
    hook.secrets = {kSecretA};
    hook.events = {"batch.created", "batch.status_changed"};
    hook.timeout = std::chrono::seconds{5};
    hook.retry_schedule = std::move(retry_schedule);
    hook.max_in_flight = max_in_flight;
    return hook;
}

TriggerTarget trigger_config(const std::string& name, std::vector<std::string> argv, std::vector<Millis> retry_schedule,
                             Millis timeout) {
    TriggerTarget trigger;
    trigger.name = name;
    trigger.argv = std::move(argv);
    trigger.command = trigger.argv.empty() ? "" : trigger.argv.front();
    trigger.events = {"batch.created", "batch.status_changed"};
    trigger.retry_schedule = std::move(retry_schedule);
    trigger.timeout = timeout;
    return trigger;
}

SendResult FakeWebhookSender::Script::ok(int status, std::optional<std::string> retry_after) {
    SendResult result;
    result.status = status;
    result.retry_after = std::move(retry_after);
    return result;
}

SendResult FakeWebhookSender::Script::failure(SendFailure failure, std::string message) {
    SendResult result;
    result.failure = failure;
    result.message = std::move(message);
    return result;
}

void FakeWebhookSender::Script::push(SendResult answer) {
    std::lock_guard lock(mutex);
    answers.push_back(std::move(answer));
}

void FakeWebhookSender::Script::release() {
    {
        std::lock_guard lock(mutex);
        hold = false;
    }
    changed.notify_all();
}

std::size_t FakeWebhookSender::Script::request_count() {
    std::lock_guard lock(mutex);
    return requests.size();
}

bool FakeWebhookSender::Script::wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, extract::testing::scaled(timeout), [&] { return requests.size() >= n; });
}

SendResult FakeWebhookSender::post(const WebhookRequest& request) {
    std::unique_lock lock(script_->mutex);
    script_->requests.push_back(request);
    ++script_->in_flight;
    script_->most_in_flight = std::max(script_->most_in_flight, script_->in_flight);
    script_->changed.notify_all();
    script_->changed.wait(lock, [&] { return !script_->hold || script_->aborted; });
    --script_->in_flight;
    if (script_->aborted) return Script::failure(SendFailure::aborted, "aborted");
    if (script_->answers.empty()) return script_->otherwise;
    SendResult answer = script_->answers.front();
    script_->answers.pop_front();
    return answer;
}

void FakeWebhookSender::abort() {
    {
        std::lock_guard lock(script_->mutex);
        script_->aborted = true;
    }
    script_->changed.notify_all();
}

ProcessOutcome FakeProcessRunner::run(const ProcessRequest& request) {
    std::lock_guard lock(script_->mutex);
    script_->requests.push_back(request);
    if (script_->outcomes.empty()) return {};
    ProcessOutcome outcome = script_->outcomes.front();
    script_->outcomes.pop_front();
    return outcome;
}

}  // namespace extract::delivery::testing
