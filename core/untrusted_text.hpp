#pragma once
// Untrusted text (batch ids, upstream strings) made safe for one log line or one table cell.

#include <cstddef>
#include <string>
#include <string_view>

namespace extract {

// `text` with every byte that could break a line or drive a terminal written as an escape:
// `\n`, `\r`, `\t`, `\\`, other C0 controls, DEL and ESC as `\xNN`, the C1 controls U+0080..U+009F
// (a terminal reads U+009B as CSI) as `\u00NN`, and bytes that are not UTF-8 as `\xNN`. At most
// `max_bytes` of the input are shown, never cutting a character; a cut ends in
// "…(N bytes)" with N the full length. `escape_backslash` false leaves `\` as it is: for text
// that may already hold escapes (a set-aside id read back from the mirror) shown to people.
std::string escape_untrusted(std::string_view text, std::size_t max_bytes = 200, bool escape_backslash = true);

}  // namespace extract
