#pragma once
// tests/webhooks/receiver.js as a test's process: answers as scripted and logs each request,
// with whether it verified under each --secret by the independent `standardwebhooks` package,
// as a JSON line the test reads.

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/child_process.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/temp_dir.hpp"

namespace extract::testing {

inline std::string on_path(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path ? path : "");
    for (std::string dir; std::getline(dirs, dir, ':');) {
        const auto candidate = std::filesystem::path(dir) / name;
        if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
    return {};
}

inline std::filesystem::path webhooks_dir() { return std::filesystem::path(EXTRACT_SOURCE_DIR) / "tests" / "webhooks"; }

class Receiver {
public:
    Receiver(const TempDir& dir, const std::string& name, std::vector<std::string> args)
        : log_(dir / (name + ".jsonl")) {
        const std::string node = on_path("node");
        if (node.empty()) throw std::runtime_error("node is not on PATH (Debian package nodejs)");
        if (!std::filesystem::exists(webhooks_dir() / "node_modules" / "standardwebhooks")) {
            throw std::runtime_error("tests/webhooks/node_modules is missing: run npm ci --prefix tests/webhooks");
        }
        std::vector<std::string> argv{node, (webhooks_dir() / "receiver.js").string(), "--log", log_.string()};
        argv.insert(argv.end(), args.begin(), args.end());
        process_ = std::make_unique<ChildProcess>(argv);
        const auto line = process_->wait_for_stdout("listening on ", std::chrono::seconds{20});
        if (!line) throw std::runtime_error("receiver.js did not start: " + process_->stderr_text());
        port_ = std::stoi(line->substr(line->find("on ") + 3));
    }

    int port() const { return port_; }
    std::string url(const std::string& scheme = "http", const std::string& host = "127.0.0.1") const {
        return scheme + "://" + host + ":" + std::to_string(port_) + "/hooks/extract";
    }

    std::vector<nlohmann::json> requests() const {
        std::vector<nlohmann::json> out;
        std::ifstream in(log_);
        for (std::string line; std::getline(in, line);) {
            if (!line.empty()) out.push_back(nlohmann::json::parse(line));
        }
        return out;
    }
    bool wait_for_requests(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds{10}) const {
        return eventually([&] { return requests().size() >= n; }, timeout);
    }
    // The distinct webhook-id headers received so far (event ids).
    std::set<std::string> received_ids() const {
        std::set<std::string> ids;
        for (const auto& r : requests()) ids.insert(r.at("headers").at("webhook-id").get<std::string>());
        return ids;
    }
    // Waits until every id of `expected` was received at least once.
    bool wait_for_ids(const std::set<std::string>& expected, std::chrono::milliseconds timeout) const {
        return eventually(
            [&] {
                const auto received = received_ids();
                return std::includes(received.begin(), received.end(), expected.begin(), expected.end());
            },
            timeout, std::chrono::milliseconds(500));
    }
    void stop() { process_.reset(); }

private:
    std::filesystem::path log_;
    std::unique_ptr<ChildProcess> process_;
    int port_ = 0;
};

}  // namespace extract::testing
