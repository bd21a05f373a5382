// Fuzzes the decoding of GET /v1/batches cursors (api/batch_cursor): any string a client sends
// as `cursor` decodes to a position or to nothing, and a position always survives a round trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "api/batch_cursor.hpp"

namespace {

bool valid_utf8(const std::string& text) {
    try {
        (void)nlohmann::json(text).dump();
        return true;
    } catch (const nlohmann::json::type_error&) {
        return false;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    using extract::api::BatchListPosition;
    if (const auto position = extract::api::decode_batch_cursor(text)) {
        if (extract::api::decode_batch_cursor(extract::api::encode_batch_cursor(*position)) != position) std::abort();
    }
    // Any (created_at, id) the mirror may hold, split at the first NUL, encodes to a cursor
    // that decodes back to it. The mirror holds only JSON strings (valid UTF-8): skip others.
    const auto split = text.find('\0');
    const BatchListPosition made{std::string(text.substr(0, split)),
                                 split == std::string_view::npos ? std::string() : std::string(text.substr(split + 1))};
    if (!valid_utf8(made.created_at) || !valid_utf8(made.id)) return 0;
    if (extract::api::decode_batch_cursor(extract::api::encode_batch_cursor(made)) != made) std::abort();
    return 0;
}
