#pragma once
// A position in the listing order and the opaque cursor text that carries it between
// pages. Cursors are keyset positions, never offsets, so a page boundary stays put while
// batches are created or removed elsewhere in the order.

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace extract::sim {

struct ListingPosition {
    std::uint64_t key = 0;   // the listing order's sort key
    std::uint32_t slot = 0;  // breaks ties between equal keys
    // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 takes the defaulted <=>'s 0 for a null pointer.
    auto operator<=>(const ListingPosition&) const = default;
};

std::string encode_cursor(const ListingPosition& position);
// nullopt for text that no encode_cursor produced (wrong length, alphabet or checksum).
std::optional<ListingPosition> decode_cursor(std::string_view text);

}  // namespace extract::sim
