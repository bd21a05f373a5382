#include "api/mirror_reader.hpp"

#include <SQLiteCpp/Transaction.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string_view>

#include "cache/connection.hpp"
#include "cache/meta_keys.hpp"
#include "core/timefmt.hpp"

namespace extract::api {
namespace {

std::int64_t epoch_micros(WallTime t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

// The instant of `text` when it has the upstream's own shape, `YYYY-MM-DDTHH:MM:SS[.f…]Z` in
// years 1970-2199; none otherwise (parse_timestamp() then decides). A created_at filter calls
// extract_time_us() on every row its index walk passes (thousands per page, issue 7), and the
// general parser was a third of such a request.
std::optional<std::int64_t> upstream_shape_micros(std::string_view text) {
    constexpr std::string_view kShape = "0000-00-00T00:00:00";
    if (text.size() < kShape.size() + 1 || text.back() != 'Z') return std::nullopt;
    const auto number = [&](std::size_t at, std::size_t width) {
        int value = 0;
        for (std::size_t i = at; i < at + width; ++i) value = value * 10 + (text[i] - '0');
        return value;
    };
    for (std::size_t i = 0; i < kShape.size(); ++i) {
        const bool digit = text[i] >= '0' && text[i] <= '9';
        if (kShape[i] == '0' ? !digit : text[i] != kShape[i]) return std::nullopt;
    }
    std::int64_t micros = 0;
    std::size_t at = kShape.size();
    if (text[at] == '.') {
        std::int64_t scale = 100000;
        for (++at; at + 1 < text.size(); ++at, scale /= 10) {
            if (text[at] < '0' || text[at] > '9') return std::nullopt;
            micros += (text[at] - '0') * scale;
        }
        if (at == kShape.size() + 1) return std::nullopt;  // "." and no digit
    }
    if (at + 1 != text.size()) return std::nullopt;
    const int year = number(0, 4), hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
    const std::chrono::year_month_day date{std::chrono::year(year),
                                           std::chrono::month(static_cast<unsigned>(number(5, 2))),
                                           std::chrono::day(static_cast<unsigned>(number(8, 2)))};
    if (year < 1970 || year > 2199 || !date.ok() || hour > 23 || minute > 59 || second > 60) return std::nullopt;
    const std::int64_t days = std::chrono::sys_days(date).time_since_epoch().count();
    return ((days * 86400 + hour * 3600 + minute * 60 + second) * 1'000'000) + micros;
}

// extract_time_us(text): the instant an ISO-8601 text names, in Unix microseconds (NULL when
// it is not one). Lets the created_at filters compare times, whatever offset or precision
// the upstream and the user wrote.
void sql_time_us(sqlite3_context* context, int, sqlite3_value** args) {
    const auto* text = sqlite3_value_text(args[0]);
    if (text == nullptr) {
        sqlite3_result_null(context);
        return;
    }
    const std::string_view view(reinterpret_cast<const char*>(text),
                                static_cast<std::size_t>(sqlite3_value_bytes(args[0])));
    if (const auto micros = upstream_shape_micros(view)) {
        sqlite3_result_int64(context, *micros);
        return;
    }
    const auto parsed = parse_timestamp(view);
    if (!parsed) {
        sqlite3_result_null(context);
        return;
    }
    sqlite3_result_int64(context, epoch_micros(*parsed));
}

// "YYYY-MM-DD", the UTC day of `t`, as a bound on created_at compared as text; none outside
// years 0000-9999. Every created_at that extract_time_us() can read starts with its local
// date D, and its instant lies within (D - 24 h, D + 48 h): the time of day adds less than a
// day, the offset (at most 23:59) moves it less than one either way. So an instant after A has
// D >= day_bound(A - 24 h) (an instant before B has a tighter bound: before_minute). Texts that
// are not such timestamps match neither filter anyway (extract_time_us() gives NULL).
std::optional<std::string> day_bound(WallTime t) {
    const auto days = std::chrono::floor<std::chrono::days>(t);
    const std::chrono::year_month_day date{days};
    if (date.year() < std::chrono::year(0) || date.year() > std::chrono::year(9999)) return std::nullopt;
    char text[16];
    std::snprintf(text, sizeof(text), "%04d-%02u-%02u", static_cast<int>(date.year()),
                  static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
    return std::string(text);
}

// The local time of a created_at before `before` (whatever its offset, at most 23:59) is
// before this minute, "YYYY-MM-DDTHH:MM" as text; none outside years 0000-9999. Compared as
// text it bounds every shape extract_time_us() reads (a date alone, or a date, 'T' or ' ',
// then the time) except the lowercase 't' separator: before_minute_lowercase() is the same
// bound for those. Exact to the minute, where a bound by day walked up to 24 h of rows more,
// each one parsed (issue 7: ?status=failed&created_before=… passed 8,400 rows for 50).
std::optional<std::string> before_minute(WallTime before, char separator) {
    const auto limit = before + std::chrono::hours(23) + std::chrono::minutes(59);
    const auto minute = std::chrono::ceil<std::chrono::minutes>(limit);
    const auto days = std::chrono::floor<std::chrono::days>(minute);
    const std::chrono::year_month_day date{days};
    if (date.year() < std::chrono::year(0) || date.year() > std::chrono::year(9999)) return std::nullopt;
    const std::chrono::hh_mm_ss time{minute - days};
    char text[32];
    std::snprintf(text, sizeof(text), "%04d-%02u-%02u%c%02d:%02d", static_cast<int>(date.year()),
                  static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()), separator,
                  static_cast<int>(time.hours().count()), static_cast<int>(time.minutes().count()));
    return std::string(text);
}

}  // namespace

std::string metadata_path(std::string_view key) { return "$.\"" + std::string(key) + "\""; }

MirrorReader::MirrorReader(const std::string& db_path)
    : db_(cache::open_connection(db_path, cache::ConnectionRole::reader)), statements_(db_) {
    db_.createFunction("extract_time_us", 1, true, nullptr, &sql_time_us);
}

BatchListPage MirrorReader::list_batches(const BatchListQuery& query) {
    const int wanted = query.limit + 1;  // one more tells whether a next page exists
    std::vector<ListedBatch> rows;
    const auto below = query.created_before ? before_minute(*query.created_before, 'T') : std::nullopt;
    if (!below) {
        list_range(query, {}, wanted, rows);
    } else {
        // Texts with a lowercase 't' sort above every 'T' one of their date, so they come
        // first: their own (nearly always empty) range, then the main one, in one snapshot.
        const auto below_lowercase = before_minute(*query.created_before, 't');
        SQLite::Transaction snapshot(db_);
        list_range(query, {below_lowercase->substr(0, 11), *below_lowercase}, wanted, rows);
        list_range(query, {std::nullopt, *below}, wanted, rows);
    }
    BatchListPage page;
    for (auto& row : rows) {
        if (static_cast<int>(page.raw_items.size()) == query.limit) {
            page.next = std::move(rows[page.raw_items.size() - 1].position);
            break;
        }
        page.raw_items.push_back(std::move(row.raw));
    }
    return page;
}

void MirrorReader::list_range(const BatchListQuery& query, const TextRange& range, int wanted,
                              std::vector<ListedBatch>& rows) {
    if (static_cast<int>(rows.size()) >= wanted) return;
    // Two things keep every list O(limit) on a large mirror, whatever the filters (issue 7):
    // - "+removed_at" stops SQLite from answering "removed_at IS NULL" with batches_removed,
    //   which holds nearly every row, and then sorting them all for the ORDER BY: the listing
    //   is walked in order (batches_created or batches_status) and removed rows skipped.
    // - extract_time_us() cannot use an index, so each created_at filter also gets a text
    //   bound that can (see day_bound, before_minute): the walk starts near the first match,
    //   not at the top.
    std::string sql = "SELECT raw, created_at, id FROM batches WHERE 1";
    if (!query.include_removed) sql += " AND +removed_at IS NULL";
    if (query.status) sql += " AND status = :status";
    if (query.engine) sql += " AND engine = :engine";
    const auto after_day =
        query.created_after ? day_bound(*query.created_after - std::chrono::hours(24)) : std::nullopt;
    if (query.created_after) sql += " AND extract_time_us(created_at) > :created_after";
    if (after_day) sql += " AND created_at >= :created_after_day";
    if (query.created_before) sql += " AND extract_time_us(created_at) < :created_before";
    if (range.from) sql += " AND created_at >= :text_from";
    if (range.below) sql += " AND created_at < :text_below";
    // No index can serve a key chosen at query time: each row the walk passes is tested, so a
    // key most batches match costs about a page, a rare one a walk of the listing (docs/api.md).
    // json_type() tells a string from an object or array with the same text.
    for (std::size_t i = 0; i < query.metadata.size(); ++i) {
        const auto n = std::to_string(i);
        sql += " AND json_extract(metadata, :meta_path" + n + ") = :meta_value" + n +
               " AND json_type(metadata, :meta_path" + n + ") = 'text'";
    }
    if (query.after) sql += " AND (created_at, id) < (:cursor_created_at, :cursor_id)";
    sql += " ORDER BY created_at DESC, id DESC LIMIT :limit";

    auto& statement = statements_.get(sql);
    cache::StatementUse done(statement);
    if (query.status) statement.bind(":status", *query.status);
    if (query.engine) statement.bind(":engine", *query.engine);
    if (query.created_after) statement.bind(":created_after", epoch_micros(*query.created_after));
    if (query.created_before) statement.bind(":created_before", epoch_micros(*query.created_before));
    if (after_day) statement.bind(":created_after_day", *after_day);
    if (range.from) statement.bind(":text_from", *range.from);
    if (range.below) statement.bind(":text_below", *range.below);
    for (std::size_t i = 0; i < query.metadata.size(); ++i) {
        const auto n = std::to_string(i);
        statement.bind(":meta_path" + n, metadata_path(query.metadata[i].first));
        statement.bind(":meta_value" + n, query.metadata[i].second);
    }
    if (query.after) {
        statement.bind(":cursor_created_at", query.after->created_at);
        statement.bind(":cursor_id", query.after->id);
    }
    statement.bind(":limit", wanted - static_cast<int>(rows.size()));
    while (statement.executeStep()) {
        rows.push_back({statement.getColumn(0).getString(),
                        {statement.getColumn(1).getString(), statement.getColumn(2).getString()}});
    }
}

std::optional<BatchDetail> MirrorReader::batch(const std::string& id) {
    SQLite::Transaction snapshot(db_);  // the row and its transitions as of one moment
    auto& statement = statements_.get(
        "SELECT raw, first_seen_at, last_seen_at, last_changed_at, removed_at FROM batches WHERE id = ?");
    BatchDetail detail;
    {
        cache::StatementUse done(statement);
        statement.bind(1, id);
        if (!statement.executeStep()) return std::nullopt;
        detail.raw = statement.getColumn(0).getString();
        detail.mirror = {statement.getColumn(1).getString(), statement.getColumn(2).getString(),
                         statement.getColumn(3).getString(), optional_text(statement.getColumn(4))};
    }
    detail.transitions = transitions_of(id);
    return detail;
}

std::optional<std::vector<TransitionRow>> MirrorReader::transitions(const std::string& batch_id) {
    SQLite::Transaction snapshot(db_);
    if (!batch_exists(batch_id)) return std::nullopt;
    return transitions_of(batch_id);
}

std::vector<TransitionRow> MirrorReader::transitions_of(const std::string& batch_id) {
    auto& statement = statements_.get(
        "SELECT seq, batch_id, from_status, to_status, observed_at FROM transitions WHERE batch_id = ? ORDER BY seq");
    cache::StatementUse done(statement);
    statement.bind(1, batch_id);
    std::vector<TransitionRow> rows;
    while (statement.executeStep()) rows.push_back(read_transition(statement));
    return rows;
}

TransitionRow MirrorReader::read_transition(const SQLite::Statement& row) {
    return {row.getColumn(0).getInt64(), row.getColumn(1).getString(), optional_text(row.getColumn(2)),
            row.getColumn(3).getString(), row.getColumn(4).getString()};
}

bool MirrorReader::batch_exists(const std::string& id) {
    auto& statement = statements_.get("SELECT 1 FROM batches WHERE id = ?");
    cache::StatementUse done(statement);
    statement.bind(1, id);
    return statement.executeStep();
}

std::int64_t MirrorReader::single_integer(const std::string& sql) {
    auto& statement = statements_.get(sql);
    cache::StatementUse done(statement);
    if (!statement.executeStep() || statement.getColumn(0).isNull()) return 0;
    return statement.getColumn(0).getInt64();
}

EventPage MirrorReader::events(const EventQuery& query) {
    SQLite::Transaction snapshot(db_);  // the page, the newest seq and the prune mark agree
    // The payload's `data` is cut out by SQLite as JSON text, to be spliced into the reply: a
    // long-poll client following a burst reads thousands of events, and parsing each payload
    // into a tree and printing it again was most of their cost (issue 7). A payload that is
    // not JSON (none of ours) gives null, as before.
    std::string sql =
        "SELECT seq, id, type, batch_id, created_at,"
        " CASE WHEN json_valid(payload) THEN json_extract(payload, '$.data') END"
        " FROM events WHERE seq > :after";
    if (query.type) sql += " AND type = :type";
    if (query.batch_id) sql += " AND batch_id = :batch_id";
    sql += " ORDER BY seq LIMIT :limit";

    EventPage page;
    {
        auto& statement = statements_.get(sql);
        cache::StatementUse done(statement);
        statement.bind(":after", query.after);
        if (query.type) statement.bind(":type", *query.type);
        if (query.batch_id) statement.bind(":batch_id", *query.batch_id);
        statement.bind(":limit", query.limit);
        while (statement.executeStep()) {
            page.events.push_back({statement.getColumn(0).getInt64(), statement.getColumn(1).getString(),
                                   statement.getColumn(2).getString(), statement.getColumn(3).getString(),
                                   statement.getColumn(4).getString(),
                                   optional_text(statement.getColumn(5)).value_or("null")});
        }
    }
    const std::int64_t pruned_through =
        single_integer("SELECT CAST(value AS INTEGER) FROM meta WHERE key = " +
                       cache::meta_key::sql_literal(cache::meta_key::kPrunedThroughSeq));
    // A seq at or below the prune mark may have existed and be gone: the client missed it.
    page.truncated = query.after < pruned_through;
    if (static_cast<int>(page.events.size()) == query.limit) {
        page.last_seq = page.events.back().seq;
    } else {
        const std::int64_t newest = single_integer("SELECT MAX(seq) FROM events");
        // Never past what exists: `after` beyond the end (a client asking where the feed ends,
        // as `extractctl wait` does) is answered with the end itself.
        page.last_seq = std::max(newest, pruned_through);
    }
    return page;
}

MirrorStats MirrorReader::stats() {
    SQLite::Transaction snapshot(db_);
    MirrorStats stats;
    {
        auto& statement = statements_.get(
            "SELECT status, removed_at IS NOT NULL, COUNT(*) FROM batches GROUP BY status, removed_at IS NOT NULL");
        cache::StatementUse done(statement);
        while (statement.executeStep()) {
            const std::int64_t n = statement.getColumn(2).getInt64();
            stats.batches_total += n;
            if (statement.getColumn(1).getInt() != 0) {
                stats.batches_removed += n;
            } else {
                stats.live_by_status[statement.getColumn(0).getString()] += n;
            }
        }
    }
    stats.events = single_integer("SELECT COUNT(*) FROM events");
    stats.set_aside = single_integer("SELECT COUNT(*) FROM set_aside_batches");
    {
        auto& statement = statements_.get("SELECT state, COUNT(*) FROM deliveries GROUP BY state");
        cache::StatementUse done(statement);
        while (statement.executeStep()) {
            stats.deliveries_by_state[statement.getColumn(0).getString()] = statement.getColumn(1).getInt64();
        }
    }
    return stats;
}

SetAsideSummary MirrorReader::set_aside(int limit) {
    SQLite::Transaction snapshot(db_);
    SetAsideSummary summary;
    summary.count = single_integer("SELECT COUNT(*) FROM set_aside_batches");
    auto& statement = statements_.get(
        "SELECT batch_id, reason, first_seen_at, last_seen_at FROM set_aside_batches "
        "ORDER BY first_seen_at, batch_id LIMIT ?");
    cache::StatementUse done(statement);
    statement.bind(1, limit);
    while (statement.executeStep()) {
        summary.batches.push_back({statement.getColumn(0).getString(), statement.getColumn(1).getString(),
                                   statement.getColumn(2).getString(), statement.getColumn(3).getString()});
    }
    return summary;
}

DeliveryPage MirrorReader::deliveries(const DeliveryQuery& query) {
    SQLite::Transaction snapshot(db_);  // the page and its attempt logs as of one moment
    // Keyset paging on the primary key: walked newest first, never an offset.
    std::string sql = std::string(kSelectDeliveries) + "WHERE 1";
    if (query.state) sql += " AND d.state = :state";
    if (query.target) sql += " AND d.target = :target";
    if (query.before_id) sql += " AND d.id < :before_id";
    sql += " ORDER BY d.id DESC LIMIT :limit";
    DeliveryPage page;
    auto& rows = page.rows;
    {
        auto& statement = statements_.get(sql);
        cache::StatementUse done(statement);
        if (query.state) statement.bind(":state", *query.state);
        if (query.target) statement.bind(":target", *query.target);
        if (query.before_id) statement.bind(":before_id", *query.before_id);
        statement.bind(":limit", query.limit + 1);  // one more tells whether a next page exists
        while (statement.executeStep()) rows.push_back(read_delivery(statement));
    }
    if (static_cast<int>(rows.size()) > query.limit) {
        rows.pop_back();
        page.next_before_id = rows.back().id;
    }
    read_attempt_logs(statements_, rows);
    return page;
}

std::optional<SyncRunRow> MirrorReader::sync_run(std::int64_t id) {
    auto& statement = statements_.get(
        "SELECT id, kind, started_at, finished_at, requests, pages, upserted, changed, removed, error "
        "FROM sync_runs WHERE id = ?");
    cache::StatementUse done(statement);
    statement.bind(1, id);
    if (!statement.executeStep()) return std::nullopt;
    SyncRunRow row;
    row.id = statement.getColumn(0).getInt64();
    row.kind = statement.getColumn(1).getString();
    row.started_at = statement.getColumn(2).getString();
    row.finished_at = optional_text(statement.getColumn(3));
    row.requests = statement.getColumn(4).getInt64();
    row.pages = statement.getColumn(5).getInt64();
    row.upserted = statement.getColumn(6).getInt64();
    row.changed = statement.getColumn(7).getInt64();
    row.removed = statement.getColumn(8).getInt64();
    row.error = optional_text(statement.getColumn(9));
    return row;
}

TransitionPage MirrorReader::transition_feed(std::int64_t after, int limit) {
    SQLite::Transaction snapshot(db_);  // the page and the newest seq agree
    TransitionPage page;
    {
        auto& statement = statements_.get(
            "SELECT seq, batch_id, from_status, to_status, observed_at FROM transitions WHERE seq > ? ORDER BY seq "
            "LIMIT ?");
        cache::StatementUse done(statement);
        statement.bind(1, after);
        statement.bind(2, limit);
        while (statement.executeStep()) page.rows.push_back(read_transition(statement));
    }
    page.last_seq = static_cast<int>(page.rows.size()) == limit
                        ? page.rows.back().seq
                        : std::max(after, single_integer("SELECT COALESCE(MAX(seq), 0) FROM transitions"));
    return page;
}

namespace {

// The nearest-rank percentile `p` (0..1] of `values`, which it reorders.
double nearest_rank(std::vector<float>& values, double p) {
    const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(values.size())));
    const auto at = values.begin() + static_cast<std::ptrdiff_t>(std::max<std::size_t>(rank, 1) - 1);
    std::nth_element(values.begin(), at, values.end());
    return *at;
}

std::string utc_day(std::int64_t micros) {
    const std::chrono::sys_days day{std::chrono::floor<std::chrono::days>(std::chrono::microseconds(micros))};
    return format_timestamp(day).substr(0, 10);
}

}  // namespace

