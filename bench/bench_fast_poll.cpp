// Issue 5's benchmark: what incremental sync costs and how quickly it notices a change, for an
// upstream of N batches with A of them not terminal. For each (N, A) it starts extract-sim
// (--frozen) and extract-syncd, waits for the first full pass, then measures the requests of
// each fast poll (sync_runs) and the time from a status change made through the simulator's
// control API to its transition in the mirror. Prints a Markdown table.
//
//   bench_fast_poll [--sizes 1000,10000,100000] [--active 0,20,1000] [--changes 10]
//                   [--poll 1000] [--idle 6000] [--order shuffled]
//
// --poll/--idle are the daemon's poll_interval / idle_poll_interval in ms for the run: the
// defaults (10 s / 60 s) divided by ten, so a run takes minutes, not hours. Requests per
// hour are computed for the default intervals from the measured cost of each kind of cycle.

#include <unistd.h>

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <SQLiteCpp/Database.h>
#include <CLI/CLI.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench/child_program.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using nlohmann::json;
namespace fs = std::filesystem;

const std::string kKey = "bench-key-0123456789";

struct Options {
    std::vector<long> sizes{1000, 10000, 100000};
    std::vector<long> active{0, 20, 1000};
    int changes = 10;
    long poll_ms = 1000;
    long idle_ms = 6000;
    std::string order = "shuffled";
};

// Throws CLI::ParseError (main prints it, exit 1) on an unknown flag or a value that is not a number.
Options parse_options(int argc, char** argv) {
    Options o;
    CLI::App app;
    app.add_option("--sizes", o.sizes)->delimiter(',');
    app.add_option("--active", o.active)->delimiter(',');
    app.add_option("--changes", o.changes);
    app.add_option("--poll", o.poll_ms);
    app.add_option("--idle", o.idle_ms);
    app.add_option("--order", o.order);
    app.parse(argc, argv);
    return o;
}

