#include "sim/sim_options.hpp"

#include <charconv>
#include <cmath>
#include <limits>

#include "core/duration.hpp"

namespace extract::sim {
namespace {

template <typename T>
std::optional<T> parse_whole(const std::string& text, T max) {
    T value{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value > max) return std::nullopt;
    return value;
}

ParsedSimOptions failure(std::string message) { return {std::nullopt, std::move(message)}; }

}  // namespace

std::string sim_usage() {
    return "usage: extract-sim [options]\n"
           "A local stand-in for the extract API (GET /v1/batches, GET /v1/batches/{id}) with a control API\n"
           "under /_control/ on the same port.\n"
           "\n"
           "  --port PORT          listen on 127.0.0.1:PORT (default 0: a free port; the port is printed)\n"
           "  --batches N          batches created at start, over the past two days (default 100)\n"
           "  --api-key KEY        the X-API-KEY the /v1 routes accept (default sim-key)\n"
           "  --seed S             seed for ids, batch contents and lifecycles (default 1)\n"
           "  --order ORDER        listing order: newest (default), oldest or shuffled\n"
           "  --frozen             batches never change by themselves (POST /_control/unfreeze to start)\n"
           "  --speed X            lifecycle time runs X times as fast as the wall clock (default 1)\n"
           "  --retention DUR      batches expire DUR after creation, e.g. 3d, 90s (default 3d)\n"
           "  --threads N          HTTP worker threads (default 16)\n"
           "  --version            print the version and exit\n"
           "  --help               show this and exit\n";
}

ParsedSimOptions parse_sim_options(const std::vector<std::string>& args) {
    SimOptions o;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string flag = args[i];
        std::optional<std::string> inline_value;
        if (const auto eq = flag.find('='); flag.starts_with("--") && eq != std::string::npos) {
            inline_value = flag.substr(eq + 1);
            flag.resize(eq);
        }
        if (flag == "--help" || flag == "-h") {
            o.help = true;
            continue;
        }
        if (flag == "--version") {
            o.version = true;
            continue;
        }
        if (flag == "--frozen") {
            if (inline_value) return failure("--frozen takes no value");
            o.store.frozen = true;
            continue;
        }
        std::string value;
        if (inline_value) {
            value = *inline_value;
        } else if (i + 1 < args.size()) {
            value = args[++i];
        } else {
            return failure(flag.starts_with("--") ? flag + " needs a value" : "unexpected argument: " + flag);
        }

        if (flag == "--port") {
            const auto port = parse_whole<std::uint32_t>(value, 65535);
            if (!port) return failure("--port: not a port number (0..65535): " + value);
            o.port = static_cast<std::uint16_t>(*port);
        } else if (flag == "--batches") {
            const auto n = parse_whole<std::size_t>(value, 50'000'000);
            if (!n) return failure("--batches: not a whole number from 0 to 50000000: " + value);
            o.batches = *n;
        } else if (flag == "--api-key") {
            if (value.empty()) return failure("--api-key: must not be empty");
            o.api_key = value;
        } else if (flag == "--seed") {
            const auto seed = parse_whole<std::uint64_t>(value, std::numeric_limits<std::uint64_t>::max());
            if (!seed) return failure("--seed: not a whole number: " + value);
            o.store.seed = *seed;
        } else if (flag == "--order") {
            const auto order = parse_listing_order(value);
            if (!order) return failure("--order: must be newest, oldest or shuffled, not " + value);
            o.store.order = *order;
        } else if (flag == "--speed") {
            double speed = 0;
            const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), speed);
            if (value.empty() || ec != std::errc{} || end != value.data() + value.size() || !std::isfinite(speed) ||
                speed <= 0) {
                return failure("--speed: must be a positive number: " + value);
            }
            o.store.speed = speed;
        } else if (flag == "--retention") {
            const auto retention = parse_duration(value);
            if (!retention || retention->count() <= 0)
                return failure("--retention: not a duration like 3d or 90s: " + value);
            o.store.retention = std::chrono::duration_cast<std::chrono::microseconds>(*retention).count();
        } else if (flag == "--threads") {
            const auto n = parse_whole<int>(value, 256);
            if (!n || *n < 1) return failure("--threads: must be a whole number from 1 to 256: " + value);
            o.threads = *n;
        } else {
            return failure("unknown option: " + flag);
        }
    }
    return {o, {}};
}

}  // namespace extract::sim
