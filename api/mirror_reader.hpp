#pragma once
// The API's read-only view of the mirror: one connection per worker thread (never shared),
// each request's queries in one read snapshot. In WAL mode a running sync never blocks these
// reads, and these reads never block the sync.

#include <SQLiteCpp/Database.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/batch_cursor.hpp"
#include "api/mirror_rows.hpp"
#include "cache/statement_cache.hpp"
#include "core/clock.hpp"

namespace extract::api {

struct BatchListQuery {
    std::optional<std::string> status;
    std::optional<std::string> engine;
    // Compared with created_at parsed as a time (see docs/api.md), both bounds exclusive.
    std::optional<WallTime> created_after;
    std::optional<WallTime> created_before;
    bool include_removed = false;
    // metadata.KEY=VALUE filters, all of which must hold: the top-level KEY of the batch's
    // metadata is a JSON string equal to VALUE. Keys hold no '"' (the route checks).
    std::vector<std::pair<std::string, std::string>> metadata;
    std::optional<BatchListPosition> after;  // from the cursor
    int limit = 50;
};

struct BatchListPage {
    std::vector<std::string> raw_items;     // the upstream objects as stored (JSON text)
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
    std::int64_t batches_total = 0;                      // every mirrored batch, removed ones too
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
    std::optional<std::int64_t> before_id;  // from the cursor: the last id of the previous page
    int limit = 100;
};

struct DeliveryPage {
    std::vector<DeliveryRow> rows;               // newest (highest id) first
    std::optional<std::int64_t> next_before_id;  // none on the last page
};

struct TransitionPage {
    std::vector<TransitionRow> rows;  // oldest first
    // What to pass as `after` next time: the last seq returned on a full page, else the
    // newest seq the mirror had (or `after`, when it asked from beyond that).
    std::int64_t last_seq = 0;
};

// GET /v1/report: how batches are grouped.
struct ReportGrouping {
    enum class Kind { day, engine, status, metadata };
    Kind kind = Kind::day;
    std::string metadata_key;  // for Kind::metadata; holds no '"'
};

struct ReportGroup {
    std::optional<std::string> key;  // none: no engine, or no such metadata string
    std::int64_t batches = 0;
    std::map<std::string, std::int64_t, std::less<>> by_status;
    std::int64_t items = 0;
    std::int64_t failed_items = 0;
    // created_at -> completed_at, in seconds, of the batches that have both (nearest rank).
    std::optional<double> duration_p50;
    std::optional<double> duration_p95;
};

// The SQLite JSON path into `metadata` of a top-level metadata key, quoted so that dots and brackets in it are
// part of the key. SQLite's path syntax has no escape for '"': such keys are refused earlier.
std::string metadata_path(std::string_view key);

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
    DeliveryPage deliveries(const DeliveryQuery& query);
    std::optional<SyncRunRow> sync_run(std::int64_t id);

    // History (issue 17; mirror_history.cpp).
    TransitionPage transition_feed(std::int64_t after, int limit);
    // Every batch created after `since` (removed ones too), grouped: days in order, other
    // groupings by batch count, most first.
    std::vector<ReportGroup> report(WallTime since, const ReportGrouping& by);

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
    static TransitionRow read_transition(const SQLite::Statement& row);
    bool batch_exists(const std::string& id);
    std::int64_t single_integer(const std::string& sql);

    SQLite::Database db_;
    cache::StatementCache statements_;
};

}  // namespace extract::api
