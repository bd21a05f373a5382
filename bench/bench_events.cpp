// Events fan-out (issue 7, item 6): --transitions status changes (default 10,000) made in
// one sync reach every long-poll client (--clients, default 16, each following
// GET /v1/events?after=…&wait=30s) and every webhook target (--targets, default 4, each a
// fast in-process Poco receiver answering 204). Reports the sync's duration, how long after
// its commit the last client had seen every event, and webhook deliveries per second.
//
//   bench_events                      # 10k transitions, 16 clients, 4 targets
//   bench_events --smoke              # tiny and quick; fails when anything is lost (ctest)
//
// extract-sim holds the batches: they are created pending (the daemon's first sync mirrors
// them without events), then all set to completed through its control API, then one
// POST /v1/sync?wait=true brings every transition in.

#include <unistd.h>

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_main.hpp"
#include "bench/child_program.hpp"
#include "bench/unix_http_client.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kApiKey = "bench-key-0123456789";
constexpr const char* kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Settings {
    int transitions = 10'000;
    int clients = 16;
    int targets = 4;
    std::string bin_dir;  // empty: beside this program
    bool smoke = false;
};

constexpr const char* kUsage =
    "usage: bench_events [--transitions N] [--clients C] [--targets T] [--bin DIR] [--smoke]\n";

std::optional<Settings> parse(int argc, char** argv) {
    Settings s;
    CLI::App app;
    app.add_option("--transitions", s.transitions);
    app.add_option("--clients", s.clients);
    app.add_option("--targets", s.targets);
    app.add_option("--bin", s.bin_dir);
    app.add_flag("--smoke", s.smoke);
    if (!extract::bench::parses(app, argc, argv)) return std::nullopt;
    if (s.smoke) {
        s.transitions = 200;
        s.clients = 3;
        s.targets = 2;
    }
    if (s.transitions < 1 || s.clients < 0 || s.targets < 0) return std::nullopt;
    return s;
}

double ms_between(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double, std::milli>(to - from).count();
}

// One webhook target: counts distinct webhook-ids and when the first and last arrived.
class Receiver {
public:
    Receiver() : socket_(Poco::Net::SocketAddress("127.0.0.1", 0)), server_(new Factory(*this), socket_, params()) {
        server_.start();
    }
    ~Receiver() { server_.stopAll(true); }

    int port() const { return socket_.address().port(); }
    std::size_t received() const {
        std::lock_guard lock(mutex_);
        return ids_.size();
    }
    std::size_t duplicates() const {
        std::lock_guard lock(mutex_);
        return duplicates_;
    }
    std::pair<Clock::time_point, Clock::time_point> first_and_last() const {
        std::lock_guard lock(mutex_);
        return {first_, last_};
    }

private:
    class Handler final : public Poco::Net::HTTPRequestHandler {
    public:
        explicit Handler(Receiver& receiver) : receiver_(receiver) {}
        void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override {
            std::string body;
            Poco::StreamCopier::copyToString(request.stream(), body);
            receiver_.record(request.get("webhook-id", ""));
            response.setStatus(Poco::Net::HTTPResponse::HTTP_NO_CONTENT);
            response.setContentLength(0);
            response.send();
        }

    private:
        Receiver& receiver_;
    };
    class Factory final : public Poco::Net::HTTPRequestHandlerFactory {
    public:
        explicit Factory(Receiver& receiver) : receiver_(receiver) {}
        Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
            return new Handler(receiver_);
        }

    private:
        Receiver& receiver_;
    };
    static Poco::Net::HTTPServerParams::Ptr params() {
        Poco::Net::HTTPServerParams::Ptr p = new Poco::Net::HTTPServerParams;
        p->setMaxThreads(16);
        p->setMaxQueued(1024);
        return p;
    }
    void record(const std::string& id) {
        const auto now = Clock::now();
        std::lock_guard lock(mutex_);
        if (!ids_.insert(id).second) ++duplicates_;
        if (ids_.size() == 1) first_ = now;
        last_ = now;
    }

    mutable std::mutex mutex_;
    std::set<std::string> ids_;
    std::size_t duplicates_ = 0;
    Clock::time_point first_{}, last_{};
    Poco::Net::ServerSocket socket_;
    Poco::Net::HTTPServer server_;
};

// extract-sim's control API over one keep-alive connection.
class SimControl {
public:
    explicit SimControl(int port) : session_("127.0.0.1", static_cast<Poco::UInt16>(port)) {
        session_.setKeepAlive(true);
        session_.setTimeout(Poco::Timespan(30, 0));
    }
    nlohmann::json post(const std::string& path, const nlohmann::json& body) {
        Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_POST, path, Poco::Net::HTTPMessage::HTTP_1_1);
        const std::string text = body.dump();
        request.setContentType("application/json");
        request.setContentLength(static_cast<std::streamsize>(text.size()));
        session_.sendRequest(request) << text;
        Poco::Net::HTTPResponse response;
        std::string answer;
        Poco::StreamCopier::copyToString(session_.receiveResponse(response), answer);
        if (response.getStatus() != Poco::Net::HTTPResponse::HTTP_OK) {
            throw std::runtime_error("extract-sim " + path + ": HTTP " + std::to_string(response.getStatus()) + " " +
                                     answer);
        }
        return nlohmann::json::parse(answer);
    }

