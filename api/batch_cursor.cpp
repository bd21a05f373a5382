#include "api/batch_cursor.hpp"

#include <Poco/Base64Decoder.h>
#include <Poco/Base64Encoder.h>
#include <Poco/HMACEngine.h>
#include <Poco/RandomStream.h>
#include <Poco/SHA2Engine.h>

#include <nlohmann/json.hpp>

#include <sstream>

namespace extract::api {
namespace {

constexpr std::size_t kMacBytes = 16;
constexpr std::size_t kRandomKeyBytes = 32;
constexpr std::string_view kBatchesKind = "extract-sync batches cursor v2";
constexpr std::string_view kDeliveriesKind = "extract-sync deliveries cursor v2";

// Poco 1.11's SHA2Engine does not declare the block and digest sizes HMACEngine needs.
class Sha256Engine : public Poco::SHA2Engine {
public:
    enum { BLOCK_SIZE = 64, DIGEST_SIZE = 32 };
    Sha256Engine() : Poco::SHA2Engine(Poco::SHA2Engine::SHA_256) {}
};

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

std::string random_key() {
    std::string key(kRandomKeyBytes, '\0');
    Poco::RandomInputStream random;
    random.read(key.data(), static_cast<std::streamsize>(key.size()));
    return key;
}

// Compares without stopping at the first difference: how long it takes says nothing of how
// much of a forged MAC was right.
bool same_bytes(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    unsigned char difference = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        difference |= static_cast<unsigned char>(a[i] ^ b[i]);
    }
    return difference == 0;
}

}  // namespace

CursorCodec::CursorCodec(std::string key) : key_(key.empty() ? random_key() : std::move(key)) {}

std::string CursorCodec::seal(std::string_view kind, const std::string& body) const {
    Poco::HMACEngine<Sha256Engine> hmac(key_);
    hmac.update(kind.data(), static_cast<unsigned>(kind.size()));
    hmac.update("\n", 1);
    hmac.update(body.data(), static_cast<unsigned>(body.size()));
    const auto& digest = hmac.digest();
    return base64url(body) + "." + base64url(std::string(digest.begin(), digest.begin() + kMacBytes));
}

std::optional<std::string> CursorCodec::open(std::string_view kind, std::string_view cursor) const {
    const auto dot = cursor.find('.');
    if (dot == std::string_view::npos) return std::nullopt;
    auto body = unbase64url(cursor.substr(0, dot));
    if (!body) return std::nullopt;
    // Only the exact text we wrote: base64 ignores the spare low bits of its last character,
    // so an edit there would otherwise decode to the same bytes.
    if (!same_bytes(seal(kind, *body), cursor)) return std::nullopt;
    return body;
}

std::string CursorCodec::batches_cursor(const BatchListPosition& position) const {
    return seal(kBatchesKind, nlohmann::json::array({position.created_at, position.id}).dump());
}

std::optional<BatchListPosition> CursorCodec::batches_position(std::string_view cursor) const {
    const auto body = open(kBatchesKind, cursor);
    if (!body) return std::nullopt;
    const auto json = nlohmann::json::parse(*body, nullptr, false);
    if (!json.is_array() || json.size() != 2 || !json[0].is_string() || !json[1].is_string()) return std::nullopt;
    return BatchListPosition{json[0].get<std::string>(), json[1].get<std::string>()};
}

std::string CursorCodec::deliveries_cursor(std::int64_t last_id) const {
    return seal(kDeliveriesKind, nlohmann::json::array({last_id}).dump());
}

std::optional<std::int64_t> CursorCodec::deliveries_position(std::string_view cursor) const {
    const auto body = open(kDeliveriesKind, cursor);
    if (!body) return std::nullopt;
    const auto json = nlohmann::json::parse(*body, nullptr, false);
    if (!json.is_array() || json.size() != 1 || !json[0].is_number_integer()) return std::nullopt;
    return json[0].get<std::int64_t>();
}

}  // namespace extract::api
