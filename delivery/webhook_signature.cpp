#include "delivery/webhook_signature.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cstdint>
#include <stdexcept>

namespace extract::delivery {
namespace {

std::string base64(const unsigned char* data, std::size_t size) {
    std::string out(4 * ((size + 2) / 3), '\0');
    const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
    out.resize(static_cast<std::size_t>(written));
    return out;
}

int sextet(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

// Standard base64, padded or not.
std::optional<std::string> decode_base64(std::string_view text) {
    std::string_view body = text;
    while (body.ends_with('=') && text.size() - body.size() < 2) body.remove_suffix(1);
    if (body.size() != text.size() && text.size() % 4 != 0) return std::nullopt;
    if (body.size() % 4 == 1) return std::nullopt;
    std::string out;
    std::uint32_t bits = 0;
    int count = 0;
    for (const char c : body) {
        const int value = sextet(c);
        if (value < 0) return std::nullopt;
        bits = (bits << 6) | static_cast<std::uint32_t>(value);
        count += 6;
        if (count >= 8) {
            count -= 8;
            out.push_back(static_cast<char>((bits >> count) & 0xFF));
        }
    }
    return out;
}

}  // namespace

std::optional<std::string> webhook_secret_key(std::string_view secret) {
    constexpr std::string_view prefix = "whsec_";
    if (!secret.starts_with(prefix)) return std::nullopt;
    auto key = decode_base64(secret.substr(prefix.size()));
    if (!key || key->empty()) return std::nullopt;
    return key;
}

std::string webhook_signature(std::string_view message_id, std::int64_t timestamp, std::string_view body,
                              const std::vector<std::string>& keys) {
    std::string signed_content;
    signed_content.reserve(message_id.size() + body.size() + 24);
    signed_content.append(message_id).append(".").append(std::to_string(timestamp)).append(".").append(body);

    std::string header;
    for (const auto& key : keys) {
        std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
        unsigned int mac_size = 0;
        if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                  reinterpret_cast<const unsigned char*>(signed_content.data()), signed_content.size(), mac.data(),
                  &mac_size)) {
            throw std::runtime_error("HMAC-SHA256 failed in OpenSSL");  // only when OpenSSL itself is broken
        }
        if (!header.empty()) header += ' ';
        header += "v1," + base64(mac.data(), mac_size);
    }
    return header;
}

}  // namespace extract::delivery
