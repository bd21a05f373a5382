#include "upstream/text_snippet.hpp"

namespace extract::upstream {

std::string printable_snippet(std::string_view text, std::size_t max_chars) {
    std::string out;
    const std::size_t kept = text.size() < max_chars ? text.size() : max_chars;
    out.reserve(kept + 3);
    for (std::size_t i = 0; i < kept; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == '\n' || c == '\r' || c == '\t') {
            out += ' ';
        } else if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
        } else {
            out += '?';
        }
    }
    if (kept < text.size()) out += "\u2026";
    return out;
}

}  // namespace extract::upstream
