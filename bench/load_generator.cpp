#include "bench/load_generator.hpp"

#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

#include "bench/unix_http_client.hpp"

namespace extract::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct ConnectionTally {
    std::vector<std::uint32_t> latencies_us;
    std::int64_t errors = 0;
    std::int64_t body_bytes = 0;
};

void drive(const LoadOptions& options, Clock::time_point measure_from, Clock::time_point until, std::uint64_t seed,
           ConnectionTally& tally) {
    std::mt19937_64 random(seed);
    std::unique_ptr<UnixHttpConnection> connection;
    tally.latencies_us.reserve(1 << 16);
    for (Clock::time_point now = Clock::now(); now < until; now = Clock::now()) {
        const bool counted = now >= measure_from;
        if (!connection || !connection->open()) {
            try {
                connection = std::make_unique<UnixHttpConnection>(options.socket_path);
            } catch (const std::exception&) {
                if (counted) ++tally.errors;
                std::this_thread::sleep_for(std::chrono::milliseconds(1));  // a refused connect returns at once
                continue;
            }
        }
        const std::string target = options.next_target(random);
        const auto sent = Clock::now();
        const HttpExchange reply = connection->get(target);
        const auto answered = Clock::now();
        if (!counted) continue;
        if (reply.status != options.expected_status) {
            ++tally.errors;
            continue;
        }
        tally.body_bytes = static_cast<std::int64_t>(reply.body.size());
        tally.latencies_us.push_back(
            static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(answered - sent).count()));
    }
}

double percentile_ms(std::vector<std::uint32_t>& sorted, double fraction) {
    if (sorted.empty()) return 0;
    const auto index = static_cast<std::size_t>(fraction * static_cast<double>(sorted.size() - 1));
    return sorted[index] / 1000.0;
}

}  // namespace

LoadResult run_load(const LoadOptions& options) {
    std::vector<ConnectionTally> tallies(static_cast<std::size_t>(options.connections));
    const auto start = Clock::now();
    const auto measure_from = start + options.warm_up;
    const auto until = measure_from + options.duration;
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < tallies.size(); ++i) {
        threads.emplace_back([&, i] { drive(options, measure_from, until, 7919 * (i + 1), tallies[i]); });
    }
    for (auto& t : threads) t.join();

    LoadResult result;
    std::vector<std::uint32_t> all;
    for (auto& t : tallies) {
        all.insert(all.end(), t.latencies_us.begin(), t.latencies_us.end());
        result.errors += t.errors;
        result.body_bytes = std::max(result.body_bytes, t.body_bytes);
    }
    std::sort(all.begin(), all.end());
    result.requests = static_cast<std::int64_t>(all.size());
    result.seconds = std::chrono::duration<double>(options.duration).count();
    result.p50_ms = percentile_ms(all, 0.50);
    result.p99_ms = percentile_ms(all, 0.99);
    result.max_ms = all.empty() ? 0 : all.back() / 1000.0;
    return result;
}

}  // namespace extract::bench
