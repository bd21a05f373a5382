// The fetch-only pass (issue 7, target 1): pages the whole upstream list with the daemon's own
// UpstreamClient and transport, exactly as a full sync does, and writes nothing. A full sync
// cannot be faster than this; `extract-syncd --once` is measured against it.
//
//   bench_fetch_only --base-url http://127.0.0.1:PORT [--api-key KEY] [--page-size 200]
//
// Prints one line: "fetch-only: PAGES pages, BATCHES batches in SECONDS s (RATE batches/s)".
// Exits 0 when the pass completed, 1 when a page failed, 2 on a usage error.

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

#include "bench/bench_main.hpp"
#include "core/clock.hpp"
#include "upstream/client.hpp"
#include "upstream/http_transport.hpp"

namespace {

struct Arguments {
    std::string base_url;
    std::string api_key = "sim-key";
    int page_size = 200;
};

std::optional<Arguments> parse(int argc, char** argv) {
    Arguments out;
    CLI::App app;
    app.add_option("--base-url", out.base_url)->required();
    app.add_option("--api-key", out.api_key);
    app.add_option("--page-size", out.page_size)->check(CLI::Range(1, 200));
    if (!extract::bench::parses(app, argc, argv)) return std::nullopt;
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    const auto arguments = parse(argc, argv);
    if (!arguments) {
        std::fprintf(stderr, "usage: bench_fetch_only --base-url URL [--api-key KEY] [--page-size 1..200]\n");
        return 2;
    }
    extract::SystemClock clock;
    extract::StopSignal stop;
    // The same transport settings the daemon builds from its configuration (daemon.cpp), and no
    // client-side rate limit, as in the --once run it is compared with.
    extract::upstream::TransportOptions transport_options;
    transport_options.base_url = arguments->base_url;
    transport_options.user_agent = extract::upstream::default_user_agent();
    extract::upstream::PocoHttpTransport transport(transport_options);
    extract::upstream::ClientOptions client_options;
    client_options.api_key = arguments->api_key;
    client_options.api_key_source = "--api-key";
    client_options.page_size = arguments->page_size;
    client_options.max_requests_per_second = 0;
    extract::upstream::UpstreamClient client(transport, clock, stop, client_options);

    const auto started = std::chrono::steady_clock::now();
    long pages = 0;
    long batches = 0;
    std::optional<std::string> cursor;
    do {
        auto page = client.list_batches(std::nullopt, cursor);
        if (page.status != extract::upstream::FetchStatus::ok) {
            std::fprintf(stderr, "fetch-only: page %ld failed: %s\n", pages + 1, page.message.c_str());
            return 1;
        }
        ++pages;
        batches += static_cast<long>(page.value->batches.size());
        cursor = std::move(page.value->next_cursor);
    } while (cursor);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::printf("fetch-only: %ld pages, %ld batches in %.3f s (%.0f batches/s)\n", pages, batches, seconds,
                seconds > 0 ? static_cast<double>(batches) / seconds : 0.0);
    return 0;
}
