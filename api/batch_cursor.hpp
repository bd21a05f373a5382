#pragma once
// The opaque `cursor` of GET /v1/batches: the (created_at, id) key of the last batch of a
// page, so the next page starts strictly after it whatever a running sync inserts meanwhile
// (keyset paging neither skips nor repeats a row, unlike an offset).

#include <optional>
#include <string>
#include <string_view>

namespace extract::api {

struct BatchListPosition {
    std::string created_at;  // as stored
    std::string id;
    bool operator==(const BatchListPosition&) const = default;
};

// base64url(JSON [created_at, id]) "." base64url(8 bytes of SHA-256 over it). The checksum
// is not a secret: it only makes an edited or truncated cursor an error instead of a silent
// jump to another place in the list.
std::string encode_batch_cursor(const BatchListPosition& position);
// nullopt when `cursor` is not one this server wrote.
std::optional<BatchListPosition> decode_batch_cursor(std::string_view cursor);

}  // namespace extract::api
