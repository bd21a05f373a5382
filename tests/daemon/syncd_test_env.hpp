#pragma once
// What the real-process daemon tests share: a TempDir with a config pointing at a running
// extract-sim, and reading the mirror the daemon wrote.

#include <SQLiteCpp/Database.h>

#include <chrono>
#include <exception>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli/unix_http_client.hpp"

#include "tests/support/child_process.hpp"
#include "tests/support/live_db.hpp"
#include "tests/support/sim_process.hpp"
#include "tests/support/temp_dir.hpp"

namespace extract::testing {

inline const std::string kSimKey = "sim-key-0123456789";

struct SyncdEnv {
    TempDir dir;
    std::string config_path;
    std::string db_path;
    std::string socket_path;
    // [upstream] keys besides base_url and the rate limit, for the next write_config.
    std::string upstream_settings = "request_timeout = 2s\n";

    // Writes extract-sync.ini; `extra` is appended verbatim (more sections or keys).
    void write_config(const std::string& base_url, const std::string& sync_section = "",
                      const std::string& extra = "") {
        db_path = (dir / "mirror.db").string();
        socket_path = (dir / "api.sock").string();
        config_path = dir.write("extract-sync.ini",
                                "[upstream]\nbase_url = " + base_url + "\nmax_requests_per_second = 0\n" +
                                    upstream_settings + "\n[sync]\n" + sync_section + "\n[cache]\npath = " + db_path +
                                    "\n\n[api]\nsocket = " + socket_path + "\n\n[log]\nlevel = info\n" + extra)
                          .string();
    }

    std::unique_ptr<ChildProcess> start_syncd(std::vector<std::string> args, const std::string& key = kSimKey) {
        std::vector<std::string> argv{EXTRACT_SYNCD_BIN, "--config", config_path};
        argv.insert(argv.end(), args.begin(), args.end());
        return std::make_unique<ChildProcess>(argv, std::map<std::string, std::string>{{"EXTRACT_API_KEY", key}});
    }

    // id -> canonical raw JSON of every batch in the mirror that is not removed.
    std::map<std::string, std::string> mirror_batches() const {
        auto db = open_live_db(db_path);
        SQLite::Statement q(db, "SELECT id, raw FROM batches WHERE removed_at IS NULL");
        std::map<std::string, std::string> out;
        while (q.executeStep()) out[q.getColumn(0).getString()] = q.getColumn(1).getString();
        return out;
    }

    std::int64_t count(const std::string& sql) const {
        auto db = open_live_db(db_path);
        return db.execAndGet(sql).getInt64();
    }
};

// GET /v1/health from the daemon on `socket_path`, or nullopt while it does not answer.
inline std::optional<nlohmann::json> read_health(const std::string& socket_path) {
    try {
        const auto reply = cli::UnixHttpClient(socket_path, std::chrono::seconds(5)).request("GET", "/v1/health");
        if (reply.status == 0) return std::nullopt;
        return nlohmann::json::parse(reply.body);
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

inline std::map<std::string, std::string> canonical_by_id(const nlohmann::json& batches) {
    std::map<std::string, std::string> out;
    for (const auto& b : batches) out[b.at("id").get<std::string>()] = b.dump();
    return out;
}

}  // namespace extract::testing
