#include "cache/mirror.hpp"

#include <SQLiteCpp/Transaction.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <unordered_map>
#include <utility>

#include "cache/connection.hpp"
#include "cache/meta_keys.hpp"
#include "cache/schema.hpp"
#include "cache/statement_cache.hpp"
#include "core/json_text.hpp"
#include "core/timefmt.hpp"
#include "core/untrusted_text.hpp"

namespace extract::cache {
namespace {

SQLite::Database open_database(const std::string& path) {
    namespace fs = std::filesystem;
    const fs::path file(path);
    const fs::path directory = file.has_parent_path() ? file.parent_path() : fs::path(".");
    std::error_code ignored;
    if (!fs::is_directory(directory, ignored)) {
        throw MirrorOpenError("cannot open the mirror " + path + ": directory " + directory.string() +
                              " does not exist; create it or change [cache] path");
    }
    try {
        SQLite::Database db = open_connection(path, ConnectionRole::writer);
        migrate(db);
        return db;
    } catch (const std::runtime_error& e) {  // SQLite::Exception too
        throw MirrorOpenError("cannot open the mirror " + path + ": " + e.what());
    }
}

void bind_optional(SQLite::Statement& statement, int index, const std::optional<std::string>& value) {
    if (value) {
        statement.bind(index, *value);
    } else {
        statement.bind(index);
    }
}

void bind_optional(SQLite::Statement& statement, int index, const std::optional<std::int64_t>& value) {
    if (value) {
        statement.bind(index, *value);
    } else {
        statement.bind(index);
    }
}

// Binds text without SQLite copying it: `value` must outlive the statement's next exec().
void bind_text_in_place(SQLite::Statement& statement, int index, const std::optional<std::string>& value) {
    if (value) {
        statement.bindNoCopy(index, *value);
    } else {
        statement.bind(index);
    }
}

// ?1..?15 of insert_batch_ and update_batch_: the upstream's content of a row. The batch's text
// is bound in place (the page outlives the statement's exec), so SQLite does not copy `raw`
// once more for every row written. options lives in raw only (the `batches` view reads it out).
void bind_content(SQLite::Statement& statement, const Batch& batch) {
    statement.bindNoCopy(1, batch.id);
    statement.bindNoCopy(2, batch.status);
    statement.bind(3, batch.total_items);
    statement.bind(4, batch.counts.pending);
    statement.bind(5, batch.counts.running);
    statement.bind(6, batch.counts.succeeded);
    statement.bind(7, batch.counts.failed);
    statement.bind(8, batch.counts.cancelled);
    bind_text_in_place(statement, 9, batch.engine);
    statement.bindNoCopy(10, batch.created_at);
    bind_text_in_place(statement, 11, batch.started_at);
    bind_text_in_place(statement, 12, batch.completed_at);
    statement.bindNoCopy(13, batch.expires_at);
    statement.bindNoCopy(14, batch.raw);
    // A JSON null is stored as SQL NULL, so `metadata IS NULL` finds both.
    if (batch.metadata == "null") {
        statement.bind(15);
    } else {
        bind_text_in_place(statement, 15, batch.metadata);
    }
}

// A JSON array of strings for json_each(). Written by hand: through nlohmann::json it was an
// eighth of the time of applying an unchanged page.
template <typename Strings>
std::string json_array(const Strings& values) {
    std::string out = "[";
    for (const std::string_view value : values) {
        if (out.size() > 1) out += ',';
        append_json_string(out, value);
    }
    out += ']';
    return out;
}

bool contains(const std::vector<std::string>& values, std::string_view value) {
    return std::find(values.begin(), values.end(), value) != values.end();
}

bool route_takes(const DeliveryRoute& route, std::string_view type, std::string_view status) {
    const bool type_matches =
        route.events.empty() ? type == event_type_name(EventType::status_changed) : contains(route.events, type);
    return type_matches && (route.statuses.empty() || contains(route.statuses, status));
}

// A value a CHECK, NOT NULL or UNIQUE constraint refused: the batch's fault, not the file's. A
// trigger's RAISE or a foreign key is not the batch's doing, and fails the page as any error does.
bool is_constraint_failure(const SQLite::Exception& e) {
    switch (e.getExtendedErrorCode()) {
        case SQLITE_CONSTRAINT_CHECK:
        case SQLITE_CONSTRAINT_NOTNULL:
        case SQLITE_CONSTRAINT_UNIQUE:
        case SQLITE_CONSTRAINT_PRIMARYKEY: return true;
        default: return false;
    }
}

// How a set-aside batch is keyed and logged: its bytes may be what made it unstorable.
std::string set_aside_key(std::string_view id) { return escape_untrusted(id, kMaxBatchIdBytes); }

void add_result(ApplyResult& total, const ApplyResult& part) {
    total.inserted += part.inserted;
    total.updated += part.updated;
    total.restored += part.restored;
    total.unchanged += part.unchanged;
    total.transitions += part.transitions;
    total.events += part.events;
    for (const auto& [status, n] : part.transitions_to) total.transitions_to[status] += n;
    for (const auto& [type, n] : part.events_by_type) total.events_by_type[type] += n;
    total.last_event_seq = std::max(total.last_event_seq, part.last_event_seq);
}

}  // namespace

FirstSightingEvents first_sighting_events(bool bootstrap_pending, bool emit_on_bootstrap) {
    if (!bootstrap_pending) return FirstSightingEvents::created_and_status_changed;
    return emit_on_bootstrap ? FirstSightingEvents::created : FirstSightingEvents::none;
}

Mirror::Mirror(const std::string& path, const Clock& clock)
    : clock_(clock),
      db_(open_database(path)),
      find_page_rows_(db_,
                      "SELECT id, status, raw, removed_at IS NOT NULL, created_at, key FROM batch_rows "
                      "WHERE id IN (SELECT value FROM json_each(?1))"),
      insert_batch_(db_,
                    "INSERT INTO batch_rows (id, status, total_items, count_pending, count_running, count_succeeded, "
                    "count_failed, count_cancelled, engine, created_at, started_at, completed_at, expires_at, raw, "
                    "metadata, first_seen_at, last_changed_at) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?16)"),
      insert_transition_(db_,
                         "INSERT INTO transition_rows (batch_key, from_status, to_status, observed_at) "
                         "VALUES (?1, ?2, ?3, ?4)"),
      insert_event_(db_,
                    "INSERT INTO event_rows (id, type, batch_key, created_at, payload) VALUES (?1, ?2, ?3, ?4, ?5)"),
      insert_delivery_(db_,
                       "INSERT INTO deliveries (event_seq, target, state, attempts, next_attempt_at) "
                       "VALUES (?1, ?2, 'pending', 0, ?3)"),
      find_live_keys_(db_, "SELECT key FROM batch_rows WHERE removed_at IS NULL"),
      find_key_(db_, "SELECT key FROM batch_rows WHERE id = ?1"),
      find_live_batch_(db_, "SELECT status, raw FROM batch_rows WHERE key = ?1 AND removed_at IS NULL"),
      // last_seen_at is frozen as the view derived it until now.
      set_removed_(db_,
                   "UPDATE batch_rows SET removed_at = ?2, last_seen_at = max(last_changed_at, "
                   "coalesce((SELECT value FROM meta WHERE key = " +
                       meta_key::sql_literal(meta_key::kLastFullPassAt) + "), '')) WHERE key = ?1"),
      find_set_aside_(db_, "SELECT reason FROM set_aside_batches WHERE batch_id = ?1"),
      upsert_set_aside_(
          db_,
          "INSERT INTO set_aside_batches (batch_id, reason, first_seen_at, last_seen_at, seen_in_run) "
          "VALUES (?1, ?2, ?3, ?3, ?4) ON CONFLICT (batch_id) DO UPDATE SET "
          "first_seen_at = CASE WHEN reason = excluded.reason THEN first_seen_at ELSE excluded.first_seen_at END, "
          "reason = excluded.reason, last_seen_at = excluded.last_seen_at, "
          "seen_in_run = coalesce(excluded.seen_in_run, seen_in_run)"),
      clear_set_aside_(db_, "DELETE FROM set_aside_batches WHERE batch_id IN (SELECT value FROM json_each(?1))") {
    restore_id_index();
}

Mirror::~Mirror() {
    try {
        restore_id_index();
    } catch (const std::exception& e) {
        spdlog::error("could not build the batch id index at exit ({}); it is built when the mirror is opened next",
                      e.what());
    }
}

void Mirror::begin_bulk_load_if_empty(std::int64_t full_pass_run_id) {
    if (bulk_decided_run_ == full_pass_run_id) return;
    bulk_decided_run_ = full_pass_run_id;
    if (bulk_ids_ || db_.execAndGet("SELECT EXISTS (SELECT 1 FROM batch_rows)").getInt() != 0) return;
    db_.exec("DROP INDEX IF EXISTS batches_id");
    db_.exec(kBulkLoadAutocheckpoint);
    id_index_ = false;
    bulk_ids_.emplace();
}

void Mirror::restore_id_index() {
    const std::optional<std::size_t> loaded = bulk_ids_ ? std::optional(bulk_ids_->size()) : std::nullopt;
    if (bulk_ids_) db_.exec(kWriterAutocheckpoint);
    bulk_ids_.reset();
    if (id_index_) return;
    const bool missing =
        db_.execAndGet("SELECT NOT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'index' AND name = 'batches_id')")
            .getInt() != 0;
    if (missing) {
        const auto started = clock_.steady_now();
        // SQLite sorts the ids in cache_size of memory and spills the rest to temporary files,
        // which temp_store = MEMORY would keep in memory (40 MB at a million batches). Outside a
        // transaction (the usual end of a bulk load) they go to a file; inside one the setting
        // cannot change.
        const bool spill_to_file = sqlite3_get_autocommit(db_.getHandle()) != 0;
        if (spill_to_file) db_.exec("PRAGMA temp_store = FILE");
        db_.exec("CREATE UNIQUE INDEX batches_id ON batch_rows (id)");
        if (spill_to_file) db_.exec("PRAGMA temp_store = MEMORY");
        const double seconds = std::chrono::duration<double>(clock_.steady_now() - started).count();
        if (loaded) {
            spdlog::info("built the batch id index after a bulk load of {} batches in {:.2f}s", *loaded, seconds);
        } else {
            spdlog::warn("built the batch id index that an unfinished bulk load left out, in {:.2f}s", seconds);
        }
    }
    id_index_ = true;
}

int Mirror::wal_autocheckpoint() { return db_.execAndGet("PRAGMA wal_autocheckpoint").getInt(); }

void Mirror::forget_bulk_load() {
    if (bulk_ids_) db_.exec(kWriterAutocheckpoint);
    bulk_ids_.reset();
    id_index_ = false;      // unknown until restore_id_index looks
    bulk_decided_run_ = 0;  // decided again: a rollback may have emptied the mirror again
}

SQLite::Statement& Mirror::update_batch(unsigned indexed_columns) {
    auto& statement = update_batch_.at(indexed_columns);
    if (!statement) {
        // Parameters as in bind_content; ?1, ?2 and ?10 stay bound but unused when not set.
        std::string sql =
            "UPDATE batch_rows SET total_items = ?3, count_pending = ?4, count_running = ?5, count_succeeded = ?6, "
            "count_failed = ?7, count_cancelled = ?8, engine = ?9, started_at = ?11, completed_at = ?12, "
            "expires_at = ?13, raw = ?14, metadata = ?15, last_changed_at = ?16";
        if (indexed_columns & kSetStatus) sql += ", status = ?2";
        if (indexed_columns & kSetCreatedAt) sql += ", created_at = ?10";
        if (indexed_columns & kClearRemovedAt) sql += ", removed_at = NULL, last_seen_at = NULL";
        sql += " WHERE key = ?17";
        statement.emplace(db_, sql);
    }
    return *statement;
}

Mirror::Moment Mirror::moment() const {
    const WallTime now = clock_.now();
    return Moment{now, format_timestamp(now)};
}

void Mirror::store_batches(std::span<const Batch> page, const ApplyOptions& options, const Moment& at,
                           ApplyResult& result) {
    if (options.full_pass_run_id) begin_bulk_load_if_empty(*options.full_pass_run_id);

    // Each id once, with the index of its first occurrence in `firsts` (a page should not repeat
    // an id, but a repeat must not record anything twice either).
    std::unordered_map<std::string_view, std::size_t> index_of;
    index_of.reserve(page.size());
    std::vector<std::string_view> ids;
    std::vector<const Batch*> firsts;
    ids.reserve(page.size());
    firsts.reserve(page.size());
    for (const Batch& batch : page) {
        if (batch.set_aside) continue;
        if (index_of.emplace(batch.id, ids.size()).second) {
            ids.push_back(batch.id);
            firsts.push_back(&batch);
        }
    }
    if (ids.empty()) return;
    // A bulk load knows that an id it has no hash of is not mirrored; an id it may have seen (a
    // repeat across pages, or two ids of one hash) ends it, and the index answers from then on.
    if (bulk_ids_ &&
        std::any_of(ids.begin(), ids.end(), [&](std::string_view id) { return bulk_ids_->may_contain(id); })) {
        restore_id_index();
    }

    // What the mirror holds for this page. Read inside the transaction that writes, so a crash
    // before commit leaves nothing and the retry detects the same changes again.
    // By the id's index in `ids`; what a page's batch is compared with is its row's state before
    // the page (found), then the page's last occurrence of it (last_applied), whose values the
    // row holds from then on. Nothing is copied per row but the status (short).
    struct Known {
        bool found = false;  // the mirror holds the row, or this page inserted it
        std::string status;
        bool removed = false;
        bool created_at_as_first = false;     // the row's created_at equals the first occurrence's
        bool same_as_first = false;           // the row's raw equals the page's first occurrence
        const Batch* last_applied = nullptr;  // set once this page has written or matched the row
        std::int64_t key = 0;                 // writes address the row by its key: no second seek through the id index
    };
    std::vector<Known> known(ids.size());

    if (!bulk_ids_) {  // a bulk load inserts every batch of the page
        restore_id_index();
        auto& lookup = find_page_rows_;
        const StatementUse lookup_use(lookup);
        lookup.bind(1, json_array(ids));
        while (lookup.executeStep()) {
            const SQLite::Column id_column = lookup.getColumn(0);
            const std::string_view id(id_column.getText(), static_cast<std::size_t>(id_column.getBytes()));
            const auto index = index_of.find(id);
            if (index == index_of.end()) continue;  // cannot happen: the query selects by these ids
            const Batch& first = *firsts[index->second];
            const SQLite::Column raw_column = lookup.getColumn(2);
            const std::string_view raw(raw_column.getText(), static_cast<std::size_t>(raw_column.getBytes()));
            const SQLite::Column created_column = lookup.getColumn(4);
            const std::string_view created_at(created_column.getText(),
                                              static_cast<std::size_t>(created_column.getBytes()));
            known[index->second] = Known{true,
                                         lookup.getColumn(1).getString(),
                                         lookup.getColumn(3).getInt() != 0,
                                         created_at == first.created_at,
                                         raw == first.raw,
                                         nullptr,
                                         lookup.getColumn(5).getInt64()};
        }
    }

    for (const Batch& batch : page) {
        if (batch.set_aside) continue;
        std::int64_t key = 0;
        // An event about this batch as the page has it, counted for the result.
        const auto emit = [&](EventType type, std::optional<std::string_view> previous_status) {
            result.last_event_seq =
                record_event(type, key, batch.status, batch.raw, previous_status, at, options.routes);
            ++result.events;
            ++result.events_by_type[std::string(event_type_name(type))];
        };
        Known& row = known[index_of.find(batch.id)->second];
        if (!row.found) {
            auto& insert = insert_batch_;
            const StatementUse insert_use(insert);
            bind_content(insert, batch);
            insert.bind(16, at.text);
            insert.exec();
            key = db_.getLastInsertRowid();  // before the transition's insert
            if (bulk_ids_) bulk_ids_->insert(batch.id);
            mark_seen(key, options);
            ++result.inserted;
            record_transition(key, nullptr, batch.status, at);
            ++result.transitions;
            ++result.transitions_to[batch.status];
            if (options.first_sighting != FirstSightingEvents::none) emit(EventType::created, std::nullopt);
            if (options.first_sighting == FirstSightingEvents::created_and_status_changed) {
                // The transition from nothing, as an event: what completion targets take.
                emit(EventType::status_changed, std::nullopt);
            }
            row.found = true;
            row.status = batch.status;
            row.last_applied = &batch;
            row.key = key;
            continue;
        }

        key = row.key;
        mark_seen(key, options);
        const Batch* before = row.last_applied;
        const bool same_content = before ? before->raw == batch.raw : row.same_as_first;
        row.last_applied = &batch;
        if (same_content && !row.removed) {
            ++result.unchanged;  // writes follow change: nothing (SPEC §3)
            continue;
        }

        unsigned indexed = 0;
        if (batch.status != row.status) indexed |= kSetStatus;
        if (before ? batch.created_at != before->created_at : !row.created_at_as_first) indexed |= kSetCreatedAt;
        if (row.removed) indexed |= kClearRemovedAt;
        auto& update = update_batch(indexed);
        const StatementUse update_use(update);
        bind_content(update, batch);
        update.bind(16, at.text);
        update.bind(17, key);
        update.exec();
        ++result.updated;
        if (row.removed) {
            spdlog::warn("batch {} is listed upstream again after it was marked removed; clearing removed_at",
                         escape_untrusted(batch.id, kMaxBatchIdBytes));
            row.removed = false;
            ++result.restored;
        }
        EventType type = EventType::updated;  // another field changed, or a removed batch came back
        if (batch.status != row.status) {
            type = EventType::status_changed;
            record_transition(key, &row.status, batch.status, at);
            ++result.transitions;
            ++result.transitions_to[batch.status];
        }
        emit(type, row.status);
        row.status = batch.status;
    }
}

void Mirror::mark_seen(std::int64_t key, const ApplyOptions& options) {
    if (!options.full_pass_run_id || key <= 0) return;
    if (seen_run_ != *options.full_pass_run_id) {  // the first page of a new pass
        seen_run_ = *options.full_pass_run_id;
        seen_.clear();
    }
    const auto index = static_cast<std::size_t>(key);
    if (index >= seen_.size()) seen_.resize(std::max(index + 1, seen_.size() * 2));
    seen_[index] = true;
}

bool Mirror::seen_in(std::int64_t full_pass_run_id, std::int64_t key) const {
    const auto index = static_cast<std::size_t>(key);
    return seen_run_ == full_pass_run_id && index < seen_.size() && seen_[index];
}

ApplyResult Mirror::apply_page(const std::vector<Batch>& page, const ApplyOptions& options) {
    if (page.empty()) return ApplyResult{};
    PageGroup group(*this);
    ApplyResult result = group.apply(page, options);
    group.commit();
    return result;
}

bool Mirror::record_set_aside(const Batch& batch, const std::string& reason, const ApplyOptions& options,
                              const Moment& at) {
    const std::string key = set_aside_key(batch.id);
    auto& find = find_set_aside_;
    const StatementUse find_use(find);
    find.bind(1, key);
    const bool known_with_reason = find.executeStep() && find.getColumn(0).getString() == reason;
    find.tryReset();

    auto& upsert = upsert_set_aside_;
    const StatementUse upsert_use(upsert);
    upsert.bind(1, key);
    upsert.bind(2, reason);
    upsert.bind(3, at.text);
    bind_optional(upsert, 4, options.full_pass_run_id);
    upsert.exec();
    may_have_set_aside_ = true;

    // A mirrored batch that upstream still lists, only no longer storable, is not removed by this pass.
    if (options.full_pass_run_id && !batch_id_problem(batch.id) && (!bulk_ids_ || bulk_ids_->may_contain(batch.id))) {
        restore_id_index();
        auto& find_id = find_key_;
        const StatementUse find_id_use(find_id);
        find_id.bind(1, batch.id);
        if (find_id.executeStep()) mark_seen(find_id.getColumn(0).getInt64(), options);
    }
    return !known_with_reason;
}

int Mirror::clear_set_aside(std::span<const Batch> page, const SetAsideList& set_aside) {
    if (!may_have_set_aside_) return 0;
    std::vector<std::string> stored;
    for (const Batch& batch : page) {
        const bool aside =
            std::any_of(set_aside.begin(), set_aside.end(), [&](const auto& b) { return b.first == &batch; });
        if (!aside) stored.push_back(set_aside_key(batch.id));
    }
    int cleared = 0;
    if (!stored.empty()) {
        auto& clear = clear_set_aside_;
        const StatementUse clear_use(clear);
        clear.bind(1, json_array(stored));
        cleared = clear.exec();
    }
    may_have_set_aside_ = db_.execAndGet("SELECT EXISTS (SELECT 1 FROM set_aside_batches)").getInt() != 0;
    return cleared;
}

void Mirror::record_transition(std::int64_t batch_key, const std::string* from_status, const std::string& to_status,
                               const Moment& at) {
    auto& insert = insert_transition_;
    const StatementUse insert_use(insert);
    insert.bind(1, batch_key);
    if (from_status) insert.bind(2, *from_status);  // NULL at first sighting
    insert.bind(3, to_status);
    insert.bind(4, at.text);
    insert.exec();
}

std::int64_t Mirror::record_event(EventType type, std::int64_t batch_key, std::string_view status, std::string_view raw,
                                  std::optional<std::string_view> previous_status, const Moment& at,
                                  const std::vector<DeliveryRoute>* routes) {
    const std::string_view type_name = event_type_name(type);
    auto& insert = insert_event_;
    const StatementUse insert_use(insert);
    insert.bind(1, event_ids_.next(at.time));
    insert.bind(2, std::string(type_name));
    insert.bind(3, batch_key);
    insert.bind(4, at.text);
    insert.bind(5, event_payload(type, at.text, raw, previous_status));
    insert.exec();
    const std::int64_t seq = db_.getLastInsertRowid();

    if (routes) {
        for (const DeliveryRoute& route : *routes) {
            if (!route_takes(route, type_name, status)) continue;
            auto& delivery = insert_delivery_;
            const StatementUse delivery_use(delivery);
            delivery.bind(1, seq);
            delivery.bind(2, route.target);
            delivery.bind(3, at.text);
            delivery.exec();
        }
    }
    return seq;
}

std::optional<std::int64_t> Mirror::remove_batch(std::int64_t batch_key, const std::vector<DeliveryRoute>* routes,
                                                 const Moment& at) {
    auto& query = find_live_batch_;
    const StatementUse query_use(query);
    query.bind(1, batch_key);
    if (!query.executeStep()) return std::nullopt;
    const std::string status = query.getColumn(0).getString();
    const std::string raw = query.getColumn(1).getString();
    query.tryReset();

    auto& update = set_removed_;
    const StatementUse update_use(update);
    update.bind(1, batch_key);
    update.bind(2, at.text);
    update.exec();
    return record_event(EventType::removed, batch_key, status, raw, std::nullopt, at, routes);
}

std::vector<std::int64_t> Mirror::unseen_keys(std::int64_t full_pass_run_id) {
    // Keys only (through the removed_at index): a pass that saw nothing does not hold every raw
    // object in memory at once, and the table is not written while this query reads it.
    std::vector<std::int64_t> unseen;
    auto& query = find_live_keys_;
    const StatementUse query_use(query);
    while (query.executeStep()) {
        const std::int64_t key = query.getColumn(0).getInt64();
        if (!seen_in(full_pass_run_id, key)) unseen.push_back(key);
    }
    return unseen;
}

std::int64_t Mirror::count_unseen(std::int64_t full_pass_run_id) {
    return static_cast<std::int64_t>(unseen_keys(full_pass_run_id).size());
}

int Mirror::remove_unseen(std::int64_t full_pass_run_id, const std::vector<DeliveryRoute>* routes) {
    const Moment at = moment();
    SQLite::Transaction transaction(db_, SQLite::TransactionBehavior::IMMEDIATE);
    const std::vector<std::int64_t> unseen = unseen_keys(full_pass_run_id);
    std::int64_t last_seq = 0;
    for (const std::int64_t key : unseen) last_seq = remove_batch(key, routes, at).value_or(last_seq);
    // Upstream no longer lists them: nothing is left to try again.
    SQLite::Statement forget(db_, "DELETE FROM set_aside_batches WHERE seen_in_run IS NOT ?1");
    forget.bind(1, full_pass_run_id);
    forget.exec();
    // Every live batch was listed by this pass: the `batches` view derives last_seen_at from it.
    SQLite::Statement pass_time(db_, "INSERT OR REPLACE INTO meta (key, value) SELECT " +
                                         meta_key::sql_literal(meta_key::kLastFullPassAt) +
                                         ", started_at FROM sync_runs WHERE id = ?1");
    pass_time.bind(1, full_pass_run_id);
    pass_time.exec();
    transaction.commit();
    if (seen_run_ == full_pass_run_id) {  // the pass is over: its memory goes
        seen_.clear();
        seen_.shrink_to_fit();
        seen_run_ = 0;
    }

    if (!unseen.empty()) {
        spdlog::info("{} batches no longer listed upstream were marked removed", unseen.size());
        notify(last_seq);
    }
    return static_cast<int>(unseen.size());
}

int Mirror::mark_removed(const std::string& batch_id, const std::vector<DeliveryRoute>* routes) {
    restore_id_index();
    const Moment at = moment();
    SQLite::Transaction transaction(db_, SQLite::TransactionBehavior::IMMEDIATE);
    auto& find = find_key_;
    const StatementUse find_use(find);
    find.bind(1, batch_id);
    if (!find.executeStep()) return 0;  // unknown
    const std::int64_t key = find.getColumn(0).getInt64();
    find.tryReset();
    const std::optional<std::int64_t> seq = remove_batch(key, routes, at);
    if (!seq) return 0;  // unknown or already removed
    transaction.commit();
    notify(*seq);
    return 1;
}

std::int64_t Mirror::begin_sync_run(std::string_view kind) {
    SQLite::Statement insert(db_, "INSERT INTO sync_runs (kind, started_at) VALUES (?1, ?2)");
    insert.bind(1, std::string(kind));
    insert.bind(2, moment().text);
    insert.exec();
    return db_.getLastInsertRowid();
}

void Mirror::finish_sync_run(std::int64_t run_id, const SyncRunCounts& counts,
                             const std::optional<std::string>& error) {
    restore_id_index();
    SQLite::Statement update(db_,
                             "UPDATE sync_runs SET finished_at = ?2, requests = ?3, pages = ?4, upserted = ?5, "
                             "changed = ?6, removed = ?7, error = ?8 WHERE id = ?1");
    update.bind(1, run_id);
    update.bind(2, moment().text);
    update.bind(3, counts.requests);
    update.bind(4, counts.pages);
    update.bind(5, counts.upserted);
    update.bind(6, counts.changed);
    update.bind(7, counts.removed);
    bind_optional(update, 8, error);
    if (update.exec() == 0) throw std::invalid_argument("finish_sync_run: no sync run " + std::to_string(run_id));
}

int Mirror::close_interrupted_runs() {
    SQLite::Statement update(db_,
                             "UPDATE sync_runs SET finished_at = ?1, error = 'interrupted' WHERE finished_at IS NULL");
    update.bind(1, moment().text);
    return update.exec();
}

std::optional<std::int64_t> Mirror::last_full_pass_pages() {
    SQLite::Statement query(db_,
                            "SELECT pages FROM sync_runs WHERE kind = 'full' AND finished_at IS NOT NULL "
                            "AND error IS NULL ORDER BY id DESC LIMIT 1");
    if (!query.executeStep()) return std::nullopt;
    return query.getColumn(0).getInt64();
}

bool Mirror::bootstrap_pending() {
    SQLite::Transaction transaction(db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement query(db_, "SELECT value FROM meta WHERE key = ?1");
    query.bind(1, std::string(meta_key::kBootstrap));
    if (query.executeStep()) return query.getColumn(0).getString() == "pending";

    // First call on this file: decide once. A crash during the bootstrap sync leaves rows
    // behind, but the persisted decision keeps the bootstrap pending until it completes.
    const bool pending = db_.execAndGet("SELECT NOT EXISTS (SELECT 1 FROM batch_rows)").getInt() != 0;
    SQLite::Statement insert(db_, "INSERT INTO meta (key, value) VALUES (?1, ?2)");
    insert.bind(1, std::string(meta_key::kBootstrap));
    insert.bind(2, pending ? "pending" : "done");
    insert.exec();
    transaction.commit();
    return pending;
}

void Mirror::finish_bootstrap() {
    SQLite::Statement upsert(db_,
                             "INSERT INTO meta (key, value) VALUES (?1, 'done') "
                             "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    upsert.bind(1, std::string(meta_key::kBootstrap));
    upsert.exec();
}

std::int64_t Mirror::batch_count() {
    return db_.execAndGet("SELECT count(*) FROM batch_rows WHERE removed_at IS NULL").getInt64();
}

bool Mirror::contains(const std::string& batch_id) {
    restore_id_index();
    SQLite::Statement query(db_, "SELECT EXISTS (SELECT 1 FROM batch_rows WHERE id = ?1)");
    query.bind(1, batch_id);
    return query.executeStep() && query.getColumn(0).getInt() != 0;
}

namespace {

// The live batches whose status is not one of ?1 (a JSON array): the distinct statuses by
// skipping through the status index (a handful of seeks), then the rows of each non-terminal
// one, so no scan of the terminal history. Used as "SELECT ... FROM" + this.
constexpr std::string_view kNonterminalRows = R"sql(
statuses s JOIN batch_rows b ON b.status = s.status
WHERE s.status IS NOT NULL
  AND s.status NOT IN (SELECT value FROM json_each(?1))
  AND b.removed_at IS NULL)sql";
constexpr std::string_view kDistinctStatuses = R"sql(
WITH RECURSIVE statuses (status) AS (
    SELECT min(status) FROM batch_rows
    UNION ALL
    SELECT (SELECT min(status) FROM batch_rows WHERE status > statuses.status) FROM statuses
    WHERE statuses.status IS NOT NULL
)
)sql";

}  // namespace

std::map<std::string, std::int64_t, std::less<>> Mirror::nonterminal_counts(
    const std::vector<std::string>& terminal_statuses) {
    SQLite::Statement query(db_, std::string(kDistinctStatuses) + "SELECT b.status, count(*) FROM " +
                                     std::string(kNonterminalRows) + "\nGROUP BY b.status");
    query.bind(1, json_array(terminal_statuses));
    std::map<std::string, std::int64_t, std::less<>> out;
    while (query.executeStep()) out.emplace(query.getColumn(0).getString(), query.getColumn(1).getInt64());
    return out;
}

std::vector<MirroredStatus> Mirror::nonterminal_batches(const std::vector<std::string>& terminal_statuses) {
    SQLite::Statement query(db_, std::string(kDistinctStatuses) + "SELECT b.id, b.status FROM " +
                                     std::string(kNonterminalRows) + "\nORDER BY b.status, b.id");
    query.bind(1, json_array(terminal_statuses));
    std::vector<MirroredStatus> out;
    while (query.executeStep()) out.push_back({query.getColumn(0).getString(), query.getColumn(1).getString()});
    return out;
}

int Mirror::prune_events(WallTime older_than) {
    const std::string cutoff = format_timestamp(older_than);
    SQLite::Transaction transaction(db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement settled_deliveries(db_, R"sql(
DELETE FROM deliveries WHERE event_seq IN (
    SELECT e.seq FROM event_rows e
    WHERE e.created_at < ?1
      AND NOT EXISTS (SELECT 1 FROM deliveries d
                      WHERE d.event_seq = e.seq AND d.state NOT IN ('delivered', 'failed', 'disabled')))
)sql");
    settled_deliveries.bind(1, cutoff);
    settled_deliveries.exec();
    db_.exec("DELETE FROM delivery_attempts WHERE delivery_id NOT IN (SELECT id FROM deliveries)");
    // What is left of an old event's deliveries is still owed: the event stays with them.
    const std::string prunable =
        "FROM event_rows WHERE created_at < ?1 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = "
        "event_rows.seq)";
    // The API answers `truncated` to a client whose `after` is below this mark: it may have
    // missed events that are gone now.
    SQLite::Statement mark(db_, "INSERT INTO meta (key, value) SELECT " +
                                    meta_key::sql_literal(meta_key::kPrunedThroughSeq) + ", max(seq) " + prunable +
                                    " HAVING max(seq) IS NOT NULL ON CONFLICT (key) DO UPDATE SET "
                                    "value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))");
    mark.bind(1, cutoff);
    mark.exec();
    SQLite::Statement old_events(db_, "DELETE " + prunable);
    old_events.bind(1, cutoff);
    const int removed = old_events.exec();
    // sync_runs too (8,640 rows a day at a 10 s poll), oldest first by id, which follows
    // started_at: everything before the first run inside the retention, but never the latest
    // complete full pass (the planner prices the next one by it) nor the latest run.
    SQLite::Statement old_runs(db_, R"sql(
DELETE FROM sync_runs
WHERE id < coalesce((SELECT id FROM sync_runs WHERE started_at >= ?1 ORDER BY id LIMIT 1), (SELECT max(id) FROM sync_runs))
  AND id IS NOT (SELECT id FROM sync_runs WHERE kind = 'full' AND finished_at IS NOT NULL AND error IS NULL
                 ORDER BY id DESC LIMIT 1)
)sql");
    old_runs.bind(1, cutoff);
    old_runs.exec();
    transaction.commit();
    return removed;
}

void Mirror::checkpoint() {
    // PASSIVE: never waits for a reader (sqlite3, the API); what a reader still needs stays in the WAL.
    db_.exec("PRAGMA wal_checkpoint(PASSIVE)");
}

void Mirror::set_commit_listener(std::function<void(std::int64_t last_event_seq)> listener) {
    commit_listener_ = std::move(listener);
}

std::int64_t Mirror::last_event_seq() {
    return db_.execAndGet("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'event_rows'), 0)").getInt64();
}

void Mirror::notify(std::int64_t last_seq) {
    if (!commit_listener_) return;
    try {
        commit_listener_(last_seq);
    } catch (const std::exception& e) {
        // The commit stands; the listener's failure must not make the caller think otherwise.
        spdlog::error("the mirror's commit listener failed: {}", e.what());
    }
}

std::string Mirror::cursor_key() {
    // A value too short to be one we wrote (edited by hand) is replaced: cursors signed with it
    // are then refused, which is what an edited key should cost.
    const std::string key = meta_key::sql_literal(meta_key::kCursorKey);
    db_.exec("INSERT INTO meta (key, value) VALUES (" + key +
             ", lower(hex(randomblob(32)))) "
             "ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE length(meta.value) < 64");
    return db_.execAndGet("SELECT value FROM meta WHERE key = " + key).getString();
}

Mirror::PageGroup::PageGroup(Mirror& mirror)
    : mirror_(mirror), transaction_(mirror.db_, SQLite::TransactionBehavior::IMMEDIATE) {}

Mirror::PageGroup::~PageGroup() {
    // The transaction's destructor rolls back; a clear_set_aside that the rollback undid may have
    // found the table empty, so the next page looks again.
    if (!committed_) {
        mirror_.may_have_set_aside_ = true;
        mirror_.forget_bulk_load();
    }
}

ApplyResult Mirror::PageGroup::apply(const std::vector<Batch>& page, const ApplyOptions& options) {
    if (page.empty()) return ApplyResult{};
    pages_.push_back({&page, &options, false});
    try {
        return store(pages_.back());
    } catch (const SQLite::Exception& e) {
        if (!is_constraint_failure(e)) throw;
    }
    // A value of one batch broke a constraint half-way through this page, and what the page wrote
    // before it cannot be undone alone: a savepoint around every page would copy each database
    // page it touches (a third more work for SQLite, for what only hostile data causes). So the
    // group rolls back and is applied again, the earlier pages as before, this one batch by batch
    // under a savepoint each: the ones refused are set aside, the others stored.
    pages_.back().batch_by_batch = true;
    mirror_.db_.exec("ROLLBACK");
    mirror_.db_.exec("BEGIN IMMEDIATE");  // transaction_ commits or rolls back this one
    mirror_.may_have_set_aside_ = true;
    mirror_.forget_bulk_load();
    newly_set_aside_.clear();
    cleared_set_aside_ = 0;
    last_event_seq_ = 0;
    applied_.clear();
    ApplyResult result;
    for (const Page& again : pages_) result = store(again);
    return result;
}

ApplyResult Mirror::PageGroup::store(const Page& page) {
    const std::vector<Batch>& batches = *page.batches;
    const ApplyOptions& options = *page.options;
    Mirror& mirror = mirror_;
    ApplyResult result;
    result.received = static_cast<int>(batches.size());
    const Moment at = mirror.moment();

    // Why each batch not stored was set aside, in page order; logged once the commit stands.
    SetAsideList set_aside;
    for (const Batch& batch : batches) {
        if (batch.set_aside) set_aside.emplace_back(&batch, *batch.set_aside);
    }
    if (!page.batch_by_batch) {
        mirror.store_batches(batches, options, at, result);
    } else {
        for (const Batch& batch : batches) {
            if (batch.set_aside) continue;
            // By hand: SQLiteCpp's Savepoint differs between versions in what rollback() leaves open.
            // Any other error leaves the savepoint to the group's rollback.
            mirror.db_.exec("SAVEPOINT batch");
            ApplyResult one;
            try {
                mirror.store_batches(std::span<const Batch>(&batch, 1), options, at, one);
                mirror.db_.exec("RELEASE batch");
                add_result(result, one);
            } catch (const SQLite::Exception& refused) {
                if (!is_constraint_failure(refused)) throw;
                mirror.db_.exec("ROLLBACK TO batch");
                mirror.db_.exec("RELEASE batch");
                set_aside.emplace_back(&batch, "the mirror refused a value: " + escape_untrusted(refused.what()));
            }
        }
    }
    for (const auto& [batch, reason] : set_aside) {
        if (mirror.record_set_aside(*batch, reason, options, at)) {
            newly_set_aside_.emplace_back(set_aside_key(batch->id), reason);
        }
    }
    cleared_set_aside_ += mirror.clear_set_aside(batches, set_aside);
    result.set_aside = static_cast<int>(set_aside.size());
    if (result.events > 0) last_event_seq_ = std::max(last_event_seq_, result.last_event_seq);
    if (spdlog::should_log(spdlog::level::debug)) applied_.push_back(result);
    return result;
}

void Mirror::PageGroup::commit() {
    transaction_.commit();
    committed_ = true;
    for (const auto& [id, reason] : newly_set_aside_) {
        spdlog::warn(
            "batch {} set aside: {}; the other batches are synced, and this one is tried again on every "
            "pass (see set_aside in GET /v1/health, docs/reliability.md)",
            id, reason);
    }
    if (cleared_set_aside_ > 0) {
        spdlog::info("{} batch{} set aside before stored now", cleared_set_aside_, cleared_set_aside_ == 1 ? "" : "es");
    }
    for (const ApplyResult& page : applied_) {
        spdlog::debug("applied a page of {}: {} new, {} changed, {} unchanged, {} set aside, {} events", page.received,
                      page.inserted, page.updated, page.unchanged, page.set_aside, page.events);
    }
    if (last_event_seq_ > 0) mirror_.notify(last_event_seq_);
}

std::optional<std::string> Mirror::meta_value(std::string_view key) {
    SQLite::Statement query(db_, "SELECT value FROM meta WHERE key = ?1");
    query.bind(1, std::string(key));
    if (!query.executeStep()) return std::nullopt;
    return query.getColumn(0).getString();
}

void Mirror::set_meta_value(std::string_view key, std::string_view value) {
    SQLite::Statement upsert(db_,
                             "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                             "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    upsert.bind(1, std::string(key));
    upsert.bind(2, std::string(value));
    upsert.exec();
}

void Mirror::erase_meta_value(std::string_view key) {
    SQLite::Statement erase(db_, "DELETE FROM meta WHERE key = ?1");
    erase.bind(1, std::string(key));
    erase.exec();
}

}  // namespace extract::cache
