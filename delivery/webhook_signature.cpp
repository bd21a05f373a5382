#include "delivery/webhook_signature.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cstdint>
#include <iterator>
#include <sstream>
#include <stdexcept>

#include <Poco/Base64Decoder.h>
#include <Poco/Base64Encoder.h>  // Poco::BASE64_NO_PADDING

namespace extract::delivery {
namespace {

std::string base64(const unsigned char* data, std::size_t size) {
    std::string out(4 * ((size + 2) / 3), '\0');
    const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
    out.resize(static_cast<std::size_t>(written));
    return out;
}

// Standard base64, padded or not. Poco's decoder alone would accept '=' inside the text, skip white
// space and stop silently at a truncated group, so the shape is checked here first.
std::optional<std::string> decode_base64(std::string_view text) {
    constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const std::string_view body = text.substr(0, text.find_last_not_of('=') + 1);
    const std::size_t padding = text.size() - body.size();
    if (padding > 2 || (padding > 0 && text.size() % 4 != 0) || body.size() % 4 == 1) return std::nullopt;
    if (body.find_first_not_of(alphabet) != std::string_view::npos) return std::nullopt;
    std::istringstream in{std::string(body)};
    Poco::Base64Decoder decoder(in, Poco::BASE64_NO_PADDING);
    return std::string(std::istreambuf_iterator<char>(decoder), std::istreambuf_iterator<char>());
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
