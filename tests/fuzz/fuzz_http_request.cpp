// Fuzzes the local API's HTTP request parser (http/http_message): the first thing a client's
// bytes reach. Any input is a request, a wait for more, or a 4xx/5xx rejection, never a crash,
// and a complete request never claims more bytes than it was given.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "http/http_message.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view buffer(reinterpret_cast<const char*>(data), size);
    using Parser = extract::http::RequestParser;
    // Small limits so that the fuzzer reaches the 431 and 413 paths with small inputs.
    Parser parser(extract::http::RequestLimits{.max_head_bytes = 512, .max_body_bytes = 256});
    // Fed in two steps, as a socket would deliver it, then whole.
    (void)parser.parse(buffer.substr(0, size / 2));
    const auto result = parser.parse(buffer);
    if (const auto* complete = std::get_if<Parser::Complete>(&result)) {
        if (complete->consumed == 0 || complete->consumed > size) std::abort();
        if (complete->request.body.size() > 256) std::abort();
    } else if (const auto* rejected = std::get_if<Parser::Rejected>(&result)) {
        if (rejected->reply.status < 400) std::abort();
        (void)extract::http::serialize_reply(rejected->reply, false);
    }
    return 0;
}