private:
    Poco::Net::HTTPClientSession session_;
};

// One long-poll client: follows the feed from `after` until it has seen `expected`
// batch.status_changed events; records when.
struct FeedFollower {
    std::int64_t seen = 0;
    std::int64_t requests = 0;
    std::optional<Clock::time_point> done_at;
    std::string error;

    void follow(const std::string& socket, std::int64_t after, std::int64_t expected, Clock::time_point give_up) {
        try {
            extract::bench::UnixHttpConnection connection(socket);
            while (seen < expected && Clock::now() < give_up) {
                const auto reply = connection.get("/v1/events?type=batch.status_changed&limit=1000&wait=30s&after=" +
                                                  std::to_string(after));
                ++requests;
                if (reply.status != 200) {
                    error = "HTTP " + std::to_string(reply.status) + " " + reply.body;
                    return;
                }
                const auto page = nlohmann::json::parse(reply.body);
                for (const auto& event : page.at("data")) {
                    after = event.at("seq").get<std::int64_t>();
                    ++seen;
                }
            }
            if (seen >= expected) done_at = Clock::now();
        } catch (const std::exception& e) {
            error = e.what();
        }
    }
};

std::string write_config(const fs::path& dir, int sim_port, const std::vector<std::unique_ptr<Receiver>>& receivers) {
    std::ofstream(dir / "hook.whsec") << kSecret << "\n";
    std::ofstream out(dir / "extract-sync.ini");
    out << "[upstream]\nbase_url = http://127.0.0.1:" << sim_port
        << "\nmax_requests_per_second = 0\n\n[sync]\nfull_sync_interval = 1h\n\n[cache]\npath = "
        << (dir / "mirror.db").string() << "\n\n[api]\nsocket = " << (dir / "api.sock").string()
        << "\n\n[log]\nlevel = warn\n";
    for (std::size_t i = 0; i < receivers.size(); ++i) {
        out << "\n[webhook.bench" << i << "]\nurl = http://127.0.0.1:" << receivers[i]->port()
            << "/hooks/extract\nsecret_file = " << (dir / "hook.whsec").string() << "\nevents = batch.status_changed\n";
    }
    return (dir / "extract-sync.ini").string();
}

std::int64_t newest_seq(const std::string& socket) {
    extract::bench::UnixHttpConnection connection(socket);
    const auto reply = connection.get("/v1/events?after=0&limit=1");
    if (reply.status != 200) throw std::runtime_error("GET /v1/events: HTTP " + std::to_string(reply.status));
    return nlohmann::json::parse(reply.body).at("last_seq").get<std::int64_t>();
}

// Sets every batch to completed, from a few connections at once (not what is measured).
void complete_all(int sim_port, const std::vector<std::string>& ids) {
    constexpr std::size_t kConnections = 8;
    std::vector<std::thread> threads;
    std::vector<std::string> errors(kConnections);
    for (std::size_t t = 0; t < kConnections; ++t) {
        threads.emplace_back([&, t] {
            try {
                SimControl sim(sim_port);
                for (std::size_t i = t; i < ids.size(); i += kConnections) {
                    sim.post("/_control/batches/" + ids[i], {{"status", "completed"}});
                }
            } catch (const std::exception& e) {
                errors[t] = e.what();
            }
        });
    }
    for (auto& t : threads) t.join();
    for (const auto& e : errors) {
        if (!e.empty()) throw std::runtime_error(e);
    }
}

