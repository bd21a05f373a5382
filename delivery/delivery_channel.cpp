#include "delivery/delivery_channel.hpp"

namespace extract::delivery {

std::string error_snippet(std::string_view text) {
    if (text.size() <= kMaxErrorLength) return std::string(text);
    std::size_t end = kMaxErrorLength;
    // Step back over continuation bytes (10xxxxxx) so the cut falls between two characters.
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    return std::string(text.substr(0, end));
}

}  // namespace extract::delivery
