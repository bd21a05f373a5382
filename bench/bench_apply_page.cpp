// How fast the mirror applies 200-batch pages (issue 7's goal, on 1M rows: >= 150k batches/s
// unchanged, >= 50k/s changed). The mirror is a temporary file of EXTRACT_BENCH_ROWS batches
// (default 100000) filled once; pages are taken in listing order ("sequential": a full sync) or
// from anywhere in the table ("scattered": the worst case for locality).
//
//   bench_apply_page --benchmark_filter=Unchanged
//   EXTRACT_BENCH_ROWS=1000000 bench_apply_page

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "cache/mirror.hpp"
#include "bench/generated_mirror.hpp"
#include "core/clock.hpp"

namespace {

using extract::Batch;
using extract::cache::ApplyOptions;
using extract::cache::DeliveryRoute;
using extract::cache::Mirror;

constexpr int kPageSize = 200;

// A batch shaped like the upstream's (about 600 bytes of raw JSON). `version` sets its counts,
// and its status by parity: versions 0 and 1 differ in status, 0 and 2 only in counts.
Batch make_batch(int number, int version) {
    Batch b;
    b.id = "batch_" + std::to_string(1'000'000'000 + number);
    b.status = version % 2 == 0 ? "running" : "pending";
    b.total_items = 500;
    b.counts.succeeded = version % 500;
    b.counts.running = 3;
    b.counts.pending = b.total_items - b.counts.succeeded - b.counts.running;
    b.engine = "docling-v2";
    b.options = R"({"formats":["markdown","json"],"ocr":true,"tables":"accurate"})";
    b.metadata = R"({"customer":"acme-corp","pipeline":"invoices-eu","submitted_by":"scheduler"})";
    b.created_at = "2026-11-30T03:04:05.123456+00:00";
    b.started_at = "2026-11-30T03:04:06.000000+00:00";
    b.expires_at = "2026-12-03T03:04:05.123456+00:00";
    b.raw = extract::bench::upstream_json(b);
    return b;
}

int mirror_rows() {
    const char* text = std::getenv("EXTRACT_BENCH_ROWS");
    const int rows = text ? std::atoi(text) : 100'000;
    return std::max(rows, 2 * kPageSize) / kPageSize * kPageSize;
}

// One filled mirror for the whole run; every batch is at version 0 when a benchmark starts
// (each benchmark leaves the pages it touched as it found them).
struct BenchMirror {
    std::filesystem::path directory;
    extract::SystemClock clock;
    std::unique_ptr<Mirror> mirror;
    std::vector<DeliveryRoute> routes{{"webhook.ops", {"batch.status_changed"}, {}}};
    int rows = mirror_rows();

    BenchMirror() {
        std::string pattern = (std::filesystem::temp_directory_path() / "extract-bench-XXXXXX").string();
        directory = mkdtemp(pattern.data());
        mirror = std::make_unique<Mirror>((directory / "mirror.db").string(), clock);
        ApplyOptions bootstrap;
        bootstrap.emit_created = false;
        for (int first = 0; first < rows; first += kPageSize) mirror->apply_page(page(first, 0), bootstrap);
    }
    ~BenchMirror() {
        mirror.reset();
        std::filesystem::remove_all(directory);
    }
    static std::vector<Batch> page(int first, int version) {
        std::vector<Batch> out;
        out.reserve(kPageSize);
        for (int i = first; i < first + kPageSize; ++i) out.push_back(make_batch(i, version));
        return out;
    }
};

BenchMirror& bench_mirror() {
    static BenchMirror instance;
    return instance;
}

// Pages prepared ahead (building them is not what is measured). Scattered pages hold batches
// from all over the table, no batch in two pages.
std::vector<std::vector<Batch>> prepared_pages(bool scattered, int count, int version) {
    const BenchMirror& m = bench_mirror();
    std::vector<int> numbers(static_cast<std::size_t>(m.rows));
    std::iota(numbers.begin(), numbers.end(), 0);
    if (scattered) std::shuffle(numbers.begin(), numbers.end(), std::mt19937(12345));
    std::vector<std::vector<Batch>> pages(static_cast<std::size_t>(count));
    for (std::size_t i = 0; i < pages.size() * kPageSize; ++i) {
        pages[i / kPageSize].push_back(make_batch(numbers[i % numbers.size()], version));
    }
    return pages;
}

void report(benchmark::State& state) {
    state.SetItemsProcessed(state.iterations() * kPageSize);
    state.counters["rows"] = bench_mirror().rows;
}

void BM_ApplyUnchanged(benchmark::State& state) {
    BenchMirror& m = bench_mirror();
    const auto pages = prepared_pages(state.range(0) != 0, 100, 0);
    ApplyOptions full_pass;
    full_pass.full_pass_run_id = 1;
    full_pass.routes = &m.routes;
    std::size_t next = 0;
    for (auto _ : state) {
        const auto result = m.mirror->apply_page(pages[next++ % pages.size()], full_pass);
        if (result.unchanged != kPageSize) state.SkipWithError("a page was not unchanged");
    }
    report(state);
}

// Every batch of every page changes: its status (a row update, a transition, an event and a
// delivery each) or only its counts (a row update and a batch.updated event, which no route
// takes). Pages go to the other version and back in turns, so each apply is a change.
void BM_ApplyChanged(benchmark::State& state) {
    BenchMirror& m = bench_mirror();
    const bool scattered = state.range(0) != 0;
    const bool status_changes = state.range(1) != 0;
    const auto changed = prepared_pages(scattered, 25, status_changes ? 1 : 2);
    const auto original = prepared_pages(scattered, 25, 0);
    ApplyOptions options;
    options.routes = &m.routes;
    std::size_t applied = 0;
    for (auto _ : state) {
        const std::size_t i = applied % changed.size();
        const bool forth = (applied / changed.size()) % 2 == 0;
        const auto result = m.mirror->apply_page(forth ? changed[i] : original[i], options);
        if (result.updated != kPageSize) state.SkipWithError("a page did not change");
        ++applied;
    }
    // Leave every page at version 0 for the next benchmark (untimed).
    for (std::size_t i = 0; i < changed.size(); ++i) m.mirror->apply_page(original[i], options);
    report(state);
}

}  // namespace

BENCHMARK(BM_ApplyUnchanged)->ArgName("scattered")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ApplyChanged)
    ->ArgNames({"scattered", "status"})
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
