#pragma once
// JSON text written by hand where building a nlohmann value would cost more than the work
// around it (a page's canonical batch text, a list of ids for json_each, the simulator's pages).

#include <string>
#include <string_view>

namespace extract {

// Appends `value` (UTF-8) as a JSON string literal, quotes included, exactly as nlohmann's
// dump writes it with ensure_ascii off: \" \\ \b \f \n \r \t, \u00xx (lowercase) for the other
// control characters, every other byte as it is. The batch page reader relies on the match.
void append_json_string(std::string& out, std::string_view value);

}  // namespace extract
