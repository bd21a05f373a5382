#pragma once
// Standard Webhooks signing: the webhook-signature header of one message.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace extract::daemon {

// "v1," + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")) for each key, space-separated, so
// that during a rotation receivers holding either secret accept the message. `keys` are the
// decoded bytes of whsec_ secrets (webhook_secret_key). Never log a key.
std::string webhook_signature(std::string_view message_id, std::int64_t timestamp, std::string_view body,
                              const std::vector<std::string>& keys);

}  // namespace extract::daemon
