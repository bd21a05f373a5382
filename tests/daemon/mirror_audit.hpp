#pragma once
// What the fault, crash and storage tests check in a mirror file the daemon wrote, each
// check returning the problems it found (empty: none) so a failure says what is wrong:
// SQLite's integrity, every batch's transitions forming one chain, and the mirror equal to
// the simulator's truth. Also the local API as JSON, for tests that watch health.

#include <SQLiteCpp/Database.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cli/unix_http_client.hpp"
#include "tests/support/eventually.hpp"

namespace extract::testing {

using Problems = std::vector<std::string>;

inline std::string integrity_check(SQLite::Database& db) { return db.execAndGet("PRAGMA integrity_check").getString(); }

// Every batch has transitions, the first from NULL, each next one from the status the one
// before entered, never to the status it comes from (a transition recorded twice), the last
// into the batch's current status (none lost).
inline Problems transition_chain_problems(SQLite::Database& db) {
    Problems problems;
    SQLite::Statement untracked(db, "SELECT id FROM batches WHERE id NOT IN (SELECT batch_id FROM transitions)");
    while (untracked.executeStep()) problems.push_back(untracked.getColumn(0).getString() + ": no transition at all");

    SQLite::Statement q(db,
                        "SELECT t.batch_id, t.seq, t.from_status, t.to_status, b.status FROM transitions t "
                        "JOIN batches b ON b.id = t.batch_id ORDER BY t.batch_id, t.seq");
    std::string batch, current, entered;
    auto close_chain = [&] {
        if (!batch.empty() && entered != current) {
            problems.push_back(batch + ": last transition enters " + entered + " but the batch is " + current);
        }
    };
    while (q.executeStep()) {
        const std::string id = q.getColumn(0).getString();
        const std::string seq = q.getColumn(1).getString();
        const std::optional<std::string> from =
            q.getColumn(2).isNull() ? std::nullopt : std::optional(q.getColumn(2).getString());
        const std::string to = q.getColumn(3).getString();
        if (id != batch) {
            close_chain();
            batch = id;
            current = q.getColumn(4).getString();
            if (from) problems.push_back(id + ": first transition (seq " + seq + ") is from " + *from + ", not NULL");
        } else if (!from || *from != entered) {
            problems.push_back(id + ": transition seq " + seq + " is from " + from.value_or("NULL") +
                               " after entering " + entered);
        }
        if (from && *from == to) problems.push_back(id + ": transition seq " + seq + " from " + to + " to itself");
        entered = to;
    }
    close_chain();
    return problems;
}

// The mirror against extract-sim's /_control/snapshot: every live batch present, not removed,
// with `raw` equal field for field and the status column matching; every other mirrored
// batch marked removed.
inline Problems truth_problems(SQLite::Database& db, const nlohmann::json& snapshot) {
    Problems problems;
    std::map<std::string, nlohmann::json> truth;
    for (const auto& b : snapshot) truth[b.at("id").get<std::string>()] = b;
    std::set<std::string> mirrored;
    SQLite::Statement q(db, "SELECT id, status, raw, removed_at IS NOT NULL FROM batches");
    while (q.executeStep()) {
        const std::string id = q.getColumn(0).getString();
        mirrored.insert(id);
        const bool removed = q.getColumn(3).getInt() != 0;
        const auto live = truth.find(id);
        if (live == truth.end()) {
            if (!removed) problems.push_back(id + ": gone upstream but not marked removed");
            continue;
        }
        if (removed) problems.push_back(id + ": listed upstream but marked removed");
        const auto raw = nlohmann::json::parse(q.getColumn(2).getString());
        if (raw != live->second)
            problems.push_back(id + ": mirror " + raw.dump() + " != upstream " + live->second.dump());
        if (q.getColumn(1).getString() != live->second.at("status")) problems.push_back(id + ": status column differs");
    }
    for (const auto& [id, batch] : truth) {
        if (!mirrored.count(id)) problems.push_back(id + ": upstream but not in the mirror");
    }
    return problems;
}

// "a; b; c" of the first few problems, for a failure message.
inline std::string first_problems(const Problems& problems, std::size_t n = 10) {
    std::string out = std::to_string(problems.size()) + " problem(s)";
    for (std::size_t i = 0; i < problems.size() && i < n; ++i) out += "\n  " + problems[i];
    return out;
}

// The daemon's local API: status and JSON body, or status 0 while the socket does not answer.
struct ApiAnswer {
    int status = 0;
    nlohmann::json body;
};

inline ApiAnswer call_api(const std::string& socket, const std::string& method, const std::string& target,
                          std::chrono::milliseconds timeout = std::chrono::seconds{10}) {
    try {
        const auto reply = cli::UnixHttpClient(socket, scaled(timeout)).request(method, target);
        return {reply.status, nlohmann::json::parse(reply.body, nullptr, false)};
    } catch (const cli::ConnectError&) {
        return {};
    }
}

}  // namespace extract::testing
