#pragma once
// Standard Webhooks signing: the webhook-signature header of one message.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace extract::delivery {

// The HMAC key of a whsec_<base64> secret (its decoded bytes), or nullopt when the secret is
// not of that form. Never put the secret or the key in a message.
std::optional<std::string> webhook_secret_key(std::string_view secret);

// "v1," + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")) for each key, space-separated, so
// that during a rotation receivers holding either secret accept the message. `keys` are the
// decoded bytes of whsec_ secrets (webhook_secret_key). Never log a key.
std::string webhook_signature(std::string_view message_id, std::int64_t timestamp, std::string_view body,
                              const std::vector<std::string>& keys);

}  // namespace extract::delivery
