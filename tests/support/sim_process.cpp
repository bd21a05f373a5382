#include "tests/support/sim_process.hpp"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <stdexcept>

namespace extract::testing {
namespace {

constexpr std::string_view kListeningPrefix = "listening on 127.0.0.1:";

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

}  // namespace

SimProcess::SimProcess(const std::string& binary, std::vector<std::string> args) {
    std::vector<std::string> argv{binary, "--port", "0"};
    argv.insert(argv.end(), args.begin(), args.end());
    process_ = std::make_unique<ChildProcess>(argv);
    const auto line = process_->wait_for_stdout(std::string(kListeningPrefix), std::chrono::seconds(10));
    if (!line) {
        throw std::runtime_error("extract-sim did not start listening within 10 s; stderr: " + process_->stderr_text());
    }
    port_ = std::stoi(line->substr(line->find(kListeningPrefix) + kListeningPrefix.size()));
}

std::string SimProcess::base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

HttpReply SimProcess::request(const std::string& method, const std::string& target, const std::string& body,
                              const std::map<std::string, std::string>& headers) const {
    Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(port_));
    session.setTimeout(Poco::Timespan(30, 0));
    Poco::Net::HTTPRequest req(method, target, Poco::Net::HTTPMessage::HTTP_1_1);
    for (const auto& [name, value] : headers) req.set(name, value);
    if (!body.empty() || method == "POST") {
        req.setContentType("application/json");
        req.setContentLength(static_cast<std::streamsize>(body.size()));
    }
    session.sendRequest(req) << body;
    Poco::Net::HTTPResponse res;
    std::istream& in = session.receiveResponse(res);
    HttpReply reply;
    reply.status = static_cast<int>(res.getStatus());
    Poco::StreamCopier::copyToString(in, reply.body);
    for (const auto& [name, value] : res) reply.headers[lower(name)] = value;
    return reply;
}

nlohmann::json SimProcess::control(const std::string& method, const std::string& path,
                                   const nlohmann::json& body) const {
    const auto reply = request(method, path, body.is_null() ? std::string() : body.dump());
    if (reply.status != 200) {
        throw std::runtime_error("extract-sim " + method + " " + path + " answered " + std::to_string(reply.status) +
                                 ": " + reply.body);
    }
    return nlohmann::json::parse(reply.body);
}

std::vector<std::string> SimProcess::create(int count, const std::string& status) const {
    nlohmann::json body{{"count", count}};
    if (!status.empty()) body["status"] = status;
    return control("POST", "/_control/batches", body).at("ids").get<std::vector<std::string>>();
}

void SimProcess::set_status(const std::string& id, const std::string& status) const {
    update(id, {{"status", status}});
}

void SimProcess::update(const std::string& id, const nlohmann::json& fields) const {
    control("POST", "/_control/batches/" + id, fields);
}

void SimProcess::remove(const std::string& id) const { control("DELETE", "/_control/batches/" + id); }

void SimProcess::set_faults(const nlohmann::json& faults) const {
    control("POST", "/_control/faults", faults.is_null() ? nlohmann::json::object() : faults);
}

nlohmann::json SimProcess::stats() const { return control("GET", "/_control/stats"); }

void SimProcess::reset_stats() const { control("POST", "/_control/stats/reset"); }

nlohmann::json SimProcess::snapshot() const { return control("GET", "/_control/snapshot").at("batches"); }

void SimProcess::freeze() const { control("POST", "/_control/freeze"); }

void SimProcess::unfreeze() const { control("POST", "/_control/unfreeze"); }

}  // namespace extract::testing
