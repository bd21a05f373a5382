// The query API under load (issue 7, item 3): extract-syncd serving a mirror of --rows
// batches (default 1M) over its Unix socket to --connections keep-alive clients (default 16),
// for get-by-id and filtered 50-row lists; then the same load against a minimal Poco server
// answering each scenario's reply as a constant (the ceiling). Prints a Markdown table.
//
//   bench_api_query                          # 1M rows, 10 s per scenario
//   bench_api_query --rows 100000 --seconds 5 --mirror /var/tmp/m.db
//   bench_api_query --only get-by-id --seconds 30
//   bench_api_query --smoke                  # tiny and quick; fails on any error (ctest)
//
// The daemon runs with an unreachable upstream: it serves the mirror while its syncs fail
// (a failed pass changes nothing), so nothing but the API uses the CPU. The mirror file is
// read once before measuring, so that every scenario (the first one too) runs with the OS
// page cache warm: cold, the first scenario measured the disk (928 against 8,102 req/s).

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_main.hpp"
#include "bench/child_program.hpp"
#include "bench/constant_server.hpp"
#include "bench/generated_mirror.hpp"
#include "bench/load_generator.hpp"
#include "bench/unix_http_client.hpp"

namespace {

namespace fs = std::filesystem;
using extract::bench::LoadResult;

struct Settings {
    std::int64_t rows = 1'000'000;
    double seconds = 10;
    double warm_up_seconds = 1;
    int connections = 16;
    std::string mirror;  // empty: $TMPDIR/extract-bench/api-mirror-v2-<rows>.db, kept for reruns
    std::string syncd;   // empty: extract-syncd beside this program
    std::string only;    // run only the scenarios whose name contains this
    bool smoke = false;
};

struct Scenario {
    std::string name;
    std::string target;  // "{id}" is replaced by a random batch's id
    double target_rps;   // issue 7's goal (0: none)
    double target_p99_ms;
};

constexpr const char* kUsage =
    "usage: bench_api_query [--rows N] [--seconds S] [--connections C] [--mirror PATH] [--syncd PATH]\n"
    "                       [--only NAME-PART] [--smoke]\n";

std::optional<Settings> parse(int argc, char** argv) {
    Settings s;
    CLI::App app;
    app.add_option("--rows", s.rows);
    app.add_option("--seconds", s.seconds);
    app.add_option("--connections", s.connections);
    app.add_option("--mirror", s.mirror);
    app.add_option("--syncd", s.syncd);
    app.add_option("--only", s.only);
    app.add_flag("--smoke", s.smoke);
    if (!extract::bench::parses(app, argc, argv)) return std::nullopt;
    if (s.smoke) {
        s.rows = 2000;
        s.seconds = 0.5;
        s.warm_up_seconds = 0.1;
        s.connections = 4;
    }
    if (s.rows < 10 || s.seconds <= 0 || s.connections < 1) return std::nullopt;
    return s;
}

// Reads `path` (and its WAL) once, to the end, so that the OS page cache holds it; the bytes read.
std::uintmax_t warm_page_cache(const fs::path& path) {
    std::vector<char> chunk(1 << 20);
    std::uintmax_t total = 0;
    for (const fs::path& file : {path, fs::path(path.string() + "-wal")}) {
        std::ifstream in(file, std::ios::binary);
        while (in) {
            in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
            total += static_cast<std::uintmax_t>(in.gcount());
        }
    }
    return total;
}

std::string with_id(const std::string& target, const std::string& id) {
    const auto at = target.find("{id}");
    return at == std::string::npos ? target : target.substr(0, at) + id + target.substr(at + 4);
}

extract::bench::LoadOptions load_for(const Settings& s, const std::string& socket, const Scenario& scenario) {
    extract::bench::LoadOptions options;
    options.socket_path = socket;
    options.connections = s.connections;
    options.duration = std::chrono::milliseconds(static_cast<long>(s.seconds * 1000));
    options.warm_up = std::chrono::milliseconds(static_cast<long>(s.warm_up_seconds * 1000));
    const std::int64_t rows = s.rows;
    const std::string target = scenario.target;
    options.next_target = [rows, target](std::mt19937_64& random) {
        if (target.find("{id}") == std::string::npos) return target;
        const auto index = static_cast<std::int64_t>(random() % static_cast<std::uint64_t>(rows));
        return with_id(target, extract::bench::generated_batch_id(index));
    };
    return options;
}

std::string write_config(const fs::path& dir, const std::string& mirror) {
    const fs::path config = dir / "extract-sync.ini";
    std::ofstream out(config);
    // Port 9 on loopback refuses connections: every sync fails at once and backs off.
    out << "[upstream]\nbase_url = http://127.0.0.1:9\nmax_requests_per_second = 0\nrequest_timeout = 1s\n\n"
        << "[sync]\nfull_sync_interval = 1h\n\n[cache]\npath = " << mirror
        << "\n\n[api]\nsocket = " << (dir / "api.sock").string() << "\n\n[log]\nlevel = warn\n";
    return config.string();
}

struct Measured {
    Scenario scenario;
    LoadResult daemon;
    LoadResult ceiling;
    double daemon_cpu_us = 0;  // the daemon's CPU time (user + system) per answered request
};

// The CPU time `pid` has used so far (user + system), in seconds, from /proc/PID/stat.
double cpu_seconds(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Fields after the command (which may hold spaces) start after its closing parenthesis.
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
        if (i >= 14) ticks += std::atof(field.c_str());  // utime, stime
    }
    return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

void print_row(const Measured& m) {
    const auto& d = m.daemon;
    const auto& c = m.ceiling;
    std::ostringstream verdict;
    if (m.scenario.target_rps > 0) {
        const bool ok = d.requests_per_second() >= m.scenario.target_rps &&
                        (m.scenario.target_p99_ms <= 0 || d.p99_ms < m.scenario.target_p99_ms);
        verdict << "≥ " << m.scenario.target_rps / 1000 << "k/s";
        if (m.scenario.target_p99_ms > 0) verdict << ", p99 < " << m.scenario.target_p99_ms << " ms";
        verdict << (ok ? " ✅" : " ❌");
    }
    std::printf("| %s | %.0f | %.2f | %.2f | %.0f | %lld | %.0f | %.2f | %.2f | **%.2f** | %lld B | %s |\n",
                m.scenario.name.c_str(), d.requests_per_second(), d.p50_ms, d.p99_ms, m.daemon_cpu_us,
                static_cast<long long>(d.errors), c.requests_per_second(), c.p50_ms, c.p99_ms,
                c.requests_per_second() > 0 ? d.requests_per_second() / c.requests_per_second() : 0.0,
                static_cast<long long>(d.body_bytes), verdict.str().c_str());
}

int run(const Settings& s) {
    const fs::path work = extract::bench::make_work_directory("extract-bench-api");
    // A smoke run builds its own small mirror; a real one keeps the big one for the next run.
    const fs::path mirror =
        !s.mirror.empty() ? fs::path(s.mirror)
        : s.smoke         ? work / "mirror.db"
                  : fs::temp_directory_path() / "extract-bench" / ("api-mirror-v2-" + std::to_string(s.rows) + ".db");
    fs::create_directories(mirror.parent_path());

    const auto build_start = std::chrono::steady_clock::now();
    extract::bench::ensure_generated_mirror(mirror.string(), s.rows);
    std::cerr << "mirror " << mirror.string() << " ready in "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - build_start).count() << " s\n";
    const auto warm_start = std::chrono::steady_clock::now();
    const std::uintmax_t warmed = warm_page_cache(mirror);
    const double warm_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - warm_start).count();

    // Filters whose answer is a full page: created_after keeps the newest 10 % (found at the
    // top of the listing); created_before keeps the older half (the newer half comes first).
    const std::string after = extract::bench::generated_created_at(s.rows * 9 / 10);
    const std::string before = extract::bench::generated_created_at(s.rows / 2);
    std::vector<Measured> results{
        {{"get-by-id `/v1/batches/{id}`", "/v1/batches/{id}", 10'000, 5}, {}, {}},
        {{"list `?status=completed&limit=50`", "/v1/batches?status=completed&limit=50", 2'000, 0}, {}, {}},
        {{"list `?created_after=…&limit=50`", "/v1/batches?created_after=" + after + "&limit=50", 2'000, 0}, {}, {}},
        {{"list `?status=failed&created_before=…&limit=50`",
          "/v1/batches?status=failed&created_before=" + before + "&limit=50", 2'000, 0},
         {},
         {}},
        // Issue 17: a metadata key every batch has (the goal), and one none has (the cost of a
        // rare key: the walk passes every row, docs/api.md).
        {{"list `?metadata.customer=acme-corp&limit=50`", "/v1/batches?metadata.customer=acme-corp&limit=50", 2'000, 0},
         {},
         {}},
        {{"list `?metadata.absent=x&limit=50` (rare key)", "/v1/batches?metadata.absent=x&limit=50", 0, 0}, {}, {}},
        // The whole generated mirror (11.6 days) is inside 30 days: every batch is counted.
        {{"report `?since=<30 days>&by=day`", "/v1/report?since=2026-10-15T00:00:00Z&by=day", 0, 0}, {}, {}},
        {{"report `?since=<30 days>&by=metadata.customer`",
          "/v1/report?since=2026-10-15T00:00:00Z&by=metadata.customer", 0, 0},
         {},
         {}},
    };
    if (!s.only.empty()) {
        std::erase_if(results, [&](const Measured& m) { return m.scenario.name.find(s.only) == std::string::npos; });
    }
    std::vector<std::string> bodies;

    const std::string load_before = extract::bench::load_average();
    {
        ::setenv("EXTRACT_API_KEY", "bench-key-not-used", 0);
        const std::string syncd =
            s.syncd.empty() ? (extract::bench::own_directory() / "extract-syncd").string() : s.syncd;
        const std::string socket = (work / "api.sock").string();
        extract::bench::ChildProgram daemon({syncd, "--config", write_config(work, mirror.string())},
                                            work / "extract-syncd.log");
        if (!extract::bench::wait_for_socket(socket, std::chrono::seconds(30))) {
            std::cerr << "extract-syncd did not serve " << socket << "; its log: " << daemon.log_path() << "\n";
            return 1;
        }
        for (auto& m : results) {
            extract::bench::UnixHttpConnection sample(socket);
            const auto reply = sample.get(with_id(m.scenario.target, extract::bench::generated_batch_id(s.rows / 3)));
            if (reply.status != 200) {
                std::cerr << m.scenario.name << ": HTTP " << reply.status << " " << reply.body << "\n";
                return 1;
            }
            bodies.push_back(reply.body);
            const double cpu_before = cpu_seconds(daemon.pid());
            m.daemon = extract::bench::run_load(load_for(s, socket, m.scenario));
            // The warm-up's requests are not counted: charge it its share of the CPU time.
            const double counted = s.seconds / (s.seconds + s.warm_up_seconds);
            if (m.daemon.requests > 0) {
                m.daemon_cpu_us =
                    (cpu_seconds(daemon.pid()) - cpu_before) * counted * 1e6 / static_cast<double>(m.daemon.requests);
            }
            std::cerr << m.scenario.name << ": " << m.daemon.requests_per_second() << " requests/s\n";
        }
    }
    {
        const std::string socket = (work / "ceiling.sock").string();
        extract::bench::ConstantServer ceiling(socket, s.connections);
        for (std::size_t i = 0; i < results.size(); ++i) {
            ceiling.set_body(bodies[i]);
            results[i].ceiling = extract::bench::run_load(load_for(s, socket, results[i].scenario));
        }
    }
    const std::string load_after = extract::bench::load_average();

    char host[256] = {};
    ::gethostname(host, sizeof(host) - 1);
    std::printf(
        "Query API, %lld mirrored batches, %d keep-alive connections, %.1f s per scenario "
        "(after %.1f s warm-up; the mirror's %.0f MiB read once before, in %.1f s, so the page cache is warm); "
        "%u CPUs on %s; load average %s before, %s after.\n\n",
        static_cast<long long>(s.rows), s.connections, s.seconds, s.warm_up_seconds,
        static_cast<double>(warmed) / (1024.0 * 1024.0), warm_seconds, std::thread::hardware_concurrency(), host,
        load_before.c_str(), load_after.c_str());
    // CPU µs/req: the daemon's CPU time per request, which a busy machine disturbs less than req/s.
    std::printf(
        "| scenario | extract-syncd req/s | p50 ms | p99 ms | CPU µs/req | errors | ceiling req/s | p50 ms | "
        "p99 ms | ratio | reply | target |\n");
    std::printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    bool failed = false;
    for (const auto& m : results) {
        print_row(m);
        failed = failed || m.daemon.errors > 0 || m.daemon.requests == 0 || m.ceiling.requests == 0;
    }
    fs::remove_all(work);
    // A benchmark reports targets, it does not fail on them; errors mean it measured nothing.
    return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    return extract::bench::run_parsed("bench_api_query", kUsage, parse(argc, argv), run);
}
