#include "bench/generated_mirror.hpp"

#include <SQLiteCpp/Database.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "cache/mirror.hpp"
#include "core/clock.hpp"
#include "core/timefmt.hpp"

namespace extract::bench {
namespace {

constexpr int kPageSize = 200;
// 2026-11-01T00:00:00Z: batch n is created n seconds later.
constexpr std::int64_t kFirstCreatedEpoch = 1'793'491'200;

Batch generated_batch(std::int64_t n) {
    Batch b;
    b.id = generated_batch_id(n);
    b.status = generated_status(n);
    b.total_items = 20 + n % 480;
    const bool finished = b.status != "pending" && b.status != "running";
    if (b.status == "completed")
        b.counts.succeeded = b.total_items;
    else if (b.status == "failed")
        b.counts.failed = b.total_items;
    else if (b.status == "cancelled")
        b.counts.cancelled = b.total_items;
    else if (b.status == "partially_failed") {
        b.counts.failed = 1;
        b.counts.succeeded = b.total_items - 1;
    } else if (b.status == "running") {
        b.counts.running = 3;
        b.counts.pending = b.total_items - 3;
    } else {
        b.counts.pending = b.total_items;
    }
    b.engine = n % 3 == 0 ? "docling-v2" : "marker-v1";
    b.metadata = R"({"customer":"acme-corp","pipeline":"invoices-eu"})";
    b.created_at = generated_created_at(n);
    if (b.status != "pending") b.started_at = generated_created_at(n + 2);
    if (finished) b.completed_at = generated_created_at(n + 600);
    b.expires_at = generated_created_at(n + 30 * 86400);
    b.raw = upstream_json(b, R"({"formats":["markdown","json"],"ocr":true})");
    return b;
}

std::int64_t batch_count(const std::string& path) {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    return db.execAndGet("SELECT count(*) FROM batches").getInt64();
}

}  // namespace

std::string upstream_json(const Batch& b, std::string_view options) {
    const auto text_or_null = [](const std::optional<std::string>& v) {
        return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
    };
    const nlohmann::json raw{
        {"object", "batch"},
        {"id", b.id},
        {"status", b.status},
        {"counts",
         {{"pending", b.counts.pending},
          {"running", b.counts.running},
          {"succeeded", b.counts.succeeded},
          {"failed", b.counts.failed},
          {"cancelled", b.counts.cancelled}}},
        {"total_items", b.total_items},
        {"engine", text_or_null(b.engine)},
        {"options", nlohmann::json::parse(options)},
        {"metadata", b.metadata ? nlohmann::json::parse(*b.metadata) : nlohmann::json(nullptr)},
        {"created_at", b.created_at},
        {"started_at", text_or_null(b.started_at)},
        {"completed_at", text_or_null(b.completed_at)},
        {"expires_at", b.expires_at},
    };
    return raw.dump();
}

std::string generated_batch_id(std::int64_t n) {
    constexpr std::string_view alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    // splitmix64: a bijection of 64-bit values whose outputs look random.
    const auto mix = [](std::uint64_t x) {
        x += 0x9e3779b97f4a7c15ULL;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        return x ^ (x >> 31);
    };
    std::string id = "bat_";
    for (std::uint64_t half : {mix(static_cast<std::uint64_t>(n)), mix(~static_cast<std::uint64_t>(n))}) {
        for (int i = 0; i < 10; ++i, half /= alphabet.size()) id += alphabet[half % alphabet.size()];
    }
    return id;
}

std::string generated_created_at(std::int64_t n) {
    return format_timestamp(WallTime(std::chrono::seconds(kFirstCreatedEpoch + n)) + std::chrono::microseconds(123456));
}

std::string generated_status(std::int64_t n) {
    static const std::array<std::pair<int, const char*>, 6> mix{{
        {70, "completed"},
        {82, "partially_failed"},
        {90, "failed"},
        {95, "cancelled"},
        {98, "running"},
        {100, "pending"},
    }};
    const int bucket = static_cast<int>((n * 37) % 100);  // spreads statuses over time
    for (const auto& [limit, status] : mix) {
        if (bucket < limit) return status;
    }
    return "pending";
}

void ensure_generated_mirror(const std::string& path, std::int64_t rows) {
    if (std::filesystem::exists(path)) {
        const std::int64_t existing = batch_count(path);
        if (existing == rows) return;
        throw std::runtime_error(path + " holds " + std::to_string(existing) + " batches, not " + std::to_string(rows) +
                                 ": remove it or pick another path");
    }
    const SystemClock clock;
    cache::Mirror mirror(path, clock);
    // A full pass into the empty file, as a first sync writes it (a bulk load: docs/sync.md).
    cache::ApplyOptions bootstrap;
    bootstrap.first_sighting = extract::cache::FirstSightingEvents::none;
    bootstrap.full_pass_run_id = mirror.begin_sync_run("full");
    cache::SyncRunCounts counts;
    std::vector<Batch> page;
    // Newest first, as a first sync would see them.
    for (std::int64_t n = rows - 1; n >= 0; --n) {
        page.push_back(generated_batch(n));
        if (page.size() == kPageSize || n == 0) {
            mirror.apply_page(page, bootstrap);
            counts.requests = ++counts.pages;
            counts.upserted += static_cast<std::int64_t>(page.size());
            page.clear();
        }
    }
    counts.changed = counts.upserted;
    mirror.finish_sync_run(*bootstrap.full_pass_run_id, counts, std::nullopt);
}

}  // namespace extract::bench
