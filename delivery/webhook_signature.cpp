#include "delivery/webhook_signature.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <stdexcept>

namespace extract::daemon {
namespace {

std::string base64(const unsigned char* data, std::size_t size) {
    std::string out(4 * ((size + 2) / 3), '\0');
    const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
    out.resize(static_cast<std::size_t>(written));
    return out;
}

}  // namespace

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

}  // namespace extract::daemon
