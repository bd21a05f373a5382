// Fuzzes the local API's query parameter parsing (api/query_params): every query string a
// client can send must become values or a 422 listing what is wrong, never a crash. The names
// are those the routes read.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string_view>

#include <nlohmann/json.hpp>

#include "api/query_params.hpp"
#include "http/http_message.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view query(reinterpret_cast<const char*>(data), size);
    extract::api::QueryParams params(query);
    for (const auto* name : {"status", "engine", "cursor", "type", "batch_id", "state", "target"}) {
        (void)params.text(name);
    }
    const auto limit = params.integer("limit", 50, 1, 200);
    if (limit < 1 || limit > 200) std::abort();
    const auto after = params.integer("after", 0, 0, std::numeric_limits<std::int64_t>::max());
    if (after < 0) std::abort();
    (void)params.boolean("include_removed", false);
    (void)params.boolean("full", false);
    (void)params.timestamp("created_after");
    (void)params.timestamp("since");
    if (const auto wait = params.duration("wait"); wait && wait->count() < 0) std::abort();
    if (!params.errors().empty()) {
        // The 422 is JSON that any client can read back (invalid UTF-8 in an input included).
        const auto reply = params.errors().reply();
        if (reply.status != 422 || !nlohmann::json::accept(reply.body)) std::abort();
    }
    (void)extract::http::percent_decode(query, true);
    return 0;
}
