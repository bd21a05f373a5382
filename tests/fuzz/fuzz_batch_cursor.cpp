// Fuzzes the decoding of the API's cursors (api/batch_cursor): any string a client sends as
// `cursor` decodes to a position or to nothing, and a position always survives a round trip.
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
    static const extract::api::CursorCodec codec(std::string(64, 'k'));  // a mirror's key
    if (const auto position = codec.batches_position(text)) {
        if (codec.batches_position(codec.batches_cursor(*position)) != position) std::abort();
    }
    if (const auto id = codec.deliveries_position(text)) {
        if (codec.deliveries_position(codec.deliveries_cursor(*id)) != id) std::abort();
    }
    // Any (created_at, id) the mirror may hold, split at the first NUL, encodes to a cursor
    // that decodes back to it. The mirror holds only JSON strings (valid UTF-8): skip others.
    const auto split = text.find('\0');
    const BatchListPosition made{std::string(text.substr(0, split)),
                                 split == std::string_view::npos ? std::string() : std::string(text.substr(split + 1))};
    if (!valid_utf8(made.created_at) || !valid_utf8(made.id)) return 0;
    if (codec.batches_position(codec.batches_cursor(made)) != made) std::abort();
    return 0;
}
