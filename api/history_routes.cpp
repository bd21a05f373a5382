// The history routes of SPEC §6 (issue 17): the transition feed, the report and the backup. Kept apart
// from routes.cpp so that the list routes and these read as separate concerns.

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>

#include "api/query_params.hpp"
#include "api/routes.hpp"
#include "cache/connection.hpp"
#include "core/duration.hpp"
#include "core/timefmt.hpp"

namespace extract::api {

using http::detail_reply;
using http::FileBody;
using http::HttpReply;
using http::json_reply;

namespace {

constexpr std::int64_t kMaxTransitionsPerPage = 1000;
constexpr std::string_view kDefaultReportSince = "7d";

// `since` as an instant: an ISO-8601 time, or a duration back from `now` (7d, 12h).
std::optional<WallTime> report_since(QueryParams& query, WallTime now) {
    const std::string text = query.text("since").value_or(std::string(kDefaultReportSince));
    if (const auto back = parse_duration(text)) return now - *back;
    if (const auto at = parse_timestamp(text)) return at;
    query.reject("since", "expected an ISO-8601 time such as 2026-11-01T00:00:00Z or a duration such as 7d or 12h");
    return std::nullopt;
}

// `by`, a closed set with one open member (metadata.KEY).
std::optional<ReportGrouping> report_grouping(QueryParams& query) {
    const std::string by = query.text("by").value_or("day");
    if (!is_report_grouping(by)) {
        query.reject_literal("by", allowed_values(kReportGroupingSpellings, "'"));
        return std::nullopt;
    }
    using Kind = ReportGrouping::Kind;
    if (by == "day") return ReportGrouping{Kind::day, {}};
    if (by == "engine") return ReportGrouping{Kind::engine, {}};
    if (by == "status") return ReportGrouping{Kind::status, {}};
    ReportGrouping grouping{Kind::metadata, by.substr(kMetadataPrefix.size())};
    if (grouping.metadata_key.find('"') != std::string::npos) {
        query.reject("by", "a metadata key with '\"' cannot be matched");
        return std::nullopt;
    }
    return grouping;
}

nlohmann::json seconds(const std::optional<double>& value) {
    if (!value) return nullptr;
    return std::round(*value * 1000.0) / 1000.0;  // to the millisecond
}

// A consistent snapshot of the mirror at `db_path`, as a reply streamed from an unlinked file.
// VACUUM INTO writes it from one read transaction of a connection of its own: in WAL mode the
// writer goes on committing meanwhile (only checkpoints wait past that snapshot), and the copy
// is compact, in rollback-journal mode, ready to open. It is written beside the mirror (the
// state directory, the one place the daemon may write), opened, and unlinked before the first
// byte is sent, so nothing is left behind whatever the client does.
HttpReply snapshot_reply(const std::string& db_path) {
    namespace fs = std::filesystem;
    const fs::path mirror(db_path);
    const std::string prefix = mirror.filename().string() + ".backup-";
    std::error_code ignored;
    // One backup runs at a time: any file of ours already there is left from a crash.
    for (const auto& entry : fs::directory_iterator(mirror.parent_path(), ignored)) {
        if (entry.path().filename().string().starts_with(prefix)) fs::remove(entry.path(), ignored);
    }
    const fs::path file = mirror.parent_path() / (prefix + std::to_string(::getpid()) + ".db");
    const auto started = std::chrono::steady_clock::now();
    try {
        SQLite::Database source = cache::open_connection(db_path, cache::ConnectionRole::backup);
        SQLite::Statement vacuum(source, "VACUUM INTO ?");
        vacuum.bind(1, file.string());
        vacuum.exec();
    } catch (const SQLite::Exception& e) {
        fs::remove(file, ignored);
        spdlog::error("api: backup into {} failed: {}", file.string(), e.what());
        return detail_reply(503, "cannot take a backup: " + std::string(e.what()) +
                                     " (it needs as much free space in " + mirror.parent_path().string() +
                                     " as the mirror takes)");
    }
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    fs::remove(file, ignored);
    struct stat info {};
    if (fd < 0 || ::fstat(fd, &info) != 0) {
        const std::string why = std::strerror(errno);
        if (fd >= 0) ::close(fd);
        return detail_reply(503, "cannot read the backup just written: " + why);
    }
    spdlog::info(
        "api: backup of {} bytes taken in {} ms", info.st_size,
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
    HttpReply reply;
    reply.content_type = "application/vnd.sqlite3";
    reply.headers.emplace_back("Content-Disposition", "attachment; filename=\"mirror-backup.db\"");
    reply.file = std::make_shared<FileBody>(fd, static_cast<std::uint64_t>(info.st_size));
    return reply;
}

}  // namespace

RouteOutcome ApiRoutes::backup(const Call&) {
    const std::uint64_t ticket = ++backup_tickets_;
    std::uint64_t none = 0;
    if (!backup_owner_.compare_exchange_strong(none, ticket)) {
        return detail_reply(503, "a backup is being taken already: try again when it ends");
    }
    // Released when the snapshot is written (before its reply goes out, so a client may ask
    // for the next one at once), or when the call is dropped unrun (the server may refuse to
    // start it); only by this ticket, never a later backup's.
    const auto release = [this, ticket] {
        std::uint64_t mine = ticket;
        backup_owner_.compare_exchange_strong(mine, 0);
    };
    std::shared_ptr<void> unrun(nullptr, [release](void*) { release(); });
    // Minutes on a large mirror: on a thread of its own, never a worker.
    return RunBlocking{[this, release, unrun] {
        auto reply = snapshot_reply(options_.db_path);
        release();
        return reply;
    }};
}

RouteOutcome ApiRoutes::transition_feed(const Call& call) {
    QueryParams query(call.request.query);
    const auto after = query.integer("after", 0, 0, std::numeric_limits<std::int64_t>::max());
    const auto limit = static_cast<int>(query.integer("limit", 100, 1, kMaxTransitionsPerPage));
    if (!query.errors().empty()) return query.errors().reply();
    const auto page = call.mirror.reader().transition_feed(after, limit);
    nlohmann::json data = nlohmann::json::array();
    for (const auto& row : page.rows) data.push_back(to_json(row));
    return json_reply(200, {{"object", "list"}, {"data", std::move(data)}, {"last_seq", page.last_seq}});
}

RouteOutcome ApiRoutes::report(const Call& call) {
    QueryParams query(call.request.query);
    const auto since = report_since(query, clock_.now());
    const auto by = report_grouping(query);
    if (!query.errors().empty()) return query.errors().reply();

    nlohmann::json groups = nlohmann::json::array();
    for (const auto& group : call.mirror.reader().report(*since, *by)) {
        groups.push_back(
            {{"key", group.key ? nlohmann::json(*group.key) : nlohmann::json(nullptr)},
             {"batches", group.batches},
             {"by_status", group.by_status},
             {"items", group.items},
             {"failed_items", group.failed_items},
             {"duration_s", {{"p50", seconds(group.duration_p50)}, {"p95", seconds(group.duration_p95)}}}});
    }
    return json_reply(200, {{"object", "report"},
                            {"by", query.text("by").value_or("day")},
                            {"since", format_timestamp(*since)},
                            {"groups", std::move(groups)}});
}

}  // namespace extract::api
