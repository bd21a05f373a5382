#pragma once
// Shared by the cache tests: batches as the upstream client would hand them over, and a Mirror
// on a temporary file whose committed state is read back through separate connections.

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cache/mirror.hpp"
#include "core/batch.hpp"
#include "core/timefmt.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/log_capture.hpp"
#include "tests/support/temp_dir.hpp"

namespace extract::cache::testing {

// A batch of 10 items with `succeeded` of them done; raw is the canonical object (keys sorted).
inline Batch make_batch(const std::string& id, const std::string& status, std::int64_t succeeded = 0,
                        const nlohmann::json& metadata = nullptr) {
    Batch batch;
    batch.id = id;
    batch.status = status;
    batch.total_items = 10;
    batch.counts.pending = 10 - succeeded;
    batch.counts.succeeded = succeeded;
    batch.created_at = "2026-11-01T00:00:00Z";
    batch.expires_at = "2026-11-04T00:00:00Z";
    if (!metadata.is_null()) batch.metadata = metadata.dump();
    const nlohmann::json raw{
        {"object", "batch"},
        {"id", id},
        {"status", status},
        {"counts",
         {{"pending", batch.counts.pending},
          {"running", 0},
          {"succeeded", succeeded},
          {"failed", 0},
          {"cancelled", 0}}},
        {"total_items", batch.total_items},
        {"engine", nullptr},
        {"options", nlohmann::json::object()},
        {"metadata", metadata},
        {"created_at", batch.created_at},
        {"started_at", nullptr},
        {"completed_at", nullptr},
        {"expires_at", batch.expires_at},
    };
    batch.raw = raw.dump();
    return batch;
}

// `n` batches batch_<first>.. in `status`: a page as the upstream client hands it over.
inline std::vector<Batch> page_of(int n, const std::string& status, int first = 0) {
    std::vector<Batch> page;
    for (int i = first; i < first + n; ++i) page.push_back(make_batch("batch_" + std::to_string(i), status));
    return page;
}

// What a full pass `run` applies its pages with: every listed batch counts as seen by it.
inline ApplyOptions full_pass(std::int64_t run) {
    ApplyOptions options;
    options.full_pass_run_id = run;
    return options;
}

// Runs `write` on a Mirror of `path` in a forked child whose file size limit sits just above the
// write-ahead log's size: the kernel kills it (SIGXFSZ) in the middle of writing the commit's
// frames. Returns the child's wait status. No Mirror connection may be open across the call.
inline int write_and_die_mid_commit(const std::string& path, const Clock& clock,
                                    const std::function<void(Mirror&)>& write) {
    const pid_t child = fork();
    if (child == 0) {
        const rlimit no_core{0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        Mirror dying(path, clock);
        std::error_code ignored;
        const auto wal_size = std::filesystem::file_size(path + "-wal", ignored);
        const rlimit limit{static_cast<rlim_t>(wal_size) + 8192, RLIM_INFINITY};
        setrlimit(RLIMIT_FSIZE, &limit);
        write(dying);
        _exit(0);  // the commit fitted: the caller's assertion on the signal fails
    }
    int status = 0;
    if (child == -1 || waitpid(child, &status, 0) != child) return -1;
    return status;
}

// Every row of a query, each column as text ("NULL" for SQL NULL).
using Rows = std::vector<std::vector<std::string>>;

// Every row of `sql` on the file at `path`, read through a connection of its own (only
// committed data is seen).
inline Rows read_rows(const std::string& path, const std::string& sql) {
    SQLite::Database reader(path, SQLite::OPEN_READONLY);
    SQLite::Statement query(reader, sql);
    Rows out;
    while (query.executeStep()) {
        std::vector<std::string> row;
        for (int i = 0; i < query.getColumnCount(); ++i) {
            const SQLite::Column column = query.getColumn(i);
            row.push_back(column.isNull() ? "NULL" : column.getString());
        }
        out.push_back(std::move(row));
    }
    return out;
}

class MirrorTest : public ::testing::Test {
protected:
    extract::testing::TempDir dir;
    extract::testing::FakeClock clock;
    std::string path = (dir / "mirror.db").string();
    std::unique_ptr<Mirror> mirror = std::make_unique<Mirror>(path, clock);

    void reopen() {
        mirror.reset();
        mirror = std::make_unique<Mirror>(path, clock);
    }
    std::string now() const { return format_timestamp(clock.now()); }

    // Reads through a connection of its own, so only committed data is seen.
    Rows rows(const std::string& sql) const { return read_rows(path, sql); }
    std::int64_t count(const std::string& table) const {
        return std::stoll(rows("SELECT count(*) FROM " + table).at(0).at(0));
    }
    std::string value(const std::string& sql) const { return rows(sql).at(0).at(0); }
};

// A MirrorTest whose pages queue deliveries to one webhook taking batch.created and
// batch.status_changed.
class RoutedMirrorTest : public MirrorTest {
protected:
    const std::vector<DeliveryRoute> routes{{"webhook.all", {"batch.created", "batch.status_changed"}, {}}};

    ApplyOptions routed() const {
        ApplyOptions options;
        options.routes = &routes;
        return options;
    }
};

using extract::testing::LogCapture;

}  // namespace extract::cache::testing
