#pragma once
// Which handler serves a method and path: patterns with `{name}` segments, and FastAPI's
// answers when none does (404 "Not Found", or 405 "Method Not Allowed" with `Allow`).

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "http/http_message.hpp"

namespace extract::http {

template <class Handler>
class Router {
public:
    struct Route {
        std::string method;
        std::string pattern;  // e.g. /v1/batches/{batch_id}
        Handler handler;
    };
    struct Match {
        const Route* route = nullptr;
        std::vector<std::string> params;  // the `{…}` segments in order, percent-decoded
    };

    void add(std::string method, std::string pattern, Handler handler) {
        routes_.push_back({std::move(method), std::move(pattern), std::move(handler)});
    }

    // The route, or the 404 / 405 reply.
    std::variant<Match, HttpReply> match(std::string_view method, std::string_view path) const {
        const auto segments = split(path);
        std::string allow;
        for (const auto& route : routes_) {
            auto params = match_pattern(route.pattern, segments);
            if (!params) continue;
            if (route.method == method) return Match{&route, std::move(*params)};
            if (allow.find(route.method) == std::string::npos) allow += (allow.empty() ? "" : ", ") + route.method;
        }
        if (allow.empty()) return detail_reply(404, "Not Found");
        HttpReply reply = detail_reply(405, "Method Not Allowed");
        reply.headers.emplace_back("Allow", allow);
        return reply;
    }

    const std::vector<Route>& routes() const { return routes_; }

private:
    static std::vector<std::string_view> split(std::string_view path) {
        std::vector<std::string_view> out;
        std::size_t pos = 1;  // paths start with '/'
        while (pos <= path.size()) {
            auto slash = path.find('/', pos);
            if (slash == std::string_view::npos) slash = path.size();
            out.push_back(path.substr(pos, slash - pos));
            pos = slash + 1;
        }
        return out;
    }

    static std::optional<std::vector<std::string>> match_pattern(std::string_view pattern,
                                                                 const std::vector<std::string_view>& segments) {
        const auto parts = split(pattern);
        if (parts.size() != segments.size()) return std::nullopt;
        std::vector<std::string> params;
        for (std::size_t i = 0; i < parts.size(); ++i) {
            if (!parts[i].empty() && parts[i].front() == '{') {
                if (segments[i].empty()) return std::nullopt;
                params.push_back(percent_decode(segments[i], false));
            } else if (parts[i] != segments[i]) {
                return std::nullopt;
            }
        }
        return params;
    }

    std::vector<Route> routes_;
};

}  // namespace extract::http
