#include "api/batch_cursor.hpp"

#include <Poco/Base64Decoder.h>
#include <Poco/Base64Encoder.h>
#include <Poco/SHA2Engine.h>

#include <nlohmann/json.hpp>

#include <sstream>

namespace extract::api {
namespace {

constexpr std::string_view kChecksumContext = "extract-sync batch cursor v1\n";
constexpr std::size_t kChecksumBytes = 8;

std::string base64url(std::string_view bytes) {
    std::ostringstream out;
    Poco::Base64Encoder encoder(out, Poco::BASE64_URL_ENCODING | Poco::BASE64_NO_PADDING);
    encoder.rdbuf()->setLineLength(0);
    encoder.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    encoder.close();
    return out.str();
}

std::optional<std::string> unbase64url(std::string_view text) {
    // Poco 1.11's decoder wants the padding back.
    std::string padded(text);
    while (padded.size() % 4 != 0) padded += '=';
    std::istringstream in(padded);
    Poco::Base64Decoder decoder(in, Poco::BASE64_URL_ENCODING);
    std::string out;
    try {
        char c = 0;
        while (decoder.get(c)) out += c;
    } catch (const std::exception&) {
        return std::nullopt;
    }
    if (decoder.bad()) return std::nullopt;
    return out;
}

std::string checksum(std::string_view body) {
    Poco::SHA2Engine sha(Poco::SHA2Engine::SHA_256);
    sha.update(kChecksumContext.data(), static_cast<unsigned>(kChecksumContext.size()));
    sha.update(body.data(), static_cast<unsigned>(body.size()));
    const auto& digest = sha.digest();
    return std::string(digest.begin(), digest.begin() + kChecksumBytes);
}

}  // namespace

std::string encode_batch_cursor(const BatchListPosition& position) {
    const std::string body = nlohmann::json::array({position.created_at, position.id}).dump();
    return base64url(body) + "." + base64url(checksum(body));
}

std::optional<BatchListPosition> decode_batch_cursor(std::string_view cursor) {
    const auto dot = cursor.find('.');
    if (dot == std::string_view::npos) return std::nullopt;
    const auto body = unbase64url(cursor.substr(0, dot));
    const auto sum = unbase64url(cursor.substr(dot + 1));
    if (!body || !sum || *sum != checksum(*body)) return std::nullopt;
    const auto json = nlohmann::json::parse(*body, nullptr, false);
    if (!json.is_array() || json.size() != 2 || !json[0].is_string() || !json[1].is_string()) return std::nullopt;
    BatchListPosition position{json[0].get<std::string>(), json[1].get<std::string>()};
    // Only the exact text we wrote: base64 ignores the spare low bits of its last character,
    // so an edit there would otherwise decode to the same bytes.
    if (encode_batch_cursor(position) != cursor) return std::nullopt;
    return position;
}

}  // namespace extract::api
