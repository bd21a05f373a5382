#include "core/untrusted_text.hpp"

#include <algorithm>

namespace extract {
namespace {

constexpr std::string_view kHex = "0123456789abcdef";

void append_hex_escape(std::string& out, std::string_view prefix, unsigned char byte) {
    out += prefix;
    out += kHex[byte >> 4];
    out += kHex[byte & 0xF];
}

// Length of the well-formed UTF-8 sequence starting at text[i], or 0.
std::size_t utf8_length(std::string_view text, std::size_t i) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
    } else {
        return 0;
    }
    if (i + length > text.size()) return 0;
    for (std::size_t k = 1; k < length; ++k) {
        if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return 0;
    }
    return length;
}

}  // namespace

std::string escape_untrusted(std::string_view text, std::size_t max_bytes, bool escape_backslash) {
    std::string out;
    out.reserve(std::min(text.size(), max_bytes) + 16);
    std::size_t i = 0;
    while (i < text.size() && i < max_bytes) {
        const auto byte = static_cast<unsigned char>(text[i]);
        if (byte >= 0x20 && byte < 0x7f) {
            if (byte == '\\' && escape_backslash) out += '\\';
            out += static_cast<char>(byte);
            ++i;
        } else if (byte == '\n') {
            out += "\\n";
            ++i;
        } else if (byte == '\r') {
            out += "\\r";
            ++i;
        } else if (byte == '\t') {
            out += "\\t";
            ++i;
        } else if (byte < 0x80) {  // NUL, other C0 controls, ESC, DEL
            append_hex_escape(out, "\\x", byte);
            ++i;
        } else if (const std::size_t length = utf8_length(text, i); length == 0) {
            append_hex_escape(out, "\\x", byte);
            ++i;
        } else if (i + length > max_bytes) {
            break;  // the character does not fit whole
        } else if (byte == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0) {
            append_hex_escape(out, "\\u00", static_cast<unsigned char>(text[i + 1]));  // C1 control
            i += length;
        } else {
            out.append(text.substr(i, length));
            i += length;
        }
    }
    if (i < text.size()) out += "\u2026(" + std::to_string(text.size()) + " bytes)";
    return out;
}

}  // namespace extract
