#pragma once
// The opaque cursors the API hands out: the `cursor` of GET /v1/batches (the (created_at, id)
// key of the last batch of a page, so the next page starts strictly after it whatever a
// running sync inserts meanwhile: keyset paging neither skips nor repeats a row, unlike an
// offset) and of GET /v1/deliveries (the last delivery id of a page). Each is MACed with the
// mirror's own key, so only a cursor this mirror's API wrote, unedited, is accepted.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace extract::api {

struct BatchListPosition {
    std::string created_at;  // as stored
    std::string id;
    bool operator==(const BatchListPosition&) const = default;
};

// Writes and checks cursors: base64url(JSON body) "." base64url(the first 16 bytes of
// HMAC-SHA256(key, kind "\n" body)). The kind keeps a batches cursor from being passed as a
// deliveries one. Values are still bound as SQL parameters: the MAC is not what keeps a cursor
// out of SQL, it makes an edited, truncated or foreign cursor an error instead of a silent jump.
class CursorCodec {
public:
    // `key`: the mirror's `cursor_key` (cache::Mirror::cursor_key); empty: a random key of this
    // codec's own (its cursors then mean nothing to another codec).
    explicit CursorCodec(std::string key);

    std::string batches_cursor(const BatchListPosition& position) const;
    // nullopt when `cursor` is not one this codec wrote.
    std::optional<BatchListPosition> batches_position(std::string_view cursor) const;

    std::string deliveries_cursor(std::int64_t last_id) const;
    std::optional<std::int64_t> deliveries_position(std::string_view cursor) const;

private:
    std::string seal(std::string_view kind, const std::string& body) const;
    // The body of a cursor this codec sealed with `kind`, exactly as it wrote it.
    std::optional<std::string> open(std::string_view kind, std::string_view cursor) const;

    std::string key_;
};

}  // namespace extract::api
