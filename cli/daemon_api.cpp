#include "cli/daemon_api.hpp"

#include "cli/unix_http_client.hpp"
#include "core/percent_encode.hpp"

namespace extract::cli {
namespace {

ApiAnswer answer_of(const HttpReply& reply) {
    ApiAnswer answer;
    answer.status = reply.status;
    answer.body = nlohmann::json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
    if (answer.body.is_discarded()) answer.body = nullptr;
    return answer;
}

}  // namespace

std::string error_detail(const ApiAnswer& answer) {
    std::string status = "HTTP " + std::to_string(answer.status);
    if (!answer.body.is_object() || !answer.body.contains("detail")) return status;
    const auto& detail = answer.body.at("detail");
    if (detail.is_string()) return detail.get<std::string>();
    if (!detail.is_array()) return status + ": " + detail.dump();
    // FastAPI's validation list: [{"loc":["query","limit"],"msg":"…","type":"…"}]
    std::string text;
    for (const auto& problem : detail) {
        if (!text.empty()) text += "; ";
        std::string where;
        if (problem.is_object() && problem.contains("loc") && problem.at("loc").is_array()) {
            for (const auto& part : problem.at("loc")) {
                if (!where.empty()) where += ".";
                where += part.is_string() ? part.get<std::string>() : part.dump();
            }
        }
        const std::string message = problem.is_object() && problem.contains("msg") && problem.at("msg").is_string()
                                        ? problem.at("msg").get<std::string>()
                                        : problem.dump();
        text += where.empty() ? message : where + ": " + message;
    }
    return text.empty() ? status : text;
}

std::string request_target(std::string_view path, const QueryParams& params) {
    std::string target(path);
    char separator = '?';
    for (const auto& [key, value] : params) {
        if (!value) continue;
        target += separator + percent_encode(key) + "=" + percent_encode(*value);
        separator = '&';
    }
    return target;
}

std::string path_segment(std::string_view id) { return percent_encode(id); }

DaemonApi::DaemonApi(std::string socket_path, Millis timeout)
    : socket_path_(std::move(socket_path)), timeout_(timeout) {}

ApiAnswer DaemonApi::get(const std::string& target, Millis long_poll) const { return send("GET", target, long_poll); }

ApiAnswer DaemonApi::post(const std::string& target, Millis long_poll) const { return send("POST", target, long_poll); }

ApiAnswer DaemonApi::download(const std::string& target, std::ostream& sink, Millis extra) const {
    UnixHttpClient client(socket_path_, timeout_ + extra);
    return answer_of(client.download(target, sink));
}

ApiAnswer DaemonApi::send(const std::string& method, const std::string& target, Millis long_poll) const {
    UnixHttpClient client(socket_path_, timeout_ + long_poll);
    return answer_of(client.request(method, target));
}

}  // namespace extract::cli
