#pragma once
// The real extract-sim started by a test: on a free loopback port, waited for (bounded), with
// helpers for its control API. Killed with the object.

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/child_process.hpp"

namespace extract::testing {

struct HttpReply {
    int status = 0;
    std::string body;
    std::map<std::string, std::string> headers;  // names lower-cased
};

class SimProcess {
public:
    // `binary` is EXTRACT_SIM_BIN; `args` follow `--port 0` (a later --port wins). Throws
    // when the sim does not print its listening line within 10 s.
    explicit SimProcess(const std::string& binary, std::vector<std::string> args = {});

    int port() const { return port_; }
    std::string base_url() const;  // http://127.0.0.1:PORT
    ChildProcess& process() { return *process_; }

    // Any request to the sim, over a fresh connection. `headers` are added as given.
    HttpReply request(const std::string& method, const std::string& target, const std::string& body = "",
                      const std::map<std::string, std::string>& headers = {}) const;

    // Control API helpers: each throws std::runtime_error on an unexpected answer.
    std::vector<std::string> create(int count, const std::string& status = "") const;
    void set_status(const std::string& id, const std::string& status) const;
    void update(const std::string& id, const nlohmann::json& fields) const;
    void remove(const std::string& id) const;
    void set_faults(const nlohmann::json& faults) const;
    nlohmann::json stats() const;
    void reset_stats() const;
    nlohmann::json snapshot() const;  // the batches array
    void freeze() const;
    void unfreeze() const;

private:
    nlohmann::json control(const std::string& method, const std::string& path,
                           const nlohmann::json& body = nullptr) const;

    std::unique_ptr<ChildProcess> process_;
    int port_ = 0;
};

}  // namespace extract::testing