int run(const Settings& s) {
    const fs::path bin = s.bin_dir.empty() ? extract::bench::own_directory() : fs::path(s.bin_dir);
    const fs::path work = extract::bench::make_work_directory("extract-bench-events");

    extract::bench::ChildProgram sim({(bin / "extract-sim").string(), "--port", "0", "--batches", "0", "--api-key",
                                      kApiKey},
                                     work / "extract-sim.log");
    const auto listening = sim.wait_for_line("listening on 127.0.0.1:", std::chrono::seconds(20));
    if (!listening) throw std::runtime_error("extract-sim did not start; see " + sim.log_path().string());
    const int sim_port = std::stoi(listening->substr(listening->rfind(':') + 1));
    std::vector<std::string> ids =
        SimControl(sim_port).post("/_control/batches", {{"count", s.transitions}, {"status", "pending"}}).at("ids");

    std::vector<std::unique_ptr<Receiver>> receivers;
    for (int i = 0; i < s.targets; ++i) receivers.push_back(std::make_unique<Receiver>());
    ::setenv("EXTRACT_API_KEY", kApiKey, 1);
    const std::string socket = (work / "api.sock").string();
    extract::bench::ChildProgram daemon({(bin / "extract-syncd").string(), "--config",
                                         write_config(work, sim_port, receivers)},
                                        work / "extract-syncd.log");
    if (!extract::bench::wait_for_socket(socket, std::chrono::seconds(30))) {
        throw std::runtime_error("extract-syncd did not serve; see " + daemon.log_path().string());
    }
    extract::bench::UnixHttpConnection control(socket);
    // The first sync (at start) mirrors the pending batches; this one waits for it.
    if (control.request("POST", "/v1/sync?wait=true").status != 200) throw std::runtime_error("the first sync failed");
    const std::int64_t from_seq = newest_seq(socket);

    complete_all(sim_port, ids);

    const auto give_up = Clock::now() + std::chrono::seconds(s.smoke ? 60 : 300);
    std::vector<FeedFollower> followers(static_cast<std::size_t>(s.clients));
    std::vector<std::thread> threads;
    for (auto& f : followers) {
        threads.emplace_back(
            [&f, &socket, from_seq, &s, give_up] { f.follow(socket, from_seq, s.transitions, give_up); });
    }
    const auto sync_start = Clock::now();
    const auto sync = control.request("POST", "/v1/sync?wait=true");
    const auto sync_end = Clock::now();
    if (sync.status != 200) throw std::runtime_error("the measured sync failed: " + sync.body);
    for (auto& t : threads) t.join();

    // Deliveries keep arriving after the clients are done; wait for all of them (bounded).
    const auto expected_deliveries = static_cast<std::size_t>(s.transitions);
    const auto all_delivered = [&] {
        for (const auto& r : receivers) {
            if (r->received() < expected_deliveries) return false;
        }
        return true;
    };
    while (!all_delivered() && Clock::now() < give_up) std::this_thread::sleep_for(std::chrono::milliseconds(20));

    bool complete = true;
    double last_client_ms = 0;
    std::int64_t poll_requests = 0;
    for (const auto& f : followers) {
        if (!f.done_at) {
            std::cerr << "a client saw " << f.seen << " of " << s.transitions << " events " << f.error << "\n";
            complete = false;
            continue;
        }
        last_client_ms = std::max(last_client_ms, ms_between(sync_end, *f.done_at));
        poll_requests += f.requests;
    }
    std::size_t delivered = 0, duplicates = 0;
    Clock::time_point first_delivery = Clock::time_point::max(), last_delivery{};
    for (const auto& r : receivers) {
        delivered += r->received();
        duplicates += r->duplicates();
        const auto [first, last] = r->first_and_last();
        first_delivery = std::min(first_delivery, first);
        last_delivery = std::max(last_delivery, last);
        complete = complete && r->received() == expected_deliveries;
    }
    const double delivery_ms = delivered > 0 ? ms_between(first_delivery, last_delivery) : 0;
    const double per_second = delivery_ms > 0 ? static_cast<double>(delivered) * 1000.0 / delivery_ms : 0;

    std::printf(
        "Events: %d transitions in one sync, %d long-poll clients, %d webhook targets (max_in_flight 4 each); "
        "%u CPUs, load average %s.\n\n",
        s.transitions, s.clients, s.targets, std::thread::hardware_concurrency(),
        extract::bench::load_average().c_str());
    std::printf("| what | figure | target |\n| --- | --- | --- |\n");
    std::printf("| the sync (POST /v1/sync?wait=true) | %.0f ms | — |\n", ms_between(sync_start, sync_end));
    if (s.clients > 0) {
        std::printf(
            "| last long-poll client has all %d events, after the sync returned | %+.0f ms (%lld requests in all) | "
            "every client gets every event %s |\n",
            s.transitions, last_client_ms, static_cast<long long>(poll_requests), complete ? "✅" : "❌");
    }
    if (s.targets > 0) {
        std::printf("| webhook deliveries received (distinct, all targets) | %zu of %zu, %zu duplicates | — |\n",
                    delivered, expected_deliveries * receivers.size(), duplicates);
        std::printf("| last delivery, after the sync returned | %.0f ms | — |\n", ms_between(sync_end, last_delivery));
        std::printf("| webhook deliveries/s (first to last received) | %.0f | ≥ 1,000/s %s |\n", per_second,
                    per_second >= 1000 ? "✅" : "❌");
    }
    daemon.stop();
    sim.stop();
    if (complete)
        fs::remove_all(work);
    else
        std::cerr << "logs kept in " << work.string() << "\n";
    return complete ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) { return extract::bench::run_parsed("bench_events", kUsage, parse(argc, argv), run); }
