#include "sim/listing_position.hpp"

#include <array>

namespace extract::sim {
namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::size_t kPayloadBytes = 15;  // 8 key + 4 slot + 3 checksum: a multiple of 3, so no padding
constexpr std::size_t kCursorLength = kPayloadBytes / 3 * 4;

// A checksum so that a hand-edited or foreign cursor is rejected instead of landing somewhere.
std::uint32_t checksum(std::uint64_t key, std::uint32_t slot) {
    std::uint64_t x = key ^ (std::uint64_t{slot} << 17) ^ 0x9E3779B97F4A7C15ULL;
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27;
    return static_cast<std::uint32_t>(x & 0xFFFFFF);
}

int sextet(char c) {
    const auto at = kAlphabet.find(c);
    return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

}  // namespace

std::string encode_cursor(const ListingPosition& position) {
    std::array<std::uint8_t, kPayloadBytes> bytes{};
    for (std::size_t i = 0; i < 8; ++i) bytes[i] = static_cast<std::uint8_t>(position.key >> (56 - 8 * i));
    for (std::size_t i = 0; i < 4; ++i) bytes[8 + i] = static_cast<std::uint8_t>(position.slot >> (24 - 8 * i));
    const std::uint32_t sum = checksum(position.key, position.slot);
    for (std::size_t i = 0; i < 3; ++i) bytes[12 + i] = static_cast<std::uint8_t>(sum >> (16 - 8 * i));

    std::string out;
    out.reserve(kCursorLength);
    for (std::size_t i = 0; i < kPayloadBytes; i += 3) {
        const std::uint32_t group = (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
        for (int shift = 18; shift >= 0; shift -= 6) out.push_back(kAlphabet[(group >> shift) & 0x3F]);
    }
    return out;
}

std::optional<ListingPosition> decode_cursor(std::string_view text) {
    if (text.size() != kCursorLength) return std::nullopt;
    std::array<std::uint8_t, kPayloadBytes> bytes{};
    for (std::size_t i = 0, b = 0; i < kCursorLength; i += 4, b += 3) {
        std::uint32_t group = 0;
        for (std::size_t j = 0; j < 4; ++j) {
            const int v = sextet(text[i + j]);
            if (v < 0) return std::nullopt;
            group = (group << 6) | static_cast<std::uint32_t>(v);
        }
        bytes[b] = static_cast<std::uint8_t>(group >> 16);
        bytes[b + 1] = static_cast<std::uint8_t>(group >> 8);
        bytes[b + 2] = static_cast<std::uint8_t>(group);
    }
    ListingPosition position;
    for (std::size_t i = 0; i < 8; ++i) position.key = (position.key << 8) | bytes[i];
    for (std::size_t i = 8; i < 12; ++i) position.slot = (position.slot << 8) | bytes[i];
    std::uint32_t sum = 0;
    for (std::size_t i = 12; i < 15; ++i) sum = (sum << 8) | bytes[i];
    if (sum != checksum(position.key, position.slot)) return std::nullopt;
    return position;
}

}  // namespace extract::sim