std::vector<ReportGroup> MirrorReader::report(WallTime since, const ReportGrouping& by) {
    using Kind = ReportGrouping::Kind;
    // One pass over the batches created after `since` (the created_at index bounds the walk
    // by day, as for created_after), summed per group; durations are kept per group as
    // floats (4 bytes a batch in range) for exact percentiles.
    std::string key = "NULL";
    if (by.kind == Kind::engine) key = "engine";
    if (by.kind == Kind::status) key = "status";
    if (by.kind == Kind::metadata) {
        key = "CASE WHEN json_type(metadata, :path) = 'text' THEN json_extract(metadata, :path) END";
    }
    // created_at is compared with `since` here, not in SQL: extract_time_us() would run twice
    // a row (WHERE and SELECT are evaluated separately).
    const std::string sql = "SELECT " + key +
                            ", status, total_items, count_failed, extract_time_us(created_at),"
                            " extract_time_us(completed_at) FROM batches WHERE created_at >= :day";
    struct Accumulated {
        ReportGroup group;
        std::vector<float> durations;
    };
    // No allocation per row (a million rows pass): groups and statuses are found by the
    // column's own text, days by their number; keys become text once, at the end.
    std::map<std::string, Accumulated, std::less<>> by_text;
    std::map<std::int64_t, Accumulated> by_day;
    std::optional<Accumulated> no_key;
    // SQLite's own calls, not SQLiteCpp's: its Column copies a shared pointer per column read,
    // six million times over a million rows (and its Statement hides the sqlite3_stmt).
    const auto text_of = [](sqlite3_stmt* row, int column) {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(row, column));
        return std::string_view(text ? text : "", static_cast<std::size_t>(sqlite3_column_bytes(row, column)));
    };
    {
        sqlite3_stmt* prepared = nullptr;
        if (sqlite3_prepare_v2(db_.getHandle(), sql.c_str(), static_cast<int>(sql.size()), &prepared, nullptr) !=
            SQLITE_OK) {
            throw SQLite::Exception(db_.getHandle(), sqlite3_errcode(db_.getHandle()));
        }
        const std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> owned(prepared, &sqlite3_finalize);
        sqlite3_stmt* row = owned.get();
        const std::string path = by.kind == Kind::metadata ? metadata_path(by.metadata_key) : std::string();
        const std::string day = day_bound(since - std::chrono::hours(24)).value_or("");
        if (by.kind == Kind::metadata) {
            sqlite3_bind_text(row, sqlite3_bind_parameter_index(row, ":path"), path.data(),
                              static_cast<int>(path.size()), SQLITE_STATIC);
        }
        sqlite3_bind_text(row, sqlite3_bind_parameter_index(row, ":day"), day.data(), static_cast<int>(day.size()),
                          SQLITE_STATIC);
        const std::int64_t since_us = epoch_micros(since);
        while (true) {
            const int step = sqlite3_step(row);
            if (step == SQLITE_DONE) break;
            if (step != SQLITE_ROW) throw SQLite::Exception(db_.getHandle(), step);
            if (sqlite3_column_type(row, 4) == SQLITE_NULL) continue;  // not a time extract_time_us reads
            const std::int64_t created = sqlite3_column_int64(row, 4);
            if (created <= since_us) continue;
            Accumulated* accumulated = nullptr;
            if (by.kind == Kind::day) {
                accumulated = &by_day[created >= 0 ? created / 86'400'000'000 : (created + 1) / 86'400'000'000 - 1];
            } else if (sqlite3_column_type(row, 0) == SQLITE_NULL) {
                accumulated = &(no_key ? *no_key : no_key.emplace());
            } else {
                const auto group_text = text_of(row, 0);
                auto it = by_text.find(group_text);
                if (it == by_text.end()) it = by_text.emplace(std::string(group_text), Accumulated{}).first;
                accumulated = &it->second;
            }
            auto& group = accumulated->group;
            ++group.batches;
            const auto status = text_of(row, 1);
            auto counted = group.by_status.find(status);
            if (counted == group.by_status.end()) counted = group.by_status.emplace(std::string(status), 0).first;
            ++counted->second;
            group.items += sqlite3_column_int64(row, 2);
            group.failed_items += sqlite3_column_int64(row, 3);
            if (sqlite3_column_type(row, 5) != SQLITE_NULL) {
                const auto micros = sqlite3_column_int64(row, 5) - created;
                if (micros >= 0)
                    accumulated->durations.push_back(static_cast<float>(static_cast<double>(micros) / 1e6));
            }
        }
    }
    std::vector<std::pair<std::optional<std::string>, Accumulated*>> groups;
    for (auto& [day, accumulated] : by_day) groups.emplace_back(utc_day(day * 86'400'000'000), &accumulated);
    if (no_key) groups.emplace_back(std::nullopt, &*no_key);
    for (auto& [text, accumulated] : by_text) groups.emplace_back(text, &accumulated);
    std::vector<ReportGroup> out;
    out.reserve(groups.size());
    for (auto& [group_key, accumulated] : groups) {
        auto& group = accumulated->group;
        group.key = group_key;
        if (!accumulated->durations.empty()) {
            group.duration_p50 = nearest_rank(accumulated->durations, 0.50);
            group.duration_p95 = nearest_rank(accumulated->durations, 0.95);
        }
        out.push_back(std::move(group));
    }
    if (by.kind != Kind::day) {
        std::stable_sort(out.begin(), out.end(),
                         [](const ReportGroup& a, const ReportGroup& b) { return a.batches > b.batches; });
    }
    return out;
}

}  // namespace extract::api
