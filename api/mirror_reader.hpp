#pragma once
// The API's read-only view of the mirror: one connection per worker thread (never shared),
// each request's queries in one read snapshot. In WAL mode a running sync never blocks these
// reads, and these reads never block the sync.

#include <SQLiteCpp/Database.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/batch_cursor.hpp"
#include "api/mirror_rows.hpp"
#include "api/statement_cache.hpp"
#include "core/clock.hpp"

namespace extract::api {

struct BatchListQuery {
    std::optional<std::string> status;
    std::optional<std::string> engine;
    // Compared with created_at parsed as a time (see docs/api.md), both bounds exclusive.
    std::optional<WallTime> created_after;
    std::optional<WallTime> created_before;
    bool include_removed = false;
    std::optional<BatchListPosition> after;  // from the cursor
    int limit = 50;
};

struct BatchListPage {
    std::vector<std::string> raw_items;  // the upstream objects as stored (JSON text)
    std::optional<BatchListPosition> next;  // where the next page starts; none on the last
};

struct BatchMirrorFields {
    std::string first_seen_at;
    std::string last_seen_at;
    std::string last_changed_at;
    std::optional<std::string> removed_at;
};

struct BatchDetail {
    std::string raw;
    BatchMirrorFields mirror;
    std::vector<TransitionRow> transitions;
};

struct EventQuery {
    std::int64_t after = 0;
    std::optional<std::string> type;
    std::optional<std::string> batch_id;
    int limit = 100;
};

struct EventPage {
    std::vector<EventRow> events;
    // What to pass as `after` next time: the last event returned when the page is full, else
    // the newest seq this snapshot had (events the filters skipped need not be read again).
    std::int64_t last_seq = 0;
    bool truncated = false;  // events after `after` were pruned (meta 'pruned_through_seq')
};

struct MirrorStats {
    std::int64_t batches_total = 0;  // every mirrored batch, removed ones too
    std::map<std::string, std::int64_t> live_by_status;  // batches not removed, by status
    std::int64_t batches_removed = 0;
    std::int64_t events = 0;
    std::map<std::string, std::int64_t> deliveries_by_state;
    std::int64_t set_aside = 0;  // rows of set_aside_batches
};

// The batches the mirror set aside (issue 15, table set_aside_batches), oldest first.
struct SetAsideBatch {
    std::string batch_id;  // escaped as stored: control bytes as \xNN
    std::string reason;
    std::string first_seen_at;
    std::string last_seen_at;
};
struct SetAsideSummary {
    std::int64_t count = 0;
    std::vector<SetAsideBatch> batches;  // at most the limit asked for
};

struct DeliveryQuery {
    std::optional<std::string> state;
    std::optional<std::string> target;
    int limit = 100;
};

class MirrorReader {
public:
    // Opens `db_path` read-only. Throws SQLite::Exception when it cannot.
    explicit MirrorReader(const std::string& db_path);
    MirrorReader(const MirrorReader&) = delete;
    MirrorReader& operator=(const MirrorReader&) = delete;

    BatchListPage list_batches(const BatchListQuery& query);
    std::optional<BatchDetail> batch(const std::string& id);
    // nullopt when the batch is unknown.
    std::optional<std::vector<TransitionRow>> transitions(const std::string& batch_id);
    EventPage events(const EventQuery& query);
    MirrorStats stats();
    SetAsideSummary set_aside(int limit);
    std::vector<DeliveryRow> deliveries(const DeliveryQuery& query);
    std::optional<SyncRunRow> sync_run(std::int64_t id);

private:
    struct ListedBatch {
        std::string raw;
        BatchListPosition position;
    };
    struct TextRange {  // of created_at as text: from <= created_at < below
        std::optional<std::string> from;
        std::optional<std::string> below;
    };
    // Appends the listing's rows within `range`, in order, until `rows` holds `wanted`.
    void list_range(const BatchListQuery& query, const TextRange& range, int wanted, std::vector<ListedBatch>& rows);
    std::vector<TransitionRow> transitions_of(const std::string& batch_id);
    bool batch_exists(const std::string& id);
    std::int64_t single_integer(const std::string& sql);

    SQLite::Database db_;
    StatementCache statements_;
};

}  // namespace extract::api