// The simulator's control API over one keep-alive connection.
class SimControl {
public:
    explicit SimControl(int port) : session_("127.0.0.1", static_cast<Poco::UInt16>(port)) {
        session_.setKeepAlive(true);
    }
    json call(const std::string& method, const std::string& path, const json& body = nullptr) {
        Poco::Net::HTTPRequest request(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
        const std::string text = body.is_null() ? "" : body.dump();
        request.setContentLength(static_cast<std::streamsize>(text.size()));
        request.setContentType("application/json");
        session_.sendRequest(request) << text;
        Poco::Net::HTTPResponse response;
        std::istream& in = session_.receiveResponse(response);
        const std::string reply(std::istreambuf_iterator<char>(in), {});
        if (response.getStatus() >= 300) throw std::runtime_error(method + " " + path + ": " + reply);
        return json::parse(reply);
    }

private:
    Poco::Net::HTTPClientSession session_;
};

bool is_terminal(const std::string& status) {
    static const std::set<std::string> terminal{"completed", "partially_failed", "failed", "cancelled"};
    return terminal.contains(status);
}

// Reads the daemon's mirror; 0 / empty while the file or its tables are not there yet.
class MirrorReader {
public:
    explicit MirrorReader(std::string path) : path_(std::move(path)) {}
    std::int64_t number(const std::string& sql) const {
        try {
            SQLite::Database db(path_, SQLite::OPEN_READONLY);
            return db.execAndGet(sql).getInt64();
        } catch (const std::exception&) {
            return 0;
        }
    }

private:
    std::string path_;
};

template <class Condition>
void wait_until(Condition condition, std::chrono::seconds timeout, const std::string& what) {
    const auto deadline = Clock::now() + timeout;
    while (!condition()) {
        if (Clock::now() > deadline) throw std::runtime_error("timed out waiting for " + what);
        std::this_thread::sleep_for(5ms);
    }
}

struct Row {
    long n = 0, a = 0;
    std::int64_t full_requests = 0;
    double fast_requests = 0;
    std::vector<double> latencies_ms;
};

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

Row measure(const Options& o, long n, long a, const fs::path& work) {
    Row row{n, a, 0, 0, {}};
    const fs::path bin = extract::bench::own_directory();
    fs::remove_all(work);
    fs::create_directories(work);
    extract::bench::ChildProgram sim({(bin / "extract-sim").string(), "--port", "0", "--batches", std::to_string(n),
                                      "--frozen", "--order", o.order, "--api-key", kKey},
                                     work / "sim.log");
    const auto line = sim.wait_for_line("listening on", 60s);
    if (!line) throw std::runtime_error("extract-sim did not start");
    SimControl control(std::stoi(line->substr(line->rfind(':') + 1)));

    // Exactly `a` non-terminal batches: finish the surplus, create what is missing (running).
    std::vector<std::string> active;
    const json snapshot = control.call("GET", "/_control/snapshot");
    for (const auto& b : snapshot.at("batches")) {
        if (is_terminal(b.at("status").get<std::string>())) continue;
        const std::string id = b.at("id").get<std::string>();
        if (static_cast<long>(active.size()) < a) {
            active.push_back(id);
        } else {
            control.call("POST", "/_control/batches/" + id, {{"status", "completed"}});
        }
    }
    if (static_cast<long>(active.size()) < a) {
        const json created = control.call("POST", "/_control/batches",
                                          {{"count", a - static_cast<long>(active.size())}, {"status", "running"}});
        for (const auto& id : created.at("ids")) active.push_back(id.get<std::string>());
    }

    const std::string db = (work / "mirror.db").string();
    {
        std::ofstream(work / "api_key") << kKey << "\n";
        std::ofstream ini(work / "extract-sync.ini");
        ini << "[upstream]\nbase_url = http://" << line->substr(line->find("127.0.0.1"))
            << "\napi_key_file = " << (work / "api_key").string()
            << "\nmax_requests_per_second = 0\n\n[sync]\npoll_interval = " << o.poll_ms
            << "ms\nidle_poll_interval = " << o.idle_ms << "ms\nfull_sync_interval = 1h\n\n[cache]\npath = " << db
            << "\n\n[api]\nsocket = " << (work / "api.sock").string() << "\n\n[log]\nlevel = info\n";
    }
    extract::bench::ChildProgram syncd({(bin / "extract-syncd").string(), "--config",
                                        (work / "extract-sync.ini").string()},
                                       work / "syncd.log");
    MirrorReader mirror(db);
    wait_until(
        [&] {
            return mirror.number(
                       "SELECT count(*) FROM sync_runs WHERE kind='full' AND error IS NULL "
                       "AND finished_at IS NOT NULL") == 1;
        },
        600s, "the first full pass");
    row.full_requests = mirror.number("SELECT requests FROM sync_runs WHERE kind='full'");
    const std::int64_t after = mirror.number("SELECT max(id) FROM sync_runs");
    const std::string fast_since =
        "FROM sync_runs WHERE kind='fast' AND finished_at IS NOT NULL AND id > " + std::to_string(after);
    wait_until([&] { return mirror.number("SELECT count(*) " + fast_since) >= 3; }, 120s, "three fast polls");
    row.fast_requests = static_cast<double>(mirror.number("SELECT sum(requests) " + fast_since)) /
                        static_cast<double>(mirror.number("SELECT count(*) " + fast_since));

    // Changes at random moments of the poll cycle: a non-terminal batch finishes; with none, a
    // new batch appears.
    std::mt19937 random(42);
    const long cycle_ms = a > 0 ? o.poll_ms : o.idle_ms;
    for (int i = 0; i < o.changes; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(random() % static_cast<unsigned>(cycle_ms)));
        const auto changed_at = Clock::now();
        if (a > 0) {
            const std::string id = active.at(static_cast<std::size_t>(i) % active.size());
            const std::string to = i < static_cast<int>(active.size()) ? "completed" : "failed";
            control.call("POST", "/_control/batches/" + id, {{"status", to}});
            wait_until(
                [&] {
                    return mirror.number("SELECT count(*) FROM transitions WHERE batch_id='" + id +
                                         "' AND to_status='" + to + "'") == 1;
                },
                60s, "the change of " + id);
            row.latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - changed_at).count());
        } else {
            const std::string id =
                control.call("POST", "/_control/batches", {{"count", 1}, {"status", "pending"}}).at("ids").at(0);
            wait_until([&] { return mirror.number("SELECT count(*) FROM batches WHERE id='" + id + "'") == 1; }, 60s,
                       "the new batch " + id);
            row.latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - changed_at).count());
            control.call("POST", "/_control/batches/" + id, {{"status", "completed"}});  // back to A = 0
            wait_until(
                [&] {
                    return mirror.number("SELECT count(*) FROM batches WHERE id='" + id + "' AND status='completed'") ==
                           1;
                },
                60s, "the end of " + id);
        }
    }
    syncd.stop();
    sim.stop();
    return row;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const Options o = parse_options(argc, argv);
        const fs::path work = fs::temp_directory_path() / ("bench-fast-poll-" + std::to_string(::getpid()));
        std::cout << "| N | A | full pass (requests) | requests per fast poll | requests/hour at defaults "
                     "| change → transition, median | max |\n| --- | --- | --- | --- | --- | --- | --- |\n";
        for (const long n : o.sizes) {
            for (const long a : o.active) {
                const Row r = measure(o, n, a, work);
                // An hour at the defaults: 4 full passes (15 m), fast polls every 10 s (60 s when idle).
                const double polls = (a > 0 ? 3600.0 / 10 : 3600.0 / 60) - 4;
                const double per_hour = 4.0 * static_cast<double>(r.full_requests) + polls * r.fast_requests;
                const double max =
                    r.latencies_ms.empty() ? 0 : *std::max_element(r.latencies_ms.begin(), r.latencies_ms.end());
                std::printf("| %ld | %ld | %lld | %.1f | %.0f | %.0f ms | %.0f ms |\n", n, a,
                            static_cast<long long>(r.full_requests), r.fast_requests, per_hour, median(r.latencies_ms),
                            max);
                std::fflush(stdout);
            }
        }
        fs::remove_all(work);
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "bench_fast_poll: " << e.what() << "\n";
        return 1;
    }
}
