#pragma once
// Upstream text (bodies, parser messages) made safe to put in a log line or a JSON string.

#include <cstddef>
#include <string>
#include <string_view>

namespace extract::upstream {

// At most `max_chars` of `text`, printable ASCII only: line breaks and tabs become spaces,
// other bytes '?', so a cut never splits a UTF-8 sequence into invalid JSON; "…" marks a cut.
std::string printable_snippet(std::string_view text, std::size_t max_chars);

}  // namespace extract::upstream
