// How fast the mirror applies 200-batch pages (issue 7's goal, on 1M rows: >= 150k batches/s
// unchanged, >= 50k/s changed). The mirror is a temporary file of EXTRACT_BENCH_ROWS batches
// (default 100000) filled once, as a first sync fills it. Batch ids are random like the
// upstream's (`bat_` and 20 letters and digits), so every page's lookups and index updates land
// all over the id-keyed B-trees, as in a real mirror. Pages walk the whole table, never one
// page twice in a row, in listing order (a full pass over a mirror filled in listing order:
// neighbouring rows) or "scattered" (batches from all over the table: the worst case).
//
//   bench_apply_page --benchmark_filter=Unchanged
//   EXTRACT_BENCH_ROWS=1000000 bench_apply_page

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "bench/generated_mirror.hpp"
#include "cache/mirror.hpp"
#include "core/clock.hpp"

namespace {

using extract::Batch;
using extract::cache::ApplyOptions;
using extract::cache::DeliveryRoute;
using extract::cache::Mirror;

constexpr int kPageSize = 200;

// A batch shaped like the upstream's (about 600 bytes of raw JSON), batch `number` created one
// second before batch `number - 1`. `version` sets its counts,
// and its status by parity: versions 0 and 1 differ in status, 0 and 2 only in counts.
Batch make_batch(int number, int version) {
    Batch b;
    b.id = extract::bench::generated_batch_id(number);
    b.status = version % 2 == 0 ? "running" : "pending";
    b.total_items = 500;
    b.counts.succeeded = version % 400;
    b.counts.running = 3;
    b.counts.pending = b.total_items - b.counts.succeeded - b.counts.running;
    b.engine = "docling-v2";
    b.metadata = R"({"customer":"acme-corp","pipeline":"invoices-eu","submitted_by":"scheduler"})";
    // Newest first in listing order, as the upstream lists them: batch 0 is the newest.
    constexpr std::int64_t kNewest = 10'000'000;
    b.created_at = extract::bench::generated_created_at(kNewest - number);
    b.started_at = extract::bench::generated_created_at(kNewest - number + 1);
    b.expires_at = extract::bench::generated_created_at(kNewest - number + 3 * 86400);
    b.raw = extract::bench::upstream_json(b, R"({"formats":["markdown","json"],"ocr":true,"tables":"accurate"})");
    return b;
}

int mirror_rows() {
    const char* text = std::getenv("EXTRACT_BENCH_ROWS");
    const int rows = text ? std::atoi(text) : 100'000;
    return std::max(rows, 2 * kPageSize) / kPageSize * kPageSize;
}

// One filled mirror for the whole run. It remembers each batch's version, so that every
// benchmark knows what the mirror holds, and where each walk over the table stands.
struct BenchMirror {
    std::filesystem::path directory;
    extract::SystemClock clock;
    std::unique_ptr<Mirror> mirror;
    std::vector<DeliveryRoute> routes{{"webhook.ops", {"batch.status_changed"}, {}}};
    int rows = mirror_rows();
    std::vector<int> version = std::vector<int>(static_cast<std::size_t>(rows), 0);
    std::vector<int> scattered_order;
    std::size_t next_listed_page = 0;
    std::size_t next_scattered_page = 0;

    BenchMirror() {
        std::string pattern = (std::filesystem::temp_directory_path() / "extract-bench-XXXXXX").string();
        directory = mkdtemp(pattern.data());
        mirror = std::make_unique<Mirror>((directory / "mirror.db").string(), clock);
        scattered_order.resize(version.size());
        std::iota(scattered_order.begin(), scattered_order.end(), 0);
        std::shuffle(scattered_order.begin(), scattered_order.end(), std::mt19937(12345));
        ApplyOptions bootstrap;
        bootstrap.first_sighting = extract::cache::FirstSightingEvents::none;
        for (int first = 0; first < rows; first += kPageSize) {
            std::vector<int> numbers(kPageSize);
            std::iota(numbers.begin(), numbers.end(), first);
            mirror->apply_page(page(numbers, 0), bootstrap);
        }
    }
    ~BenchMirror() {
        mirror.reset();
        std::filesystem::remove_all(directory);
    }

    // The numbers of the next page of a walk over the whole table.
    std::vector<int> next_page(bool scattered) {
        std::size_t& next = scattered ? next_scattered_page : next_listed_page;
        const std::size_t first = (next++ * kPageSize) % version.size();
        std::vector<int> numbers(kPageSize);
        for (std::size_t i = 0; i < numbers.size(); ++i) {
            numbers[i] = scattered ? scattered_order[first + i] : static_cast<int>(first + i);
        }
        return numbers;
    }

    // The page of these batches, each at its version plus `step` (0: as the mirror holds it).
    std::vector<Batch> page(const std::vector<int>& numbers, int step) {
        std::vector<Batch> out;
        out.reserve(numbers.size());
        for (const int n : numbers) {
            int& v = version[static_cast<std::size_t>(n)];
            v += step;
            out.push_back(make_batch(n, v));
        }
        return out;
    }
};

BenchMirror& bench_mirror() {
    static BenchMirror instance;
    return instance;
}

void report(benchmark::State& state) {
    state.SetItemsProcessed(state.iterations() * kPageSize);
    state.counters["rows"] = bench_mirror().rows;
}

// Pages as a full pass over an unchanged account brings them: nothing is written (layout v4),
// each batch is looked up, compared and marked seen in memory.
void BM_ApplyUnchanged(benchmark::State& state) {
    BenchMirror& m = bench_mirror();
    ApplyOptions full_pass;
    full_pass.full_pass_run_id = 1;
    full_pass.routes = &m.routes;
    for (auto _ : state) {
        state.PauseTiming();  // building the page is the fetcher's work, not the mirror's
        const auto page = m.page(m.next_page(state.range(0) != 0), 0);
        state.ResumeTiming();
        const auto result = m.mirror->apply_page(page, full_pass);
        if (result.unchanged != kPageSize) state.SkipWithError("a page was not unchanged");
    }
    report(state);
}

// Every batch of every page changes: its status (a row update, a transition, an event and a
// delivery each) or only its counts (a row update and a batch.updated event, which no route
// takes).
void BM_ApplyChanged(benchmark::State& state) {
    BenchMirror& m = bench_mirror();
    const bool status_changes = state.range(1) != 0;
    ApplyOptions options;
    options.routes = &m.routes;
    for (auto _ : state) {
        state.PauseTiming();
        const auto page = m.page(m.next_page(state.range(0) != 0), status_changes ? 1 : 2);
        state.ResumeTiming();
        const auto result = m.mirror->apply_page(page, options);
        if (result.updated != kPageSize) state.SkipWithError("a page did not change");
    }
    report(state);
}

}  // namespace

BENCHMARK(BM_ApplyUnchanged)->ArgName("scattered")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ApplyChanged)
    ->ArgNames({"scattered", "status"})
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
